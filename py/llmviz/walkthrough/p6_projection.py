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


PHASE = Phase("projection", "Projection", [
    Step(
        id="heads_together",
        title="The heads side by side",
        figure=worked.heads_together,
        text="""
        The {{size:n_head}} head outputs, {{dim:hs}} rows each, are stacked back into a
        single column of {{size:C}} per position: [[h.{L}.attn.y|`y`]]. Head {{h2}}
        fills rows {{r0}} to {{r1}}.

        Nothing is computed here, the numbers are only moved: row {{r0}} of column
        {{t}} of `y` is {{y}}, the same as the top number of head {{h2}}'s output,
        {{ho}}.
        """,
        values=_concat,
        focus=lambda w: [f"h.{w.L}.attn.head_out[{i}]" for i in range(w.nh)] + [f"h.{w.L}.attn.y"],
        cells={"h.{L}.attn.y": ["col {t}"]},
        animation=lambda w: {"kind": "concat", "from": [f"h.{w.L}.attn.head_out[{i}]" for i in range(w.nh)],
                             "to": f"h.{w.L}.attn.y"},
        code=["attention.reassemble"],
    ),
    Step(
        id="projection",
        title="The output projection",
        text="""
        Each head only worked on its own slice of the column; the projection
        [[h.{L}.attn.c_proj.weight|`c_proj`]] mixes them. It is a plain linear
        layer, {{size:C}} by {{size:C}}{{#if bias}}, with a bias
        [[h.{L}.attn.c_proj.bias|`c_proj.bias`]]{{/if}}.

        The top number of its output at position {{t}}: {{expr}}, in
        [[h.{L}.attn.out|`attn.out`]].
        """,
        **linear_step("h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out",
                      bias="h.{L}.attn.c_proj.bias"),
        code=["attention.proj"],
    ),
    Step(
        id="projection_all",
        title="Every column",
        text="""
        Every column of `y` goes through the same matrix, giving
        [[h.{L}.attn.out|`attn.out`]]: {{size:C}} numbers per position, the attention
        layer's contribution for each one.
        """,
        focus=["h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out"],
        cells={"h.{L}.attn.out": ["all"]},
        animation=linear_animation("h.{L}.attn.c_proj.weight", "h.{L}.attn.y", "h.{L}.attn.out",
                                   bias="h.{L}.attn.c_proj.bias"),
        code=["attention.proj"],
    ),
    Step(
        id="residual",
        title="The residual add",
        figure=worked.residual("h.{L}.attn.out", "h.{L}.x_attn"),
        text="""
        That contribution is *added* to the stream:
        [[h.{L}.x_attn|`x_attn`]] = [[{xin}|`x`]] + [[h.{L}.attn.out|`attn.out`]].
        For the top cell at position {{t}}: {{x0}} + {{(o0)}} = {{r0}}. (In the code,
        `x_attn` is the `x` after `x = x + self.attn(...)`, and `attn.out` what
        `self.attn` returns.)

        Because the old stream stays inside the sum, each layer only has to learn a
        correction, and during training the gradient has a direct path from the loss
        back to the first layers. This is what makes deep stacks of blocks trainable.
        """,
        values=_residual,
        focus=["{xin}", "h.{L}.attn.out", "h.{L}.x_attn"],
        cells={"{xin}": ["col {t}"], "h.{L}.attn.out": ["col {t}"], "h.{L}.x_attn": ["col {t}"]},
        animation={"kind": "residual", "from": ["{xin}", "h.{L}.attn.out"], "to": "h.{L}.x_attn"},
        code=["block.attn_residual"],
    ),
    Step(
        id="update_size",
        title="How big is the change?",
        text="""
        Compare lengths (the square root of the sum of squares) at position {{t}}:
        the stream had norm {{n_in}} before this layer, the attention update has
        norm {{n_upd}}, and their sum has norm {{n_out}}. Here the update is the
        {{#if small_update}}smaller of the two: it adjusts the stream rather than
        replacing it.{{else}}larger of the two, so it dominates the new stream; the old
        stream is still in the sum, though, and later layers can read what is left of
        it.{{/if}}
        """,
        values=_sizes,
        focus=["{xin}", "h.{L}.attn.out", "h.{L}.x_attn"],
        cells={"{xin}": ["col {t}"], "h.{L}.attn.out": ["col {t}"], "h.{L}.x_attn": ["col {t}"]},
        code=["block.attn_residual"],
    ),
])
