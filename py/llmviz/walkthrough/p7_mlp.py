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


PHASE = Phase("mlp", "MLP", [
    Step(
        id="ln_2",
        title="Another layer norm",
        figure=worked.layer_norm(lambda w: f"h.{w.L}.x_attn", "h.{L}.ln_2", 4),
        text="""
        The second half of the block starts like the first: [[h.{L}.ln_2|`ln_2`]]
        normalises each column of the stream [[h.{L}.x_attn|`x_attn`]], with its own γ
        and β. At position {{t}} the mean is {{mean}} and 1/√(σ² + ε) is {{rstd}}.
        """,
        values=_ln2,
        focus=["h.{L}.x_attn", "h.{L}.ln_2.mean", "h.{L}.ln_2.rstd", "h.{L}.ln_2"],
        cells={"h.{L}.ln_2": ["col {t}"]},
        animation={"kind": "normalize", "block": "h.{L}.x_attn", "col": "{t}",
                   "stats": ["h.{L}.ln_2.mean", "h.{L}.ln_2.rstd"], "to": "h.{L}.ln_2"},
        code=["block.mlp_residual", "layernorm.forward", "layernorm.compute"],
    ),
    Step(
        id="idea",
        title="The MLP",
        text="""
        The MLP (multi-layer perceptron) is a small two-layer network applied to each
        position on its own: no information moves between positions here. It widens
        each column to {{dim:4C}} numbers, passes each through a bend called GELU, and
        narrows the result back to {{dim:C}}.

        Attention gathers information from other positions; the MLP then works on what
        each position has gathered.
        """,
        focus=["h.{L}.ln_2", "h.{L}.mlp.fc", "h.{L}.mlp.gelu", "h.{L}.mlp.out"],
        camera="h.{L}.mlp",
        code=["mlp.forward", "mlp.fc", "mlp.gelu", "mlp.proj", "mlp.dropout", "mlp.init"],
    ),
    Step(
        id="expand",
        title="Expanding to 4C",
        text="""
        The first layer, [[h.{L}.mlp.c_fc.weight|`c_fc`]], holds {{size:C}} weights
        for each of its {{size:4C}} hidden units{{#if bias}}, plus a bias per unit,
        [[h.{L}.mlp.c_fc.bias|`c_fc.bias`]]{{/if}}. Unit {{row}} at position {{t}} takes
        the dot product of its weights with column {{t}} of [[h.{L}.ln_2|`ln_2`]]:
        {{expr}}, in [[h.{L}.mlp.fc|`mlp.fc`]].
        """,
        **linear_step("h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc", bias="h.{L}.mlp.c_fc.bias",
                      row=Walk.fc_row),
        code=["mlp.fc"],
    ),
    Step(
        id="expand_all",
        title="Every row, every position",
        text="""
        The same for all {{size:4C}} units and every position fills
        [[h.{L}.mlp.fc|`mlp.fc`]]: {{size:4C}} numbers for each of the {{size:T}}
        positions, four times as many as the stream holds. The picture lays this
        block on its side, one row per position, to keep it compact.
        """,
        focus=["h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc"],
        cells={"h.{L}.mlp.fc": ["all"]},
        animation=linear_animation("h.{L}.mlp.c_fc.weight", "h.{L}.ln_2", "h.{L}.mlp.fc",
                                   bias="h.{L}.mlp.c_fc.bias"),
        code=["mlp.fc"],
    ),
    Step(
        id="gelu",
        title="GELU",
        figure=worked.gelu,
        text="""
        Each number then goes through GELU: GELU(x) = x · Φ(x), where Φ(x) is the
        chance that a standard normal variable is below x{{#if gelu_tanh}} (this model
        uses the usual tanh approximation of Φ){{/if}}. Far above 0 it is almost x, far
        below almost 0, and in between it bends smoothly, dipping a little below 0.

        Our unit: GELU({{fc}}) = {{g}}, unit {{j}} of position {{t}} in
        [[h.{L}.mlp.gelu|`mlp.gelu`]]. The plot shows where it falls on the curve.
        """,
        values=_gelu,
        plot=_gelu_plot,
        focus=["h.{L}.mlp.fc", "h.{L}.mlp.gelu"],
        cells={"h.{L}.mlp.fc": ["cell {j} {t}"], "h.{L}.mlp.gelu": ["cell {j} {t}"]},
        animation={"kind": "map", "fn": "gelu", "from": "h.{L}.mlp.fc", "to": "h.{L}.mlp.gelu", "col": "{t}"},
        code=["mlp.gelu", "gelu", "gelu.erf"],
    ),
    Step(
        id="why_gelu",
        title="Why a bend?",
        text="""
        Without it the two layers would collapse into a single matrix product, and
        the MLP could only ever compute linear functions. The bend lets it switch
        features on and off: the clearly positive inputs pass almost unchanged, the
        negative ones come out as small negative numbers. At position {{t}}, {{n_neg}} of
        the {{size:4C}} inputs are negative.

        Below 0, GELU is not monotone: as x falls it dips to its minimum, about
        {{g_min}} at x ≈ {{x_min}}, and only then creeps back towards 0. {{#if most_dip}}Most
        of the negative inputs here, {{n_dip}} of them, lie in the dip, between
        {{x_min}} and 0, where a more negative input still gives a more negative
        output{{else}}{{n_dip}} of the negative inputs lie in the dip, between {{x_min}} and
        0, where a more negative input still gives a more negative output{{/if}}{{#if fc_in_dip}};
        our unit, GELU({{fc}}) = {{g}}, is one of them{{/if}}. Only inputs below
        {{x_min}} come out closer to 0 the further down they are.
        """,
        values=_negatives,
        focus=["h.{L}.mlp.fc", "h.{L}.mlp.gelu"],
        cells={"h.{L}.mlp.fc": ["col {t}"], "h.{L}.mlp.gelu": ["col {t}"]},
        code=["mlp.gelu", "gelu", "gelu.erf"],
    ),
    Step(
        id="project",
        title="Back to C",
        text="""
        The second layer, [[h.{L}.mlp.c_proj.weight|`c_proj`]], has {{size:C}} rows of
        {{size:4C}} weights and brings each column back to the width of the stream.
        The top number at position {{t}}: {{expr}}, in [[h.{L}.mlp.out|`mlp.out`]].

        nanoGPT then applies `self.dropout(x)`, which at inference passes the numbers
        through unchanged.
        """,
        **linear_step("h.{L}.mlp.c_proj.weight", "h.{L}.mlp.gelu", "h.{L}.mlp.out",
                      bias="h.{L}.mlp.c_proj.bias"),
        code=["mlp.proj", "mlp.dropout"],
    ),
    Step(
        id="residual",
        title="The second residual add",
        figure=worked.residual("h.{L}.mlp.out", "h.{L}.x"),
        text="""
        Like attention's contribution, the MLP's is added to the stream:
        [[h.{L}.x|`h.{{L}}.x`]] = [[h.{L}.x_attn|`x_attn`]] + [[h.{L}.mlp.out|`mlp.out`]].
        For the top cell at position {{t}}: {{a}} + {{(b)}} = {{c}}.

        That completes transformer block {{L}}: layer norm, attention, add; layer norm,
        MLP, add.
        """,
        values=_residual,
        focus=["h.{L}.x_attn", "h.{L}.mlp.out", "h.{L}.x"],
        cells={"h.{L}.x_attn": ["col {t}"], "h.{L}.mlp.out": ["col {t}"], "h.{L}.x": ["col {t}"]},
        animation={"kind": "residual", "from": ["h.{L}.x_attn", "h.{L}.mlp.out"], "to": "h.{L}.x"},
        code=["block.mlp_residual", "block.forward"],
    ),
])
