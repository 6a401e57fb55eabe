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
    return figures.dot(w, f"query of {t} · key of {s}", (f"q[{t}]", q), (f"k[{s}]", k), ("score", score),
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
    return {"head": ["head", "looks most at position", "token there", "weight"], "rows": rows}


PHASE = Phase("attention", "Self-attention", [
    Step(
        id="idea",
        title="Self-attention: the idea",
        text="""
        Attention is the only place where positions exchange information. Each
        position asks a question, its *query*. Every position up to and including it
        offers a *key*, to be matched against that question, and a *value*, to be
        handed over. The better a key matches the query, the more of that position's
        value is taken.

        The work is split among {{dim:n_head}} independent *heads* of {{dim:hs}}
        numbers each. We follow head {{h}} of block {{L}}, at position {{t}}.

        nanoGPT's lines for this are its *manual* attention, the branch it takes when
        PyTorch lacks *flash attention*. On PyTorch 2 and later it runs one call instead,
        `F.scaled_dot_product_attention(q, k, v, ..., is_causal=True)`: the same maths
        (scores, mask, softmax, weighted sum) in one fused kernel that never stores the
        scores. This page computes the manual branch, so that every step can be shown.
        """,
        focus=["h.{L}.ln_1", "h.{L}.attn.q[{h}]", "h.{L}.attn.k[{h}]", "h.{L}.attn.v[{h}]"],
        camera="h.{L}.attn",
        code=["attention.forward", "attention.qkv", "attention.flash"],
    ),
    Step(
        id="query",
        title="The query of position {{t}}",
        text="""
        Each of the query's {{size:hs}} numbers is a dot product: one row of the
        head's query weights [[h.{L}.attn.c_attn.q.weight[{h}]|`W_q`]] (in the code, rows
        {{q0}}–{{q1}} of `c_attn.weight`: rows 0–{{qC}} are the queries of all heads)
        times column {{t}} of [[h.{L}.ln_1|`ln_1`]]{{#if bias}}, plus a bias from
        [[h.{L}.attn.c_attn.q.bias[{h}]|`b_q`]].{{else}} (this model has no biases).{{/if}}

        For the top number: {{expr}}, the top cell of column {{t}} of
        [[h.{L}.attn.q[{h}]|`q`]].
        """,
        **dict(_QUERY, values=lambda w: {**_QUERY["values"](w), **_query_rows(w)}),
        code=["attention.qkv"],
    ),
    Step(
        id="keys_values",
        title="Keys and values",
        figure=worked.keys_values,
        text="""
        Keys [[h.{L}.attn.k[{h}]|`k`]] and values [[h.{L}.attn.v[{h}]|`v`]] are made
        the same way, each with its own weights: at position {{t}} the top key number
        is {{k0}} and the top value number {{v0}}. Every position gets all three.

        The code does it for all heads in one go: a single linear layer `c_attn` with
        three times {{size:C}} outputs, whose result is split into q, k and v, and each
        of those into {{size:n_head}} heads of {{size:hs}}.
        """,
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
        title="One attention score",
        text="""
        How much should position {{t}} attend to position {{s}} ({{tok_s}})? Take the
        dot product of the query of {{t}} with the key of {{s}}: q·k = {{dot}}, a sum
        of {{size:hs}} products.

        Divided by √hs = √{{hs}} = {{sqrt_hs}}, it gives the score {{score}}: row
        {{t}}, column {{s}} of [[h.{L}.attn.scores[{h}]|`scores`]] (in the code, `att`
        before `masked_fill`).
        """,
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
        title="A row of scores",
        figure=worked.score_row(0),
        text="""
        The same against every key gives row {{t}} of the scores: {{row}}{{row_end}}
        Each entry says how well the query of position {{t}} matches one position's
        key. In the code the whole grid is one matrix product, `q @ k.transpose(-2, -1)`,
        for every head and position at once.
        """,
        values=_score_row,
        focus=["h.{L}.attn.q[{h}]", "h.{L}.attn.k[{h}]", "h.{L}.attn.scores[{h}]"],
        cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        animation={"kind": "sweep", "block": "h.{L}.attn.scores[{h}]", "axis": "cols"},
        code=["attention.scores"],
    ),
    Step(
        id="scaling",
        title="Why divide by √hs",
        figure=worked.score_row(1),
        text="""
        A dot product of hs terms grows with hs: for random vectors with entries of
        size about 1, it is typically about √hs in size. Dividing by
        √{{hs}} = {{sqrt_hs}} keeps the scores near 1 whatever the head size.

        This matters for the softmax that follows: large scores would make it give
        almost all the weight to a single position from the very start of training,
        and learning would stall.
        """,
        values=lambda w: {"sqrt_hs": f"{math.sqrt(w.hs):.2f}"},
        focus=["h.{L}.attn.scores[{h}]"],
        animation={"kind": "scale", "block": "h.{L}.attn.scores[{h}]", "factor": "1/sqrt(hs)"},
        code=["attention.scores"],
    ),
    Step(
        id="mask",
        title="The causal mask",
        figure=worked.mask,
        text="""
        A position may not look ahead. In training the model sees a whole sequence
        at once and must predict each next token; peeking at it would be cheating.
        So every score to the right of the diagonal is set to −∞ before the softmax. In
        the code, `self.bias` is not a learned bias but this mask: a fixed buffer of ones
        on and below the diagonal (`tril`), made once in `__init__` (nanoGPT makes it only
        when it cannot use flash attention, whose `is_causal=True` masks the same way).
        {{#if has_mask}}

        Row {{tm}} keeps columns 0 to {{tm}} and masks the {{n_masked}} after it:
        after the softmax their weight is exactly {{masked_att}}, as in row {{tm}},
        column {{tm1}} of [[h.{L}.attn.att[{h}]|`att`]]. Row {{t}}, the last, masks
        nothing: it may look at the whole input.
        {{else}}
        With a single position there is nothing to the right, so nothing is masked.
        {{/if}}
        """,
        values=_mask,
        focus=["h.{L}.attn.scores[{h}]", "h.{L}.attn.att[{h}]"],
        cells={"h.{L}.attn.att[{h}]": ["row {tm}"]},
        animation={"kind": "mask", "block": "h.{L}.attn.scores[{h}]"},
        code=["attention.mask", "attention.mask_buffer"],
    ),
    Step(
        id="softmax",
        title="From scores to weights",
        figure=worked.softmax(worked.attention_row, worked.SOFTMAX_STAGES - 1),
        text="""
        A softmax turns each row of scores into weights that are positive and add
        up to 1 (the next phase takes it apart). {{#if single}}With one position, all
        the weight, {{top_w}}, goes to position 0 itself.{{else}}In row {{t}} the
        largest weight, {{top_w}}, goes to position {{top_s}}, which holds {{top_tok}};
        the smallest, {{low_w}}, to position {{low_s}}.{{/if}} The weights are in
        [[h.{L}.attn.att[{h}]|`att`]].
        """,
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
        title="Mixing the values",
        figure=worked.weighted_sum,
        text="""
        The head's output for position {{t}} is a weighted average of the value
        vectors, with row {{t}} of `att` as the weights. For its top number:
        {{expr}}, in [[h.{L}.attn.head_out[{h}]|`head_out`]] (in the code, the `y` of
        `y = att @ v`).

        A position with a weight near 1 passes its value on almost unchanged; spread
        weights give a blend.
        """,
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
        title="Every position",
        text="""
        Each row of `att` mixes the values for one position, and all rows are done at
        once: in the code it is the single product `att @ v`. Because of the mask,
        position 0 can only pass on its own value, while position {{t}} can draw on all
        {{size:T}}.

        The result, [[h.{L}.attn.head_out[{h}]|`head_out`]], has one column of
        {{size:hs}} numbers per position, like `q`, `k` and `v`.
        """,
        focus=["h.{L}.attn.att[{h}]", "h.{L}.attn.v[{h}]", "h.{L}.attn.head_out[{h}]"],
        cells={"h.{L}.attn.head_out[{h}]": ["all"]},
        animation={"kind": "sweep", "block": "h.{L}.attn.head_out[{h}]", "axis": "cols"},
        code=["attention.weighted_sum"],
    ),
    Step(
        id="every_head",
        title="Every head",
        text="""
        {{#if multi_head}}The other heads do exactly the same with their own weights,
        side by side, so each can look for something different.{{else}}This model has a
        single head, so its one attention pattern is all there is.{{/if}} At position
        {{t}}, {{#if multi_head}}the strongest weight of each head of block {{L}}{{else}}its
        strongest weight{{/if}} goes to:
        """,
        table=lambda w: _heads_table(w, w.L),
        focus=lambda w: [f"h.{w.L}.attn.att[{i}]" for i in range(w.nh)],
        cells=lambda w: {f"h.{w.L}.attn.att[{i}]": [f"row {w.t}"] for i in range(w.nh)},
        code=["attention.split_heads", "attention.weighted_sum"],
    ),
])
