"""The shape of a nanoGPT model: every name and size one config implies, in one place.

Pure Python (no numpy), so the page can ask it before numpy is loaded.

``ModelShape.from_config(config)`` takes a ``GPTConfig``, any object with its fields or
a dict (``bias`` defaults to True, ``gelu`` to "erf"), checks that the sizes fit
together (a ValueError says which does not), and answers for that model:

* the config as a plain dict (``to_dict``) and the sizes the commentary names
  (``dims``: C, T, block_size, n_layer, nh, hs, V, 3C, 4C);
* its modules and parameters under nanoGPT's state-dict names (``modules``,
  ``param_names``, ``param_shapes``, ``param_shape``, ``param_info``), how many numbers
  they hold (``param_count``) and whether a state dict fits them (``match_state_dict``);
* the tensors one forward pass traces, and their shapes (``trace_shapes``, the table below);
* the per-head tensors (``PER_HEAD``, ``head_kind``, ``scene_ids``), how the rows of
  c_attn split into q, k, v and heads (``c_attn_rows``, ``c_attn_split``), and every
  block id of the scene contract (``blocks``, ``block_ids``);
* which layer and head the walkthrough may follow (``follow``, ``follow_limits``).

Names. nanoGPT keeps the embeddings, the blocks and the final layer norm in a
``transformer`` ModuleDict, so their state-dict names start with ``transformer.``;
``lm_head`` sits outside it. The *full* name is the state-dict name
(``transformer.h.0.mlp.c_fc.weight``), the *short* name drops the prefix
(``h.0.mlp.c_fc.weight``, the scene's block id); ``full_name`` and ``short_name``
convert, ``lookup_param`` finds a parameter under either.

Traced tensors, as ``GPT.trace`` stores them (C = n_embd, nh = n_head, hs = C // nh,
V = vocab_size):

=========================  =================  =======================================
name                       shape              what it is
=========================  =================  =======================================
idx                        (B, T)             token indices (int64)
tok_emb                    (B, T, C)          wte rows of the tokens
pos_emb                    (T, C)             wpe rows of the positions
x                          (B, T, C)          tok_emb + pos_emb: the residual stream
h.{i}.ln_1                 (B, T, C)          layer norm before attention
h.{i}.ln_1.mean / .rstd    (B, T)             its per-position mean and 1/sqrt(var+eps)
h.{i}.attn.qkv             (B, T, 3C)         c_attn(ln_1): q, k, v side by side
h.{i}.attn.q / .k / .v     (B, nh, T, hs)     split into heads
h.{i}.attn.scores          (B, nh, T, T)      q @ k^T / sqrt(hs), before the causal mask
h.{i}.attn.att.max / .sum  (B, nh, T)         each masked row's max and sum of exp(row - max)
h.{i}.attn.att             (B, nh, T, T)      softmax of the masked scores
h.{i}.attn.head_out        (B, nh, T, hs)     att @ v, per head
h.{i}.attn.y               (B, T, C)          the heads reassembled side by side
h.{i}.attn.out             (B, T, C)          c_proj(y)
h.{i}.x_attn               (B, T, C)          residual after attention: x + attn.out
h.{i}.ln_2                 (B, T, C)          layer norm before the MLP (+ .mean, .rstd)
h.{i}.mlp.fc               (B, T, 4C)         c_fc(ln_2)
h.{i}.mlp.gelu             (B, T, 4C)         GELU(fc)
h.{i}.mlp.out              (B, T, C)          c_proj(gelu)
h.{i}.x                    (B, T, C)          block output: x_attn + mlp.out
ln_f                       (B, T, C)          final layer norm (+ .mean, .rstd)
logits                     (B, T, V)          lm_head(ln_f), every position
probs.max / probs.sum      (B, T)             softmax aggregates of the logits
probs                      (B, T, V)          softmax(logits)
=========================  =================  =======================================
"""
from __future__ import annotations

import dataclasses
import operator
from functools import cached_property
from math import prod
from typing import Any, Mapping, NamedTuple

