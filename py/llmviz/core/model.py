"""A numpy port of nanoGPT's GPT (``model.py``), for inference, with a trace.

The classes, their order and their ``forward`` methods follow nanoGPT's file line
by line, so the two can be read side by side: ``LayerNorm``,
``CausalSelfAttention``, ``MLP``, ``Block``, ``GPTConfig``, ``GPT``. Everything is
float32. Dropout is left out (inference only); attention is nanoGPT's "manual"
branch (the one it uses when flash attention is unavailable), because that is the
one whose intermediate tensors we want to show.

Every ``forward`` takes an optional ``trace`` dict. When one is given, the module
stores the tensors the visualisation shows under their nanoGPT module paths; the
full list of names and shapes is in ``llmviz.core.shape``, which also names the
parameters: ``state_dict`` walks its list, so the two cannot drift apart.

One addition nanoGPT does not have: a ``KVCache``. nanoGPT's ``generate`` runs the
whole (cropped) context through the model for every new token; with a cache,
``GPT.forward(idx_new, cache=cache)`` runs only the new positions, their queries
attending to the keys and values the cache kept from the earlier ones (the causal
mask means those never change). The logits, and every traced tensor of the new
positions, are the ones a full forward pass computes. Past ``block_size`` the context
is cropped and every position moves, so ``generate`` falls back to a full forward.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from llmviz.core.shape import ModelShape, WeightsError
from llmviz.core.trace import Trace, keep

DTYPE = np.float32
# Pyodide's numpy (the page's) has no BLAS: there einsum computes a Linear's x @ W.T 2.3x faster
# than matmul (5.8 against 2.5 GFLOP/s); with BLAS (CPython's numpy) matmul is far faster
NO_BLAS = sys.platform == "emscripten"


def numpy_matmul(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x @ weight.T, the fastest way this numpy has (see NO_BLAS)."""
    if NO_BLAS:   # the same sums in another order
        return np.einsum("...i,oi->...o", x, weight)
    return x @ weight.T


# what Linear uses for x @ W.T, and attention for its two products of stacked matrices
# (q @ k^T, att @ v): the page's model worker puts faster ones here (llmviz.page.wasm_matmul,
# a wasm SIMD kernel) when the browser runs it
_matmul = numpy_matmul
_product = np.matmul


def use_matmul(matmul=None, product=None) -> None:
    """Make every Linear compute x @ W.T with ``matmul(x, weight)`` and attention a @ b with
    ``product(a, b)`` (None: numpy's again)."""
    global _matmul, _product
    _matmul = matmul or numpy_matmul
    _product = product or np.matmul


# ----------------------------------------------------------------------------
# the functional pieces nanoGPT takes from torch (F.layer_norm, F.softmax, ...)

def _erfc(x: np.ndarray) -> np.ndarray:
    """erfc in float64, vectorised, no SciPy (Chebyshev fit, relative error < 1.2e-7)."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = (-1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    r = t * np.exp(-z * z + poly)
    return np.where(x >= 0, r, 2.0 - r)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf, vectorised, |error| < 1.2e-7 (computed in float64, returned in x's dtype)."""
    return (1.0 - _erfc(x.astype(np.float64))).astype(x.dtype)


def gelu(x: np.ndarray, approximate: str = "erf") -> np.ndarray:
    """GELU: the exact erf form (nanoGPT's nn.GELU()) or GPT-2's tanh form."""
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(DTYPE(math.sqrt(2.0 / math.pi)) * (x + DTYPE(0.044715) * x ** 3)))
    # 0.5 * x * (1 + erf(x / sqrt 2)), written with erfc so both tails keep their precision
    x64 = x.astype(np.float64)
    return (0.5 * x64 * _erfc(-x64 * (1.0 / math.sqrt(2.0)))).astype(x.dtype)


def softmax(x: np.ndarray, axis: int = -1, trace: dict | None = None, name: str = "") -> np.ndarray:
    """Softmax along ``axis``; traces the row max and the sum of exponentials."""
    x_max = x.max(axis=axis, keepdims=True)
    exps = np.exp(x - x_max)
    exps_sum = exps.sum(axis=axis, keepdims=True)
    keep(trace, name + ".max", x_max[..., 0])
    keep(trace, name + ".sum", exps_sum[..., 0])
    return exps / exps_sum


