"""The catalogue of code references: for each computation the walkthrough shows,
where it is in nanoGPT's ``model.py`` and where in our numpy port.

Walkthrough steps name keys of ``CATALOGUE`` (``"attention.softmax"``, ...). At
build time ``check_all`` resolves every key against both files and fails, naming
the key and its selector, when one no longer matches exactly one place. The page
gets ``step_code(keys, config, T, resolved)``: the snippets of a step as JSON-ready
dicts, highlighted, with this model's tensor shapes beside the lines.

``VARS`` says which code variable holds which traced tensor, per function: e.g. in
nanoGPT's ``CausalSelfAttention.forward`` the ``att`` that ``F.softmax`` returns
is the trace tensor ``h.{i}.attn.att``. Shapes come from the model's ``ModelShape``
(``llmviz.core.shape``), never from this file. Templates use a context: ``{i}`` (the layer shown),
``{prev_x}`` (the residual stream entering that layer), ``{ln}`` / ``{ln_in}``
(the layer norm shown and its input), ``{sm}`` / ``{sm_in}`` (the softmax shown
and its input), ``{lin_in}`` / ``{lin_out}`` (a Linear's input and output).

``WEIGHTS`` says which attribute chain names which module of the model, per
function: in ``MLP.forward`` the ``self.c_fc`` is the module ``h.{i}.mlp.c_fc``, so
hovering it lights that layer's c_fc weight and bias blocks (only the parameter
blocks ``llmviz.viz.layout`` draws for this model: no bias blocks when ``bias=False``).
Its templates add ``{lin}`` (the Linear that ``Linear.__call__`` shows) and
``{emb}`` (the Embedding that ``Embedding.__call__`` shows).

Pure Python (no numpy).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import field, dataclass
from typing import Any, Iterable, Mapping, Sequence

from llmviz.codepanel import classes
from llmviz.codepanel.annotate import (Assign, Call, CodeRef, ForLoop, If, Init, Return, SelectorError,
                       Snippet, Span, Var, Weights, bind, bind_weights, highlight, lex, resolve,
                       scope_of, with_scope)
from llmviz.core.shape import ModelShape, short_name
from llmviz.locales import catalogue

NANOGPT_FILE = "model.py"
PORT_FILE = "py/llmviz/core/model.py"

__all__ = ["Entry", "CATALOGUE", "VARS", "WEIGHTS", "resolve_all", "check_all", "step_code",
           "port_sources", "param_blocks", "weight_blocks", "to_json", "from_json",
           "NANOGPT_FILE", "PORT_FILE"]


@dataclass(frozen=True)
class Entry:
    """One computation: its nanoGPT lines (None where nanoGPT calls into torch) and ours
    (None where our inference-only port leaves nanoGPT's lines out: dropout, flash
    attention, the training loss). Its title is the catalogue's ``code.title.<key>``
    (``llmviz.locales``), in the reader's language."""
    nanogpt: CodeRef | None
    port: CodeRef | None
    context: Mapping[str, str] = field(default_factory=dict)


def _ng(symbol: str, select=None, role: str = "forward") -> CodeRef:
    return CodeRef("nanogpt", symbol, select, role)


def _port(symbol: str, select=None, role: str = "forward") -> CodeRef:
    return CodeRef("port", symbol, select, role)


_ATTN = "CausalSelfAttention.forward"
_PROBS = {"sm": "probs", "sm_in": "logits"}