CONFIG_FIELDS = ("block_size", "vocab_size", "n_layer", "n_head", "n_embd", "bias", "gelu")
SIZE_FIELDS = CONFIG_FIELDS[:5]            # the fields a config must give (the others default)
_DEFAULTS = {"bias": True, "gelu": "erf"}
GELU_FORMS = ("erf", "tanh")   # nanoGPT's nn.GELU() (erf); GPT-2's and minGPT's form (tanh)

PREFIX = "transformer."
# the tensors of an attention layer that have a head axis: one scene block per head
PER_HEAD = ("q", "k", "v", "scores", "att", "att.max", "att.sum", "head_out")
QKV = "qkv"                    # the order of q, k and v in c_attn's rows

# what a state dict may hold besides the parameters
_COMPILE_PREFIX = "_orig_mod."                           # torch.compile's wrapper
_BUFFER_SUFFIXES = (".attn.bias", ".attn.masked_bias")   # nanoGPT's, minGPT's and HF's masks
_HEAD, _WTE = "lm_head.weight", PREFIX + "wte.weight"    # the output head, tied to wte


class WeightsError(ValueError):
    """The weights or their card do not fit the model; the message names the key."""


# ----------------------------------------------------------------------------
# names

def short_name(name: str) -> str:
    """``transformer.h.0.ln_1.weight`` -> ``h.0.ln_1.weight`` (other names unchanged)."""
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def full_name(name: str) -> str:
    """``h.0.ln_1.weight`` -> ``transformer.h.0.ln_1.weight``; ``lm_head`` (outside
    nanoGPT's ``transformer``) and names that already have the prefix stay as they are."""
    if name.startswith(PREFIX) or name.split(".", 1)[0] == "lm_head":
        return name
    return PREFIX + name


def lookup_param(params: Mapping, name: str):
    """A parameter of a state dict by its full or short name, whichever the dict uses."""
    for key in (name, full_name(name), short_name(name)):
        if key in params:
            return params[key]
    raise KeyError(f"no parameter {name!r} in the state dict")


def head_kind(trace_name: str) -> str | None:
    """``'att.max'`` for ``'h.0.attn.att.max'``; None for a tensor without a head axis."""
    if trace_name.startswith("h.") and ".attn." in trace_name:
        kind = trace_name.split(".attn.", 1)[1]
        if kind in PER_HEAD:
            return kind
    return None


class Param(NamedTuple):
    """One parameter: its state-dict name and where it sits in the model."""
    name: str                 # full state-dict name: "transformer.h.0.mlp.c_fc.weight"
    module: str               # full module name: "transformer.h.0.mlp.c_fc"
    local: str                # the module inside its layer ("mlp.c_fc"), or its name ("wte")
    layer: int | None         # the block it belongs to, None outside the blocks
    attr: str                 # "weight" or "bias"
    kind: str                 # the module's class: "Embedding", "LayerNorm" or "Linear"
    shape: tuple[int, ...]

    @property
    def short(self) -> str:
        return short_name(self.name)


class Block(NamedTuple):
    """One block of the scene contract and the tensor (or slice of it) it shows."""
    id: str                          # "h.0.attn.q[1]", "h.0.attn.c_attn.k.weight[1]", "x"
    trace: str | None = None         # the trace tensor, for an activation
    param: str | None = None         # the parameter's full name, for a weight
    head: int | None = None          # the head, for per-head blocks and c_attn slices
    kind: str | None = None          # "q", "k" or "v", for c_attn slices
    rows: tuple[int, int] | None = None   # c_attn slices: rows r0..r1-1 of the parameter


# ----------------------------------------------------------------------------
# the shape

