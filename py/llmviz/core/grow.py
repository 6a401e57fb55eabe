"""A trace that grows a position at a time, laid out for more positions than it has yet.

``GrowingTrace(config, capacity)`` keeps every traced tensor (``ModelShape.trace_shapes``)
sized for ``capacity`` positions in one buffer (float32 tensors, then the int64 token
ids), zero where no position is yet. A tensor's *T axes* are those whose size is the
number of positions (``h.0.attn.scores`` (1, nh, T, T) has two). The trace of the first
``length`` positions is the leading part of every T axis.

* ``put(trace)``: a whole trace of T <= capacity positions (``GPT.trace``).
* ``extend(step)``: one forward pass with a KV cache (``GPT.trace(idx[:, t:], cache=...)``,
  for positions t.. of the text) written in place. For causal attention nothing of the
  earlier positions changes, with one exception this module fills in: ``attn.scores`` keeps
  the whole ``q @ k^T`` before the mask, so the earlier queries' raw scores against the new
  keys (the column right of their row) are computed here from the traced q. The result is
  the trace a full forward pass of the longer text gives (``tests/test_grow.py``).
  Returns a ``Patch``: the runs of the buffer that changed, to send instead of it all.
* ``trace()``: a Trace of numpy views of the ``length`` positions; ``padded()``: the same at
  the capacity's shapes (zeros after ``length``), what a scene laid out for ``capacity``
  positions draws.
* ``index()`` / ``data``: ``llmviz.core.tracefile``'s format (an index + one bytes buffer),
  with each tensor's capacity shape and T axes, so the page reads it without numpy and
  applies patches to it (``tracefile.apply_patch``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from llmviz.core.shape import ModelShape
from llmviz.core.trace import Trace
from llmviz.core.tracefile import FORMAT

IDS = "idx"


class Patch(NamedTuple):
    """Changed runs of a buffer of float32 values: run i covers ``counts[i]`` elements from
    ``starts[i]``, ``strides[i]`` apart (element units); ``values`` holds them all, run by run.
    The new token ids: ``ids`` written at ``ids_at`` (in int64 units from the buffer's start)."""
    starts: np.ndarray
    counts: np.ndarray
    strides: np.ndarray
    values: np.ndarray
    ids_at: int = 0
    ids: tuple = ()

    def to_dict(self) -> dict:
        """Plain lists and the values' bytes (what the worker sends to the page)."""
        return {"starts": self.starts.tolist(), "counts": self.counts.tolist(),
                "strides": self.strides.tolist(), "values": self.values.astype("<f4").tobytes(),
                "ids_at": int(self.ids_at), "ids": [int(i) for i in self.ids]}

    @property
    def size(self) -> int:
        return int(self.values.size)


def runs_of(view: np.ndarray, base: np.ndarray) -> tuple[list[int], list[int], list[int], np.ndarray]:
    """The element runs of ``view`` (a strided view into the 1-d float32 array ``base``): one
    run along its longest axis for each index of the other axes, and their values in that order."""
    item = base.itemsize
    first = (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // item
    if view.size == 0:
        return [], [], [], np.zeros(0, np.float32)
    axis = int(np.argmax(view.shape))
    strides = [s // item for s in view.strides]
    rest = [k for k in range(view.ndim) if k != axis]
    starts = []
    for index in np.ndindex(*[view.shape[k] for k in rest]):
        starts.append(first + sum(i * strides[k] for i, k in zip(index, rest)))
    n = len(starts)
    values = np.moveaxis(view, axis, -1).reshape(-1)
    return starts, [view.shape[axis]] * n, [strides[axis]] * n, values


def t_axes(shape: ModelShape) -> dict[str, tuple[int, ...]]:
    """{trace name: the axes whose size is the number of positions}."""
    if shape.block_size < 2:
        return {name: tuple(k for k, n in enumerate(s) if n == 1) for name, s in shape.trace_shapes(1, 1).items()}
    one, two = shape.trace_shapes(1, 1), shape.trace_shapes(1, 2)
    return {name: tuple(k for k, (a, b) in enumerate(zip(one[name], two[name])) if a != b) for name in one}


class GrowingTrace:
    def __init__(self, config, capacity: int):
        self.shape = ModelShape.from_config(config)
        self.config = self.shape
        if not 1 <= capacity <= self.shape.block_size:
            raise ValueError(f"capacity {capacity} must be 1..block_size ({self.shape.block_size})")
        self.capacity = int(capacity)
        self.axes = t_axes(self.shape)
        self.shapes = self.shape.trace_shapes(1, self.capacity)
        self.offsets: dict[str, int] = {}       # byte offset of each tensor in data
        at = 0
        for name, s in self.shapes.items():
            if name == IDS:
                continue
            self.offsets[name] = at
            at += 4 * math.prod(s)
        self.n_floats = at // 4
        at = (at + 7) // 8 * 8
        self.offsets[IDS] = at
        at += 8 * math.prod(self.shapes[IDS])
        self.buffer = np.zeros(at, np.uint8)
        self.floats = self.buffer[:self.n_floats * 4].view(np.float32)
        self.arrays: dict[str, np.ndarray] = {}
        for name, s in self.shapes.items():
            o = self.offsets[name]
            dtype = np.int64 if name == IDS else np.float32
            n = math.prod(s) * np.dtype(dtype).itemsize
            self.arrays[name] = self.buffer[o:o + n].view(dtype).reshape(s)
        self.length = 0

    # ---- reading ------------------------------------------------------------------
    def _part(self, name: str, length: int | None = None) -> tuple:
        n = self.length if length is None else length
        return tuple(slice(0, n) if k in self.axes[name] else slice(None) for k in range(len(self.shapes[name])))

    def trace(self) -> Trace:
        """The ``length`` positions' tensors (numpy views, not copies)."""
        return Trace({name: a[self._part(name)] for name, a in self.arrays.items()}, self.shape)

    def padded(self) -> Trace:
        """Every tensor at the capacity's shape: zeros after ``length`` (views)."""
        return Trace(dict(self.arrays), self.shape)

    @property
    def data(self) -> bytes:
        return self.buffer.tobytes()

    def index(self, extra: dict | None = None) -> dict:
        """The tracefile index: each tensor's offset, logical shape, capacity shape and T axes."""
        tensors = {}
        for name, s in self.shapes.items():
            logical = [self.length if k in self.axes[name] else n for k, n in enumerate(s)]
            tensors[name] = {"offset": self.offsets[name], "shape": logical, "capacity": list(s),
                             "t_axes": list(self.axes[name]), "dtype": "int64" if name == IDS else "float32"}
        return {"format": FORMAT, "config": self.shape.to_dict(), "T": self.length,
                "capacity": self.capacity, "tensors": tensors, **(extra or {})}

    # ---- writing ------------------------------------------------------------------
    def put(self, trace) -> None:
        """Replace everything with a whole trace of T <= capacity positions."""
        T = int(np.asarray(trace[IDS]).shape[-1])
        if T > self.capacity:
            raise ValueError(f"a trace of {T} positions does not fit a capacity of {self.capacity}")
        self.buffer[:] = 0
        self.length = T
        for name, a in self.arrays.items():
            a[self._part(name, T)] = np.asarray(trace[name])

    def extend(self, step, patch: bool = True) -> Patch | None:
        """Write a cached forward pass of the positions after ``length`` (see the module
        docstring); returns what changed in the float buffer (the ids are in ``ids()``), or
        None without ``patch`` (a prompt written a chunk at a time: the page gets it whole)."""
        t = self.length
        n = int(np.asarray(step[IDS]).shape[-1])
        if t + n > self.capacity:
            raise ValueError(f"{t} + {n} positions do not fit a capacity of {self.capacity}")
        new = t + n
        parts: list = []
        for name, a in self.arrays.items():
            value = np.asarray(step[name])
            index = []
            for k, size in enumerate(self.shapes[name]):
                if k not in self.axes[name]:
                    index.append(slice(None))
                elif value.shape[k] == n:
                    index.append(slice(t, new))      # the new positions
                else:
                    index.append(slice(0, new))      # every position (a key axis)
            dst = a[tuple(index)]
            dst[...] = value
            if patch and name != IDS:
                parts.append(runs_of(dst, self.floats))
        if t:
            parts.extend(self._earlier_scores(step, t, new, patch))
        self.length = new
        if not patch:
            return None
        starts, counts, strides, values = [], [], [], []
        for s, c, d, v in parts:
            starts += s
            counts += c
            strides += d
            values.append(v)
        return Patch(np.asarray(starts, np.int64), np.asarray(counts, np.int64), np.asarray(strides, np.int64),
                     np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32),
                     self.offsets[IDS] // 8 + t, tuple(self.arrays[IDS][0, t:new]))

    def _earlier_scores(self, step, t: int, new: int, patch: bool = True) -> list:
        """The raw scores of queries 0..t-1 against keys t..new-1 (before the mask), per layer
        (and, with ``patch``, their runs)."""
        out = []
        scale = np.float32(1.0 / math.sqrt(self.shape.hs))
        for i in range(self.shape.n_layer):
            p = f"h.{i}.attn."
            q_old = self.arrays[p + "q"][:, :, :t, :]                 # (1, nh, t, hs)
            k_new = np.asarray(step[p + "k"])                         # (1, nh, n, hs)
            dst = self.arrays[p + "scores"][:, :, :t, t:new]
            dst[...] = (q_old @ k_new.transpose(0, 1, 3, 2)) * scale
            if patch:
                out.append(runs_of(dst, self.floats))
        return out

    def ids(self) -> list[int]:
        return [int(i) for i in self.arrays[IDS][0, :self.length]]
