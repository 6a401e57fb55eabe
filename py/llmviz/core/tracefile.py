"""The bundled trace on disk: ``trace.json`` (index) + ``trace.bin`` (raw little-endian data).

``build.py`` writes it with CPython and numpy (``dump``); the page reads it back
with ``read`` in pure Python, so it can show real numbers before numpy loads, or
when numpy is not available at all. ``FlatTensor`` is the numpy-free stand-in for
an array: shape, full-tuple indexing to a float, row views, ``tolist``. A read
trace's config is its ``ModelShape`` (the GPTConfig fields, ``to_dict``).

The model worker sends traces in the same format, laid out for more positions than
they have (``llmviz.core.grow``): each tensor then also names its ``capacity`` shape
and its ``t_axes``, and ``read`` gives FlatTensors of the logical shape that stride
through the capacity layout. A new token arrives as a patch (runs of changed values):
``apply_patch`` writes it into the bytes, ``read(index, data, T=...)`` reads the longer
trace.
"""
from __future__ import annotations

import json
from math import prod
from typing import Any

from llmviz.core.shape import ModelShape
from llmviz.core.trace import Trace

FORMAT = "llmviz-trace/1"
_CODES = {"float32": "f", "int64": "q"}


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


class FlatTensor:
    """A read-only n-d view over a flat buffer of float32 (or int64) values; ``strides``
    (in elements) default to C order."""

    __slots__ = ("_data", "_offset", "shape", "dtype", "_strides")

    def __init__(self, data: memoryview, shape: tuple[int, ...], offset: int = 0, dtype: str = "float32",
                 strides: tuple[int, ...] | None = None):
        self._data, self.shape, self._offset, self.dtype = data, tuple(shape), offset, dtype
        self._strides = tuple(strides) if strides is not None else _contiguous(self.shape)

    @property
    def contiguous(self) -> bool:
        return all(a == b for a, b, n in zip(self._strides, _contiguous(self.shape), self.shape) if n > 1)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return prod(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if len(index) > self.ndim:
            raise IndexError(f"too many indices ({len(index)}) for shape {self.shape}")
        offset = self._offset
        for i, n, stride in zip(index, self.shape, self._strides):
            if not isinstance(i, int):
                raise TypeError("FlatTensor supports integer indices only")
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {i} is out of range for a dimension of size {n}")
            offset += i * stride
        if len(index) == self.ndim:
            return self._data[offset]
        return FlatTensor(self._data, self.shape[len(index):], offset, self.dtype, self._strides[len(index):])

    def tolist(self) -> Any:
        if self.contiguous:
            flat = self._data[self._offset:self._offset + self.size].tolist()
            for n in reversed(self.shape[1:]):
                flat = [flat[i:i + n] for i in range(0, len(flat), n)]
            return flat
        if self.ndim == 0:
            return self._data[self._offset]
        if self.ndim == 1:
            n, s = self.shape[0], self._strides[0]
            return self._data[self._offset:self._offset + (n - 1) * s + 1:s].tolist() if n else []
        return [self[i].tolist() for i in range(self.shape[0])]

    def buffer(self) -> memoryview:
        """The values as a flat memoryview: zero-copy when contiguous, else a packed copy."""
        if self.contiguous:
            return self._data[self._offset:self._offset + self.size]
        import array
        flat = self.tolist()
        for _ in range(self.ndim - 1):
            flat = [v for row in flat for v in row]
        return memoryview(array.array(_CODES[self.dtype], flat))

    def __repr__(self) -> str:
        return f"FlatTensor(shape={self.shape}, dtype={self.dtype})"


def dump(trace: Trace, extra: dict | None = None) -> tuple[dict, bytes]:
    """Serialise a numpy Trace: the index (JSON-ready dict) and the data bytes."""
    import numpy as np

    chunks, tensors, offset = [], {}, 0
    for name, value in trace.items():
        dtype = "int64" if np.issubdtype(value.dtype, np.integer) else "float32"
        raw = np.ascontiguousarray(value, dtype="<i8" if dtype == "int64" else "<f4").tobytes()
        tensors[name] = {"offset": offset, "shape": list(value.shape), "dtype": dtype}
        chunks.append(raw)
        offset += len(raw)
    index = {"format": FORMAT, "config": trace.config.to_dict(), "tensors": tensors, **(extra or {})}
    return index, b"".join(chunks)


def read(index: dict | str, data: bytes | bytearray | memoryview, T: int | None = None) -> Trace:
    """Rebuild a Trace of FlatTensors from ``dump``'s output (or a worker's), without numpy.

    A tensor with a ``capacity`` shape is read at its logical shape: its ``t_axes`` are
    ``T`` long (the index's ``T`` unless given), striding through the capacity layout. The
    tensors view ``data`` (no copy): a patched bytearray shows the new values."""
    if isinstance(index, str):
        index = json.loads(index)
    if index.get("format") != FORMAT:
        raise ValueError(f"not a bundled trace (format {index.get('format')!r}, expected {FORMAT!r})")
    view = memoryview(data)
    T = index.get("T") if T is None else T
    tensors = {}
    for name, meta in index["tensors"].items():
        full = tuple(meta.get("capacity") or meta["shape"])
        size = prod(full) * 8 if meta["dtype"] == "int64" else prod(full) * 4
        chunk = view[meta["offset"]:meta["offset"] + size].cast(_CODES[meta["dtype"]])
        shape = tuple(meta["shape"])
        if "capacity" in meta:
            axes = set(meta.get("t_axes") or ())
            shape = tuple(T if k in axes else n for k, n in enumerate(full))
            if any(n > c for n, c in zip(shape, full)):
                raise ValueError(f"{name}: {T} positions do not fit its capacity {full}")
        tensors[name] = FlatTensor(chunk, shape, 0, meta["dtype"], _contiguous(full))
    return Trace(tensors, ModelShape.from_config(index["config"]))


def apply_patch(data: bytearray | memoryview, patch: dict) -> int:
    """Write a patch (``llmviz.core.grow.Patch.to_dict``: runs of float32 values, with element
    offsets into ``data``, and the new token ids) in place; returns the number of float
    values written. Pure Python."""
    floats = memoryview(data).cast("B")
    floats = floats[:len(floats) // 4 * 4].cast("f")
    values = memoryview(patch["values"]).cast("B").cast("f")
    at = 0
    for start, count, stride in zip(patch["starts"], patch["counts"], patch["strides"]):
        end = start + (count - 1) * stride + 1
        floats[start:end:stride] = values[at:at + count]
        at += count
    ids = patch.get("ids") or []
    if ids:
        whole = memoryview(data).cast("B")
        longs = whole[:len(whole) // 8 * 8].cast("q")
        for k, token in enumerate(ids):
            longs[patch["ids_at"] + k] = int(token)
    return at
