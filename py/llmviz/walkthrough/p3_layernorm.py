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


PHASE = Phase("layernorm", "Layer norm", [
    Step(
        id="why",
        title="Why normalise?",
        text="""
        Before attention reads the stream, each column goes through *layer
        normalisation*, [[h.{L}.ln_1|`ln_1`]]. It shifts and scales the column's
        {{size:C}} numbers so that they have mean 0 and variance 1, then applies a
        learned scale and shift.

        However large the stream's numbers grow on the way down, every layer then gets
        its input in the same range. That makes a deep network much easier to train.
        Each column is normalised on its own: columns do not mix here.
        """,
        focus=["{xin}", "h.{L}.ln_1"],
        code=["layernorm.forward", "layernorm.compute", "block.attn_residual"],
    ),
    Step(
        id="mean",
        title="The mean of a column",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 0),
        text="""
        Take column {{t}} of the stream [[{xin}|`x`]]: {{size:C}} numbers, beginning
        {{x_first}}. Their average is μ = {{mean}}. The page keeps it in
        [[h.{L}.ln_1.mean|`ln_1.mean`]] so you can see it. nanoGPT leaves this to
        PyTorch's `F.layer_norm`; the page's numpy port spells it out as
        `input.mean(axis=-1)`, the mean over the C axis.
        """,
        values=_column,
        focus=["{xin}", "h.{L}.ln_1.mean"],
        cells={"{xin}": ["col {t}"], "h.{L}.ln_1.mean": ["col {t}"]},
        animation={"kind": "sweep", "block": "{xin}", "axis": "rows"},
        code=["layernorm.mean", "layernorm.forward"],
    ),
    Step(
        id="variance",
        title="The variance",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 1),
        text="""
        Next, how widely the numbers spread: the variance is the mean of the squared
        distances from μ, here σ² = {{var}}.

        What the computation needs is 1/√(σ² + ε) = {{rstd}}, kept in
        [[h.{L}.ln_1.rstd|`ln_1.rstd`]]. The tiny ε = 0.00001 keeps the division safe
        when a column is almost constant.
        """,
        values=_variance,
        focus=["{xin}", "h.{L}.ln_1.rstd"],
        cells={"{xin}": ["col {t}"], "h.{L}.ln_1.rstd": ["col {t}"]},
        code=["layernorm.var", "layernorm.rstd"],
    ),
    Step(
        id="normalise",
        title="Centre and scale",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 2),
        text="""
        Every number of the column now has μ subtracted and is multiplied by that
        factor. The top one becomes ({{x0}} − {{(mean)}}) × {{rstd}} = {{n0}}.

        After this the column has mean 0 and variance 1, whatever it looked like
        before.
        """,
        values=_normalise,
        focus=["{xin}", "h.{L}.ln_1.mean", "h.{L}.ln_1.rstd"],
        cells={"{xin}": ["cell 0 {t}"], "h.{L}.ln_1.mean": ["col {t}"], "h.{L}.ln_1.rstd": ["col {t}"]},
        animation={"kind": "normalize", "block": "{xin}", "col": "{t}",
                   "stats": ["h.{L}.ln_1.mean", "h.{L}.ln_1.rstd"], "to": "h.{L}.ln_1"},
        code=["layernorm.normalize"],
    ),
    Step(
        id="scale_shift",
        title="The learned scale γ and shift β",
        figure=worked.layer_norm(lambda w: w.stream_in(w.L), "h.{L}.ln_1", 4),
        text="""
        Last, each row {{#if bias}}gets a learned weight γ,
        [[h.{L}.ln_1.weight|`ln_1.weight`]], and bias β, [[h.{L}.ln_1.bias|`ln_1.bias`]].
        {{else}}is multiplied by a learned weight γ, [[h.{L}.ln_1.weight|`ln_1.weight`]]
        (this model has no bias β).{{/if}} For the top row: {{n0}} × {{(g0)}}{{#if bias}} +
        {{(b0)}}{{/if}} = {{y0}}, the top cell of column {{t}} of [[h.{L}.ln_1|`ln_1`]].

        γ{{#if bias}} and β are{{else}} is{{/if}} one number per row (per feature),
        learned in training and the same for every column and every input. So
        {{#if bias}}they{{else}}it{{/if}} cannot undo the normalisation of a column: its
        own mean and spread are gone, whatever γ{{#if bias}} and β are{{else}} is{{/if}}. What γ sets is each feature's scale as
        the next layer reads it, the same in every column: a feature with a larger γ weighs
        more in attention's matrix products{{#if bias}}, and β moves a feature's centre
        away from 0{{/if}}. Here γ runs from {{g_min}} to {{g_max}}{{#if gamma_near_one}},
        close to 1 for every feature: this model barely rescales them{{else}}: the
        features reach the next layer at different scales{{/if}}{{#if bias}}; β runs from
        {{b_min}} to {{b_max}}{{#if beta_small}}, small shifts beside values of size about
        1{{/if}}{{/if}}.
        """,
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
        title="Every column",
        text="""
        The same moves run on every column, each with its own μ and σ (the means are
        {{means}}{{more}}) but all with the same γ and β. The result,
        [[h.{L}.ln_1|`ln_1`]], has the shape of the stream and is what attention reads.

        The stream [[{xin}|`x`]] itself is left untouched: it is needed again soon, for
        the residual add.
        """,
        values=_all,
        focus=["{xin}", "h.{L}.ln_1"], cells={"h.{L}.ln_1": ["all"]},
        animation={"kind": "sweep", "block": "h.{L}.ln_1", "axis": "cols"},
        code=["layernorm.forward", "layernorm.compute", "block.attn_residual"],
    ),
])
