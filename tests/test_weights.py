"""Loading weights: every misfit is a WeightsError that names the key; round trips are exact."""
import io
import json

import numpy as np
import pytest

from llmviz.core import weights
from llmviz.core.model import GPT, GPTConfig
from llmviz.core.vocab import Vocab
from llmviz.core.weights import WeightsError

CFG = GPTConfig(block_size=8, vocab_size=5, n_layer=2, n_head=2, n_embd=8)


def state(config=CFG, seed=0, tied=True):
    rng = np.random.default_rng(seed)
    sd = {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in GPT(config).state_dict().items()}
    if tied:
        del sd["lm_head.weight"]
    return sd


def test_tied_lm_head_uses_wte():
    model = GPT.from_state_dict(state(), CFG)
    assert model.lm_head.weight is model.transformer.wte.weight


def test_untied_lm_head_is_read():
    sd = state(tied=False)
    model = GPT.from_state_dict(sd, CFG)
    np.testing.assert_array_equal(model.lm_head.weight, sd["lm_head.weight"])
    assert not np.array_equal(model.lm_head.weight, model.transformer.wte.weight)


def test_compile_prefix_and_mask_buffers_are_handled():
    sd = {"_orig_mod." + k: v for k, v in state().items()}
    sd["_orig_mod.transformer.h.0.attn.bias"] = np.tril(np.ones((1, 1, 8, 8), np.float32))
    sd["transformer.h.1.attn.masked_bias"] = np.array(-1e4, np.float32)
    model = GPT.from_state_dict(sd, CFG)
    np.testing.assert_array_equal(model.transformer.wpe.weight, sd["_orig_mod.transformer.wpe.weight"])


def with_change(key, value=None, drop=False):
    sd = state()
    if drop:
        del sd[key]
    else:
        sd[key] = value
    return sd


@pytest.mark.parametrize("sd,key,what", [
    (with_change("transformer.h.1.mlp.c_fc.bias", drop=True), "transformer.h.1.mlp.c_fc.bias", "missing"),
    (with_change("transformer.h.9.mlp.c_fc.bias", np.zeros(32, np.float32)), "transformer.h.9.mlp.c_fc.bias",
     "unexpected"),
    (with_change("transformer.wpe.weight", np.zeros((9, 8), np.float32)), "transformer.wpe.weight", "shape"),
    (with_change("transformer.ln_f.bias", np.zeros(8, np.int32)), "transformer.ln_f.bias", "dtype"),
    (with_change("transformer.h.0.attn.c_attn.weight", np.full((24, 8), np.nan, np.float32)),
     "transformer.h.0.attn.c_attn.weight", "NaN"),
    (with_change("transformer.h.0.ln_1.weight", np.array([np.inf] * 8, np.float32)),
     "transformer.h.0.ln_1.weight", "infinite"),
])
def test_bad_state_dicts_name_the_key(sd, key, what):
    with pytest.raises(WeightsError) as err:
        GPT.from_state_dict(sd, CFG)
    assert key in str(err.value) and what in str(err.value)


def test_bias_false_refuses_bias_keys():
    cfg = GPTConfig(**{**CFG.to_dict(), "bias": False})
    sd = state(cfg)
    sd["transformer.ln_f.bias"] = np.zeros(8, np.float32)
    with pytest.raises(WeightsError, match="transformer.ln_f.bias"):
        GPT.from_state_dict(sd, cfg)


def test_save_and_load_round_trip(tmp_path):
    model = GPT.from_state_dict(state(tied=False), CFG)
    card = weights.make_card(CFG, Vocab(list("abcde")), "tiny", task={"name": "test"}, provenance={"seed": 1})
    npz, cjson = weights.save(model, tmp_path / "tiny.npz", card)
    loaded = weights.load(npz)
    idx = np.array([[0, 4, 2, 3]])
    np.testing.assert_array_equal(loaded(idx), model(idx))
    assert loaded.vocab.tokens == list("abcde") and loaded.card["name"] == "tiny"
    assert json.loads(cjson.read_text())["config"] == CFG.to_dict()


