"""Phase 4, self-attention: one head's q, k, v, scores, mask, softmax and weighted sum."""
from __future__ import annotations

import math

from llmviz.walkthrough import Phase, Step, figures, worked
from llmviz.walkthrough.linear_steps import linear_step
from llmviz.walkthrough.numbers import Walk, fmt


def _a(w: Walk, what: str) -> str:
    return f"h.{w.L}.attn.{what}"


def _key_value(w: Walk) -> dict:
    h, t = w.h, w.t
    return {"k0": w.act(_a(w, "k"), 0, h, t, 0), "v0": w.act(_a(w, "v"), 0, h, t, 0)}


# the worked query number: row 0 of the head's query weights, column t of ln_1
_QUERY = linear_step("h.{L}.attn.c_attn.q.weight[{h}]", "h.{L}.ln_1", "h.{L}.attn.q[{h}]",
                     bias="h.{L}.attn.c_attn.q.bias[{h}]")


def _query_rows(w: Walk) -> dict:
    """Where the followed head's query weights sit in c_attn.weight."""
    q0, q1 = w.shape.c_attn_rows("q", w.h)
    return {"q0": q0, "q1": q1 - 1, "qC": w.C - 1}


def _score(w: Walk) -> dict:
    h, t, s = w.h, w.t, 0
    dot = w.op("dot", w.vec(_a(w, "q"), 0, h, t, "*"), w.vec(_a(w, "k"), 0, h, s, "*"))
    return {"s": s, "tok_s": w.tok_at(s), "dot": dot, "sqrt_hs": f"{math.sqrt(w.hs):.2f}",
            "score": w.act(_a(w, "scores"), 0, w.h, t, s)}


def _score_figure(w: Walk) -> figures.Figure:
    h, t, s = w.h, w.t, 0
    q = [w.act(_a(w, "q"), 0, h, t, j) for j in range(w.hs)]
    k = [w.act(_a(w, "k"), 0, h, s, j) for j in range(w.hs)]
    score = w.act(_a(w, "scores"), 0, h, t, s)
    dot = sum(float(a.value) * float(b.value) for a, b in zip(q, k))
    return figures.dot(w, w.say("figure.query_key", t=t, s=s), (f"q[{t}]", q), (f"k[{s}]", k),
                       (w.say("figure.score"), score),
                       after=[f"÷ √{w.hs} = {fmt(dot)} ÷ {math.sqrt(w.hs):.2f} = {score.text}"],
                       roles=("activation", "activation"))


def _score_row(w: Walk) -> dict:
    n = min(w.T, 8)
    row = [w.act(_a(w, "scores"), 0, w.h, w.t, s) for s in range(n)]
    return {"row": row, "row_end": " …" if w.T > n else "."}


def _mask(w: Walk) -> dict:
    tm = w.mask_row()
    v = {"has_mask": tm + 1 < w.T, "n_masked": w.T - 1 - tm, "tm1": tm + 1}
    if v["has_mask"]:
        v["masked_att"] = w.act(_a(w, "att"), 0, w.h, tm, tm + 1)
    return v


def _row_extremes(w: Walk, layer: int, head: int) -> tuple[int, int]:
    row = w.values(w.vec(f"h.{layer}.attn.att", 0, head, w.t, "*"))
    top = max(range(len(row)), key=lambda s: row[s])
    low = min(range(len(row)), key=lambda s: row[s])
    return top, low


def _softmax(w: Walk) -> dict:
    top, low = _row_extremes(w, w.L, w.h)
    att = _a(w, "att")
    return {"top_w": w.act(att, 0, w.h, w.t, top), "top_s": top, "top_tok": w.tok_at(top),
            "low_w": w.act(att, 0, w.h, w.t, low), "low_s": low, "single": w.T == 1}


def _weighted_sum(w: Walk) -> dict:
    h, t = w.h, w.t
    n = min(2, w.T)
    pairs = [(w.act(_a(w, "att"), 0, h, t, s), w.act(_a(w, "v"), 0, h, s, 0)) for s in range(n)]
    out = w.act(_a(w, "head_out"), 0, h, t, 0)
    return {"expr": w.sum_expr(pairs, w.T, None, out), "out": out}


def _heads_table(w: Walk, layer: int) -> dict:
    rows = []
    for head in range(w.nh):
        top, _ = _row_extremes(w, layer, head)
        rows.append([str(head), str(top), w.tok_at(top),
                     w.act(f"h.{layer}.attn.att", 0, head, w.t, top)])
    return {"head": w.words.words("attention.every_head.table"), "rows": rows}


