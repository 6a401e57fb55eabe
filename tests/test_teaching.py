"""What the tour says about the shipped sort model, checked against its trace, its weights
and the way it was trained (issue 12): each claim a careful reader found wrong, now right.

Run on the page's default input (``CBABBC`` and the five answer letters the model writes
first: the sixth pass), on the weights the site ships.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import llmviz.walkthrough as wt
from llmviz.core import sort_task, weights
from llmviz.walkthrough.p7_mlp import gelu, gelu_minimum

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shipped():
    model = weights.load(ROOT / "weights" / "sort.npz")
    text = sort_task.sequence("CBABBC")[:model.config.block_size]   # what build.py bundles
    ids = model.vocab.encode(text, model.config.block_size)
    trace = model.trace(np.array([ids]))
    ctx = {"trace": trace, "params": model.state_dict(), "config": model.config,
           "vocab": [model.vocab.decode([i]) for i in range(model.config.vocab_size)],
           "task": model.card.get("task")}
    return {"model": model, "ids": ids, "text": text, "trace": trace, "ctx": ctx}


def words(step: dict) -> str:
    """The step's text without tags or entities, spaces collapsed."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", step["html"])).split())


def numbers_of(step: dict) -> list[float]:
    return [n["value"] for n in step["numbers"]]


def test_read_output_says_only_the_answer_positions_were_trained(shipped):
    """train.py masks the prompt's targets: the table marks positions 0..4 untrained, and the
    text's example is an untrained position predicting a token that does not follow it."""
    from llmviz.cli.train import sort_dataset   # the masking train.py does, not a copy of it

    torch = pytest.importorskip("torch")
    del torch
    _x, y = sort_dataset()
    trained = [t for t in range(y.shape[1]) if (y[:, t] != -1).all()]
    assert not any((y[:, t] != -1).any() for t in range(y.shape[1]) if t not in trained)

    step = wt.render_step("intro", "read_output", shipped["ctx"])
    text = words(step)
    assert "training scored them all" not in text
    assert f"only the predictions from position {trained[0]} on" in text and "ignore_index=-1" in text
    rows = step["table"]["rows"]
    assert [r[5] == "yes" for r in rows] == [t in trained for t in range(len(rows))]
    probs = shipped["trace"]["probs"][0]
    for t, row in enumerate(rows):
        top = int(np.argmax(probs[t]))
        assert row[3] == "ABC"[top]
        decimals = len(row[4].split(".")[1])
        assert float(row[4]) == pytest.approx(float(probs[t, top]), abs=0.51 * 10.0 ** -decimals)
        assert row[2] == sort_task.sequence("CBABBC")[t + 1]   # the token that follows in training
    # the example: an untrained position whose top prediction is not the next token
    m = re.search(r"position (\d+) predicts (\w) with p = ([\d.]+), though the next token is (\w)", text)
    assert m, text
    t, tok, p, nxt = int(m[1]), m[2], float(m[3]), m[4]
    assert t not in trained and tok == "ABC"[int(np.argmax(probs[t]))] and nxt == shipped["text"][t + 1]
    assert tok != nxt and p == pytest.approx(float(probs[t].max()), abs=1e-5)


def test_feed_back_sorts_first_and_stops_after_the_last_letter(shipped):
    text = words(wt.render_step("intro", "feed_back", shipped["ctx"]))
    answer = sort_task.answer("CBABBC")
    assert "drops the oldest token" not in text
    assert f"the sixth and last letter of the answer: the model has written {answer}" in text
    assert "the sort task stops" in text and "never fed back in" in text
    # the greedy answer of the model really is this one, and it stops at six letters
    out = shipped["model"].generate([shipped["model"].vocab.encode("CBABBC")], 6, temperature=0)
    assert shipped["model"].vocab.decode(out[0].tolist())[6:] == answer


def test_tokens_says_this_is_the_sixth_pass(shipped):
    text = words(wt.render_step("intro", "tokens", shipped["ctx"]))
    written = shipped["text"][6:]
    assert len(written) == 5
    assert f"This page shows its sixth pass: the input CBABBC followed by the 5 letters of the answer it " \
           f"has already written, {written}. This pass writes the sixth letter." in text
    welcome = words(wt.render_step("intro", "welcome", shipped["ctx"]))
    assert "Its input now is CBABBC" in welcome


