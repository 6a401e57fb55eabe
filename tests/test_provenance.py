"""llmviz.viz.provenance: each cell's explanation recomputes its value from the numbers it names."""
import math

import numpy as np
import pytest

from llmviz.viz import layout, provenance, scene_values
from llmviz.core.model import GPT, GPTConfig

SORT = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
NO_BIAS = GPTConfig(block_size=6, vocab_size=5, n_layer=2, n_head=2, n_embd=8, bias=False, gelu="tanh")


def random_run(config, idx, seed=0):
    model = GPT(config)
    rng = np.random.default_rng(seed)
    for arr in model.state_dict().values():
        arr[...] = rng.normal(0.0, 0.3, arr.shape)
    return model.trace(np.array([idx])), model.state_dict()


@pytest.fixture(scope="module")
def sort_run():
    return random_run(SORT, [2, 1, 0, 1, 1, 2, 0, 1, 1, 1, 2])


def sums(d):
    return sum(t["value"] for t in d["terms"])


def test_x_cell_is_token_plus_position(sort_run):
    trace, sd = sort_run
    # block x is C x T: row = feature 7, column = position 4
    d = provenance.describe("x", 7, 4, trace, sd, SORT)
    assert abs(d["value"] - float(trace["x"][0, 4, 7])) < 1e-6
    labels = [t["label"] for t in d["terms"]]
    assert labels == ["tok_emb", "pos_emb"]
    tok = int(trace["idx"][0, 4])
    assert abs(d["terms"][0]["value"] - float(sd["transformer.wte.weight"][tok, 7])) < 1e-6
    assert abs(d["terms"][1]["value"] - float(sd["transformer.wpe.weight"][4, 7])) < 1e-6
    assert abs(sums(d) - d["value"]) < 1e-6
    rel = {r["id"]: r["cells"] for r in d["related"]}
    assert rel["tok_emb"] == [[7, 4, 8, 5]] and rel["wte.weight"] == [[7, tok, 8, tok + 1]]
    assert "+" in d["text"]


MATMULS = [("h.0.attn.q[1]", 3, 5), ("h.1.attn.k[2]", 15, 0), ("h.2.attn.v[0]", 0, 10),
           ("h.0.attn.scores[2]", 7, 3), ("h.1.attn.head_out[1]", 4, 9),
           ("h.0.attn.out", 20, 6), ("h.1.mlp.fc", 6, 150), ("h.2.mlp.out", 47, 10),
           ("logits", 2, 8)]


@pytest.mark.parametrize("block_id,row,col", MATMULS)
def test_matmul_terms_recompute_the_value(sort_run, block_id, row, col):
    trace, sd = sort_run
    d = provenance.describe(block_id, row, col, trace, sd, SORT)
    values = scene_values.block_values(layout.scene(SORT), trace, sd)
    cols = layout.block_index(layout.scene(SORT))[block_id]["cols"]
    assert abs(d["value"] - float(values[block_id][row * cols + col])) < 1e-6
    assert d["op"] == "sum" and len(d["terms"]) > 1
    assert math.isclose(sums(d), d["value"], rel_tol=1e-4, abs_tol=1e-5)
    for t in d["terms"]:
        if "factors" in t and not block_id.startswith("h.0.attn.scores"):
            assert math.isclose(t["factors"][0] * t["factors"][1], t["value"], rel_tol=1e-9)
    assert d["related"] and all(r["cells"] for r in d["related"])


def test_matmul_names_the_right_row_and_column(sort_run):
    trace, sd = sort_run
    d = provenance.describe("h.0.attn.q[1]", 3, 5, trace, sd, SORT)   # head 1, feature 3, position 5
    rel = {r["id"]: r["cells"] for r in d["related"]}
    assert rel["h.0.attn.c_attn.q.weight[1]"] == [[3, 0, 4, 48]]       # its weights' row 3
    assert rel["h.0.ln_1"] == [[0, 5, 48, 6]]                          # ln_1 at position 5
    assert rel["h.0.attn.c_attn.q.bias[1]"] == [[3, 0, 4, 1]]
    W = sd["transformer.h.0.attn.c_attn.weight"]
    first = [t for t in d["terms"] if "factors" in t][0]
    assert first["factors"] == [float(W[16 + 3, 0]), float(trace["h.0.ln_1"][0, 5, 0])]
    d = provenance.describe("h.1.mlp.fc", 6, 150, trace, sd, SORT)    # position 6, unit 150
    rel = {r["id"]: r["cells"] for r in d["related"]}
    assert rel["h.1.mlp.c_fc.weight"] == [[0, 150, 48, 151]]
    assert rel["h.1.ln_2"] == [[0, 6, 48, 7]]
    assert rel["h.1.mlp.c_fc.bias"] == [[0, 150, 1, 151]]


