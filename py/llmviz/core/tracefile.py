"""The bundled trace on disk: ``trace.json`` (index) + ``trace.bin`` (raw little-endian data).

``build.py`` writes it with CPython and numpy (``dump``); the page reads it back
with ``read`` in pure Python, so it can show real numbers before numpy loads, or
when numpy is not available at all. ``FlatTensor`` is the numpy-free stand-in for
an array: shape, full-tuple indexing to a float, row views, ``tolist``. A read
trace's config is its ``ModelShape`` (the GPTConfig fields, ``to_dict``).
"""
from __future__ import annotations

import json
from math import prod
from typing import Any

from llmviz.core.shape import ModelShape
from llmviz.core.trace import Trace

FORMAT = "llmviz-trace/1"
_CODES = {"float32": "f", "int64": "q"}


class FlatTensor:
    """A read-only n-d view over a flat buffer of float32 (or int64) values."""

    __slots__ = ("_data", "_offset", "shape", "dtype")

    def __init__(self, data: memoryview, shape: tuple[int, ...], offset: int = 0, dtype: str = "float32"):
        self._data, self.shape, self._offset, self.dtype = data, tuple(shape), offset, dtype

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
        offset, stride = self._offset, self.size
        for i, n in zip(index, self.shape):
            if not isinstance(i, int):
                raise TypeError("FlatTensor supports integer indices only")
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {i} is out of range for a dimension of size {n}")
            stride //= n
            offset += i * stride
        if len(index) == self.ndim:
            return self._data[offset]
        return FlatTensor(self._data, self.shape[len(index):], offset, self.dtype)

    def tolist(self) -> Any:
        flat = self._data[self._offset:self._offset + self.size].tolist()
        for n in reversed(self.shape[1:]):
            flat = [flat[i:i + n] for i in range(0, len(flat), n)]
        return flat

    def buffer(self) -> memoryview:
        """The values as a flat memoryview (zero-copy), e.g. to hand to the renderer."""
        return self._data[self._offset:self._offset + self.size]

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


def read(index: dict | str, data: bytes) -> Trace:
    """Rebuild a Trace of FlatTensors from ``dump``'s output, without numpy."""
    if isinstance(index, str):
        index = json.loads(index)
    if index.get("format") != FORMAT:
        raise ValueError(f"not a bundled trace (format {index.get('format')!r}, expected {FORMAT!r})")
    view = memoryview(data)
    tensors = {}
    for name, meta in index["tensors"].items():
        size = prod(meta["shape"]) * 8 if meta["dtype"] == "int64" else prod(meta["shape"]) * 4
        chunk = view[meta["offset"]:meta["offset"] + size].cast(_CODES[meta["dtype"]])
        tensors[name] = FlatTensor(chunk, tuple(meta["shape"]), 0, meta["dtype"])
    return Trace(tensors, ModelShape.from_config(index["config"]))
