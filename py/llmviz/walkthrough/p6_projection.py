"""Phase 6, projection: the heads side by side, the output projection, the residual add."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.linear_steps import linear_animation, linear_step
from llmviz.walkthrough.numbers import Walk


def _concat(w: Walk) -> dict:
    h2 = w.nh - 1
    r0 = h2 * w.hs
    return {"h2": h2, "r0": r0, "r1": r0 + w.hs - 1,
            "y": w.act(f"h.{w.L}.attn.y", 0, w.t, r0),
            "ho": w.act(f"h.{w.L}.attn.head_out", 0, h2, w.t, 0)}


def _residual(w: Walk) -> dict:
    L, t = w.L, w.t
    return {"x0": w.act(w.stream_in(L), 0, t, 0), "o0": w.act(f"h.{L}.attn.out", 0, t, 0),
            "r0": w.act(f"h.{L}.x_attn", 0, t, 0)}


def _sizes(w: Walk) -> dict:
    L, t = w.L, w.t
    v = {"n_in": w.op("norm", w.vec(w.stream_in(L), 0, t, "*")),
         "n_upd": w.op("norm", w.vec(f"h.{L}.attn.out", 0, t, "*")),
         "n_out": w.op("norm", w.vec(f"h.{L}.x_attn", 0, t, "*"))}
    v["small_update"] = v["n_upd"].value < v["n_in"].value
    return v


PHASE = Phase("projection", [
    Step(
        id="heads_together",
        figure=worked.heads_together,

        values=_concat,
        focus=lambda w: [f"h.{w.L}.attn.head_out[{i}]" for i in range(w.nh)] + [f"h.{w.L}.attn.y"],
        cells={"h.{L}.attn.y": ["col {t}"]},
        animation=lambda w: {"kind": "concat", "from": [f"h.{w.L}.attn.head_out[{i}]" for i in range(w.nh)],
                             "to": f"h.{w.L}.attn.y"},
        code=["attention.reassemble"],
    ),
    Step(
        id="projection",
        **linear_step("h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out",
                      bias="h.{L}.attn.c_proj.bias"),
        code=["attention.proj"],
    ),
    Step(
        id="projection_all",
        focus=["h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out"],
        cells={"h.{L}.attn.out": ["all"]},
        animation=linear_animation("h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out",
                                   bias="h.{L}.attn.c_proj.bias"),
        code=["attention.proj"],
    ),
    Step(
        id="residual",
        figure=worked.residual("h.{L}.attn.out", "h.{L}.x_attn"),

        values=_residual,
        focus=["{xin}", "h.{L}.attn.out", "h.{L}.x_attn"],
        cells={"{xin}": ["col {t}"], "h.{L}.attn.out": ["col {t}"], "h.{L}.x_attn": ["col {t}"]},
        animation={"kind": "residual", "from": ["{xin}", "h.{L}.attn.out"], "to": "h.{L}.x_attn"},
        code=["block.attn_residual"],
    ),
    Step(
        id="update_size",
        values=_sizes,
        focus=["{xin}", "h.{L}.attn.out", "h.{L}.x_attn"],
        cells={"{xin}": ["col {t}"], "h.{L}.attn.out": ["col {t}"], "h.{L}.x_attn": ["col {t}"]},
        code=["block.attn_residual"],
    ),
])
