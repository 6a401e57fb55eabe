"""The KV cache and the growing trace: one new token's pass, written in place, is the full trace.

A cached forward pass of the new position (``GPT.forward(..., cache=)``) gives the logits a
full pass gives; ``GrowingTrace.extend`` turns the old trace plus that pass into the trace a
full forward pass of the longer text computes (<= 1e-5 everywhere, raw scores above the
diagonal included); the patch it returns, applied to the old bytes in pure Python, is the
new trace; ``generate`` gives the same tokens with and without the cache, before and past
block_size.
"""
import numpy as np
import pytest

from llmviz.core import tracefile
from llmviz.core.grow import GrowingTrace, t_axes
from llmviz.core.model import GPT, GPTConfig, KVCache
from llmviz.core.shape import ModelShape

TOL = 1e-5          # absolute, and relative for values above 1 (a softmax sum of ~20 has ulp 2e-6)
CONFIGS = [GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48),
           GPTConfig(block_size=24, vocab_size=65, n_layer=2, n_head=4, n_embd=64, bias=False, gelu="tanh")]


def random_model(config: GPTConfig, seed: int = 0) -> GPT:
    rng = np.random.default_rng(seed)
    state = {name: (rng.standard_normal(ref.shape) * 0.3).astype(np.float32)
             for name, ref in GPT(config).state_dict().items() if name != "lm_head.weight"}
    return GPT.from_state_dict(state, config)


def assert_same(got, want, what=""):
    assert set(got) == set(want), what
    for name in want:
        a, b = np.asarray(got[name]), np.asarray(want[name])
        assert a.shape == b.shape, (what, name, a.shape, b.shape)
        err = np.abs(a.astype(np.float64) - b.astype(np.float64)) / np.maximum(1.0, np.abs(b))
        assert np.max(err, initial=0) <= TOL, (what, name, np.max(err))


@pytest.mark.parametrize("config", CONFIGS, ids=["sort", "wide"])
def test_cached_logits_are_the_full_pass(config):
    model = random_model(config)
    ids = np.random.default_rng(1).integers(0, config.vocab_size, size=(2, config.block_size))
    full = model(ids)
    cache = KVCache(config)
    parts = [model.forward(ids[:, :4], cache=cache)]
    for t in range(4, config.block_size):
        parts.append(model.forward(ids[:, t:t + 1], cache=cache))
    assert cache.length == config.block_size
    assert np.max(np.abs(np.concatenate(parts, axis=1) - full)) <= TOL
    with pytest.raises(ValueError, match="block size"):
        model.forward(ids[:, :1], cache=cache)


@pytest.mark.parametrize("config", CONFIGS, ids=["sort", "wide"])
def test_extend_is_the_full_trace(config):
    model = random_model(config, seed=2)
    ids = list(np.random.default_rng(3).integers(0, config.vocab_size, size=config.block_size))
    grow = GrowingTrace(config, config.block_size)
    cache = KVCache(config)
    grow.put(model.trace([ids[:3]], cache=cache))
    assert_same(grow.trace(), model.trace([ids[:3]]), "the prompt")
    data = bytearray(grow.data)
    for t in range(3, config.block_size):
        patch = grow.extend(model.trace([ids[t:t + 1]], cache=cache))
        want = model.trace([ids[:t + 1]])
        assert_same(grow.trace(), want, f"position {t}")
        # the patch alone turns the page's copy of the old bytes into the new trace
        tracefile.apply_patch(data, patch.to_dict())
        idx = grow.index()
        page = tracefile.read(idx, data)
        for name in ("x", "h.0.attn.scores", "h.1.attn.att", "probs", "pos_emb", "h.0.ln_1.rstd"):
            assert np.allclose(np.asarray(page[name].tolist()), want[name], atol=TOL), (t, name)
        assert grow.ids() == ids[:t + 1]
    # nothing but the written positions: the patch of one token is a small part of the buffer
    assert patch.size < grow.n_floats / 4


@pytest.mark.parametrize("config", CONFIGS, ids=["sort", "wide"])
def test_a_prompt_written_in_chunks_without_patches_is_the_full_trace(config):
    """``extend(patch=False)`` (the worker's chunks of a prompt) writes the same bytes."""
    model = random_model(config, seed=4)
    ids = list(np.random.default_rng(5).integers(0, config.vocab_size, size=config.block_size))
    grows = {}
    for patch in (True, False):
        grow, cache = GrowingTrace(config, config.block_size), KVCache(config)
        grow.put(model.trace([ids[:3]], cache=cache))
        for a in range(3, config.block_size, 4):
            out = grow.extend(model.trace([ids[a:a + 4]], cache=cache), patch=patch)
            assert (out is None) is (not patch)
        grows[patch] = grow
    assert bytes(grows[False].data) == bytes(grows[True].data)
    assert_same(grows[False].trace(), model.trace([ids]), "chunks of four")


def test_padded_layout_and_axes():
    config = CONFIGS[0]
    shape = ModelShape.from_config(config)
    axes = t_axes(shape)
    assert axes["h.0.attn.scores"] == (2, 3) and axes["pos_emb"] == (0,) and axes["x"] == (1,)
    assert axes["idx"] == (1,) and axes["h.1.attn.att.max"] == (2,)
    model = random_model(config)
    grow = GrowingTrace(config, 8)
    grow.put(model.trace([[0, 1, 2, 1, 0]]))
    padded = grow.padded()
    assert padded["h.0.attn.att"].shape == (1, 3, 8, 8)
    assert not padded["x"][0, 5:].any() and padded["x"][0, 4].any()
    page = tracefile.read(grow.index(), grow.data)
    assert page["h.0.attn.att"].shape == (1, 3, 5, 5) and not page["h.0.attn.att"].contiguous and page["x"].contiguous
    assert page["idx"].tolist() == [[0, 1, 2, 1, 0]]
    assert page["h.0.attn.att"][0, 1, 4, 2] == pytest.approx(float(grow.trace()["h.0.attn.att"][0, 1, 4, 2]))
    assert bytes(page["x"].buffer()) == np.ascontiguousarray(grow.trace()["x"]).tobytes()
    with pytest.raises(ValueError, match="capacity"):
        grow.put(model.trace([[0] * 9]))


@pytest.mark.parametrize("config", CONFIGS, ids=["sort", "wide"])
def test_generate_with_and_without_the_cache(config):
    model = random_model(config, seed=4)
    idx = [[1, 2, 0]]
    n = config.block_size + 4             # past block_size: the context is cropped
    greedy = model.generate(idx, n, temperature=0)
    assert (model.generate(idx, n, temperature=0, use_cache=False) == greedy).all()
    sampled = model.generate(idx, n, temperature=1.3, top_k=2, rng=np.random.default_rng(5))
    again = model.generate(idx, n, temperature=1.3, top_k=2, rng=np.random.default_rng(5), use_cache=False)
    assert (sampled == again).all()