PHASE = Phase("attention", [
    Step(
        id="idea",
        focus=["h.{L}.ln_1", "h.{L}.attn.q[{h}]", "h.{L}.attn.k[{h}]", "h.{L}.attn.v[{h}]"],
        camera="h.{L}.attn",
        code=["attention.forward", "attention.qkv", "attention.flash"],
    ),
    Step(
        id="query",
        **dict(_QUERY, values=lambda w: {**_QUERY["values"](w), **_query_rows(w)}),
        code=["attention.qkv"],
    ),
    Step(
        id="keys_values",
        figure=worked.keys_values,

        values=_key_value,
        focus=["h.{L}.attn.c_attn.k.weight[{h}]", "h.{L}.attn.c_attn.v.weight[{h}]",
               "h.{L}.attn.k[{h}]", "h.{L}.attn.v[{h}]"],
        cells={"h.{L}.attn.k[{h}]": ["col {t}"], "h.{L}.attn.v[{h}]": ["col {t}"]},
        animation={"kind": "matmul", "weight": "h.{L}.attn.c_attn.k.weight[{h}]", "input": "h.{L}.ln_1",
                   "out": "h.{L}.attn.k[{h}]"},
        code=["attention.qkv", "attention.split_heads"],
    ),
    Step(
        id="one_score",
        values=_score,
        figure=_score_figure,
        focus=["h.{L}.attn.q[{h}]", "h.{L}.attn.k[{h}]", "h.{L}.attn.scores[{h}]"],
        cells={"h.{L}.attn.q[{h}]": ["col {t}"], "h.{L}.attn.k[{h}]": ["col {s}"],
               "h.{L}.attn.scores[{h}]": ["cell {t} {s}"]},
        animation=lambda w: {"kind": "dot", "a": "h.{L}.attn.q[{h}]", "a_cells": [0, w.t, w.hs - 1, w.t],
                             "b": "h.{L}.attn.k[{h}]", "b_cells": [0, 0, w.hs - 1, 0],
                             "out": "h.{L}.attn.scores[{h}]", "cell": [w.t, 0]},
        code=["attention.scores"],
    ),
    Step(
        id="score_row",
        figure=worked.score_row(0),

        values=_score_row,
        focus=["h.{L}.attn.q[{h}]", "h.{L}.attn.k[{h}]", "h.{L}.attn.scores[{h}]"],
        cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        animation={"kind": "sweep", "block": "h.{L}.attn.scores[{h}]", "axis": "cols"},
        code=["attention.scores"],
    ),
    Step(
        id="scaling",
        figure=worked.score_row(1),

        values=lambda w: {"sqrt_hs": f"{math.sqrt(w.hs):.2f}"},
        focus=["h.{L}.attn.scores[{h}]"],
        animation={"kind": "scale", "block": "h.{L}.attn.scores[{h}]", "factor": "1/sqrt(hs)"},
        code=["attention.scores"],
    ),
    Step(
        id="mask",
        figure=worked.mask,

        values=_mask,
        focus=["h.{L}.attn.scores[{h}]", "h.{L}.attn.att[{h}]"],
        cells={"h.{L}.attn.att[{h}]": ["row {tm}"]},
        animation={"kind": "mask", "block": "h.{L}.attn.scores[{h}]"},
        code=["attention.mask", "attention.mask_buffer"],
    ),
    Step(
        id="softmax",
        figure=worked.softmax(worked.attention_row, worked.SOFTMAX_STAGES - 1),

        values=_softmax,
        focus=["h.{L}.attn.scores[{h}]", "h.{L}.attn.att.max[{h}]", "h.{L}.attn.att.sum[{h}]",
               "h.{L}.attn.att[{h}]"],
        cells={"h.{L}.attn.att[{h}]": ["row {t}"]},
        animation={"kind": "softmax", "block": "h.{L}.attn.att[{h}]", "row": "{t}",
                   "max": "h.{L}.attn.att.max[{h}]", "sum": "h.{L}.attn.att.sum[{h}]"},
        code=["attention.softmax", "softmax", "softmax.compute"],
    ),
    Step(
        id="weighted_sum",
        figure=worked.weighted_sum,

        values=_weighted_sum,
        focus=["h.{L}.attn.att[{h}]", "h.{L}.attn.v[{h}]", "h.{L}.attn.head_out[{h}]"],
        cells={"h.{L}.attn.att[{h}]": ["row {t}"], "h.{L}.attn.v[{h}]": ["row 0"],
               "h.{L}.attn.head_out[{h}]": ["cell 0 {t}"]},
        animation=lambda w: {"kind": "dot", "a": "h.{L}.attn.att[{h}]", "a_cells": [w.t, 0, w.t, w.T - 1],
                             "b": "h.{L}.attn.v[{h}]", "b_cells": [0, 0, 0, w.T - 1],
                             "out": "h.{L}.attn.head_out[{h}]", "cell": [0, w.t]},
        code=["attention.weighted_sum"],
    ),
    Step(
        id="every_position",
        focus=["h.{L}.attn.att[{h}]", "h.{L}.attn.v[{h}]", "h.{L}.attn.head_out[{h}]"],
        cells={"h.{L}.attn.head_out[{h}]": ["all"]},
        animation={"kind": "sweep", "block": "h.{L}.attn.head_out[{h}]", "axis": "cols"},
        code=["attention.weighted_sum"],
    ),
    Step(
        id="every_head",
        table=lambda w: _heads_table(w, w.L),
        focus=lambda w: [f"h.{w.L}.attn.att[{i}]" for i in range(w.nh)],
        cells=lambda w: {f"h.{w.L}.attn.att[{i}]": [f"row {w.t}"] for i in range(w.nh)},
        code=["attention.split_heads", "attention.weighted_sum"],
    ),
])
