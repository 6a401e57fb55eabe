"""The worked examples of the tour: one function per kind of operation, each returning a
``figures.Figure`` of the step's real numbers (every number a ``Num`` with its source, so
the page links each column to its cells). Steps name them in their ``figure`` field, e.g.
``figure=worked.softmax_attention(stage=2)``. Pure Python.

The operations: a lookup (a table's column copied), an addition of two columns (embedding,
residual), a layer norm in stages, a softmax in stages (an attention row, the logits of
one position), the causal mask of a row, the scores of a row (q·k and the scaling), the
weighted sum of the values, GELU on a hidden column, the heads side by side, the choice of
the next token, the loss. The dot products of linear layers are in ``linear_steps``.
"""
from __future__ import annotations

import math
from typing import Callable

from llmviz.walkthrough import figures
from llmviz.walkthrough.figures import Column, Figure
from llmviz.walkthrough.numbers import Num, Walk, fmt

FigureFn = Callable[[Walk], Figure]


def _fill(w: Walk, block: str) -> str:
    return block.format_map(w.vars())


# ------------------------------------------------------------------ embedding

def lookup(table: str, to: str, col: Callable[[Walk], int], title: str) -> FigureFn:
    """Column ``col(w)`` of ``table`` copied, unchanged, into column t of ``to``; ``title`` is the
    caption's key in the catalogue (its values: ``t``, ``k``, ``tok``)."""
    def fig(w: Walk) -> Figure:
        k = col(w)
        src = figures.column(w, _fill(w, table), k)
        dst = figures.column(w, _fill(w, to), w.t)
        return figures.elementwise(
            w.say(title, t=w.t, k=k, tok=w.token_label(w.ids[w.t])),
            [Column(f"{_name(table)}[:, {k}]", src, role="parameter"),
             Column(f"{_name(to)}[:, {w.t}]", dst, sign="→", mark=True)],
            figures.features(len(src)), [w.say("figure.copied")])
    return fig


def add(a: str, b: str, out: str, title: str, col: Callable[[Walk], int] | None = None) -> FigureFn:
    """Column t of ``a`` plus column t of ``b``, cell by cell, is column t of ``out`` (``title``:
    the caption's key, its value ``t``)."""
    def fig(w: Walk) -> Figure:
        t = w.t if col is None else col(w)
        xs, ys, zs = (figures.column(w, _fill(w, blk), t) for blk in (a, b, out))
        return figures.elementwise(
            w.say(title, t=t), [Column(f"{_name(a)}[:, {t}]", xs), Column(f"{_name(b)}[:, {t}]", ys, sign="+"),
                                Column(f"{_name(out)}[:, {t}]", zs, sign="=", mark=True)],
            figures.features(len(xs)))
    return fig


# ------------------------------------------------------------------ layer norm

LN_STAGES = ("x", "x − mean", "× rstd", "× γ", "+ β")


def layer_norm(src: Callable[[Walk], str], ln: str, stage: int) -> FigureFn:
    """A layer norm of column t in stages: the input, minus the mean, times 1/std (rstd),
    times gamma, plus beta (= the output). ``stage`` marks the step's stage (later ones hidden)."""
    def fig(w: Walk) -> Figure:
        t, name = w.t, _fill(w, ln)
        x = figures.column(w, src(w), t)
        mean, rstd = w.act(name + ".mean", 0, t), w.act(name + ".rstd", 0, t)
        centred = [w.op("sub", v, mean) for v in x]
        normed = [w.op("mul", v, rstd) for v in centred]
        gamma = [w.par(f"{name}.weight", i) for i in range(len(x))]
        scaled = [w.op("mul", v, g) for v, g in zip(normed, gamma)]
        out = figures.column(w, name, t)
        cols = [Column(f"{_name(src(w))}[:, {t}]", x), Column("x − mean", centred, role="aggregate"),
                Column("× rstd", normed, role="aggregate"), Column("× γ", scaled, role="aggregate"),
                Column(f"+ β = {_name(name)}", out)]
        if not w.bias:                         # no beta: the output is gamma times the normed column
            cols = cols[:3] + [Column(f"× γ = {_name(name)}", out)]
        var = w.op("var", w.vec(src(w), 0, t, "*"))
        lines = [f"mean = Σ x / {len(x)} = {mean.text}", f"variance = {var.text}",
                 f"rstd = 1 / √(variance + 1e-5) = {rstd.text}"]
        return figures.stages(w.say("figure.layer_norm", name=_name(name), t=t), cols, figures.features(len(x)),
                              min(stage, len(cols) - 1), lines[:max(1, min(3, stage + 1))])
    return fig


# ------------------------------------------------------------------ attention

