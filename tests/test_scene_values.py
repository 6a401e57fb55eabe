"""llmviz.viz.scene_values: every block's buffer is its tensor, in the block's row-major cell order."""
import numpy as np
import pytest

from llmviz.viz import layout, scene_values
from llmviz.core.model import GPT, GPTConfig

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)


def random_model(config, seed=0):
    model = GPT(config)
    rng = np.random.default_rng(seed)
    for arr in model.state_dict().values():
        arr[...] = rng.normal(0.0, 0.3, arr.shape)
    return model


@pytest.fixture(scope="module")
def run():
    model = random_model(SORT)
    idx = np.array([[2, 1, 0, 1, 1, 2, 0, 1, 1, 1, 2]])
    trace = model.trace(idx)
    scene = layout.scene(SORT)
    return scene, trace, model.state_dict(), scene_values.block_values(scene, trace, model.state_dict())


def test_x_is_the_transposed_trace(run):
    scene, trace, sd, values = run
    assert values["x"].dtype == np.float32 and values["x"].ndim == 1
    np.testing.assert_array_equal(values["x"], trace["x"][0].T.ravel())
    np.testing.assert_array_equal(values["pos_emb"], trace["pos_emb"].T.ravel())
    np.testing.assert_array_equal(values["h.2.mlp.fc"], trace["h.2.mlp.fc"][0].ravel())
    np.testing.assert_array_equal(values["logits"], trace["logits"][0].T.ravel())
    np.testing.assert_array_equal(values["idx"], [2, 1, 0, 1, 1, 2, 0, 1, 1, 1, 2])


def test_every_block_has_a_buffer_of_its_size(run):
    scene, trace, sd, values = run
    assert set(values) == {b["id"] for b in scene["blocks"]}
    for b in scene["blocks"]:
        assert values[b["id"]].shape == (b["rows"] * b["cols"],), b["id"]
        assert values[b["id"]].dtype == np.float32


def test_per_head_blocks_and_c_attn_splits(run):
    scene, trace, sd, values = run
    C, hs = 48, 16
    for h in range(3):
        np.testing.assert_array_equal(values[f"h.1.attn.q[{h}]"], trace["h.1.attn.q"][0, h].T.ravel())
        np.testing.assert_array_equal(values[f"h.1.attn.att[{h}]"], trace["h.1.attn.att"][0, h].ravel())
        np.testing.assert_array_equal(values[f"h.1.attn.att.sum[{h}]"], trace["h.1.attn.att.sum"][0, h])
    W = sd["transformer.h.1.attn.c_attn.weight"]
    np.testing.assert_array_equal(values["h.1.attn.c_attn.k.weight[2]"], W[C + 2 * hs: C + 3 * hs].ravel())
    # the split blocks put back together are the whole c_attn weight and bias
    for p, shape in (("weight", (hs, C)), ("bias", (hs,))):
        parts = [values[f"h.1.attn.c_attn.{k}.{p}[{h}]"].reshape(shape) for k in "qkv" for h in range(3)]
        np.testing.assert_array_equal(np.concatenate(parts), sd[f"transformer.h.1.attn.c_attn.{p}"])
    # weights drawn transposed: wte (C x vocab), c_fc (C x 4C)
    np.testing.assert_array_equal(values["wte.weight"], sd["transformer.wte.weight"].T.ravel())
    np.testing.assert_array_equal(values["h.0.mlp.c_fc.weight"],
                                  sd["transformer.h.0.mlp.c_fc.weight"].T.ravel())


def test_q_values_are_the_product_of_the_blocks_around_them(run):
    """q[h] = Wq[h] @ ln_1 + b, reading only the blocks' own buffers in their shapes."""
    scene, trace, sd, values = run
    by_id = layout.block_index(scene)

    def grid(i):
        return values[i].reshape(by_id[i]["rows"], by_id[i]["cols"])

    q = grid("h.0.attn.c_attn.q.weight[1]") @ grid("h.0.ln_1") + grid("h.0.attn.c_attn.q.bias[1]")
    np.testing.assert_allclose(q, grid("h.0.attn.q[1]"), rtol=1e-4, atol=1e-5)
    fc = grid("h.0.ln_2").T @ grid("h.0.mlp.c_fc.weight") + grid("h.0.mlp.c_fc.bias")
    np.testing.assert_allclose(fc, grid("h.0.mlp.fc"), rtol=1e-4, atol=1e-5)


def test_pack_and_unpack(run):
    scene, trace, sd, values = run
    data, offsets = scene_values.pack(scene, values)
    assert len(data) == 4 * sum(v.size for v in values.values())
    assert list(offsets) == [b["id"] for b in scene["blocks"]]
    o, n = offsets["h.0.attn.out"]
    back = np.frombuffer(data, "<f4")[o:o + n]
    np.testing.assert_array_equal(back, values["h.0.attn.out"])
    unpacked = scene_values.unpack(data, offsets)
    for k, v in values.items():
        np.testing.assert_array_equal(unpacked[k], v)
    with pytest.raises(ValueError, match="cells"):
        scene_values.pack(scene, {"x": np.zeros(3, np.float32)})


def test_params_only_and_short_names(run):
    scene, trace, sd, values = run
    short = {k.removeprefix("transformer."): v for k, v in sd.items()}
    params = scene_values.block_values(scene, None, short, roles=("parameter",))
    assert set(params) == {b["id"] for b in scene["blocks"] if b["role"] == "parameter"}
    np.testing.assert_array_equal(params["h.2.ln_2.weight"], sd["transformer.h.2.ln_2.weight"])


def test_shorter_input_needs_a_scene_of_its_length():
    model = random_model(SORT, seed=1)
    trace = model.trace(np.array([[0, 1, 2, 0, 1]]))
    with pytest.raises(ValueError, match="T="):
        scene_values.block_values(layout.scene(SORT), trace, model.state_dict())
    values = scene_values.block_values(layout.scene(SORT, T=5), trace, model.state_dict())
    np.testing.assert_array_equal(values["h.0.attn.scores[2]"], trace["h.0.attn.scores"][0, 2].ravel())


def test_scale_scenes_have_no_values():
    with pytest.raises(ValueError, match="scale"):
        scene_values.block_values(layout.scale_scene("gpt2-small"), {}, {})


def test_shorter_input_can_be_padded_into_the_full_scene():
    model = random_model(SORT, seed=2)
    trace = model.trace(np.array([[0, 1, 2, 0, 1]]))
    scene = layout.scene(SORT)   # T = 11
    values = scene_values.block_values(scene, trace, model.state_dict(), pad=0.0)
    x = values["x"].reshape(48, 11)
    np.testing.assert_array_equal(x[:, :5], trace["x"][0].T)
    assert not x[:, 5:].any()
    att = values["h.1.attn.att[2]"].reshape(11, 11)
    np.testing.assert_array_equal(att[:5, :5], trace["h.1.attn.att"][0, 2])
    assert not att[5:].any() and not att[:, 5:].any()
    np.testing.assert_array_equal(values["pos_emb"].reshape(48, 11)[:, :5], trace["pos_emb"].T)
    np.testing.assert_array_equal(values["probs.sum"][:5], trace["probs.sum"][0])
    assert set(values) == {b["id"] for b in scene["blocks"]}