@pytest.mark.parametrize("card,msg", [
    ("not a dict", "JSON object"),
    ({"format": "other"}, "format"),
    ({"format": weights.CARD_FORMAT}, "config"),
    ({"format": weights.CARD_FORMAT, "config": {**CFG.to_dict(), "n_head": 3}, "vocab": list("abcde")}, "config"),
    ({"format": weights.CARD_FORMAT, "config": CFG.to_dict(), "vocab": ["a", "a"]}, "twice"),
    ({"format": weights.CARD_FORMAT, "config": CFG.to_dict(), "vocab": list("abcdef")}, "vocab_size"),
])
def test_bad_cards_are_refused(card, msg):
    buf = io.BytesIO()
    np.savez(buf, **state())
    with pytest.raises(WeightsError, match=msg):
        weights.from_bytes(buf.getvalue(), card)


def test_not_an_npz_is_refused():
    card = weights.make_card(CFG, Vocab(list("abcde")), "tiny")
    with pytest.raises(WeightsError, match="not an .npz archive"):
        weights.from_bytes(b"PK\x03\x04 this is not a zip", card)


def test_oversized_file_is_refused_before_parsing():
    card = weights.make_card(CFG, Vocab(list("abcde")), "tiny")
    with pytest.raises(WeightsError, match="limit is 64 MB"):
        weights.from_bytes(b"\0" * (weights.MAX_BYTES + 1), card)


def test_cpython_load_has_no_64_mb_limit_but_the_page_has(tmp_path):
    """``llmviz.load`` in CPython reads a model of more than MAX_BYTES of parameters (the
    64 MB limit is the page's); the page's gate (``from_bytes`` by default) refuses it."""
    config = GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=1, n_embd=2048)
    model = GPT(config)
    assert model.num_params() * 4 > weights.MAX_BYTES
    card = weights.make_card(config, Vocab(list("abcde")), "wide")
    npz, _ = weights.save(model, tmp_path / "wide", card)
    assert npz.stat().st_size > weights.MAX_BYTES
    loaded = weights.load(npz)
    assert loaded.num_params() == model.num_params()
    np.testing.assert_array_equal(loaded.state_dict()["transformer.h.0.mlp.c_fc.weight"],
                                  model.state_dict()["transformer.h.0.mlp.c_fc.weight"])
    with pytest.raises(WeightsError, match="limit is 64 MB"):
        weights.from_bytes(npz.read_bytes(), card)


@pytest.mark.parametrize("tied,bias", [(True, True), (False, True), (True, False)])
def test_flat_weights_reads_what_the_worker_sends(tmp_path, tied, bias):
    """The page's main thread reads the parameters from the npz without numpy: the same names,
    order, shapes and values as the worker's (Session.params), a tied lm_head included."""
    from llmviz.core import flat_weights, tracefile
    from llmviz.page.session import Session

    config = GPTConfig(**{**CFG.to_dict(), "bias": bias})
    model = GPT.from_state_dict(state(config, tied=tied), config)
    card = weights.make_card(config, Vocab(list("abcde")), "tiny", task={"name": "test"}, provenance={"seed": 1})
    npz, _ = weights.save(model, tmp_path / "tiny.npz", card)
    theirs = tracefile.read(*Session(weights.load(npz), card).params())
    ours = flat_weights.read(npz.read_bytes(), card["config"])
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].shape == theirs[name].shape, name
        assert ours[name].tolist() == theirs[name].tolist(), name
    assert (ours["lm_head.weight"] is ours["transformer.wte.weight"]) == tied


def test_flat_weights_refuses_what_it_cannot_view():
    from llmviz.core import flat_weights

    buf = io.BytesIO()
    np.savez(buf, **{k: v.astype(np.float64) for k, v in state().items()})
    with pytest.raises(WeightsError, match="float32"):
        flat_weights.read(buf.getvalue(), CFG.to_dict())
    with pytest.raises(WeightsError, match="missing key"):
        buf = io.BytesIO()
        np.savez(buf, **{k: v for k, v in state().items() if "wpe" not in k})
        flat_weights.read(buf.getvalue(), CFG.to_dict())