CATALOGUE: dict[str, Entry] = {
    # the model's shape
    "config": Entry(_ng("GPTConfig", role="config"), _port("GPTConfig", role="config")),
    "gpt.init": Entry(_ng("GPT.__init__", Span(Assign("self.transformer"), Assign("self.lm_head")), "init"),
                      _port("GPT.__init__", Span(Assign("self.transformer"), Assign("self.lm_head")), "init")),
    "gpt.tie": Entry(_ng("GPT.__init__", Assign("self.transformer.wte.weight"), "compact"),
                     _port("GPT._assign", Span(If(uses="done"), Call("setattr")), "compact")),

    # every class of the model, bodies folded
    **{f"outline.{key}": Entry(_ng(name, role="outline"), _port(name, role="outline"))
       for key, name in (("layernorm", "LayerNorm"), ("attention", "CausalSelfAttention"), ("mlp", "MLP"),
                         ("block", "Block"), ("gpt", "GPT"))},

    # embedding
    "embedding.positions": Entry(_ng("GPT.forward", Assign("pos"), "compact"),
                                 _port("GPT.forward", Assign("pos"), "compact")),
    "embedding.tok": Entry(_ng("GPT.forward", Assign("tok_emb"), "compact"),
                           _port("GPT.forward", Assign("tok_emb"), "compact")),
    "embedding.pos": Entry(_ng("GPT.forward", Assign("pos_emb"), "compact"),
                           _port("GPT.forward", Assign("pos_emb"), "compact")),
    "embedding.sum": Entry(_ng("GPT.forward", Assign("x", uses="tok_emb"), "compact"),
                           _port("GPT.forward", Assign("x", uses="tok_emb"), "compact")),
    "embedding.forward": Entry(_ng("GPT.forward", Span(Assign("tok_emb"), Assign("x", uses="tok_emb"))),
                               _port("GPT.forward", Span(Assign("tok_emb"), Assign("x", uses="tok_emb")))),
    "embedding.lookup": Entry(None, _port("Embedding.__call__")),
    "embedding.init": Entry(_ng("GPT.__init__", Assign("self.transformer"), "init"),
                            _port("GPT.__init__", Assign("self.transformer"), "init")),

    # layer norm
    "layernorm.forward": Entry(_ng("LayerNorm.forward"), _port("LayerNorm.forward")),
    "layernorm.init": Entry(_ng("LayerNorm", Init(), "init"), _port("LayerNorm", Init(), "init")),
    "layernorm.mean": Entry(_ng("LayerNorm.forward", Return(), "compact"),
                            _port("LayerNorm.forward", Assign("mean"), "compact")),
    "layernorm.var": Entry(_ng("LayerNorm.forward", Return(), "compact"),
                           _port("LayerNorm.forward", Assign("var"), "compact")),
    "layernorm.rstd": Entry(_ng("LayerNorm.forward", Return(), "compact"),
                            _port("LayerNorm.forward", Assign("rstd"), "compact")),
    "layernorm.normalize": Entry(_ng("LayerNorm.forward", Return(), "compact"),
                                 _port("LayerNorm.forward", Span(Assign("out", nth=1), Assign("out", nth=2)),
                                       "compact")),
    "layernorm.compute": Entry(_ng("LayerNorm.forward", Return(), "compact"),
                               _port("LayerNorm.forward", Span(Assign("mean"), Assign("out", nth=2)), "excerpt")),

    # self-attention
    "attention.forward": Entry(_ng(_ATTN), _port(_ATTN)),
    "attention.init": Entry(_ng("CausalSelfAttention", Init(), "init"),
                            _port("CausalSelfAttention", Init(), "init")),
    "attention.qkv": Entry(_ng(_ATTN, Assign("q", calls="c_attn"), "compact"),
                           _port(_ATTN, Span(Assign("qkv"), Assign("q", calls="split")), "compact")),
    "attention.split_heads": Entry(_ng(_ATTN, Span(Assign("k", calls="view"), Assign("v", calls="view")), "compact"),
                                   _port(_ATTN, Span(Assign("k", calls="reshape"), Assign("v", calls="reshape")),
                                         "compact")),
    "attention.scores": Entry(_ng(_ATTN, Assign("att", calls="sqrt"), "compact"),
                              _port(_ATTN, Assign("att", calls="sqrt"), "compact")),
    "attention.mask": Entry(_ng(_ATTN, Assign("att", calls="masked_fill"), "compact"),
                            _port(_ATTN, Assign("att", calls="where"), "compact")),
    "attention.mask_buffer": Entry(_ng("CausalSelfAttention.__init__", Call("register_buffer"), "compact"),
                                   _port("CausalSelfAttention.__init__", Assign("self.bias"), "compact")),
    "attention.flash": Entry(_ng(_ATTN, Assign("y", calls="scaled_dot_product_attention"), "compact"), None),
    "attention.softmax": Entry(_ng(_ATTN, Assign("att", calls="softmax"), "compact"),
                               _port(_ATTN, Assign("att", calls="softmax"), "compact")),
    "attention.weighted_sum": Entry(_ng(_ATTN, Assign("y", uses="att"), "compact"),
                                    _port(_ATTN, Assign("y", uses="att"), "compact")),
    "attention.reassemble": Entry(_ng(_ATTN, Assign("y", calls="transpose"), "compact"),
                                  _port(_ATTN, Assign("y", calls="transpose"), "compact")),
    "attention.proj": Entry(_ng(_ATTN, Assign("y", calls="c_proj"), "compact"),
                            _port(_ATTN, Assign("y", calls="c_proj"), "compact")),
    "attention.core": Entry(_ng(_ATTN, Span(Assign("att", calls="sqrt"), Assign("y", uses="att"))),
                            _port(_ATTN, Span(Assign("att", calls="sqrt"), Assign("y", uses="att")))),

    # softmax, the function
    "softmax": Entry(_ng(_ATTN, Assign("att", calls="softmax"), "compact"), _port("softmax")),
    "softmax.probs": Entry(_ng("GPT.generate", Assign("probs", calls="softmax"), "compact"),
                           _port("softmax"), _PROBS),
    # the lines of our softmax, one by one (nanoGPT leaves them to F.softmax)
    "softmax.max": Entry(None, _port("softmax", Assign("x_max"), "compact")),
    "softmax.exp": Entry(None, _port("softmax", Assign("exps"), "compact")),
    "softmax.sum": Entry(None, _port("softmax", Assign("exps_sum"), "compact")),
    "softmax.divide": Entry(None, _port("softmax", Return(), "compact")),
    "softmax.compute": Entry(None,
                             _port("softmax", Span(Assign("x_max"), Return()), "excerpt")),

    # the block and its residual connections
    "block.forward": Entry(_ng("Block.forward"), _port("Block.forward")),
    "block.init": Entry(_ng("Block", Init(), "init"), _port("Block", Init(), "init")),
    "block.attn_residual": Entry(_ng("Block.forward", Assign("x", calls="attn"), "compact"),
                                 _port("Block.forward", Assign("x", calls="attn"), "compact")),
    "block.mlp_residual": Entry(_ng("Block.forward", Assign("x", calls="mlp"), "compact"),
                                _port("Block.forward", Assign("x", calls="mlp"), "compact")),

    # MLP
    "mlp.forward": Entry(_ng("MLP.forward"), _port("MLP.forward")),
    "mlp.init": Entry(_ng("MLP", Init(), "init"), _port("MLP", Init(), "init")),
    "mlp.fc": Entry(_ng("MLP.forward", Assign("x", calls="c_fc"), "compact"),
                    _port("MLP.forward", Assign("x", calls="c_fc"), "compact")),
    "mlp.gelu": Entry(_ng("MLP.forward", Assign("x", calls="gelu"), "compact"),
                      _port("MLP.forward", Assign("x", calls="gelu"), "compact")),
    "mlp.proj": Entry(_ng("MLP.forward", Assign("x", calls="c_proj"), "compact"),
                      _port("MLP.forward", Assign("x", calls="c_proj"), "compact")),
    "mlp.dropout": Entry(_ng("MLP.forward", Assign("x", calls="dropout"), "compact"), None),
    "gelu": Entry(_ng("MLP.__init__", Assign("self.gelu"), "compact"), _port("gelu")),
    "gelu.erfc": Entry(None, _port("_erfc")),
    "gelu.erf": Entry(None, _port("gelu", Return(nth=-1), "compact")),
    "linear": Entry(None, _port("Linear.__call__")),

    # the stack and the output
    "gpt.blocks_loop": Entry(_ng("GPT.forward", ForLoop("self.transformer.h"), "compact"),
                             _port("GPT.forward", ForLoop("self.transformer.h"), "compact")),
    "gpt.flow": Entry(_ng("GPT.forward", Span(Assign("tok_emb"), Assign("x", calls="ln_f")), "excerpt"),
                      _port("GPT.forward", Span(Assign("tok_emb"), Assign("x", calls="ln_f")), "excerpt")),
    "gpt.ln_f": Entry(_ng("GPT.forward", Assign("x", calls="ln_f"), "compact"),
                      _port("GPT.forward", Assign("x", calls="ln_f"), "compact"), {"norm": "ln_f"}),
    "gpt.lm_head": Entry(_ng("GPT.forward", Assign("logits", calls="lm_head", nth=-1), "compact"),
                         _port("GPT.forward", Assign("logits"), "compact")),
    "gpt.probs": Entry(_ng("GPT.generate", Assign("probs", calls="softmax"), "compact"),
                       _port("GPT.forward", Call("softmax"), "compact"), _PROBS),
    "gpt.loss": Entry(_ng("GPT.forward", Span(Assign("logits", calls="lm_head", nth=1),
                                              Assign("loss", calls="cross_entropy")), "compact"), None),
    "gpt.forward": Entry(_ng("GPT.forward"), _port("GPT.forward")),
    "gpt.generate": Entry(_ng("GPT.generate"), _port("GPT.generate")),
    "generate.crop": Entry(_ng("GPT.generate", Assign("idx_cond"), "compact"),
                           _port("GPT.generate", Assign("idx_cond"), "compact")),
    "generate.temperature": Entry(_ng("GPT.generate", Assign("logits", uses="temperature"), "compact"),
                                  _port("GPT.generate", Assign("logits", uses="temperature"), "compact")),
    "generate.probs": Entry(_ng("GPT.generate", Assign("probs", calls="softmax"), "compact"),
                            _port("GPT.generate", Assign("probs"), "compact")),
    "generate.greedy": Entry(None,
                             _port("GPT.generate", Assign("idx_next", calls="argmax"), "compact")),
    "generate.top_k": Entry(_ng("GPT.generate", If(uses="top_k"), "compact"),
                            _port("GPT.generate", If(uses="top_k"), "compact")),
    "generate.sample": Entry(_ng("GPT.generate", Assign("idx_next", calls="multinomial"), "compact"),
                             _port("GPT.generate", Assign("idx_next", calls="choice"), "compact")),
    "generate.append": Entry(_ng("GPT.generate", Assign("idx", calls="cat"), "compact"),
                             _port("GPT.generate", Assign("idx", calls="concatenate"), "compact")),
}