def test_layer_norm_softmax_gelu_residual(sort_run):
    trace, sd = sort_run
    d = provenance.describe("h.1.ln_2", 10, 3, trace, sd, SORT)
    t = {x["label"]: x["value"] for x in d["terms"]}
    assert d["op"] == "layernorm"
    assert math.isclose((t["input"] - t["mean"]) * t["rstd"] * t["gamma"] + t["beta"], d["value"],
                        rel_tol=1e-4, abs_tol=1e-5)
    assert abs(t["input"] - float(trace["h.1.x_attn"][0, 3, 10])) < 1e-7
    d = provenance.describe("h.1.ln_2.mean", 0, 3, trace, sd, SORT)
    assert math.isclose(sums(d), d["value"], rel_tol=1e-4, abs_tol=1e-6)
    d = provenance.describe("h.1.ln_2.rstd", 0, 3, trace, sd, SORT)
    t = {x["label"]: x["value"] for x in d["terms"]}
    assert math.isclose(1 / math.sqrt(t["variance"] + t["eps"]), d["value"], rel_tol=1e-4)

    d = provenance.describe("h.0.attn.att[1]", 6, 2, trace, sd, SORT)
    t = {x["label"]: x["value"] for x in d["terms"]}
    assert math.isclose(math.exp(t["input"] - t["max"]) / t["sum"], d["value"], rel_tol=1e-4)
    masked = provenance.describe("h.0.attn.att[1]", 2, 6, trace, sd, SORT)
    assert masked["value"] == 0 and "mask" in masked["text"]
    d = provenance.describe("h.0.attn.att.sum[1]", 6, 0, trace, sd, SORT)
    assert len(d["terms"]) == 7 and math.isclose(sums(d), d["value"], rel_tol=1e-4)
    d = provenance.describe("h.0.attn.att.max[1]", 6, 0, trace, sd, SORT)
    assert max(x["value"] for x in d["terms"]) == d["value"]
    d = provenance.describe("probs", 1, 4, trace, sd, SORT)
    t = {x["label"]: x["value"] for x in d["terms"]}
    assert math.isclose(math.exp(t["input"] - t["max"]) / t["sum"], d["value"], rel_tol=1e-4)

    d = provenance.describe("h.2.mlp.gelu", 3, 100, trace, sd, SORT)
    x = d["terms"][0]["value"]
    assert math.isclose(provenance.gelu(x), d["value"], rel_tol=1e-4, abs_tol=1e-6)
    for rid in ("h.0.x_attn", "h.2.x"):
        d = provenance.describe(rid, 5, 5, trace, sd, SORT)
        assert len(d["terms"]) == 2 and math.isclose(sums(d), d["value"], rel_tol=1e-5, abs_tol=1e-6)
    d = provenance.describe("h.1.attn.y", 20, 4, trace, sd, SORT)   # feature 20 = head 1, feature 4
    assert d["related"] == [{"id": "h.1.attn.head_out[1]", "cells": [[4, 4, 5, 5]]}]


def test_parameters_say_which_tensor_row_and_column(sort_run):
    trace, sd = sort_run
    d = provenance.describe("h.1.attn.c_attn.v.weight[2]", 5, 7, trace, sd, SORT)
    assert d["tensor"] == "transformer.h.1.attn.c_attn.weight" and d["index"] == [2 * 48 + 2 * 16 + 5, 7]
    assert d["value"] == float(sd["transformer.h.1.attn.c_attn.weight"][133, 7])
    assert "V of head 2, feature 5" in d["text"]
    d = provenance.describe("wte.weight", 7, 2, trace, sd, SORT)
    assert d["index"] == [2, 7]
    rel = [r for r in d["related"] if r["id"] == "tok_emb"]
    assert rel and rel[0]["cells"] == [[7, 0, 8, 1], [7, 5, 8, 6], [7, 10, 8, 11]]  # where token 2 is


