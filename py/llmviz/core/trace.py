"""The Trace: every intermediate tensor of one forward pass, by name.

This module is pure Python (no numpy), so the page can describe and read a trace
even when numpy is not available in the browser.

Names follow nanoGPT's module paths. ``trace_shapes(config, B, T)`` is the one
place that says which names exist and what shape each has; the table below is the
same information for a reader (C = n_embd, nh = n_head, hs = C // nh, V = vocab):

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

from collections.abc import Mapping
from typing import Any, Iterator


def keep(trace: dict | None, name: str, value):
    """Store ``value`` under ``name`` when tracing; return it either way."""
    if trace is not None:
        trace[name] = value
    return value


def param(params: Mapping, name: str):
    """A parameter by its state-dict name, with or without nanoGPT's ``transformer.`` prefix
    (scene block ids drop it; ``GPT.state_dict()`` keeps it)."""
    if name in params:
        return params[name]
    other = name[len("transformer."):] if name.startswith("transformer.") else "transformer." + name
    if other in params:
        return params[other]
    raise KeyError(f"no parameter {name!r} in the state dict")


def trace_shapes(config: Any, B: int = 1, T: int | None = None) -> dict[str, tuple[int, ...]]:
    """The name and shape of every traced tensor, in forward order, from a config alone."""
    T = config.block_size if T is None else T
    C, nh, V = config.n_embd, config.n_head, config.vocab_size
    hs = C // nh

    def layer_norm(name: str) -> dict:
        return {name + ".mean": (B, T), name + ".rstd": (B, T), name: (B, T, C)}

    shapes: dict[str, tuple[int, ...]] = {
        "idx": (B, T), "tok_emb": (B, T, C), "pos_emb": (T, C), "x": (B, T, C),
    }
    for i in range(config.n_layer):
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


class Trace(Mapping):
    """A read-only mapping from trace names to arrays, with the config that made them."""

    def __init__(self, tensors: dict, config: Any):
        self._tensors = dict(tensors)
        self.config = config

    def __getitem__(self, name: str):
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in this trace; names look like "
                           f"'h.0.attn.q' (see llmviz.core.trace)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(value.shape) for name, value in self._tensors.items()}

    def __repr__(self) -> str:
        return f"Trace({len(self)} tensors, n_layer={self.config.n_layer})"
