"""Phase 8, the stack: the same block repeated, and what that does to the stream."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.numbers import Walk
from llmviz.walkthrough.p4_attention import _heads_table


def _norms(w: Walk) -> list[tuple[str, str, object]]:
    """(stage, block id, norm of column t) along the stream."""
    stages = [(w.say("stack.stream_grows.embedding"), "x")]
    for i in range(w.n_layer):
        stages += [(w.say("stack.stream_grows.after_attention", i=i), f"h.{i}.x_attn"),
                   (w.say("stack.stream_grows.after_mlp", i=i), f"h.{i}.x")]
    return [(label, block, w.op("norm", w.vec(block, 0, w.t, "*"))) for label, block in stages]


def _norm_values(w: Walk) -> dict:
    n = _norms(w)
    return {"n_first": n[0][2], "n_last": n[-1][2]}


def _norm_table(w: Walk) -> dict:
    return {"head": w.words.words("stack.stream_grows.table", t=w.t),
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


PHASE = Phase("stack", [
    Step(
        id="repeat",
        focus=lambda w: [f"h.{i}.x" for i in range(w.n_layer)],
        camera="overview", dim=None,
        animation=lambda w: {"kind": "flow", "path": ["x"] + [f"h.{i}.x" for i in range(w.n_layer)]},
        code=["gpt.blocks_loop", "block.forward", "block.attn_residual", "block.mlp_residual"],
    ),
    Step(
        id="stream_grows",
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
        figure=worked.direction,

        values=_cosine,
        focus=["x", "h.{LL}.x"], cells={"x": ["col {t}"], "h.{LL}.x": ["col {t}"]},
        code=["gpt.blocks_loop", "gpt.tie"],
    ),
    Step(
        id="last_attention",
        table=lambda w: _heads_table(w, w.LL),
        focus=lambda w: [f"h.{w.LL}.attn.att[{i}]" for i in range(w.nh)],
        cells=lambda w: {f"h.{w.LL}.attn.att[{i}]": [f"row {w.t}"] for i in range(w.nh)},
        code=["attention.softmax", "gpt.blocks_loop"],
    ),
])