def score_row(stage: int = 0) -> FigureFn:
    """Row t of the scores: q·k for every key position, then divided by √hs (stage 1 marks it)."""
    def fig(w: Walk) -> Figure:
        h, t, a = w.h, w.t, f"h.{w.L}.attn."
        n = w.T
        root = math.sqrt(w.hs)
        scores = [w.act(a + "scores", 0, h, t, s) for s in range(n)]
        dots = [w.op("mul", sc, root) for sc in scores]
        return figures.stages(w.say("figure.score_row", t=t),
                              [Column("q·k", dots, role="aggregate"), Column(f"÷ √{w.hs}", scores)],
                              figures.positions(w), stage, [f"√{w.hs} = {root:.2f}"])
    return fig


def mask(w: Walk) -> Figure:
    """Row tm of the scores, masked: the keys after the query position become −∞, then 0."""
    h, tm, a = w.h, w.mask_row(), f"h.{w.L}.attn."
    n = w.T
    scores = [w.act(a + "scores", 0, h, tm, s) for s in range(n)]
    masked = [sc if s <= tm else Num(-math.inf, {"op": "mask", "args": [sc.source]}) for s, sc in enumerate(scores)]
    att = [w.act(a + "att", 0, h, tm, s) for s in range(n)]
    return figures.stages(w.say("figure.mask", tm=tm), [Column("scores", scores),
                                                        Column(w.say("figure.masked"), masked, role="aggregate"),
                                                        Column("att", att)], figures.positions(w), 1,
                          [w.say("figure.mask_line", tm=tm)])


SOFTMAX_STAGES = 4


def softmax(where: Callable[[Walk], tuple], stage: int) -> FigureFn:
    """A softmax in stages: the inputs, minus their max, exponentiated, divided by their sum (=
    the output). ``where(w)`` -> (input Nums, output Nums, max Num, sum Num, row labels, title)."""
    def fig(w: Walk) -> Figure:
        xs, out, mx, total, rows, title = where(w)
        centred = [w.op("sub", x, mx) for x in xs]
        exps = [w.op("exp", c) for c in centred]
        cols = [Column("x", xs), Column("x − max", centred, role="aggregate"),
                Column("exp", exps, role="aggregate"), Column("÷ Σ", out)]
        lines = [f"max = {mx.text}", f"Σ exp = {total.text}"]
        return figures.stages(title, cols, rows, min(stage, SOFTMAX_STAGES - 1), lines[:1 if stage < 2 else 2])
    return fig


def attention_row(w: Walk) -> tuple:
    """The softmax of row t of one head's (masked) scores."""
    a, h, t = f"h.{w.L}.attn.", w.h, w.t
    n = t + 1                                   # the keys the causal mask keeps
    xs = [w.act(a + "scores", 0, h, t, s) for s in range(n)]
    out = [w.act(a + "att", 0, h, t, s) for s in range(n)]
    return (xs, out, w.act(a + "att.max", 0, h, t), w.act(a + "att.sum", 0, h, t), figures.positions(w, n),
            w.say("figure.attention_row", t=t, h=h))


def output_probs(w: Walk) -> tuple:
    """The softmax of the logits of position t."""
    t = w.t
    xs = [w.act("logits", 0, t, v) for v in range(w.V)]
    out = [w.prob("probs", 0, t, v) for v in range(w.V)]
    return (xs, out, w.act("probs.max", 0, t), w.act("probs.sum", 0, t), figures.vocabulary(w),
            w.say("figure.output_probs", t=t))


def weighted_sum(w: Walk) -> Figure:
    """Feature 0 of the head's output at t: row t of att times feature 0 of every value."""
    a, h, t = f"h.{w.L}.attn.", w.h, w.t
    n = t + 1
    att = [w.act(a + "att", 0, h, t, s) for s in range(n)]
    v = [w.act(a + "v", 0, h, s, 0) for s in range(n)]
    out = w.act(a + "head_out", 0, h, t, 0)
    return figures.dot(w, w.say("figure.weighted_sum", t=t), (f"att[{t}]", att), ("v[:, 0]", v),
                       ("(att @ v)[0]", out), rows=figures.positions(w, n), roles=("activation", "activation"))


def keys_values(w: Walk) -> Figure:
    """The key and the value of position t, made like the query, each with its own weights."""
    a, h, t = f"h.{w.L}.attn.", w.h, w.t
    k = [w.act(a + "k", 0, h, t, j) for j in range(w.hs)]
    v = [w.act(a + "v", 0, h, t, j) for j in range(w.hs)]
    return figures.elementwise(w.say("figure.keys_values", t=t, h=h),
                               [Column(f"k[:, {t}]", k, mark=True), Column(f"v[:, {t}]", v, mark=True)],
                               figures.features(w.hs), [w.say("figure.keys_values_line")])


def heads_together(w: Walk) -> Figure:
    """Column t of y: the heads' outputs at t, one under the other."""
    a, t = f"h.{w.L}.attn.", w.t
    parts = [w.act(a + "head_out", 0, h, t, j) for h in range(w.nh) for j in range(w.hs)]
    y = figures.column(w, f"h.{w.L}.attn.y", t)
    rows = [w.say("figure.head_row", h=h, j=j) for h in range(w.nh) for j in range(w.hs)]
    return figures.elementwise(w.say("figure.heads_together", t=t),
                               [Column(w.say("figure.head_output"), parts), Column(f"y[:, {t}]", y, sign="→", mark=True)], rows)