# ----------------------------------------------------------------------------
# which variable holds which traced tensor


def _keepdims(name: str, block: str | None, at, shape=None) -> Var:
    return Var(name, block, at, shape, keepdims=True)


_BTC = ("B", "T", "C")

VARS: dict[tuple[str, str], list[Var]] = {
    ("nanogpt", "LayerNorm.forward"): [
        Var("input", "{ln_in}"),
        Var("return", "{ln}", Return()),
    ],
    ("port", "LayerNorm.forward"): [
        Var("input", "{ln_in}"),
        _keepdims("mean", "{ln}.mean", Assign("mean")),
        _keepdims("var", None, Assign("var"), shape="{ln}.mean"),
        _keepdims("rstd", "{ln}.rstd", Assign("rstd")),
        Var("out", None, Assign("out", nth=1), shape="{ln}"),
        Var("out", "{ln}", Assign("out", nth=2)),
        Var("return", "{ln}", Return()),
    ],
    ("nanogpt", _ATTN): [
        Var("x", "h.{i}.ln_1"),
        Var("q", None, Assign("q", calls="split"), shape=_BTC),
        Var("k", None, Assign("k", calls="split"), shape=_BTC),
        Var("v", None, Assign("v", calls="split"), shape=_BTC),
        Var("k", "h.{i}.attn.k", Assign("k", calls="view")),
        Var("q", "h.{i}.attn.q", Assign("q", calls="view")),
        Var("v", "h.{i}.attn.v", Assign("v", calls="view")),
        Var("att", "h.{i}.attn.scores", Assign("att", calls="sqrt")),
        Var("att", "h.{i}.attn.scores", Assign("att", calls="masked_fill")),
        Var("att", "h.{i}.attn.att", Assign("att", calls="softmax")),
        Var("att", "h.{i}.attn.att", Assign("att", calls="attn_dropout")),
        Var("y", "h.{i}.attn.head_out", Assign("y", calls="scaled_dot_product_attention")),
        Var("y", "h.{i}.attn.head_out", Assign("y", uses="att")),
        Var("y", "h.{i}.attn.y", Assign("y", calls="transpose")),
        Var("y", "h.{i}.attn.out", Assign("y", calls="c_proj")),
    ],
    ("port", _ATTN): [
        Var("x", "h.{i}.ln_1"),
        Var("qkv", "h.{i}.attn.qkv", Assign("qkv")),
        Var("q", None, Assign("q", calls="split"), shape=_BTC),
        Var("k", None, Assign("k", calls="split"), shape=_BTC),
        Var("v", None, Assign("v", calls="split"), shape=_BTC),
        Var("k", "h.{i}.attn.k", Assign("k", calls="reshape")),
        Var("q", "h.{i}.attn.q", Assign("q", calls="reshape")),
        Var("v", "h.{i}.attn.v", Assign("v", calls="reshape")),
        Var("att", "h.{i}.attn.scores", Assign("att", calls="sqrt")),
        Var("att", "h.{i}.attn.scores", Assign("att", calls="where")),
        Var("att", "h.{i}.attn.att", Assign("att", calls="softmax")),
        Var("y", "h.{i}.attn.head_out", Assign("y", uses="att")),
        Var("y", "h.{i}.attn.y", Assign("y", calls="transpose")),
        Var("y", "h.{i}.attn.out", Assign("y", calls="c_proj")),
        Var("return", "h.{i}.attn.out", Return()),
    ],
    ("nanogpt", "MLP.forward"): [
        Var("x", "h.{i}.ln_2"),
        Var("x", "h.{i}.mlp.fc", Assign("x", calls="c_fc")),
        Var("x", "h.{i}.mlp.gelu", Assign("x", calls="gelu")),
        Var("x", "h.{i}.mlp.out", Assign("x", calls="c_proj")),
        Var("x", "h.{i}.mlp.out", Assign("x", calls="dropout")),
    ],
    ("port", "MLP.forward"): [
        Var("x", "h.{i}.ln_2"),
        Var("x", "h.{i}.mlp.fc", Assign("x", calls="c_fc")),
        Var("x", "h.{i}.mlp.gelu", Assign("x", calls="gelu")),
        Var("x", "h.{i}.mlp.out", Assign("x", calls="c_proj")),
    ],
    ("nanogpt", "Block.forward"): [
        Var("x", "{prev_x}"),
        Var("x", "h.{i}.x_attn", Assign("x", calls="attn")),
        Var("x", "h.{i}.x", Assign("x", calls="mlp")),
    ],
    ("port", "Block.forward"): [
        Var("x", "{prev_x}"),
        Var("x", "h.{i}.x_attn", Assign("x", calls="attn")),
        Var("x", "h.{i}.x", Assign("x", calls="mlp")),
        Var("return", "h.{i}.x", Return()),
    ],
    ("nanogpt", "GPT.forward"): [
        Var("idx", "idx"),
        Var("pos", None, Assign("pos"), shape=("T",)),
        Var("tok_emb", "tok_emb", Assign("tok_emb")),
        Var("pos_emb", "pos_emb", Assign("pos_emb")),
        Var("x", "x", Assign("x", uses="tok_emb")),
        Var("x", "h.{i}.x", Assign("x", calls="block")),
        Var("x", "ln_f", Assign("x", calls="ln_f")),
        Var("logits", "logits", Assign("logits", calls="lm_head", nth=1)),
        # the inference path keeps only the last position
        Var("logits", "logits", Assign("logits", calls="lm_head", nth=-1), shape=("B", 1, "V")),
    ],
    ("port", "GPT.forward"): [
        Var("idx", "idx"),
        Var("idx", "idx", Assign("idx")),
        Var("pos", None, Assign("pos"), shape=("T",)),
        Var("tok_emb", "tok_emb", Assign("tok_emb")),
        Var("pos_emb", "pos_emb", Assign("pos_emb")),
        Var("x", "x", Assign("x", uses="tok_emb")),
        Var("x", "h.{i}.x", Assign("x", calls="layer")),
        Var("x", "ln_f", Assign("x", calls="ln_f")),
        Var("logits", "logits", Assign("logits")),
        Var("return", "logits", Return()),
    ],
    # one step of generation: the last position's logits, its probabilities, the next token
    ("nanogpt", "GPT.generate"): [
        Var("idx", "idx"),
        Var("idx_cond", "idx", Assign("idx_cond")),
        Var("logits", None, Assign("logits", calls="self"), shape=("B", 1, "V")),
        Var("logits", None, Assign("logits", uses="temperature"), shape=("B", "V")),
        Var("probs", None, Assign("probs"), shape=("B", "V")),
        Var("idx_next", None, Assign("idx_next"), shape=("B", 1)),
        Var("idx", None, Assign("idx", calls="cat"), shape=("B", "T+1")),
    ],
    ("port", "GPT.generate"): [
        Var("idx", "idx"),
        Var("idx", "idx", Assign("idx", calls="_as_index_batch")),
        Var("idx_cond", "idx", Assign("idx_cond")),
        Var("logits", "logits", Assign("logits", calls="self")),
        Var("logits", None, Assign("logits", calls="astype"), shape=("B", "V")),
        Var("logits", None, Assign("logits", uses="temperature"), shape=("B", "V")),
        Var("probs", None, Assign("probs"), shape=("B", "V")),
        Var("idx_next", None, Assign("idx_next", calls="argmax"), shape=("B", 1)),
        Var("idx_next", None, Assign("idx_next", calls="choice"), shape=("B", 1)),
        Var("idx", None, Assign("idx", calls="concatenate"), shape=("B", "T+1")),
    ],
    ("port", "softmax"): [
        Var("x", "{sm_in}"),
        _keepdims("x_max", "{sm}.max", Assign("x_max")),
        Var("exps", None, Assign("exps"), shape="{sm}"),
        _keepdims("exps_sum", "{sm}.sum", Assign("exps_sum")),
        Var("return", "{sm}", Return()),
    ],
    ("port", "gelu"): [
        Var("x", "h.{i}.mlp.fc"),
        Var("x64", None, Assign("x64"), shape="h.{i}.mlp.fc"),
        Var("return", "h.{i}.mlp.gelu", Return(nth=-1)),
    ],
    ("port", "Linear.__call__"): [
        Var("x", "{lin_in}"),
        Var("y", None, Assign("y", nth=1), shape="{lin_out}"),
        Var("y", "{lin_out}", Assign("y", nth=2)),
        Var("return", "{lin_out}", Return()),
    ],
    ("port", "Embedding.__call__"): [
        Var("idx", "idx"),
        Var("return", "tok_emb", Return()),
    ],
}


