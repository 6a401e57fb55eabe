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

PHASE = Phase("softmax", [
    Step(
        id="what",
        figure=worked.softmax(worked.attention_row, 0),

        values=_row,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        code=["softmax", "attention.softmax", "softmax.probs", "softmax.compute"],
    ),
    Step(
        id="max",
        figure=worked.softmax(worked.attention_row, 1),

        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"], "h.{L}.attn.att.max[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.max"],
    ),
    Step(
        id="exp",
        figure=worked.softmax(worked.attention_row, 2),

        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.scores[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.exp"],
    ),
    Step(
        id="normalise",
        figure=worked.softmax(worked.attention_row, 3),

        values=_first,
        focus=_FOCUS, cells={"h.{L}.attn.att.sum[{h}]": ["row {t}"], "h.{L}.attn.att[{h}]": ["row {t}"]},
        animation=_ANIM,
        code=["softmax", "softmax.sum", "softmax.divide", "attention.softmax"],
    ),
    Step(
        id="why_max",
        figure=worked.softmax(worked.attention_row, 3),

        focus=_FOCUS,
        code=["softmax", "softmax.max", "softmax.exp"],
    ),
])