class Linear:
    """nn.Linear: y = x @ W.T + b, with W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        self.weight = np.zeros((out_features, in_features), DTYPE)
        self.bias = np.zeros(out_features, DTYPE) if bias else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = _matmul(x, self.weight)   # x @ W.T
        if self.bias is not None:
            y += self.bias
        return y


class Embedding:
    """nn.Embedding: a lookup of rows of ``weight`` by index."""

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.weight = np.zeros((num_embeddings, embedding_dim), DTYPE)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        return self.weight[idx]


# ----------------------------------------------------------------------------
# the model, in nanoGPT's order

class LayerNorm:
    """LayerNorm with an optional bias (eps 1e-5), as in nanoGPT."""

    def __init__(self, ndim: int, bias: bool, name: str = ""):
        self.weight = np.ones(ndim, DTYPE)
        self.bias = np.zeros(ndim, DTYPE) if bias else None
        self.name = name

    def forward(self, input: np.ndarray, trace: dict | None = None) -> np.ndarray:
        mean = input.mean(axis=-1, keepdims=True)                       # (B, T, 1)
        var = ((input - mean) ** 2).mean(axis=-1, keepdims=True)        # (B, T, 1)
        rstd = 1.0 / np.sqrt(var + DTYPE(1e-5))                         # (B, T, 1)
        out = (input - mean) * rstd * self.weight                       # (B, T, C)
        if self.bias is not None:
            out += self.bias
        keep(trace, self.name + ".mean", mean[..., 0])
        keep(trace, self.name + ".rstd", rstd[..., 0])
        return keep(trace, self.name, out)

    __call__ = forward


class CausalSelfAttention:

    def __init__(self, config: "GPTConfig", name: str = ""):
        # key, query, value projections for all heads, in one matrix
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        # causal mask: position t may only look at positions 0..t
        self.bias = np.tril(np.ones((config.block_size, config.block_size), bool))[None, None]
        self.name = name

    def forward(self, x: np.ndarray, trace: dict | None = None, cache: "LayerCache | None" = None) -> np.ndarray:
        B, T, C = x.shape  # batch size, sequence length, embedding dimensionality (n_embd)
        n = self.name

        # query, key, value for all heads at once, then the head becomes a batch dim
        qkv = keep(trace, n + ".qkv", self.c_attn(x))                  # (B, T, 3C)
        q, k, v = np.split(qkv, 3, axis=2)                              # 3 x (B, T, C)
        k = k.reshape(B, T, self.n_head, C // self.n_head).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
        q = q.reshape(B, T, self.n_head, C // self.n_head).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
        v = v.reshape(B, T, self.n_head, C // self.n_head).transpose(0, 2, 1, 3)  # (B, nh, T, hs)
        keep(trace, n + ".q", q), keep(trace, n + ".k", k), keep(trace, n + ".v", v)
        # with a KV cache (the port's addition): the T new positions come after t0 cached ones,
        # whose keys and values are used as they are (the causal mask keeps them unchanged)
        t0 = 0 if cache is None else cache.length
        if cache is not None:
            k, v = cache.extend(k, v)                                   # (B, nh, t0 + T, hs)

        # causal self-attention: (B, nh, T, hs) x (B, nh, hs, t0 + T) -> (B, nh, T, t0 + T)
        att = _product(q, k.transpose(0, 1, 3, 2)) * DTYPE(1.0 / math.sqrt(k.shape[-1]))   # q @ k^T
        keep(trace, n + ".scores", att)
        att = np.where(self.bias[:, :, t0:t0 + T, :t0 + T], att, DTYPE(-np.inf))
        att = softmax(att, axis=-1, trace=trace, name=n + ".att")
        keep(trace, n + ".att", att)
        y = _product(att, v)  # att @ v: (B, nh, T, t0 + T) x (B, nh, t0 + T, hs) -> (B, nh, T, hs)
        keep(trace, n + ".head_out", y)
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)  # re-assemble all head outputs side by side
        keep(trace, n + ".y", y)

        # output projection
        y = self.c_proj(y)
        return keep(trace, n + ".out", y)

    __call__ = forward


class MLP:

    def __init__(self, config: "GPTConfig", name: str = ""):
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.approximate = config.gelu
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.name = name

    def forward(self, x: np.ndarray, trace: dict | None = None) -> np.ndarray:
        x = keep(trace, self.name + ".fc", self.c_fc(x))                 # (B, T, 4C)
        x = keep(trace, self.name + ".gelu", gelu(x, self.approximate))  # (B, T, 4C)
        x = keep(trace, self.name + ".out", self.c_proj(x))              # (B, T, C)
        return x

    __call__ = forward


class Block:

    def __init__(self, config: "GPTConfig", name: str = ""):
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias, name=name + ".ln_1")
        self.attn = CausalSelfAttention(config, name=name + ".attn")
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias, name=name + ".ln_2")
        self.mlp = MLP(config, name=name + ".mlp")
        self.name = name

    def forward(self, x: np.ndarray, trace: dict | None = None, cache: "LayerCache | None" = None) -> np.ndarray:
        x = x + self.attn(self.ln_1(x, trace), trace, cache)
        keep(trace, self.name + ".x_attn", x)
        x = x + self.mlp(self.ln_2(x, trace), trace)
        return keep(trace, self.name + ".x", x)

    __call__ = forward


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    bias: bool = True  # True: bias in Linears and LayerNorms, like GPT-2
    gelu: str = "erf"  # "erf": nanoGPT's nn.GELU(); "tanh": GPT-2's and minGPT's form

    def __post_init__(self):
        ModelShape.from_config(self)  # a ValueError names the field that does not fit

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "GPTConfig":
        """Build a config from a dict, ignoring keys that are not ours (e.g. dropout)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class GPT:

    def __init__(self, config: GPTConfig):
        self.config = config
        self.transformer = _Namespace(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.block_size, config.n_embd),
            h=[Block(config, name=f"h.{i}") for i in range(config.n_layer)],
            ln_f=LayerNorm(config.n_embd, bias=config.bias, name="ln_f"),
        )
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.vocab = None  # the Vocab and model card, when loaded by llmviz.load
        self.card: dict | None = None

    def forward(self, idx: np.ndarray, trace: dict | None = None, cache: "KVCache | None" = None) -> np.ndarray:
        """The logits of every position of ``idx`` (b, t); with a ``cache``, ``idx`` holds only
        the positions after the ``cache.length`` ones it has seen (and the cache then has them too)."""
        idx = _as_index_batch(idx)
        b, t = idx.shape
        t0 = 0 if cache is None else cache.length
        if t0 + t > self.config.block_size:
            raise ValueError(f"Cannot forward sequence of length {t0 + t}, block size is only {self.config.block_size}")
        pos = np.arange(t0, t0 + t)  # shape (t): the positions of the new tokens

        # forward the GPT model itself
        keep(trace, "idx", idx)
        tok_emb = keep(trace, "tok_emb", self.transformer.wte(idx))  # token embeddings (b, t, n_embd)
        pos_emb = keep(trace, "pos_emb", self.transformer.wpe(pos))  # position embeddings (t, n_embd)
        x = keep(trace, "x", tok_emb + pos_emb)
        for layer in self.transformer.h:  # n_layer Blocks, in order
            x = layer(x, trace, None if cache is None else cache.layers[layer.name])
        x = self.transformer.ln_f(x, trace)

        # unlike nanoGPT's inference path, keep the logits of every position
        logits = keep(trace, "logits", self.lm_head(x))  # (b, t, vocab_size)
        if trace is not None:
            keep(trace, "probs", softmax(logits, axis=-1, trace=trace, name="probs"))
        return logits

    def __call__(self, idx) -> np.ndarray:
        return self.forward(idx)

    def trace(self, idx, cache: "KVCache | None" = None) -> Trace:
        """Run the forward pass and return every intermediate tensor, by name (with a
        ``cache``: the tensors of the new positions only, see ``llmviz.core.grow``)."""
        store: dict = {}
        self.forward(idx, trace=store, cache=cache)
        return Trace(store, self.config)

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, rng: np.random.Generator | None = None,
                 use_cache: bool = True) -> np.ndarray:
        """Append ``max_new_tokens`` tokens to ``idx`` (B, T); temperature 0 is greedy.

        With ``use_cache`` (the default) a KVCache keeps the keys and values of the context,
        so each new token is one forward pass of one position, while the context fits in
        block_size; past it, every position moves, and each token is a full forward pass of
        the cropped context, as in nanoGPT. The tokens are the same either way."""
        idx = _as_index_batch(idx)
        rng = rng if rng is not None else np.random.default_rng()
        cache = KVCache(self.config) if use_cache else None
        for _step in range(max_new_tokens):
            # crop the context to the last block_size tokens
            idx_cond = idx if idx.shape[1] <= self.config.block_size else idx[:, -self.config.block_size:]
            if cache is not None and idx.shape[1] <= self.config.block_size:
                logits = self.forward(idx_cond[:, cache.length:], cache=cache)  # the new positions only
            else:
                logits = self(idx_cond)
            logits = logits[:, -1, :].astype(np.float64)
            if temperature == 0:
                idx_next = logits.argmax(axis=-1, keepdims=True)
            else:
                logits = logits / temperature
                if top_k is not None:
                    v = np.sort(logits, axis=-1)[:, -min(top_k, logits.shape[-1])][:, None]
                    logits[logits < v] = -np.inf
                probs = softmax(logits, axis=-1)
                idx_next = np.array([[rng.choice(probs.shape[-1], p=p)] for p in probs])
            idx = np.concatenate((idx, idx_next), axis=1)
        return idx

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters under nanoGPT's state-dict names (lm_head included)."""
        return {name: getattr(module, attr) for name, module, attr in self._parameters()}

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any], config: GPTConfig) -> "GPT":
        """Build a model from nanoGPT state-dict names; any misfit raises WeightsError.

        Names and shapes are checked by ``ModelShape.match_state_dict``; every value must
        be floating point and finite, and becomes float32.
        """
        model = cls(config)
        arrays = {name: np.asarray(value) for name, value in state.items()}
        model._assign(ModelShape.from_config(config).match_state_dict(arrays))
        return model

    def _parameters(self):
        """(state-dict name, module, attribute) of every parameter, as ModelShape lists them."""
        for name in ModelShape.from_config(self.config).param_names():
            path, attr = name.rsplit(".", 1)
            module = self
            for part in path.split("."):
                module = module[int(part)] if part.isdigit() else getattr(module, part)
            yield name, module, attr

    def _assign(self, sd: Mapping[str, np.ndarray]) -> None:
        """Set every parameter from ``sd`` as float32; a tied lm_head stays wte's array."""
        done: dict[int, np.ndarray] = {}
        for name, module, attr in self._parameters():
            value = sd[name]
            if id(value) not in done:
                done[id(value)] = _float32(name, value)
            setattr(module, attr, done[id(value)])

    def num_params(self) -> int:
        """Parameters counted once each (lm_head is tied to wte in nanoGPT)."""
        tied = self.lm_head.weight is self.transformer.wte.weight
        return ModelShape.from_config(self.config).param_count(tied=tied)


