"""Phase 3, layer norm: one column's mean, variance, normalisation, then gamma and beta."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.numbers import Walk

def _ln(w: Walk) -> str:
    return f"h.{w.L}.ln_1"


def _column(w: Walk) -> dict:
    xin = w.stream_in(w.L)
    n = min(3, w.C)
    xs = [w.act(xin, 0, w.t, i) for i in range(n)]
    return {"x_first": xs, "mean": w.act(_ln(w) + ".mean", 0, w.t)}


def _variance(w: Walk) -> dict:
    xin = w.stream_in(w.L)
    return {"var": w.op("var", w.vec(xin, 0, w.t, "*")),
            "rstd": w.act(_ln(w) + ".rstd", 0, w.t)}


def _normalise(w: Walk) -> dict:
    x0 = w.act(w.stream_in(w.L), 0, w.t, 0)
    mean = w.act(_ln(w) + ".mean", 0, w.t)
    rstd = w.act(_ln(w) + ".rstd", 0, w.t)
    return {"x0": x0, "mean": mean, "rstd": rstd, "n0": w.op("mul", w.op("sub", x0, mean), rstd)}


def _scale_shift(w: Walk) -> dict:
    v = _normalise(w)
    v.update({"g0": w.par(f"h.{w.L}.ln_1.weight", 0), "y0": w.act(_ln(w), 0, w.t, 0)})
    gamma = w.vec(f"h.{w.L}.ln_1.weight", "*", params=True)
    # how differently the rows are scaled: the smallest and largest |γ|
    v.update({"g_min": w.op("min", gamma), "g_max": w.op("max", gamma)})
    known = v["g_min"].value is not None
    v["gamma_near_one"] = known and 2 / 3 < v["g_min"].value and v["g_max"].value < 1.5
    if w.bias:
        v["b0"] = w.par(f"h.{w.L}.ln_1.bias", 0)
        beta = w.vec(f"h.{w.L}.ln_1.bias", "*", params=True)
        v.update({"b_min": w.op("min", beta), "b_max": w.op("max", beta)})
        v["beta_small"] = known and max(-v["b_min"].value, v["b_max"].value) < 0.2
    return v


def _all(w: Walk) -> dict:
    means = [w.act(_ln(w) + ".mean", 0, i) for i in range(min(w.T, 4))]
    return {"means": means, "more": " …" if w.T > 4 else ""}


PHASE = Phase("layernorm", [
    Step(
        id="why",
        focus=["{xin}", "h.{L}.ln_1"],
        code=["layernorm.forward", "layernorm.compute", "block.attn_residual"],
    ),
    Step(
        id="mean",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 0),

        values=_column,
        focus=["{xin}", "h.{L}.ln_1.mean"],
        cells={"{xin}": ["col {t}"], "h.{L}.ln_1.mean": ["col {t}"]},
        animation={"kind": "sweep", "block": "{xin}", "axis": "rows"},
        code=["layernorm.mean", "layernorm.forward"],
    ),
    Step(
        id="variance",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 1),

        values=_variance,
        focus=["{xin}", "h.{L}.ln_1.rstd"],
        cells={"{xin}": ["col {t}"], "h.{L}.ln_1.rstd": ["col {t}"]},
        code=["layernorm.var", "layernorm.rstd"],
    ),
    Step(
        id="normalise",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 2),

        values=_normalise,
        focus=["{xin}", "h.{L}.ln_1.mean", "h.{L}.ln_1.rstd"],
        cells={"{xin}": ["cell 0 {t}"], "h.{L}.ln_1.mean": ["col {t}"], "h.{L}.ln_1.rstd": ["col {t}"]},
        animation={"kind": "normalize", "block": "{xin}", "col": "{t}",
                   "stats": ["h.{L}.ln_1.mean", "h.{L}.ln_1.rstd"], "to": "h.{L}.ln_1"},
        code=["layernorm.normalize"],
    ),
    Step(
        id="scale_shift",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 4),

        values=_scale_shift,
        focus=lambda w: ["h.{L}.ln_1.weight"] + (["h.{L}.ln_1.bias"] if w.bias else []) + ["h.{L}.ln_1"],
        cells={"h.{L}.ln_1.weight": ["cell 0 0"], "h.{L}.ln_1": ["cell 0 {t}"]},
        animation=lambda w: {"kind": "normalize", "block": "{xin}", "col": "{t}",
                             "stats": ["h.{L}.ln_1.mean", "h.{L}.ln_1.rstd"],
                             "weights": ["h.{L}.ln_1.weight"] + (["h.{L}.ln_1.bias"] if w.bias else []),
                             "to": "h.{L}.ln_1"},
        code=["layernorm.forward", "layernorm.normalize", "layernorm.init"],
    ),
    Step(
        id="all_columns",
        values=_all,
        focus=["{xin}", "h.{L}.ln_1"], cells={"h.{L}.ln_1": ["all"]},
        animation={"kind": "sweep", "block": "h.{L}.ln_1", "axis": "cols"},
        code=["layernorm.forward", "layernorm.compute", "block.attn_residual"],
    ),
])