def test_every_block_value_matches_the_buffers(sort_run):
    """describe() reads the same number the renderer shows, for cells of every block."""
    trace, sd = sort_run
    scene = layout.scene(SORT)
    values = scene_values.block_values(scene, trace, sd)
    for b in scene["blocks"]:
        for r, c in ((0, 0), (b["rows"] - 1, b["cols"] - 1), (b["rows"] // 2, b["cols"] // 3)):
            d = provenance.describe(b["id"], r, c, trace, sd, SORT)
            assert d["value"] == float(values[b["id"]][r * b["cols"] + c]), (b["id"], r, c)
            assert isinstance(d["text"], str) and d["text"]
            if d["op"] == "sum":
                assert math.isclose(sums(d), d["value"], rel_tol=1e-4, abs_tol=1e-5), (b["id"], r, c)
            for rel in d["related"]:
                rb = layout.block_index(scene)[rel["id"]]
                for r0, c0, r1, c1 in rel["cells"]:
                    assert 0 <= r0 < r1 <= rb["rows"] and 0 <= c0 < c1 <= rb["cols"]  # half-open


class NestedTensor:
    """A tensor without numpy: nested lists, full-tuple indexing and .shape only."""

    def __init__(self, arr):
        self.shape = tuple(np.shape(arr))
        self.data = np.asarray(arr).tolist()

    def __getitem__(self, idx):
        assert isinstance(idx, tuple) and len(idx) == len(self.shape)
        v = self.data
        for i in idx:
            v = v[i]
        return v


def test_works_on_a_trace_without_numpy(sort_run):
    trace, sd = sort_run
    plain_trace = {k: NestedTensor(v) for k, v in trace.items()}
    plain_sd = {k: NestedTensor(v) for k, v in sd.items()}
    for bid, r, c in MATMULS + [("x", 1, 1), ("h.0.ln_1", 3, 3), ("h.0.attn.att[0]", 5, 2),
                                ("h.0.attn.c_attn.q.bias[0]", 2, 0), ("probs.sum", 0, 3)]:
        a = provenance.describe(bid, r, c, trace, sd, SORT)
        b = provenance.describe(bid, r, c, plain_trace, plain_sd, SORT)
        assert a == b, bid


def test_no_bias_and_tanh_gelu():
    trace, sd = random_run(NO_BIAS, [1, 4, 0, 2])
    scene = layout.scene(NO_BIAS, T=4)
    assert not any(b["id"].endswith(("bias", "]")) and "bias" in b["id"] for b in scene["blocks"])
    d = provenance.describe("h.1.attn.q[1]", 2, 3, trace, sd, NO_BIAS)
    assert len(d["terms"]) == 8 and math.isclose(sums(d), d["value"], rel_tol=1e-4, abs_tol=1e-6)
    d = provenance.describe("h.0.mlp.gelu", 2, 5, trace, sd, NO_BIAS)
    assert math.isclose(provenance.gelu(d["terms"][0]["value"], "tanh"), d["value"], rel_tol=1e-4,
                        abs_tol=1e-6)
    assert "tanh" in d["text"]
    d = provenance.describe("ln_f", 0, 0, trace, sd, NO_BIAS)
    assert [t["label"] for t in d["terms"]] == ["input", "mean", "rstd", "gamma"]


def test_bad_cells_are_refused(sort_run):
    trace, sd = sort_run
    with pytest.raises(IndexError):
        provenance.describe("x", 48, 0, trace, sd, SORT)
    with pytest.raises(KeyError, match="no block"):
        provenance.describe("h.9.x", 0, 0, trace, sd, SORT)


def test_a_padded_scene_maps_cells_by_its_own_length():
    trace, sd = random_run(SORT, [0, 1, 2, 0, 1])             # 5 tokens, scene of 11
    values = scene_values.block_values(layout.scene(SORT), trace, sd, pad=0.0)
    d = provenance.describe("x", 7, 4, trace, sd, SORT, T=11)
    assert d["value"] == float(values["x"][7 * 11 + 4]) == float(trace["x"][0, 4, 7])
    d = provenance.describe("h.0.attn.att[1]", 4, 2, trace, sd, SORT, T=11)
    assert d["value"] == float(values["h.0.attn.att[1]"][4 * 11 + 2])
    rel = {r["id"]: r["cells"] for r in d["related"]}
    assert rel["h.0.attn.scores[1]"] == [[4, 0, 5, 5], [4, 2, 5, 3]]   # its row, and its cell
    d = provenance.describe("x", 7, 8, trace, sd, SORT, T=11)  # position 8: no token yet
    assert d["value"] is None and d["op"] == "padding" and "5 tokens" in d["text"]
    d = provenance.describe("h.0.attn.c_attn.q.weight[0]", 1, 2, trace, sd, SORT, T=11)
    assert d["value"] == float(sd["transformer.h.0.attn.c_attn.weight"][1, 2])
