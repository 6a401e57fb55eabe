"""The Trace: every intermediate tensor of one forward pass, by name.

This module is pure Python (no numpy), so the page can describe and read a trace
even when numpy is not available in the browser.

Names follow nanoGPT's module paths (``h.0.attn.q``, ``ln_f``, ``logits``). Which
names exist and what shape each has is ``llmviz.core.shape``'s to say (its docstring
has the table); ``trace_shapes(config, B, T)`` asks it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from llmviz.core.shape import ModelShape


def keep(trace: dict | None, name: str, value):
    """Store ``value`` under ``name`` when tracing; return it either way."""
    if trace is not None:
        trace[name] = value
    return value


def trace_shapes(config: Any, B: int = 1, T: int | None = None) -> dict[str, tuple[int, ...]]:
    """The name and shape of every traced tensor, in forward order, from a config alone
    (T: block_size by default); see ``ModelShape.trace_shapes``."""
    return ModelShape.from_config(config).trace_shapes(B, T)


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
                           f"'h.0.attn.q' (see llmviz.core.shape)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._tensors)

    def __len__(self) -> int:
        return len(self._tensors)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(value.shape) for name, value in self._tensors.items()}

    def __repr__(self) -> str:
        return f"Trace({len(self)} tensors, n_layer={self.config.n_layer})"