# ------------------------------------------------------------------ MLP, output

def gelu(w: Walk) -> Figure:
    """GELU on the hidden column of position t."""
    L, t = w.L, w.t
    fc = figures.column(w, f"h.{L}.mlp.fc", t)
    out = figures.column(w, f"h.{L}.mlp.gelu", t)
    unit = w.fc_row()
    return figures.elementwise(w.say("figure.gelu", t=t), [Column(f"fc[:, {t}]", fc),
                               Column("GELU →", out, mark=True)], figures.features(len(fc)),
                               [w.say("figure.gelu_line", unit=unit, x=fc[unit].text, y=out[unit].text)], keep=[unit])


def choose(w: Walk) -> Figure:
    """The probabilities of position t; the most likely token is the greedy choice."""
    t = w.t
    logits = [w.act("logits", 0, t, v) for v in range(w.V)]
    probs = [w.prob("probs", 0, t, v) for v in range(w.V)]
    best = max(range(w.V), key=lambda v: float(probs[v].value or 0))
    tok = w.token_label(best)
    return figures.elementwise(w.say("figure.choose", t=t), [Column("logits", logits),
                               Column(w.say("figure.probability"), probs, sign="→", mark=True)], figures.vocabulary(w),
                               [w.say("figure.greedy", tok=tok, p=probs[best].text)],
                               (w.say("figure.next_token", tok=tok), probs[best]))


MAX_SHOWN_TOKENS = 16     # a longer input is shown by its last tokens


def _plain(w: Walk, ids: list[int]) -> str:
    """Tokens as plain text (the card writes text, not chips); a long run by its end."""
    text = "".join(w.token_label(i) for i in ids[-MAX_SHOWN_TOKENS:])
    return ("…" if len(ids) > MAX_SHOWN_TOKENS else "") + text


def append_token(w: Walk) -> Figure:
    """The token chosen at the last position goes back into the input: its probability among
    the vocabulary, the input with it appended, and where it goes (the result points at the
    slot after ``idx``'s last column). On the sort task's last letter nothing goes back: the
    result is the whole answer, pointing at the letters earlier passes fed back."""
    t, T, n = w.t, w.T, w.input_len
    probs = [w.prob("probs", 0, t, v) for v in range(w.V)]
    best = w.argmax_token(t)
    tok = w.token_label(best)
    lines = [w.say("figure.append_input", old=_plain(w, w.ids), tok=tok)]
    if w.writes_last_letter():
        lines += [w.say("figure.append_earlier", letters=_plain(w, w.ids[n:]), a=n, b=T - 1),
                  w.say("figure.append_stop", n=n)]
        label, text, cells = w.say("figure.answer"), _plain(w, w.ids[n:] + [best]), [[0, c] for c in range(n, T)]
    else:
        lines.append(w.say("figure.append_crop", n=w.block_size, tok=w.token_label(w.ids[0])) if T >= w.block_size
                     else w.say("figure.append_next", n=T + 1))
        label, text, cells = f"idx[0, {T}]", f"{tok} ({best})", [[0, T]]
    fig = figures.elementwise(w.say("figure.append_title", t=t), [Column(w.say("figure.probability"), probs,
                              mark=True)], figures.vocabulary(w), lines, (label, probs[best]))
    fig.result_text, fig.result_at = text, ("idx", cells)
    return fig


def residual(update: str, out: str) -> FigureFn:
    """The stream in plus the update, cell by cell (the residual add of block L)."""
    def fig(w: Walk) -> Figure:
        stream = w.stream_in(w.L) if update.endswith("attn.out") else f"h.{w.L}.x_attn"
        return add(stream, update, out, "figure.residual")(w)
    return fig


def direction(w: Walk) -> Figure:
    """The column of position t before the first block and after the last: sizes and angle."""
    t, last = w.t, f"h.{w.LL}.x"
    first = figures.column(w, "x", t)
    end = figures.column(w, last, t)
    n1 = math.sqrt(sum(float(v.value) ** 2 for v in first))
    n2 = math.sqrt(sum(float(v.value) ** 2 for v in end))
    cos = sum(float(a.value) * float(b.value) for a, b in zip(first, end)) / (n1 * n2) if n1 and n2 else 0.0
    return figures.elementwise(w.say("figure.direction", t=t),
                               [Column(f"x[:, {t}]", first), Column(w.say("figure.after_block", L=w.LL), end, mark=True)],
                               figures.features(len(first)),
                               [w.say("figure.length", a=fmt(n1), b=fmt(n2), ratio=fmt(n2 / n1) if n1 else "?"),
                                f"cos = {cos:.2f}"])


def _name(block: str) -> str:
    from llmviz.walkthrough.linear_steps import _short
    return _short(block)
