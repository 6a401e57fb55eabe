"""llmviz.viz.layout: the Scene JSON covers every traced tensor and parameter, without overlaps."""
import json
import math

import numpy as np
import pytest

from llmviz.viz import layout
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.trace import trace_shapes

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
TWELVE = GPTConfig(block_size=16, vocab_size=65, n_layer=12, n_head=12, n_embd=96)
NO_BIAS = GPTConfig(block_size=8, vocab_size=10, n_layer=2, n_head=2, n_embd=16, bias=False)
DEEP = GPTConfig(block_size=8, vocab_size=5, n_layer=14, n_head=2, n_embd=16)   # wraps columns
ONE = GPTConfig(block_size=4, vocab_size=7, n_layer=1, n_head=1, n_embd=8)
GPT2 = GPTConfig(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768)
CONFIGS = [SORT, TWELVE, NO_BIAS, DEEP, ONE]


def boxes(scene):
    lo = np.array([layout.block_box(b)[0] for b in scene["blocks"]])
    hi = np.array([layout.block_box(b)[1] for b in scene["blocks"]])
    return lo, hi


def overlapping_pairs(scene, gap=0.25):
    """Pairs of blocks whose boxes, grown by gap/2 on every side, intersect."""
    lo, hi = boxes(scene)
    lo, hi = lo - gap / 2, hi + gap / 2
    ids = [b["id"] for b in scene["blocks"]]
    bad = []
    for i in range(len(ids) - 1):
        inter = np.all((lo[i + 1:] < hi[i]) & (lo[i] < hi[i + 1:]), axis=1)
        bad += [(ids[i], ids[i + 1 + j]) for j in np.nonzero(inter)[0]]
    return bad


def test_overlap_check_catches_an_overlap():
    s = layout.scene(SORT)
    s["blocks"][1]["pos"] = list(s["blocks"][3]["pos"])  # put tok_emb onto x
    assert overlapping_pairs(s)


@pytest.mark.parametrize("config", CONFIGS + [GPT2], ids=lambda c: f"L{c.n_layer}C{c.n_embd}")
def test_no_two_blocks_overlap(config):
    s = layout.scene(config, T=min(config.block_size, 11))
    assert overlapping_pairs(s) == []


@pytest.mark.parametrize("name", sorted(layout.SCALE_CONFIGS))
def test_scale_scenes_do_not_overlap_and_count_parameters(name):
    s = layout.scale_scene(name)
    assert overlapping_pairs(s) == []
    assert s["values"] == "none" and all(b["pattern"] == "neutral" for b in s["blocks"])
    assert len(s["blocks"]) < 5000
    # every parameter is drawn, lm_head counted once (it is tied to wte)
    drawn = sum(b["rows"] * b["cols"] for b in s["blocks"]
                if b["role"] == "parameter" and b["id"] != "lm_head.weight")
    assert drawn == s["param_count"]
    if s["heads_merged"]:
        assert all(b["heads"] == s["config"]["n_head"] for b in s["blocks"] if "heads" in b)
        assert any("heads" in b for b in s["blocks"])
    json.loads(json.dumps(s))


def test_known_parameter_counts():
    assert layout.param_count(layout.SCALE_CONFIGS["gpt2-small"]) == 124_439_808
    assert round(layout.param_count(layout.SCALE_CONFIGS["gpt2-xl"]) / 1e9, 2) == 1.56
    assert round(layout.param_count(layout.SCALE_CONFIGS["gpt3"]) / 1e9) == 175
    for config in (SORT, NO_BIAS):
        sd = GPT(config).state_dict()
        assert layout.param_count(config) == sum(a.size for k, a in sd.items() if k != "lm_head.weight")


@pytest.mark.parametrize("config", [SORT, TWELVE, NO_BIAS, DEEP, GPT2],
                         ids=lambda c: f"L{c.n_layer}C{c.n_embd}")