# ----------------------------------------------------------------------------
# which attribute (or keyword) names which module of the model


def _both(symbol: str, specs: list[Weights]) -> dict[tuple[str, str], list[Weights]]:
    return {("nanogpt", symbol): specs, ("port", symbol): specs}


_LN = [Weights("self.weight", "{ln}.weight"), Weights("self.bias", "{ln}.bias")]
_ATTN_W = [Weights("self.c_attn", "h.{i}.attn.c_attn"), Weights("self.c_proj", "h.{i}.attn.c_proj")]
_MLP_W = [Weights("self.c_fc", "h.{i}.mlp.c_fc"), Weights("self.c_proj", "h.{i}.mlp.c_proj")]
_BLOCK_W = [Weights("self.ln_1", "h.{i}.ln_1"), Weights("self.attn", "h.{i}.attn"),
            Weights("self.ln_2", "h.{i}.ln_2"), Weights("self.mlp", "h.{i}.mlp")]
_GPT_FWD_W = [Weights("self.transformer.wte", "wte"), Weights("self.transformer.wpe", "wpe"),
              Weights("self.transformer.ln_f", "ln_f"), Weights("self.lm_head", "lm_head")]
_GPT_INIT_W = [Weights("wte", "wte"), Weights("wpe", "wpe"), Weights("ln_f", "ln_f"),
               Weights("self.lm_head", "lm_head")]