def test_layer_norm_gamma_and_beta_are_per_feature(shipped):
    step = wt.render_step("layernorm", "scale_shift", shipped["ctx"])
    text = words(step)
    assert "undo the normalisation where" not in text
    assert "one number per row (per feature)" in text and "cannot undo the normalisation of a column" in text
    sd = shipped["model"].state_dict()
    g, b = sd["transformer.h.0.ln_1.weight"], sd["transformer.h.0.ln_1.bias"]
    shown = {n["source"].get("op"): [] for n in step["numbers"]}
    for n in step["numbers"]:
        shown[n["source"].get("op")].append(n["value"])
    assert shown["min"] == pytest.approx([g.min(), b.min()]) and shown["max"] == pytest.approx([g.max(), b.max()])
    assert ("close to 1 for every feature" in text) == bool(g.min() > 2 / 3 and g.max() < 1.5)


def test_gelu_dips_below_zero_and_the_inputs_lie_in_the_dip(shipped):
    x_min, g_min = gelu_minimum("erf")
    xs = np.linspace(-4, 0, 40001)
    ys = np.array([gelu(float(x)) for x in xs])
    assert x_min == pytest.approx(xs[ys.argmin()], abs=1e-3) and g_min == pytest.approx(ys.min(), abs=1e-6)
    step = wt.render_step("mlp", "why_gelu", shipped["ctx"])
    text = words(step)
    assert "never below" not in text and "GELU is not monotone" in text
    assert f"about {g_min:.2f} at x ≈ {x_min:.2f}" in text
    fc = shipped["trace"]["h.0.mlp.fc"][0, -1]
    n_neg, n_dip = int((fc < 0).sum()), int(((fc > x_min) & (fc < 0)).sum())
    assert n_dip * 2 > n_neg   # most of the negative inputs: the text's claim
    assert f"Most of the negative inputs here, {n_dip} of them, lie in the dip" in text
    assert f"{n_neg} of the 192 inputs are negative" in text
    # the worked unit of the step before is one of them
    m = re.search(r"our unit, GELU\((-[\d.]+)\) = (-[\d.]+), is one of them", text)
    assert m and x_min < float(m[1]) < 0


def test_stack_direction_reads_the_norms_and_weight_tying(shipped):
    step = wt.render_step("stack", "direction", shipped["ctx"])
    text = words(step)
    tr = shipped["trace"]
    x, last = tr["x"][0, -1].astype(np.float64), tr["h.2.x"][0, -1].astype(np.float64)
    ratio = np.linalg.norm(last) / np.linalg.norm(x)
    cos = x @ last / np.linalg.norm(x) / np.linalg.norm(last)
    assert 15 < ratio < 25 and cos > 0.5   # the trace: ~20 times longer, much the same direction
    assert f"{ratio:.1f} times longer" in text and f"is {cos:.2f}" in text
    assert "pushed it much further along the direction it already had" in text
    assert "Much of the embedding is still there" not in text
    # weight tying: the token whose embedding the final column points along is the prediction
    wte = shipped["model"].state_dict()["transformer.wte.weight"].astype(np.float64)
    final = tr["ln_f"][0, -1].astype(np.float64)
    cosines = wte @ final / np.linalg.norm(wte, axis=1) / np.linalg.norm(final)
    near = int(np.argmax(cosines))
    assert f"along the embedding of {'ABC'[near]}" in text and f"{cosines[near]:.2f} after the blocks" in text
    assert near == int(np.argmax(tr["probs"][0, -1])) and "is the token the model predicts" in text
    assert "gpt.tie" in step["code"]


def test_output_logits_show_weight_tying_on_the_numbers(shipped):
    step = wt.render_step("output", "logits", shipped["ctx"])
    text = words(step)
    assert "assigns lm_head.weight to wte.weight, the line in the code panel" in text
    assert "gpt.tie" in step["code"]   # the line itself, read from nanoGPT's file (test_code_panel)
    # the tying paragraph: lm_head's row of the top token beside wte's (the worked logit
    # before it also shows lm_head numbers: the last three are the paragraph's)
    lm = [n for n in step["numbers"] if n["source"].get("tensor") == "lm_head.weight"][-3:]
    te = [n for n in step["numbers"] if n["source"].get("tensor") == "transformer.wte.weight"]
    assert len(lm) == len(te) == 3
    assert [n["value"] for n in lm] == [n["value"] for n in te]
    assert [n["source"]["index"] for n in lm] == [n["source"]["index"] for n in te]
    # untied weights get the other branch, with numbers that differ
    ctx = dict(shipped["ctx"], params=dict(shipped["ctx"]["params"]))
    ctx["params"]["lm_head.weight"] = ctx["params"]["lm_head.weight"] * 2
    other = wt.render_step("output", "logits", ctx)
    assert "keep them apart" in words(other) and "not weights of their own" not in words(other)


def test_position_embedding_qualifies_the_order(shipped):
    text = words(wt.render_step("embedding", "position", shipped["ctx"]))
    assert "does not know in what order" not in text
    assert "knows their order only through its causal mask" in text


