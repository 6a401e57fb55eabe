"""Phase 5, softmax: on a real row of attention scores, step by step."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.numbers import Walk


def _names(w: Walk) -> dict:
    a = f"h.{w.L}.attn."
    return {"scores": a + "scores", "att": a + "att", "max": a + "att.max", "sum": a + "att.sum"}


def _row(w: Walk) -> dict:
    n = _names(w)
    k = min(w.T, 8)
    return {"row": [w.act(n["scores"], 0, w.h, w.t, s) for s in range(k)],
            "row_end": " …" if w.T > k else "."}


def _first(w: Walk) -> dict:
    n = _names(w)
    s0 = w.act(n["scores"], 0, w.h, w.t, 0)
    mx = w.act(n["max"], 0, w.h, w.t)
    d0 = w.op("sub", s0, mx)
    e0 = w.op("exp", d0)
    total = w.act(n["sum"], 0, w.h, w.t)
    return {"s0": s0, "mx": mx, "d0": d0, "e0": e0, "sum": total,
            "a0": w.act(n["att"], 0, w.h, w.t, 0)}


_FOCUS = ["h.{L}.attn.scores[{h}]", "h.{L}.attn.att.max[{h}]", "h.{L}.attn.att.sum[{h}]",
          "h.{L}.attn.att[{h}]"]
_ANIM = {"kind": "softmax", "block": "h.{L}.attn.att[{h}]", "row": "{t}",
         "max": "h.{L}.attn.att.max[{h}]", "sum": "h.{L}.attn.att.sum[{h}]"}

PHASE = Phase("softmax", "Softmax", [
    Step(
        id="what",
        title="What softmax does",
        figure=worked.softmax(worked.attention_row, 0),
        text="""
        Softmax turns a list of real numbers into a probability distribution: every
        output is positive, together they add up to 1, and a larger input always gets
        a larger share. It appears twice in a GPT: in every attention head, and once
        more on the logits at the very end. nanoGPT's `forward` never applies that last
        one: it returns the logits, and the softmax happens in `generate`
        (`F.softmax(logits, dim=-1)`) or, in training, inside `F.cross_entropy`. This
        page applies it in the forward pass, to show [[probs|`probs`]].

        Let us run it by hand on a real row: row {{t}} of the scores of head {{h}} in
        block {{L}}, [[h.{L}.attn.scores[{h}]|`scores`]]: {{row}}{{row_end}}
        """,
        values=_row,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        code=["softmax", "attention.softmax", "softmax.probs", "softmax.compute"],
    ),
    Step(
        id="max",
        title="Subtract the largest entry",
        figure=worked.softmax(worked.attention_row, 1),
        text="""
        First find the largest entry of the row, {{mx}}, kept in
        [[h.{L}.attn.att.max[{h}]|`att.max`]], and subtract it from every entry. The
        first, {{s0}}, becomes {{s0}} − {{(mx)}} = {{d0}}.

        Now the largest entry is exactly 0 and all the others are negative.
        """,
        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"], "h.{L}.attn.att.max[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.max"],
    ),
    Step(
        id="exp",
        title="Exponentiate",
        figure=worked.softmax(worked.attention_row, 2),
        text="""
        Next, raise e to the power of each entry: e^{{d0}} = {{e0}} for the first.
        Exponentials are never negative, and since every entry is now 0 or less, every
        result lies between 0 and 1, with the largest entry turning into exactly 1.

        The masked entries, −∞, become e^−∞ = 0: they will get no weight at all.
        """,
        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.exp"],
    ),
    Step(
        id="normalise",
        title="Sum and divide",
        figure=worked.softmax(worked.attention_row, 3),
        text="""
        Add up the exponentials of the row: {{sum}}, kept in
        [[h.{L}.attn.att.sum[{h}]|`att.sum`]]. Dividing each one by this sum makes them
        add up to 1: the first gives {{e0}} / {{sum}} = {{a0}}, the first weight of the
        row in [[h.{L}.attn.att[{h}]|`att`]].
        """,
        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.att.sum[{h}]": ["row {t}"], "h.{L}.attn.att[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.sum", "softmax.divide", "attention.softmax"],
    ),
    Step(
        id="why_max",
        title="Why subtract the maximum?",
        figure=worked.softmax(worked.attention_row, 3),
        text="""
        Mathematically it changes nothing: subtracting m multiplies every exponential
        by the same factor e^−m, which cancels in the division.

        Numerically it is what keeps softmax safe. In 32-bit floats e^x overflows to
        infinity once x is above about 88, and infinity divided by infinity is NaN.
        After the shift the largest exponent is 0, so nothing can overflow; at worst a
        very negative entry rounds to 0, which does no harm.
        """,
        focus=_FOCUS,
        code=["softmax", "softmax.max", "softmax.exp"],
    ),
])
