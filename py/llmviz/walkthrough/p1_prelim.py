"""Phase 1, preliminaries: the parts of the model and the sizes that shape every block."""
from __future__ import annotations

from llmviz.walkthrough import Phase, Step
from llmviz.walkthrough.numbers import Walk


def _sizes(w: Walk) -> dict:
    d = w.dims
    sizes = {"C": d["C"], "T": d["T"], "block_size": d["block_size"], "n_layer": d["n_layer"],
             "n_head": d["n_head"], "hs": d["hs"], "4C": d["4C"], "V": d["V"], "weights": w.words.number(w.n_params())}
    what = w.words.words("prelim.sizes.what")     # one line per size, in this order
    name = {"weights": w.say("prelim.sizes.weights")}
    return {"head": w.words.words("prelim.sizes.table"),
            "rows": [[name.get(k, k), line, str(v)] for (k, v), line in zip(sizes.items(), what)]}


PHASE = Phase("prelim", [
    Step(
        id="parts",
        camera="overview", dim=None,
        annotate={"groups": True},
        code=["outline.layernorm", "outline.attention", "outline.mlp", "outline.block", "outline.gpt"],
    ),
    Step(
        id="sizes",
        table=_sizes,
        # one block of each size, marked with its dimensions: the stream (C x T), a head's
        # queries (hs x T), the MLP's hidden layer (T x 4C), the logits (V x T)
        focus=["x", "h.{L}.attn.q[{h}]", "h.{L}.mlp.fc", "h.{L}.x_attn"], dim=None,
        annotate={"groups": False, "ops": False},
        code=["config", "gpt.init"],
    ),
    Step(
        id="columns",
        values=lambda w: {"full": w.T >= w.block_size},
        focus=["x"], cells={"x": ["all"]},
        code=["gpt.forward", "embedding.sum"],
    ),
])
