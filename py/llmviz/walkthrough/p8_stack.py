"""Phase 8, the stack: the same block repeated, and what that does to the stream."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.numbers import Walk
from llmviz.walkthrough.p4_attention import _heads_table


def _norms(w: Walk) -> list[tuple[str, str, object]]:
    """(stage, block id, norm of column t) along the stream."""
    stages = [("embedding", "x")]
    for i in range(w.n_layer):
        stages += [(f"block {i}, after attention", f"h.{i}.x_attn"), (f"block {i}, after the MLP", f"h.{i}.x")]
    return [(label, block, w.op("norm", w.vec(block, 0, w.t, "*"))) for label, block in stages]


def _norm_values(w: Walk) -> dict:
    n = _norms(w)
    return {"n_first": n[0][2], "n_last": n[-1][2]}


def _norm_table(w: Walk) -> dict:
    return {"head": ["stage", "block", f"norm of column {w.t}"],
            "rows": [[label, block, norm] for label, block, norm in _norms(w)]}


def _cos(w: Walk, a: dict, b: dict):
    """The cosine similarity of two vector sources, as a Num."""
    return w.op("div", w.op("dot", a, b), w.op("mul", w.op("norm", a), w.op("norm", b)))


def _cosine(w: Walk) -> dict:
    a = w.vec("x", 0, w.t, "*")
    b = w.vec(f"h.{w.LL}.x", 0, w.t, "*")
    cos = _cos(w, a, b)
    n_x, n_last = w.op("norm", a), w.op("norm", b)
    v = {"cos": cos, "similar": cos.value is not None and cos.value > 0.5,
         "n_x": n_x, "n_last": n_last, "ratio": w.op("div", n_last, n_x, digits=1),
         "longer": n_last.value > n_x.value, "tied": w.tied()}
    # weight tying: lm_head scores a token by ln_f's column times the token's own row of wte
    final = w.vec("ln_f", 0, w.t, "*")
    rows = [w.vec("wte.weight", k, "*", params=True) for k in range(w.V)]
    if w.params is not None and w.V <= 64:
        cosines = [_cos(w, final, row) for row in rows]
        near = max(range(w.V), key=lambda k: cosines[k].value)
        v.update({"near_tok": w.tok(near), "near_cos": cosines[near],
                  "near_x_cos": _cos(w, a, rows[near]), "near_is_next": near == w.argmax_token(w.t)})
    v["has_near"] = "near_tok" in v
    return v


PHASE = Phase("stack", "The stack of blocks", [
    Step(
        id="repeat",
        title="Block after block",
        text="""
        Everything from layer norm to the second residual add is one transformer
        block. {{#if multi_layer}}The model has {{dim:n_layer}} of them in a row, all
        built the same way, each with its own weights.

        Each block reads the stream the previous one left: the output of block 0,
        [[h.0.x|`h.0.x`]], is the input of block 1, and so on down to the output of
        the last block, [[h.{LL}.x|`h.{{LL}}.x`]]. In the code it is a plain `for` loop
        over `self.transformer.h`.{{else}}Larger models stack many of them, each reading
        the stream the previous one left; this model has a single one, so its output
        [[h.0.x|`h.0.x`]] goes straight to the output layer. In the code it is still a
        `for` loop over `self.transformer.h`.{{/if}}
        """,
        focus=lambda w: [f"h.{i}.x" for i in range(w.n_layer)],
        camera="overview", dim=None,
        animation=lambda w: {"kind": "flow", "path": ["x"] + [f"h.{i}.x" for i in range(w.n_layer)]},
        code=["gpt.blocks_loop", "block.forward", "block.attn_residual", "block.mlp_residual"],
    ),
    Step(
        id="stream_grows",
        title="How the stream changes",
        text="""
        Each block adds its corrections to the stream. Follow column {{t}} and measure
        its length, the norm (the square root of the sum of its squares): {{n_first}}
        right after the embedding, {{n_last}} after the last block. The table gives it
        after every add.

        This is why every layer starts with a layer norm: the stream's scale changes as
        it goes down, and each layer wants its input in a fixed range.
        """,
        values=_norm_values,
        table=_norm_table,
        focus=lambda w: ["x"] + [b for i in range(w.n_layer) for b in (f"h.{i}.x_attn", f"h.{i}.x")],
        cells=lambda w: {b: [f"col {w.t}"] for b in
                         ["x"] + [b for i in range(w.n_layer) for b in (f"h.{i}.x_attn", f"h.{i}.x")]},
        camera="overview",
        code=["block.forward", "block.attn_residual", "block.mlp_residual", "gpt.blocks_loop"],
    ),
    Step(
        id="direction",
        title="A change of direction",
        figure=worked.direction,
        text="""
        Length is not everything: the direction of the column matters to the layers
        that read it. The cosine similarity between column {{t}} of [[x|`x`]] and
        the same column after the last block, [[h.{LL}.x|`h.{{LL}}.x`]], is
        {{cos}} (1 would mean the same direction, 0 unrelated), while its norm went from
        {{n_x}} to {{n_last}}, {{ratio}} times {{#if longer}}longer{{else}}as long{{/if}}.
        {{#if similar & longer}}So the blocks did not turn the column away from the
        embedding: they pushed it much further along the direction it already had.
        {{else if similar}}So the column still points much the way the embedding did.
        {{else}}The blocks have added so much that the column now points somewhere quite
        different from the embedding it started as.{{/if}}
        {{#if tied & has_near}}

        *Weight tying* (the output phase shows it) says why that direction matters: the
        output layer `lm_head` is the token table `wte`, so a token's score is the dot
        product of the final column with that token's own embedding. The last layer norm,
        [[ln_f|`ln_f`]], takes the length away again first: it is the direction that
        counts. Column {{t}} now points most nearly along the embedding of
        {{near_tok}}: cosine {{near_x_cos}} for `x`, {{near_cos}} after the blocks and
        `ln_f`.{{#if near_is_next}} And {{near_tok}} is the token the model
        predicts.{{/if}}
        {{/if}}
        """,
        values=_cosine,
        focus=["x", "h.{LL}.x"], cells={"x": ["col {t}"], "h.{LL}.x": ["col {t}"]},
        code=["gpt.blocks_loop", "gpt.tie"],
    ),
    Step(
        id="last_attention",
        title="Where the last block looks",
        text="""
        Attention patterns differ from block to block. Here is where each head of
        the last block, block {{LL}}, looks from position {{t}}{{#if sort}}: to write
        the next letter of the answer, the model has to know how many of each letter
        the input holds, and a head that attends to certain letters is one way to
        gather that. The numbers show where each head actually looks for this
        input.{{else}}, the position whose column will be turned into the
        prediction.{{/if}}
        """,
        table=lambda w: _heads_table(w, w.LL),
        focus=lambda w: [f"h.{w.LL}.attn.att[{i}]" for i in range(w.nh)],
        cells=lambda w: {f"h.{w.LL}.attn.att[{i}]": [f"row {w.t}"] for i in range(w.nh)},
        code=["attention.softmax", "gpt.blocks_loop"],
    ),
])
