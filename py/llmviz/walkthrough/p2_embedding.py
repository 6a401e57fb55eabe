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


PHASE = Phase("embedding", "Embedding", [
    Step(
        id="token_index",
        title="Position {{t}} holds {{tok_t}}",
        text="""
        We follow one position through the whole model: the last one, position {{t}},
        where the next token will be predicted. It holds {{tok_t}}, whose index in the
        vocabulary is {{idx_t}}, read from [[idx|`idx`]].
        """,
        focus=["idx"], cells={"idx": ["col {t}"]},
        code=["embedding.tok"],
    ),
    Step(
        id="token_lookup",
        title="Looking up the token embedding",
        figure=worked.lookup("wte.weight", "tok_emb", lambda w: w.ids[w.t], "{tok} (index {k}): column {k} of wte becomes column {t} of tok_emb"),
        text="""
        The token embedding table [[wte.weight|`wte.weight`]] has one column of
        {{dim:C}} numbers for each of the {{dim:V}} tokens. The embedding of
        {{tok_t}} is column {{idx_t}}, copied as it is; nothing is multiplied. It
        becomes column {{t}} of [[tok_emb|`tok_emb`]].

        Check it on the numbers: the column in the table starts {{w_first}}, and so
        does column {{t}} of `tok_emb`: {{te_first}}.
        """,
        values=_lookup,
        focus=["wte.weight", "tok_emb"],
        cells={"wte.weight": ["col {k}"], "tok_emb": ["col {t}"]},
        animation={"kind": "lookup", "table": "wte.weight", "col": "{k}", "to": "tok_emb", "at": "{t}"},
        code=["embedding.tok"],
    ),
    Step(
        id="learned_table",
        title="A table that was learned",
        text="""
        Nobody wrote these numbers: they started random and training adjusted them,
        together with every other weight, so that tokens that play similar roles end
        up with similar columns.

        Picking column {{idx_t}} is the same as multiplying the table by a vector
        that is 1 in place {{idx_t}} and 0 elsewhere (a *one-hot* vector). That is why
        the embedding counts as a layer with weights, even though it only looks
        things up.

        The same table comes back at the very end: nanoGPT *ties* the output layer to
        it, so the scores of the next token are computed with these very columns (the
        output phase shows how).
        """,
        focus=["wte.weight"], cells={"wte.weight": ["col {k}"]},
        code=["embedding.tok", "gpt.forward"],
    ),
    Step(
        id="position",
        title="The position embedding",
        figure=worked.lookup("wpe.weight", "pos_emb", lambda w: w.t, "position {t}: column {t} of wpe becomes column {t} of pos_emb"),
        text="""
        Attention, the part where positions meet, knows their order only through its
        causal mask, which lets each position see itself and the positions before it.
        Among the positions it sees, nothing in its arithmetic says which came first: a
        score depends only on what the two columns hold, not on where they stand. So the
        model
        also learns one column per position: the table
        [[wpe.weight|`wpe.weight`]] has {{dim:block_size}} columns, one for each
        position it can handle.

        Position {{t}} takes column {{t}} of the table ({{wpe_first}}, …) and puts it
        in column {{t}} of [[pos_emb|`pos_emb`]] ({{pe_first}}, …). It depends only on
        the position, never on the token.
        """,
        values=_position,
        focus=["wpe.weight", "pos_emb"],
        cells={"wpe.weight": ["col {t}"], "pos_emb": ["col {t}"]},
        animation={"kind": "lookup", "table": "wpe.weight", "col": "{t}", "to": "pos_emb", "at": "{t}"},
        code=["embedding.pos"],
    ),
    Step(
        id="sum",
        title="Adding the two",
        figure=worked.add("tok_emb", "pos_emb", "x", "x at position {t}: token plus position"),
        text="""
        The input embedding [[x|`x`]] is the sum of the two columns, cell by cell. For
        the top cell of column {{t}}: {{te0}} + {{(pe0)}} = {{x0}}.

        The sum carries both facts at once: which token this is, and where it stands.

        nanoGPT wraps the sum in `self.transformer.drop(...)`: *dropout*, which during
        training sets a random share of the numbers to 0 (the config's `dropout`). At
        inference, as here, it passes them through unchanged, and so do the other
        dropouts (`attn_dropout`, `resid_dropout`, the MLP's `dropout`); the page's
        numpy port leaves them out.
        """,
        values=_sum,
        focus=["tok_emb", "pos_emb", "x"],
        cells={"tok_emb": ["col {t}"], "pos_emb": ["col {t}"], "x": ["col {t}"]},
        animation={"kind": "add", "from": ["tok_emb", "pos_emb"], "to": "x", "col": "{t}"},
        code=["embedding.sum"],
    ),
    Step(
        id="all_positions",
        title="Every position at once",
        text="""
        The same lookup and sum happens at every position, each with its own token
        column and position column, filling every column of [[x|`x`]].
        {{#if repeat}}

        Positions {{pa}} and {{pb}} both hold {{tok_a}}, so their token columns are
        identical (both start with {{te_a}}). Their columns in `x` still differ,
        {{x_a}} against {{x_b}}, because their positions differ.
        {{else}}
        Two equal tokens at different positions would get the same token column but
        different columns in `x`, thanks to the position embedding.
        {{/if}}
        """,
        values=_repeat,
        focus=["tok_emb", "pos_emb", "x"],
        cells={"x": ["all"]},
        animation={"kind": "sweep", "block": "x", "axis": "cols"},
        code=["embedding.tok", "embedding.pos", "embedding.sum"],
    ),
    Step(
        id="stream",
        title="The residual stream",
        text="""
        [[x|`x`]] is the start of the *residual stream*: the columns that run down the
        whole model. Every transformer block reads the stream, computes something, and
        adds the result back on; nothing ever replaces it.

        Keep an eye on column {{t}}: at the bottom of the stream, it is where the
        prediction for the next token is read.
        """,
        focus=["x"], cells={"x": ["col {t}"]},
        animation={"kind": "flow", "path": ["x", "h.0.x_attn", "h.0.x"]},
        code=["block.forward", "block.attn_residual", "block.mlp_residual", "gpt.blocks_loop"],
    ),
])
