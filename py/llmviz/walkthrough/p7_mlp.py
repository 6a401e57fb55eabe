"""Phase 7, MLP: layer norm, expand to 4C, GELU, project back, residual add."""
from __future__ import annotations

import math

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.linear_steps import linear_animation, linear_step
from llmviz.walkthrough.numbers import Walk


def gelu(x: float, approximate: str = "erf") -> float:
    """GELU in pure Python, the same two forms as the model (erf, or GPT-2's tanh)."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def _ln2(w: Walk) -> dict:
    return {"mean": w.act(f"h.{w.L}.ln_2.mean", 0, w.t), "rstd": w.act(f"h.{w.L}.ln_2.rstd", 0, w.t)}


def _gelu(w: Walk) -> dict:
    j = w.fc_row()
    return {"j": j, "fc": w.act(f"h.{w.L}.mlp.fc", 0, w.t, j), "g": w.act(f"h.{w.L}.mlp.gelu", 0, w.t, j)}


def _gelu_plot(w: Walk) -> dict:
    approximate = w.shape.gelu
    x = float(w.trace[f"h.{w.L}.mlp.fc"][0, w.t, w.fc_row()])
    lo, hi = min(-4.0, math.floor(x)), max(4.0, math.ceil(x))
    n = 64
    xs = [lo + (hi - lo) * i / n for i in range(n + 1)]
    return {"kind": "gelu", "approximate": approximate, "x": x, "y": gelu(x, approximate),
            "range": [lo, hi], "curve": [[v, gelu(v, approximate)] for v in xs]}


def gelu_minimum(approximate: str = "erf") -> tuple[float, float]:
    """Where GELU is lowest, (x, GELU(x)), found by a golden-section search on [-3, 0]:
    GELU falls below 0 to this minimum, then rises back towards 0 further left."""
    a, b = -3.0, 0.0
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if gelu(c, approximate) < gelu(d, approximate):
            b = d
        else:
            a = c
    x = (a + b) / 2
    return x, gelu(x, approximate)


def _negatives(w: Walk) -> dict:
    x_min, g_min = gelu_minimum(w.shape.gelu)
    fc = w.vec(f"h.{w.L}.mlp.fc", 0, w.t, "*")
    v = {"n_neg": w.op("count_neg", fc), "n_dip": w.op("count_in", fc, lo=x_min, hi=0.0),
         "x_min": f"{x_min:.2f}", "g_min": f"{g_min:.2f}", **_gelu(w)}
    v["most_dip"] = v["n_dip"].value * 2 > v["n_neg"].value
    v["fc_in_dip"] = x_min < v["fc"].value < 0
    return v


def _residual(w: Walk) -> dict:
    L, t = w.L, w.t
    return {"a": w.act(f"h.{L}.x_attn", 0, t, 0), "b": w.act(f"h.{L}.mlp.out", 0, t, 0),
            "c": w.act(f"h.{L}.x", 0, t, 0)}


PHASE = Phase("mlp", [
    Step(
        id="ln_2",
        figure=worked.layer_norm(lambda w: f"h.{w.L}.x_attn", "h.{L}.ln_2", 4),

        values=_ln2,
        focus=["h.{L}.x_attn", "h.{L}.ln_2.mean", "h.{L}.ln_2.rstd", "h.{L}.ln_2"],
        cells={"h.{L}.ln_2": ["col {t}"]},
        animation={"kind": "normalize", "block": "h.{L}.x_attn", "col": "{t}",
                   "stats": ["h.{L}.ln_2.mean", "h.{L}.ln_2.rstd"], "to": "h.{L}.ln_2"},
        code=["block.mlp_residual", "layernorm.forward", "layernorm.compute"],
    ),
    Step(
        id="idea",
        focus=["h.{L}.ln_2", "h.{L}.mlp.fc", "h.{L}.mlp.gelu", "h.{L}.mlp.out"],
        camera="h.{L}.mlp",
        code=["mlp.forward", "mlp.fc", "mlp.gelu", "mlp.proj", "mlp.dropout", "mlp.init"],
    ),
    Step(
        id="expand",
        **linear_step("h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc", bias="h.{L}.mlp.c_fc.bias",
                      row=Walk.fc_row),
        code=["mlp.fc"],
    ),
    Step(
        id="expand_all",
        focus=["h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc"],
        cells={"h.{L}.mlp.fc": ["all"]},
        animation=linear_animation("h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc",
                                   bias="h.{L}.mlp.c_fc.bias"),
        code=["mlp.fc"],
    ),
    Step(
        id="gelu",
        figure=worked.gelu,

        values=_gelu,
        plot=_gelu_plot,
        focus=["h.{L}.mlp.fc", "h.{L}.mlp.gelu"],
        cells={"h.{L}.mlp.fc": ["cell {j} {t}"], "h.{L}.mlp.gelu": ["cell {j} {t}"]},
        animation={"kind": "map", "fn": "gelu", "from": "h.{L}.mlp.fc", "to": "h.{L}.mlp.gelu", "col": "{t}"},
        code=["mlp.gelu", "gelu", "gelu.erf"],
    ),
    Step(
        id="why_gelu",
        values=_negatives,
        focus=["h.{L}.mlp.fc", "h.{L}.mlp.gelu"],
        cells={"h.{L}.mlp.fc": ["col {t}"], "h.{L}.mlp.gelu": ["col {t}"]},
        code=["mlp.gelu", "gelu", "gelu.erf"],
    ),
    Step(
        id="project",
        **linear_step("h.{L}.mlp.c_proj.weight", "h.{L}.mlp.gelu", "h.{L}.mlp.out",
                      bias="h.{L}.mlp.c_proj.bias"),
        code=["mlp.proj", "mlp.dropout"],
    ),
    Step(
        id="residual",
        figure=worked.residual("h.{L}.mlp.out", "h.{L}.x"),

        values=_residual,
        focus=["h.{L}.x_attn", "h.{L}.mlp.out", "h.{L}.x"],
        cells={"h.{L}.x_attn": ["col {t}"], "h.{L}.mlp.out": ["col {t}"], "h.{L}.x": ["col {t}"]},
        animation={"kind": "residual", "from": ["h.{L}.x_attn", "h.{L}.mlp.out"], "to": "h.{L}.x"},
        code=["block.mlp_residual", "block.forward"],
    ),
])