WEIGHTS: dict[tuple[str, str], list[Weights]] = {
    **_both("LayerNorm.forward", _LN),
    **_both("LayerNorm.__init__", _LN),
    **_both(_ATTN, _ATTN_W),
    **_both("CausalSelfAttention.__init__", _ATTN_W),
    **_both("MLP.forward", _MLP_W),
    **_both("MLP.__init__", _MLP_W),
    **_both("Block.forward", _BLOCK_W),
    **_both("Block.__init__", _BLOCK_W),
    **_both("GPT.forward", _GPT_FWD_W),
    **_both("GPT.__init__", _GPT_INIT_W),
    # nanoGPT's weight tying line names wte by its path
    ("nanogpt", "GPT.__init__"): _GPT_INIT_W + [Weights("self.transformer.wte", "wte")],
    ("port", "Linear.__call__"): [Weights("self.weight", "{lin}.weight"),
                                  Weights("self.bias", "{lin}.bias")],
    ("port", "Embedding.__call__"): [Weights("self.weight", "{emb}.weight")],
}


# ----------------------------------------------------------------------------
# block ids, context, shapes

@functools.lru_cache(maxsize=16)
def _param_blocks(shape: ModelShape) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for block in shape.blocks():
        if block.param:
            out.setdefault(short_name(block.param), []).append(block.id)
    return {name: tuple(ids) for name, ids in out.items()}


def param_blocks(config: Any) -> dict[str, list[str]]:
    """Each parameter of this model (nanoGPT's state-dict name without ``transformer.``)
    -> the ids of the scene blocks that draw it (``ModelShape.blocks``, which
    ``llmviz.viz.layout`` draws: ``h.0.attn.c_attn.weight`` is one block per head and
    q/k/v; a model without biases has no bias entries)."""
    return {name: list(ids) for name, ids in _param_blocks(ModelShape.from_config(config)).items()}


def weight_blocks(module: str, config: Any) -> dict | None:
    """What a code token naming ``module`` (``"h.1.mlp.c_fc"``, ``"ln_f.weight"``) stands
    for in this model: ``{"block", "blocks", "params", "shapes"}``, or None when the
    model has no such parameter. ``params`` are the parameters in it (the module
    itself, or those under ``module.``), ``blocks`` their scene ids, ``block`` the
    weight (``module.weight`` if there is one, else the module's name)."""
    shape = ModelShape.from_config(config)
    index = _param_blocks(shape)
    params = [n for n in index if n == module or n.startswith(module + ".")]
    if not params:
        return None
    block = module if module in index else (module + ".weight" if module + ".weight" in index else module)
    return {"block": block, "blocks": [i for n in params for i in index[n]], "params": params,
            "shapes": [shape.param_shape(n) for n in params]}


def _weights_describer(shape: ModelShape, ctx: Mapping[str, Any], strict: bool = False):
    def describe(spec: Weights) -> dict | None:
        module = spec.module.format(**ctx)
        info = weight_blocks(module, shape)
        if info is None and strict:
            raise SelectorError(f"weights {spec.path!r}: the model has no parameter {module!r} "
                                f"(from {spec.module!r}); see llmviz.core.shape")
        return info

    return describe


