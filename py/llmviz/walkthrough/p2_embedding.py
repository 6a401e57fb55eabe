"""Phase 2, embedding: a token column plus a position column makes a column of ``x``."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step, worked
from llmviz.walkthrough.numbers import Walk


def _lookup(w: Walk) -> dict:
    k, t = w.ids[w.t], w.t
    n = min(3, w.C)
    v = {f"te{i}": w.act("tok_emb", 0, t, i) for i in range(n)}
    v.update({f"w{i}": w.par("wte.weight", k, i) for i in range(n)})
    v["te_first"] = [v[f"te{i}"] for i in range(n)]
    v["w_first"] = [v[f"w{i}"] for i in range(n)]
    return v


def _position(w: Walk) -> dict:
    n = min(3, w.C)
    return {"pe_first": [w.act("pos_emb", w.t, i) for i in range(n)],
            "wpe_first": [w.par("wpe.weight", w.t, i) for i in range(n)]}


def _sum(w: Walk) -> dict:
    t = w.t
    return {"te0": w.act("tok_emb", 0, t, 0), "pe0": w.act("pos_emb", t, 0), "x0": w.act("x", 0, t, 0)}


def _repeat(w: Walk) -> dict:
    """Two positions with the same token, if the input has any."""
    for a in range(w.T):
        for b in range(a + 1, w.T):
            if w.ids[a] == w.ids[b]:
                return {"repeat": True, "pa": a, "pb": b, "tok_a": w.tok_at(a),
                        "te_a": w.act("tok_emb", 0, a, 0), "te_b": w.act("tok_emb", 0, b, 0),
                        "x_a": w.act("x", 0, a, 0), "x_b": w.act("x", 0, b, 0)}
    return {"repeat": False}


PHASE = Phase("embedding", [
    Step(
        id="token_index",
        focus=["idx"], cells={"idx": ["col {t}"]},
        code=["embedding.tok"],
    ),
    Step(
        id="token_lookup",
        figure=worked.lookup("wte.weight", "tok_emb", lambda w: w.ids[w.t], "figure.token_lookup"),

        values=_lookup,
        focus=["wte.weight", "tok_emb"],
        cells={"wte.weight": ["col {k}"], "tok_emb": ["col {t}"]},
        animation={"kind": "lookup", "table": "wte.weight", "col": "{k}", "to": "tok_emb", "at": "{t}"},
        code=["embedding.tok"],
    ),
    Step(
        id="learned_table",
        focus=["wte.weight"], cells={"wte.weight": ["col {k}"]},
        code=["embedding.tok", "gpt.forward"],
    ),
    Step(
        id="position",
        figure=worked.lookup("wpe.weight", "pos_emb", lambda w: w.t, "figure.position_lookup"),

        values=_position,
        focus=["wpe.weight", "pos_emb"],
        cells={"wpe.weight": ["col {t}"], "pos_emb": ["col {t}"]},
        animation={"kind": "lookup", "table": "wpe.weight", "col": "{t}", "to": "pos_emb", "at": "{t}"},
        code=["embedding.pos"],
    ),
    Step(
        id="sum",
        figure=worked.add("tok_emb", "pos_emb", "x", "figure.embedding_sum"),

        values=_sum,
        focus=["tok_emb", "pos_emb", "x"],
        cells={"tok_emb": ["col {t}"], "pos_emb": ["col {t}"], "x": ["col {t}"]},
        animation={"kind": "add", "from": ["tok_emb", "pos_emb"], "to": "x", "col": "{t}"},
        code=["embedding.sum"],
    ),
    Step(
        id="all_positions",
        values=_repeat,
        focus=["tok_emb", "pos_emb", "x"],
        cells={"x": ["all"]},
        animation={"kind": "sweep", "block": "x", "axis": "cols"},
        code=["embedding.tok", "embedding.pos", "embedding.sum"],
    ),
    Step(
        id="stream",
        focus=["x"], cells={"x": ["col {t}"]},
        animation={"kind": "flow", "path": ["x", "h.0.x_attn", "h.0.x"]},
        code=["block.forward", "block.attn_residual", "block.mlp_residual", "gpt.blocks_loop"],
    ),
])
