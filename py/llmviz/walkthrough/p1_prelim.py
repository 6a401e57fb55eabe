"""Phase 1, preliminaries: the parts of the model and the sizes that shape every block."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step
from llmviz.walkthrough.numbers import Walk


def _sizes(w: Walk) -> dict:
    d = w.dims
    rows = [
        ["C", "`n_embd`: numbers per column of the stream", d["C"]],
        ["T", "positions in this input (at most `block_size`)", d["T"]],
        ["block_size", "the longest input the model can read", d["block_size"]],
        ["n_layer", "transformer blocks, one after another", d["n_layer"]],
        ["n_head", "attention heads per block", d["n_head"]],
        ["hs", "numbers per head: C / n_head", d["hs"]],
        ["4C", "width of the MLP's hidden layer", d["4C"]],
        ["V", "`vocab_size`: tokens the model knows", d["V"]],
        ["weights", "numbers learned in training", f"{w.n_params():,}"],
    ]
    return {"head": ["size", "what it counts", "this model"],
            "rows": [[name, what.replace("`", ""), str(value)] for name, what, value in rows]}


PHASE = Phase("prelim", "Preliminaries", [
    Step(
        id="parts",
        title="The parts of the model",
        text="""
        From top to bottom, the model has three parts:

        - the **embedding**: two tables, [[wte.weight|`wte`]] for tokens and
          [[wpe.weight|`wpe`]] for positions, turn each position into one column of
          numbers, [[x|`x`]];
        - the **transformer blocks**, {{size:n_layer}} of them (`transformer.h` in the
          code), each a layer norm, self-attention, a second layer norm and an MLP,
          each adding its result onto the columns;
        - the **output**: one more layer norm, [[ln_f|`ln_f`]], and a linear layer,
          [[lm_head.weight|`lm_head`]], that scores every token of the vocabulary, in
          [[logits|`logits`]].

        In the code each part is a class, listed beside this text with its method bodies
        folded: `LayerNorm`, `CausalSelfAttention` (self-attention), `MLP`, `Block` (one
        transformer block: the four of them in a row) and `GPT`, which holds the
        embeddings, the blocks and the output, and runs them in its `forward`.
        """,
        camera="overview", dim=None,
        annotate={"groups": True},
        code=["outline.layernorm", "outline.attention", "outline.mlp", "outline.block", "outline.gpt"],
    ),
    Step(
        id="sizes",
        title="The sizes",
        text="""
        A few numbers fix the shape of every block. nanoGPT keeps them in `GPTConfig`;
        the values below are read from the model that is loaded now.

        The main one is the width of the stream, {{dim:C}}: every position is
        described by that many numbers on its way down. Attention splits them among
        {{dim:n_head}} heads of {{dim:hs}} numbers each, and the MLP widens them to
        {{dim:4C}} for a moment.
        """,
        table=_sizes,
        # one block of each size, marked with its dimensions: the stream (C x T), a head's
        # queries (hs x T), the MLP's hidden layer (T x 4C), the logits (V x T)
        focus=["x", "h.{L}.attn.q[{h}]", "h.{L}.mlp.fc", "h.{L}.x_attn"], dim=None,
        annotate={"groups": False, "ops": False},
        code=["config", "gpt.init"],
    ),
    Step(
        id="columns",
        title="One column per position",
        text="""
        Every activation is a grid with one column per position. The input embedding
        [[x|`x`]] is {{dim:C}} rows by {{dim:T}} columns, so you can read each position
        from top to bottom.

        In the code the same tensor has the shape `(B, T, C)` = `(1, {{T}}, {{C}})`: a
        batch of B sequences (here a single one), T positions, C numbers each. The
        picture draws it transposed.

        The blocks are sized for the longest input the model accepts,
        {{dim:block_size}} positions; {{fill}}
        """,
        values=lambda w: {"fill": "this input fills every one of them." if w.T >= w.block_size
                          else "columns past the end of this input stay empty."},
        focus=["x"], cells={"x": ["all"]},
        code=["gpt.forward", "embedding.sum"],
    ),
])