def _context(shape: ModelShape, layer: int, norm: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    layer = shape.follow({"layer": layer})["layer"]   # a ValueError for a layer the model lacks
    last = shape.n_layer - 1
    ctx = {"i": layer, "prev_x": "x" if layer == 0 else "h.{}.x".format(layer - 1),
           "norm": norm, "sm": "h.{i}.attn.att", "sm_in": "h.{i}.attn.scores",
           "lin_in": "h.{i}.ln_1", "lin_out": "h.{i}.attn.qkv", "lin": "h.{i}.attn.c_attn",
           "emb": "wte"}
    ctx.update(overrides)
    norm = ctx["norm"]
    lns = {"ln_1": ("h.{i}.ln_1", ctx["prev_x"]), "ln_2": ("h.{i}.ln_2", "h.{i}.x_attn"),
           "ln_f": ("ln_f", f"h.{last}.x")}
    if norm not in lns:
        raise ValueError(f"norm must be one of {sorted(lns)}, got {norm!r}")
    ctx.setdefault("ln", lns[norm][0])
    ctx.setdefault("ln_in", lns[norm][1])
    return {k: (v.format(i=layer) if isinstance(v, str) else v) for k, v in ctx.items()}


def _describer(model: ModelShape, shapes: Mapping[str, tuple], ctx: Mapping[str, Any]):
    B, T = shapes["idx"]
    dims = {"B": B, **model.dims(T), "T+1": T + 1}   # T+1: the input after generate appends a token

    def describe(spec: Var) -> dict:
        block = spec.block.format(**ctx) if spec.block else None
        if isinstance(spec.shape, tuple):
            shape_from = None
            shape = tuple(dims[d] if isinstance(d, str) else d for d in spec.shape)
        else:
            shape_from = spec.shape.format(**ctx) if spec.shape else block
            if shape_from not in shapes:
                raise SelectorError(f"var {spec.name!r}: no trace tensor {shape_from!r} "
                                    f"(from {spec.shape or spec.block!r}); see llmviz.core.shape")
            shape = tuple(shapes[shape_from])
        if spec.keepdims:
            shape = shape + (1,)
        if block is not None and block not in shapes:
            raise SelectorError(f"var {spec.name!r}: block {block!r} is not a trace name")
        return {"block": block, "blocks": model.scene_ids(block), "shape": shape,
                "shape_from": shape_from, "keepdims": spec.keepdims}

    return describe


# ----------------------------------------------------------------------------
# resolving the catalogue


def port_sources() -> dict[str, str]:
    """Our own model.py, read from the installed package: ``{PORT_FILE: text}``."""
    from importlib import resources

    return {PORT_FILE: resources.files("llmviz.core").joinpath("model.py").read_text(encoding="utf-8")}


def _port_text(sources: Mapping[str, str] | str | None) -> str:
    if sources is None:
        sources = port_sources()
    if isinstance(sources, str):
        return sources
    return sources[PORT_FILE]


def _is_pinned(text: str) -> bool:
    from llmviz.codepanel.nanogpt_source import PINNED_SHA256

    return hashlib.sha256(text.encode("utf-8")).hexdigest() == PINNED_SHA256


def _resolve_one(key: str, ref: CodeRef, text: str, filename: str) -> Snippet:
    try:
        return resolve(ref, text, filename)
    except SelectorError as exc:
        raise SelectorError(f"code ref {key!r} [{ref.source}] {ref.describe()}: {exc}") from None


def resolve_all(nanogpt_text: str | None, port_sources: Mapping[str, str] | str | None = None,
                keys: Iterable[str] | None = None) -> dict[str, dict[str, Snippet | None]]:
    """Every catalogue key -> ``{"nanogpt": Snippet | None, "port": Snippet | None}``.

    nanoGPT snippets are None when ``nanogpt_text`` is None or the entry has no
    nanoGPT side; port snippets when the entry has no port side. Raises SelectorError (naming the key) at the first bad ref.
    """
    from llmviz.codepanel.nanogpt_source import github_url

    port_text = _port_text(port_sources)
    pinned = nanogpt_text is not None and _is_pinned(nanogpt_text)
    out: dict[str, dict[str, Snippet | None]] = {}
    for key in (CATALOGUE if keys is None else keys):
        entry = CATALOGUE[key]
        ng = None
        if entry.nanogpt is not None and nanogpt_text is not None:
            ng = _resolve_one(key, entry.nanogpt, nanogpt_text, NANOGPT_FILE)
            if pinned:
                ng.url = github_url(*ng.lines)
        port = _resolve_one(key, entry.port, port_text, PORT_FILE) if entry.port is not None else None
        out[key] = {"nanogpt": ng, "port": port}
    return out


# the small model check_all binds every table against (two layers and heads, so "the
# previous layer" and "another head" exist)
_CHECK_SHAPE = ModelShape(block_size=8, vocab_size=5, n_layer=2, n_head=2, n_embd=8)


def check_all(nanogpt_text: str | None, port_sources: Mapping[str, str] | str | None = None,
              config: Any = None) -> dict[str, dict[str, Snippet | None]]:
    """Resolve every catalogue entry and every variable table; raise one SelectorError
    listing each key/selector that matches nothing or more than one place.

    nanoGPT refs are checked only when ``nanogpt_text`` is given. Returns what
    ``resolve_all`` returns.
    """
    port_text = _port_text(port_sources)
    texts = {"port": port_text, "nanogpt": nanogpt_text}
    files = {"port": PORT_FILE, "nanogpt": NANOGPT_FILE}
    errors: list[str] = []
    resolved: dict[str, dict[str, Snippet | None]] = {}
    for key in CATALOGUE:
        try:
            resolved.update(resolve_all(nanogpt_text, port_text, keys=[key]))
        except SelectorError as exc:
            errors.append(str(exc))
    model = ModelShape.from_config(config) if config is not None else _CHECK_SHAPE
    shapes = model.trace_shapes(1, min(4, model.block_size))
    # every variable and weight name binds in its function, for each layer norm a step may be about
    tables = (("variables", VARS, bind, lambda ctx: _describer(model, shapes, ctx)),
              ("weights", WEIGHTS, bind_weights, lambda ctx: _weights_describer(model, ctx, strict=True)))
    for kind, table, binder, describer in tables:
        for (source, symbol), specs in table.items():
            if texts[source] is None:
                continue
            for norm in ("ln_1", "ln_2", "ln_f"):
                describe = describer(_context(model, 0, norm, {}))
                try:
                    snippet = resolve(CodeRef(source, symbol), texts[source], files[source])
                    binder(snippet, specs, describe)
                except SelectorError as exc:
                    errors.append(f"{kind} of {source}:{symbol}: {exc}")
                    break
    if errors:
        raise SelectorError(f"{len(errors)} code reference(s) do not resolve:\n  " + "\n  ".join(errors))
    return resolved


# ----------------------------------------------------------------------------
# what the page gets


def annotate_snippet(snippet: Snippet, config: Any, T: int, *, layer: int = 0, norm: str = "ln_1",
                     context: Mapping[str, str] | None = None, B: int = 1) -> Snippet:
    """``snippet`` with its variables bound to this model's trace names and shapes, and
    its weights (``self.c_fc``, ...) to this model's parameter blocks."""
    specs = VARS.get((snippet.source, snippet.symbol), [])
    weights = WEIGHTS.get((snippet.source, snippet.symbol), [])
    if not specs and not weights:
        return snippet
    model = ModelShape.from_config(config)
    ctx = _context(model, layer, norm, context or {})
    if specs:
        snippet = bind(snippet, specs, _describer(model, model.trace_shapes(B, T), ctx))
    if weights:
        snippet = bind_weights(snippet, weights, _weights_describer(model, ctx))
    return snippet


def _jsonable_var(v: dict) -> dict:
    return {"name": v["name"], "block": v.get("block"), "blocks": list(v.get("blocks", [])),
            "shape": list(v["shape"]) if v.get("shape") is not None else None,
            "shape_from": v.get("shape_from"), "keepdims": bool(v.get("keepdims")),
            "lines": list(v["lines"])}


def _jsonable_weights(w: dict) -> dict:
    return {"name": w["name"], "block": w.get("block"), "blocks": list(w.get("blocks", [])),
            "params": list(w.get("params", [])),
            "shapes": [list(s) for s in w.get("shapes", [])], "lines": list(w["lines"])}


def step_code(keys: Sequence[str], config: Any, T: int,
              resolved: Mapping[str, Mapping[str, Snippet | None]], *, layer: int = 0,
              norm: str = "ln_1", B: int = 1, lang: str = "en") -> list[dict]:
    """The code panel of one step: for each key, its nanoGPT snippet then ours, as JSON-ready dicts.

    Each dict: ``key, title, source ("nanogpt"|"port"), file, symbol, role,
    lines [first, last], text, html, collapsed (init refs), url (GitHub link for
    pinned nanoGPT, else None), vars [{name, block, blocks, shape, shape_from,
    keepdims, lines}], weights [{name, block, blocks, params, shapes, lines}],
    notes [{line, note}], outline, focus``: ``outline`` is, for an ``"outline"`` ref, the
    class's lines to show (``classes.outline``), else None; ``focus`` the lines the
    snippet is about, for the panel to mark (``_focus``). A ``"config"`` ref has this
    model's value noted beside each field. A snippet already listed for an earlier key of
    the same step is not repeated. Titles and notes are in ``lang`` (``llmviz.locales``).
    """
    words = catalogue(lang)
    out: list[dict] = []
    seen: set[tuple] = set()
    for key in keys:
        if key not in CATALOGUE:
            raise KeyError(f"no code reference {key!r}; known keys: {', '.join(sorted(CATALOGUE))}")
        entry = CATALOGUE[key]
        for source in ("nanogpt", "port"):
            snippet = resolved[key][source]
            if snippet is None:
                continue
            ident = (snippet.source, snippet.file, snippet.lines)
            if ident in seen:
                continue
            seen.add(ident)
            bound = annotate_snippet(snippet, config, T, layer=layer, norm=norm,
                                     context=entry.context, B=B)
            if snippet.role == "config":
                bound.notes = {**bound.notes, **config_notes(snippet, config, lang)}
            outline = classes.outline(snippet) if snippet.role == "outline" else None
            out.append({
                "key": key, "title": words.text(f"code.title.{key}"), "source": source, "file": snippet.file,
                "symbol": snippet.symbol, "role": snippet.role,
                "lines": [snippet.lines[0], snippet.lines[1]], "text": snippet.text,
                "html": highlight(bound), "collapsed": snippet.role == "init",
                "url": snippet.url,
                "vars": [_jsonable_var(v) for v in bound.vars],
                "weights": [_jsonable_weights(w) for w in bound.weights],
                "notes": [{"line": line, "note": note} for line, note in bound.notes.items()],
                "outline": outline["shown"] if outline else None,
                "focus": _focus(snippet, outline),
            })
    return out


def _focus(snippet: Snippet, outline: dict | None) -> list[int]:
    """The lines a snippet is about, to mark: all of a compact or excerpt one, a config's
    fields, an outline's ``def forward`` lines; none of a whole function or ``__init__``."""
    if snippet.role in ("compact", "excerpt"):
        return list(range(snippet.lines[0], snippet.lines[1] + 1))
    if snippet.role == "config":
        return sorted(classes.field_lines(snippet))
    if outline:
        return list(outline["focus"])
    return []


# fields of nanoGPT's GPTConfig that our inference-only config leaves out
_TRAINING_ONLY = {"dropout": "code.note.training_only"}


def config_notes(snippet: Snippet, config: Any, lang: str = "en") -> dict[int, str]:
    """``{line: "this model: 11"}`` beside each field of a ``GPTConfig`` snippet: the loaded
    model's value (``config``), never a number typed here; the words in ``lang``."""
    words = catalogue(lang)
    def value(name: str) -> Any:
        if isinstance(config, Mapping):
            return config.get(name, _MISSING)
        return getattr(config, name, _MISSING)

    notes = {}
    for line, name in classes.field_lines(snippet).items():
        v = value(name)
        if v is not _MISSING:
            notes[line] = words.text("code.note.this_model", value=repr(v))
        elif name in _TRAINING_ONLY:
            notes[line] = words.text(_TRAINING_ONLY[name])
    return notes


_MISSING = object()


# ----------------------------------------------------------------------------
# resolved snippets as data, for the page to bind shapes for another input length

_SNIPPET_FIELDS = ("source", "file", "symbol", "role", "text", "selector", "url")


def to_json(resolved: Mapping[str, Mapping[str, Snippet | None]]) -> dict:
    """The resolved catalogue as JSON-ready data: ``{"version": 1, "snippets": {key:
    {"nanogpt": {...} | None, "port": {...}}}`` (each with its pygments ``tokens``, ``annotate.lex``:
    the page highlights without pygments), ``"scopes": {"source:symbol": {"first", "text"}}}``.

    Scopes are the functions that have a variable or weights table (without their
    comments), so ``from_json`` + ``step_code`` work without the source files (in
    the page, for a new T).
    """
    snippets: dict[str, dict] = {}
    scopes: dict[str, dict] = {}
    for key, pair in resolved.items():
        snippets[key] = {}
        for source, snip in pair.items():
            if snip is None:
                snippets[key][source] = None
                continue
            item = {f: getattr(snip, f) for f in _SNIPPET_FIELDS}
            item["lines"] = [snip.lines[0], snip.lines[1]]
            item["tokens"] = [list(t) for t in (snip.tokens if snip.tokens is not None else lex(snip))]
            snippets[key][source] = item
            scope_key = f"{snip.source}:{snip.symbol}"
            bound = (snip.source, snip.symbol) in VARS or (snip.source, snip.symbol) in WEIGHTS
            if bound and scope_key not in scopes:
                first, text = scope_of(snip)
                scopes[scope_key] = {"first": first, "text": _without_comments(text)}
    return {"version": 1, "snippets": snippets, "scopes": scopes}


def _without_comments(text: str) -> str:
    """``text`` with its comments cut off (lines and columns of the code unchanged): a
    scope is only parsed, never shown, and a comment may hold a link to elsewhere."""
    import io
    import tokenize

    lines = text.split("\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return text
    for tok in reversed(tokens):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col].rstrip()
    return "\n".join(lines)


def from_json(data: Mapping) -> dict[str, dict[str, Snippet | None]]:
    """The inverse of ``to_json``: snippets ``step_code`` can use."""
    if data.get("version") != 1:
        raise ValueError(f"unknown code-refs data version {data.get('version')!r}")
    out: dict[str, dict[str, Snippet | None]] = {}
    for key, pair in data["snippets"].items():
        out[key] = {}
        for source, item in pair.items():
            if item is None:
                out[key][source] = None
                continue
            tokens = item.get("tokens")
            snip = Snippet(lines=(item["lines"][0], item["lines"][1]),
                           tokens=tuple((str(c), str(v)) for c, v in tokens) if tokens is not None else None,
                           **{f: item[f] for f in _SNIPPET_FIELDS})
            scope = data["scopes"].get(f"{snip.source}:{snip.symbol}")
            if scope is not None:
                snip = with_scope(snip, scope["first"], scope["text"])
            out[key][source] = snip
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m llmviz.codepanel.code_refs [--nanogpt PATH]``: check every code reference."""
    import argparse

    from llmviz.codepanel.nanogpt_source import get_source

    parser = argparse.ArgumentParser(prog="python -m llmviz.codepanel.code_refs", description=main.__doc__)
    parser.add_argument("--nanogpt", help="nanoGPT checkout or its model.py (default: "
                        "$LLMVIZ_NANOGPT, the .cache download, or a download)")
    args = parser.parse_args(argv)
    text, info = get_source(args.nanogpt)
    print(info["message"])
    try:
        resolved = check_all(text)
    except SelectorError as exc:
        print(exc)
        return 1
    n_ng = sum(1 for pair in resolved.values() if pair["nanogpt"] is not None)
    n_port = sum(1 for pair in resolved.values() if pair["port"] is not None)
    print(f"{len(resolved)} code references resolve: {n_port} in {PORT_FILE}, "
          f"{n_ng} in nanoGPT's {NANOGPT_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