def test_softmax_and_loss_say_where_nanogpt_applies_the_final_softmax(shipped):
    what = words(wt.render_step("softmax", "what", shipped["ctx"]))
    assert "nanoGPT's forward never applies that last one" in what
    assert "F.softmax(logits, dim=-1)" in what and "inside F.cross_entropy" in what
    loss = words(wt.render_step("output", "loss", shipped["ctx"]))
    assert "forward never returns probabilities" in loss and "F.cross_entropy" in loss
    assert "the loss covers the answer positions only, 5 to 10" in loss and "ignore_index=-1" in loss
    assert "at every position of many examples" not in loss
    # a model trained on text: every position counts
    other = words(wt.render_step("output", "loss", dict(shipped["ctx"], task={"name": "text"})))
    assert "It covers every position" in other


def test_what_nanogpt_does_that_the_port_leaves_out(shipped):
    ctx = shipped["ctx"]
    idea = wt.render_step("attention", "idea", ctx)
    assert "F.scaled_dot_product_attention(q, k, v, ..., is_causal=True)" in words(idea)
    assert "attention.flash" in idea["code"]
    mask = wt.render_step("attention", "mask", ctx)
    assert "self.bias is not a learned bias but this mask" in words(mask)
    assert "attention.mask_buffer" in mask["code"]
    assert "At inference, as here, it passes them through unchanged" in words(wt.render_step("embedding", "sum", ctx))
    project = wt.render_step("mlp", "project", ctx)
    assert "self.dropout(x)" in words(project) and "mlp.dropout" in project["code"]
    choose = wt.render_step("output", "choose", ctx)
    assert "top_k most likely tokens" in words(choose) and "generate.top_k" in choose["code"]


def test_names_in_the_prose_map_to_the_code(shipped):
    ctx = shipped["ctx"]
    assert "(in the code, att before masked_fill)" in words(wt.render_step("attention", "one_score", ctx))
    assert "the y of y = att @ v" in words(wt.render_step("attention", "weighted_sum", ctx))
    q = words(wt.render_step("attention", "query", ctx))
    hs = shipped["model"].config.n_embd // shipped["model"].config.n_head
    assert f"rows 0–{hs - 1} of c_attn.weight: rows 0–{shipped['model'].config.n_embd - 1} are the queries" in q
    follow = words(wt.render_step("attention", "query", dict(ctx, follow={"layer": 0, "head": 2})))
    assert f"rows {2 * hs}–{3 * hs - 1} of c_attn.weight" in follow
    assert "x_attn is the x after x = x + self.attn(...)" in words(wt.render_step("projection", "residual", ctx))


def test_feeding_back_is_drawn_as_a_worked_example(shipped):
    """intro/feed_back and output/append: the card shows the last position's probabilities,
    the input with the chosen token appended, and points at the slot after idx; on the sort
    task's last letter it shows the whole answer and points at the letters fed back before."""
    answer = sort_task.answer("CBABBC")
    probs = shipped["trace"]["probs"][0, -1]
    best = int(np.argmax(probs))
    for phase, step_id in (("intro", "feed_back"), ("output", "append")):
        fig = wt.render_step(phase, step_id, shipped["ctx"])["figure"]
        assert fig["rows"] == list("ABC")
        column = fig["columns"][0]
        assert column["block"] == "probs" and column["mark"]
        assert column["values"] == pytest.approx([float(p) for p in probs], abs=1e-6)
        assert fig["lines"][0] == f"idx: {shipped['text']} + {'ABC'[best]}"
        assert fig["lines"][1] == f"{answer[:5]}, at positions 6–10, came back the same way, one pass each"
        assert "the task stops" in fig["lines"][2]
        assert fig["result"]["text"] == answer and fig["result"]["block"] == "idx"
        assert fig["result"]["cells"] == [[0, c] for c in range(6, 11)]

    # an earlier pass (6 letters in, T = 6): the token goes to position 6, the next pass has 7
    model = shipped["model"]
    ids = model.vocab.encode("CBABBC")
    trace = model.trace(np.array([ids]))
    ctx = dict(shipped["ctx"], trace=trace)
    fig = wt.render_step("output", "append", ctx)["figure"]
    best = int(np.argmax(trace["probs"][0, -1]))
    assert fig["lines"] == [f"idx: CBABBC + {'ABC'[best]}", "the next pass runs on 7 positions"]
    assert fig["result"] == {"label": "idx[0, 6]", "text": f"{'ABC'[best]} ({best})",
                             "value": pytest.approx(float(trace["probs"][0, -1, best]), abs=1e-6),
                             "block": "idx", "cell": [0, 6], "cells": [[0, 6]]}