def test_every_trace_tensor_has_blocks_of_its_size(config):
    T = min(config.block_size, 11)
    s = layout.scene(config, T=T)
    shown_as = s["shown_as"]
    nh = config.n_head
    for name, shape in trace_shapes(config, 1, T).items():
        size = math.prod(shape)
        names = shown_as.get(name, [name])
        blocks = [b for b in s["blocks"] if b.get("trace") in names]
        assert blocks, name
        assert sum(b["rows"] * b["cols"] for b in blocks) == size, name
        per_head = [b for b in blocks if "head" in b]
        if per_head:   # one block per head, each the size of one head's slice
            for n in names:
                heads = sorted(b["head"] for b in per_head if b["trace"] == n)
                assert heads == list(range(nh)), n
            assert all(b["rows"] * b["cols"] == size // (nh * len(names)) for b in per_head)
            assert all(b["id"] == f"{b['trace']}[{b['head']}]" for b in per_head)
        else:
            assert [b["id"] for b in blocks] == [name]


@pytest.mark.parametrize("config", [SORT, TWELVE, NO_BIAS, DEEP], ids=lambda c: f"L{c.n_layer}C{c.n_embd}")
def test_every_parameter_is_covered_once(config):
    s = layout.scene(config)
    sd = GPT(config).state_dict()
    params = [b for b in s["blocks"] if b["role"] == "parameter"]
    assert {b["param"] for b in params} == set(sd)
    for name, arr in sd.items():
        mine = [b for b in params if b["param"] == name]
        assert sum(b["rows"] * b["cols"] for b in mine) == arr.size, name
        if len(mine) > 1:  # c_attn: slices tile the rows exactly once
            covered = sorted(tuple(b["slice"]) for b in mine)
            assert covered[0][0] == 0 and covered[-1][1] == arr.shape[0]
            assert all(a[1] == b[0] for a, b in zip(covered, covered[1:])), name
        for b in mine:
            short = name.removeprefix("transformer.")
            assert b["id"] == short or b["id"].startswith(short.rsplit(".", 1)[0]), b["id"]
    ids = [b["id"] for b in s["blocks"]]
    assert len(ids) == len(set(ids))


def test_block_ids_follow_the_contract():
    ids = {b["id"] for b in layout.scene(SORT)["blocks"]}
    for want in ("idx", "wte.weight", "wpe.weight", "tok_emb", "pos_emb", "x",
                 "h.0.ln_1", "h.0.ln_1.mean", "h.0.ln_1.rstd", "h.0.ln_1.weight", "h.0.ln_1.bias",
                 "h.0.attn.c_attn.q.weight[1]", "h.0.attn.c_attn.v.bias[2]",
                 "h.0.attn.q[1]", "h.0.attn.k[1]", "h.0.attn.v[1]", "h.0.attn.scores[1]",
                 "h.0.attn.att[1]", "h.0.attn.att.max[1]", "h.0.attn.att.sum[1]",
                 "h.0.attn.head_out[1]", "h.0.attn.y", "h.0.attn.out", "h.0.attn.c_proj.weight",
                 "h.0.attn.c_proj.bias", "h.0.x_attn", "h.2.ln_2", "h.2.mlp.c_fc.weight",
                 "h.2.mlp.c_fc.bias", "h.2.mlp.fc", "h.2.mlp.gelu", "h.2.mlp.c_proj.weight",
                 "h.2.mlp.out", "h.2.x", "ln_f", "ln_f.mean", "ln_f.rstd", "ln_f.weight",
                 "lm_head.weight", "logits", "probs", "probs.max", "probs.sum"):
        assert want in ids, want


def test_block_fields_and_labels():
    s = layout.scene(SORT)
    assert s["version"] == 1 and s["config"] == SORT.to_dict()
    by_id = layout.block_index(s)
    assert by_id["h.0.attn.q[1]"]["label"] == "q · head 1"
    assert by_id["h.2.mlp.c_proj.weight"]["label"] == "mlp c_proj"
    assert by_id["h.2.x"]["label"] == "x after block 2"
    assert by_id["x"]["dims"] == ["C", "T"] and (by_id["x"]["rows"], by_id["x"]["cols"]) == (48, 11)
    for b in s["blocks"]:
        assert b["role"] in ("parameter", "activation", "aggregate")
        assert b["group"] in s["groups"]
        # a short name (the code's), the dims apart: the 3D view writes them on the shape line
        assert len(b["dims"]) == 2 and b["label"] and len(b["label"]) <= 32 and "\u00d7" not in b["label"]
        assert len(b["pos"]) == 3 and b["cell"] > 0
    assert by_id["h.0.ln_1.mean"]["role"] == "aggregate"
    assert by_id["probs.sum"]["role"] == "aggregate"
    assert by_id["h.1.attn.att.max[0]"]["role"] == "aggregate"


def test_json_round_trip_and_determinism():
    s = layout.scene(SORT)
    assert json.loads(json.dumps(s)) == s
    assert layout.scene(SORT) == s
    assert layout.scene(SORT.to_dict()) == s   # a plain dict config works too


def test_residual_stream_is_one_central_column_in_forward_order():
    for config in (SORT, TWELVE):
        s = layout.scene(config)
        by_id = layout.block_index(s)
        names = ["x"] + [f"h.{i}.{n}" for i in range(config.n_layer) for n in ("x_attn", "x")]
        tops = []
        for n in names:
            b = by_id[n]
            assert abs(b["pos"][0] + b["cols"] * b["cell"] / 2) < 1e-9, n   # centred on x = 0
            tops.append(b["pos"][1])
        assert tops == sorted(tops, reverse=True) and len(set(tops)) == len(tops)
        # forward order from the top down: no step starts above the one before it
        g = s["groups"]
        seq = ["idx", "x"] + [f"h.{i}.{k}" for i in range(config.n_layer)
                              for k in ("ln_1", "attn.q[0]", "attn.out", "ln_2", "mlp.fc", "mlp.gelu", "x")]
        seq += ["ln_f", "logits", "probs"]
        for a, b in zip(seq, seq[1:]):
            assert by_id[b]["pos"][1] <= by_id[a]["pos"][1] + 1e-9, (a, b)
        # attention hangs left of the spine, the MLP right of it
        assert g["h.0.attn"]["bounds"]["max"][0] < by_id["x"]["pos"][0]
        assert by_id["h.0.mlp.fc"]["pos"][0] >= by_id["x"]["pos"][0] + by_id["x"]["cols"]


def test_each_residual_add_meets_its_operands():
    """A residual addition's three blocks are neighbours: the stream in directly above the sum
    on the spine (one row apart), the update level with the sum, beside it."""
    for config in (SORT, TWELVE):
        by_id = layout.block_index(layout.scene(config))
        C = config.n_embd
        for i in range(config.n_layer):
            stream = by_id[f"h.{i - 1}.x" if i else "x"]
            for upd, out in ((f"h.{i}.attn.out", f"h.{i}.x_attn"), (f"h.{i}.mlp.out", f"h.{i}.x")):
                U, O = by_id[upd], by_id[out]
                assert U["pos"][1] == O["pos"][1], (upd, out)                          # level
                gap = min(abs(U["pos"][0] - (O["pos"][0] + O["cols"])), abs(O["pos"][0] - (U["pos"][0] + U["cols"])))
                assert gap <= 2 + 2 + max(2, round(C / 16)) + layout.LABEL_LANE + 1e-9, (upd, out, gap)  # beside it
            x_attn = by_id[f"h.{i}.x_attn"]
            below = stream["pos"][1] - x_attn["pos"][1] - C
            assert 0 < below <= max(C, 3 * (C // config.n_head) + 2) + max(6, round(C / 8)) + 4, (i, below)
            # the layer norm of each sub-block is level with its input, beside the spine
            assert by_id[f"h.{i}.ln_1"]["pos"][1] == stream["pos"][1]
            assert by_id[f"h.{i}.ln_2"]["pos"][1] == x_attn["pos"][1]


def test_weights_sit_beside_what_they_produce():
    by_id = layout.block_index(layout.scene(SORT))

    def left_of_and_level(w, out):
        W, O = by_id[w], by_id[out]
        assert W["pos"][1] == O["pos"][1], (w, out)                  # rows level
        assert W["pos"][0] + W["cols"] * W["cell"] < O["pos"][0], (w, out)

    def beside_and_level(w, out):
        W, O = by_id[w], by_id[out]
        assert W["pos"][1] == O["pos"][1], (w, out)                  # rows level
        assert (W["pos"][0] + W["cols"] * W["cell"] < O["pos"][0]
                or O["pos"][0] + O["cols"] * O["cell"] < W["pos"][0]), (w, out)

    for h in range(3):
        for k in "qkv":
            left_of_and_level(f"h.0.attn.c_attn.{k}.weight[{h}]", f"h.0.attn.{k}[{h}]")
            left_of_and_level(f"h.0.attn.c_attn.{k}.bias[{h}]", f"h.0.attn.c_attn.{k}.weight[{h}]")
    left_of_and_level("h.1.attn.c_proj.weight", "h.1.attn.out")
    beside_and_level("h.1.mlp.c_proj.weight", "h.1.mlp.out")    # the MLP hangs right of the spine
    left_of_and_level("lm_head.weight", "logits")
    beside_and_level("wte.weight", "tok_emb")
    beside_and_level("h.1.mlp.c_fc.weight", "h.1.ln_2")        # c_fc^T is level with its input
    fc, w = by_id["h.1.mlp.fc"], by_id["h.1.mlp.c_fc.weight"]
    assert fc["pos"][0] == w["pos"][0] and fc["cols"] == w["cols"] and fc["pos"][1] < w["pos"][1]
    # a head's scores and softmax stand level with its queries; its output level with its values
    for h in range(3):
        q, sc = by_id[f"h.0.attn.q[{h}]"], by_id[f"h.0.attn.scores[{h}]"]
        assert sc["pos"][1] == q["pos"][1] and sc["pos"][0] > q["pos"][0] + q["cols"]
        v, out = by_id[f"h.0.attn.v[{h}]"], by_id[f"h.0.attn.head_out[{h}]"]
        assert out["pos"][1] == v["pos"][1] and out["pos"][0] == by_id[f"h.0.attn.att[{h}]"]["pos"][0]


def test_heads_stand_side_by_side():
    by_id = layout.block_index(layout.scene(TWELVE))
    for kind in ("q", "k", "v", "scores", "att", "head_out"):
        blocks = [by_id[f"h.3.attn.{kind}[{h}]"] for h in range(12)]
        assert len({b["pos"][1] for b in blocks}) == 1, kind
        xs = [b["pos"][0] for b in blocks]
        # head 0 nearest to the spine (rightmost), the others further left
        assert xs == sorted(xs, reverse=True) and len(set(xs)) == 12, kind


def test_deep_models_wrap_into_columns():
    s = layout.scene(DEEP)
    by_id = layout.block_index(s)
    assert by_id["h.12.x"]["pos"][0] > by_id["h.11.x"]["pos"][0]
    assert by_id["h.12.ln_1"]["pos"][1] > by_id["h.11.x"]["pos"][1]    # back at the top


def test_groups_and_views():
    s = layout.scene(SORT)
    lo, hi = s["bounds"]["min"], s["bounds"]["max"]
    for key in ("overview", "embedding", "h.0", "h.2", "h.1.attn", "h.1.mlp", "output"):
        v = s["views"][key]
        assert v["distance"] > 0
        assert all(a <= c <= b for a, c, b in zip(lo, v["center"], hi)), key
    assert s["views"]["overview"]["distance"] > s["views"]["h.0"]["distance"]
    for gid, g in s["groups"].items():
        assert g["label"] and g["phase"] in layout.PHASES.values()
        for bid in g["blocks"]:
            bmin, bmax = layout.block_box(layout.block_index(s)[bid])
            assert all(g["bounds"]["min"][i] <= bmin[i] and bmax[i] <= g["bounds"]["max"][i]
                       for i in range(3))
    assert s["groups"]["h.1.attn"]["phase"] == "self-attention"
    assert s["groups"]["h.1.ln_2"]["layer"] == 1


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="T must be"):
        layout.scene(SORT, T=12)
    with pytest.raises(ValueError, match="no scale view"):
        layout.scale_scene("gpt5")
    with pytest.raises(ValueError, match="n_embd"):
        layout.scene({"block_size": 4, "vocab_size": 3, "n_layer": 1})


def test_layout_is_pure_python():
    import ast
    import inspect
    for mod in (layout, __import__("llmviz.viz.provenance", fromlist=["x"])):
        tree = ast.parse(inspect.getsource(mod))
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "numpy" not in imported and "torch" not in imported