_INTERNED: dict = {}


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """The sizes of one nanoGPT GPT, and every name and shape that follows from them."""
    block_size: int
    vocab_size: int
    n_layer: int
    n_head: int
    n_embd: int
    bias: bool = True   # bias in the Linears (but lm_head) and the LayerNorms, like GPT-2
    gelu: str = "erf"

    def __post_init__(self):
        for name in SIZE_FIELDS:
            value = getattr(self, name)
            try:
                size = operator.index(value)
            except TypeError:
                size = 0
            if isinstance(value, bool) or size < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, size)
        object.__setattr__(self, "bias", bool(self.bias))
        if self.gelu not in GELU_FORMS:
            raise ValueError(f"gelu must be 'erf' or 'tanh', got {self.gelu!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")

    @classmethod
    def from_config(cls, config: Any) -> "ModelShape":
        """The shape of a GPTConfig, of any object with its fields, or of a dict."""
        if isinstance(config, ModelShape):
            return config
        if isinstance(config, Mapping):
            get = config.get
        else:
            def get(name, default=None):
                return getattr(config, name, default)
        values = {}
        for name in CONFIG_FIELDS:
            value = get(name, None)
            if value is None:
                if name not in _DEFAULTS:
                    raise ValueError(f"the config has no {name!r}; give a GPTConfig or a dict with "
                                     f"{', '.join(CONFIG_FIELDS)}")
                value = _DEFAULTS[name]
            values[name] = value
        shape = cls(**values)
        if len(_INTERNED) > 64:
            _INTERNED.clear()
        return _INTERNED.setdefault(shape, shape)   # one instance per config keeps its caches

    def to_dict(self) -> dict:
        """The GPTConfig fields, as a plain dict."""
        return {name: getattr(self, name) for name in CONFIG_FIELDS}

    # -- sizes ------------------------------------------------------------------

    @property
    def C(self) -> int:
        return self.n_embd

    @property
    def nh(self) -> int:
        return self.n_head

    @property
    def hs(self) -> int:
        """The head size, C // nh."""
        return self.n_embd // self.n_head

    @property
    def V(self) -> int:
        return self.vocab_size

    def dims(self, T: int | None = None) -> dict[str, int]:
        """The named sizes the commentary and the code panel talk about (T: the input length,
        block_size by default)."""
        C, nh = self.n_embd, self.n_head
        return {"C": C, "T": self.block_size if T is None else T, "block_size": self.block_size,
                "n_layer": self.n_layer, "n_head": nh, "nh": nh, "hs": C // nh,
                "V": self.vocab_size, "vocab_size": self.vocab_size, "3C": 3 * C, "4C": 4 * C}

    # -- modules and parameters -------------------------------------------------

    @cached_property
    def _params(self) -> dict[str, Param]:
        C, V, bias = self.n_embd, self.vocab_size, self.bias
        out: dict[str, Param] = {}

        def add(local: str, layer: int | None, kind: str, shapes: dict) -> None:
            module = full_name(local if layer is None else f"h.{layer}.{local}")
            for attr, shape in shapes.items():
                out[f"{module}.{attr}"] = Param(f"{module}.{attr}", module, local, layer, attr, kind, shape)

        def layer_norm(local: str, layer: int | None = None) -> None:
            add(local, layer, "LayerNorm", {"weight": (C,), **({"bias": (C,)} if bias else {})})

        def linear(local: str, layer: int | None, n_in: int, n_out: int, has_bias: bool = bias) -> None:
            add(local, layer, "Linear", {"weight": (n_out, n_in), **({"bias": (n_out,)} if has_bias else {})})

        # nanoGPT's GPT.__init__, in its order (the state dict's order)
        add("wte", None, "Embedding", {"weight": (V, C)})
        add("wpe", None, "Embedding", {"weight": (self.block_size, C)})
        for i in range(self.n_layer):
            layer_norm("ln_1", i)
            linear("attn.c_attn", i, C, 3 * C)
            linear("attn.c_proj", i, C, C)
            layer_norm("ln_2", i)
            linear("mlp.c_fc", i, C, 4 * C)
            linear("mlp.c_proj", i, 4 * C, C)
        layer_norm("ln_f")
        linear("lm_head", None, C, V, has_bias=False)
        return out

    def modules(self) -> list[str]:
        """The full names of the modules that hold parameters, in nanoGPT's order."""
        return list(dict.fromkeys(p.module for p in self._params.values()))

    def param_names(self, short: bool = False) -> list[str]:
        """The state-dict names, in nanoGPT's order (``short``: without ``transformer.``)."""
        return [p.short if short else p.name for p in self._params.values()]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """{full state-dict name: shape}, in nanoGPT's order; lm_head included."""
        return {name: p.shape for name, p in self._params.items()}

    def param_info(self, name: str) -> Param:
        """A parameter by its full or short name; KeyError for a name this model lacks."""
        try:
            return self._params[full_name(name)]
        except KeyError:
            raise KeyError(f"this model has no parameter {name!r}") from None

    def param_shape(self, name: str) -> tuple[int, ...]:
        return self.param_info(name).shape

    def param_count(self, tied: bool = True) -> int:
        """How many numbers the weights hold, wpe included.

        ``tied``: lm_head shares wte's matrix (nanoGPT ties them), so it is counted once,
        as nanoGPT's ``get_num_params`` does. That function, by default
        (``non_embedding=True``, the number nanoGPT prints), also leaves out the position
        embeddings wpe; this count keeps them, like ``non_embedding=False`` and like the
        "124M" of GPT-2 small (124,439,808). ``tied=False`` counts lm_head as well.
        """
        n = sum(prod(p.shape) for p in self._params.values())
        return n - prod(self.param_shape(_HEAD)) if tied else n

    def match_state_dict(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """``state``'s values under this model's parameter names, in nanoGPT's order.

        Strips torch.compile's ``_orig_mod.`` prefix, drops attention-mask buffers, and
        ties ``lm_head.weight`` to ``transformer.wte.weight`` (the same object) when it is
        absent. A name this model lacks, a parameter missing, or a shape (``.shape``) that
        differs is a WeightsError naming the key. The values themselves are not checked.
        """
        expected = self.param_shapes()
        cleaned: dict[str, Any] = {}
        for key, value in state.items():
            name = key[len(_COMPILE_PREFIX):] if key.startswith(_COMPILE_PREFIX) else key
            if name.endswith(_BUFFER_SUFFIXES) and name not in expected:
                continue
            cleaned[name] = value
        if _HEAD not in cleaned and _WTE in cleaned:
            cleaned[_HEAD] = cleaned[_WTE]
        unexpected = sorted(set(cleaned) - set(expected))
        if unexpected:
            raise WeightsError(f"unexpected key {unexpected[0]!r} in the state dict"
                               + (f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""))
        out: dict[str, Any] = {}
        for name, want in expected.items():
            if name not in cleaned:
                raise WeightsError(f"missing key {name!r} in the state dict")
            have = tuple(getattr(cleaned[name], "shape", ()))
            if have != want:
                raise WeightsError(f"key {name!r} has shape {have}, expected {want}")
            out[name] = cleaned[name]
        return out

    # -- the trace --------------------------------------------------------------

    def trace_shapes(self, B: int = 1, T: int | None = None) -> dict[str, tuple[int, ...]]:
        """The name and shape of every traced tensor, in forward order (T: block_size by default)."""
        T = self.block_size if T is None else T
        C, nh, hs, V = self.n_embd, self.n_head, self.hs, self.vocab_size

        def layer_norm(name: str) -> dict:
            return {name + ".mean": (B, T), name + ".rstd": (B, T), name: (B, T, C)}

        shapes: dict[str, tuple[int, ...]] = {
            "idx": (B, T), "tok_emb": (B, T, C), "pos_emb": (T, C), "x": (B, T, C),
        }
        for i in range(self.n_layer):
            p = f"h.{i}."
            shapes.update(layer_norm(p + "ln_1"))
            shapes.update({
                p + "attn.qkv": (B, T, 3 * C),
                p + "attn.q": (B, nh, T, hs), p + "attn.k": (B, nh, T, hs), p + "attn.v": (B, nh, T, hs),
                p + "attn.scores": (B, nh, T, T),
                p + "attn.att.max": (B, nh, T), p + "attn.att.sum": (B, nh, T),
                p + "attn.att": (B, nh, T, T),
                p + "attn.head_out": (B, nh, T, hs),
                p + "attn.y": (B, T, C), p + "attn.out": (B, T, C),
                p + "x_attn": (B, T, C),
            })
            shapes.update(layer_norm(p + "ln_2"))
            shapes.update({
                p + "mlp.fc": (B, T, 4 * C), p + "mlp.gelu": (B, T, 4 * C), p + "mlp.out": (B, T, C),
                p + "x": (B, T, C),
            })
        shapes.update(layer_norm("ln_f"))
        shapes.update({"logits": (B, T, V), "probs.max": (B, T), "probs.sum": (B, T), "probs": (B, T, V)})
        return shapes

    # -- heads and blocks -------------------------------------------------------

    def scene_ids(self, trace_name: str | None) -> list[str]:
        """The scene block ids that draw a trace tensor: a per-head tensor is one block per head."""
        if not trace_name:
            return []
        if head_kind(trace_name):
            return [f"{trace_name}[{h}]" for h in range(self.n_head)]
        return [trace_name]

    def c_attn_rows(self, kind: str, head: int | None = None) -> tuple[int, int]:
        """The rows r0..r1-1 of c_attn's weight (and bias) that make ``kind`` ("q", "k" or
        "v") of one head, or of all heads when ``head`` is None."""
        r0 = QKV.index(kind) * self.n_embd
        if head is None:
            return r0, r0 + self.n_embd
        return r0 + head * self.hs, r0 + (head + 1) * self.hs

    def c_attn_split(self, row: int) -> tuple[str, int, int]:
        """A row of c_attn as (kind, head, feature within the head): the inverse of ``c_attn_rows``."""
        k, rest = divmod(row, self.n_embd)
        head, d = divmod(rest, self.hs)
        return QKV[k], head, d

    @cached_property
    def _blocks(self) -> tuple[Block, ...]:
        out = []
        for name in self.trace_shapes(1, 1):
            if name.endswith(".attn.qkv"):
                continue  # drawn as its q, k and v blocks
            if head_kind(name):
                out += [Block(f"{name}[{h}]", trace=name, head=h) for h in range(self.n_head)]
            else:
                out.append(Block(name, trace=name))
        for p in self._params.values():
            if p.local == "attn.c_attn":   # one block per head and kind
                layer = f"h.{p.layer}.attn.c_attn"
                out += [Block(f"{layer}.{kind}.{p.attr}[{h}]", param=p.name, head=h, kind=kind,
                              rows=self.c_attn_rows(kind, h))
                        for h in range(self.n_head) for kind in QKV]
            else:
                out.append(Block(p.short, param=p.name))
        return tuple(out)

    def blocks(self) -> list[Block]:
        """Every block of the scene contract: the trace tensors in forward order (per-head
        ones split by head, ``attn.qkv`` shown as q, k, v), then the parameters in nanoGPT's
        order (c_attn split by head and kind); ``llmviz.viz.layout`` draws exactly these."""
        return list(self._blocks)

    def block_ids(self) -> set[str]:
        """The ids of ``blocks()``: every block id a step may name."""
        return {b.id for b in self._blocks}

    # -- what the walkthrough may follow ------------------------------------------

    def follow_limits(self) -> dict[str, int]:
        """How many layers and heads there are to choose from."""
        return {"layer": self.n_layer, "head": self.n_head}

    def follow(self, follow: Any = None) -> dict[str, int]:
        """The layer and head to zoom into, ``{"layer": L, "head": h}``, from a caller's
        choice (a dict with either key; None or a missing key: 0). Whole numbers written as
        strings or floats are accepted; anything out of range, or not a whole number, is a
        ValueError that says what this model has."""
        out = {"layer": 0, "head": 0}
        if follow is None:
            return out
        if not isinstance(follow, dict):
            raise ValueError(f"follow must be {{'layer': L, 'head': h}}, not {follow!r}")
        limits = self.follow_limits()
        for key, value in follow.items():
            if key not in limits:
                raise ValueError(f"follow takes 'layer' and 'head', not {key!r}")
            if value is None:
                continue
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            n = limits[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
                raise ValueError(f"this model has {n} {key}{'s' if n != 1 else ''} (0..{n - 1}); "
                                 f"{key} {value!r} is not one of them")
            out[key] = value
        return out