class LayerCache:
    """One attention layer's keys and values (B, nh, length, hs) of the positions seen so far."""

    def __init__(self):
        self.k: np.ndarray | None = None
        self.v: np.ndarray | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else int(self.k.shape[2])

    def extend(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Append the new positions' keys and values; returns all of them."""
        if self.k is not None:
            k = np.concatenate((self.k, k), axis=2)
            v = np.concatenate((self.v, v), axis=2)
        self.k, self.v = k, v
        return k, v


class KVCache:
    """Every layer's keys and values of the positions a model has seen (``GPT.forward(...,
    cache=)``): the next forward pass needs to run only the positions after ``length``."""

    def __init__(self, config: GPTConfig):
        self.layers = {f"h.{i}": LayerCache() for i in range(config.n_layer)}   # by Block name

    @property
    def length(self) -> int:
        """How many positions the cache holds (those of its first layer; all layers agree)."""
        return next(iter(self.layers.values())).length if self.layers else 0


class _Namespace:
    """nn.ModuleDict's role: attribute access to the named parts of the model."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


def _float32(name: str, value) -> np.ndarray:
    """A parameter's values as a float32 array; WeightsError unless floating point and finite."""
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.floating):
        raise WeightsError(f"key {name!r} has dtype {arr.dtype}, expected floating point")
    if not np.isfinite(arr).all():
        raise WeightsError(f"key {name!r} holds NaN or infinite values")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _as_index_batch(idx) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim == 1:
        idx = idx[None, :]
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"idx must be integer token indices of shape (B, T), got {idx.dtype} {idx.shape}")
    return idx.astype(np.int64, copy=False)
