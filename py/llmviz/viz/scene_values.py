"""The numbers behind a scene's blocks: one float32 buffer per block, and their packing.

``block_values(scene, trace, state_dict)`` reads each block's ``trace``/``param``
source (see ``llmviz.viz.layout``) and returns the block's values as a flat float32
array in its row-major cell order (rows x cols). ``pack`` puts them all in one
``values.bin`` with an offset table, for shipping a prerendered example (and for the
page's model worker, which sends a scene's values the same way).

``block_patch(scene, trace, t0, t1)``: when positions t0..t1-1 were added to a trace
that a scene laid out for more positions shows, the cells that changed, block by block
(the columns or rows of those positions; both for the T x T attention blocks), as runs,
so a new token updates the picture without sending every value again.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from llmviz.core.shape import ModelShape, lookup_param


def source_array(block: dict, trace: Mapping | None, state_dict: Mapping | None,
                 pad_to: tuple | None = None, fill: float = 0.0) -> np.ndarray:
    """A block's values as a (rows, cols) float32 array, before flattening.

    ``pad_to``: the shape (batch 1) the block's trace tensor has in the scene; a
    shorter tensor (fewer tokens) is padded with ``fill`` up to it.
    """
    return np.ascontiguousarray(source_view(block, trace, state_dict, pad_to, fill), dtype=np.float32)


def source_view(block: dict, trace: Mapping | None, state_dict: Mapping | None,
                pad_to: tuple | None = None, fill: float = 0.0) -> np.ndarray:
    """A block's values as a (rows, cols) array, a view of its tensor where it can be (any
    dtype: token ids stay int64)."""
    if "trace" in block:
        if trace is None:
            raise ValueError(f"block {block['id']!r} needs a trace")
        arr = np.asarray(trace[block["trace"]])
        if pad_to is not None and arr.ndim == len(pad_to):
            # grow every axis but the batch axis (pos_emb has none) to the scene's size
            first = 0 if block["trace"] == "pos_emb" else 1
            widths = [(0, 0)] * first + [(0, max(0, want - have)) for have, want
                                         in zip(arr.shape[first:], pad_to[first:])]
            if any(w for _, w in widths):
                arr = np.pad(arr, widths, constant_values=fill)
        for i in block.get("index", []):
            arr = arr[i]
    elif "param" in block:
        if state_dict is None:
            raise ValueError(f"block {block['id']!r} needs a state dict")
        arr = np.asarray(lookup_param(state_dict, block["param"]))
        if "slice" in block:
            r0, r1 = block["slice"]
            arr = arr[r0:r1]
    else:
        raise ValueError(f"block {block['id']!r} names no trace tensor and no parameter")
    if block.get("transpose") and arr.ndim >= 2:
        arr = np.swapaxes(arr, -1, -2)
    rows, cols = block["rows"], block["cols"]
    if arr.size != rows * cols:
        raise ValueError(
            f"block {block['id']!r} has {rows}x{cols} cells but its tensor has shape "
            f"{tuple(arr.shape)}; build the scene with the trace's T "
            f"(llmviz.viz.layout.scene(config, T=...))")
    return arr.reshape(rows, cols)


def block_values(scene: dict, trace: Mapping | None, state_dict: Mapping | None,
                 roles: tuple[str, ...] = ("parameter", "activation", "aggregate"),
                 pad: float | None = None) -> dict[str, np.ndarray]:
    """{block id: flat float32 values in row-major cell order} for every block of ``roles``.

    ``state_dict`` uses nanoGPT names (``transformer.h.0...``; names without the
    prefix work too). Pass ``roles=("parameter",)`` to get only weights (no trace needed).
    A trace of fewer tokens than the scene's ``T`` is an error, unless ``pad`` is a
    number: then the missing positions are filled with it (e.g. 0.0), so one scene of
    ``T = block_size`` can show every input length.
    """
    if scene.get("values") == "none":
        raise ValueError("this is a scale scene: it has no values to show")
    shapes = None
    if pad is not None:
        shapes = ModelShape.from_config(scene["config"]).trace_shapes(1, scene["T"])
    out: dict[str, np.ndarray] = {}
    for block in scene["blocks"]:
        if block["role"] in roles:
            target = shapes.get(block.get("trace")) if shapes else None
            fill = 0.0 if pad is None else pad
            out[block["id"]] = source_array(block, trace, state_dict, target, fill).ravel()
    return out


def pack(scene: dict, values: Mapping[str, np.ndarray]) -> tuple[bytes, dict[str, list[int]]]:
    """One little-endian float32 buffer of all values, in scene block order.

    Returns (bytes, {id: [offset in floats, count]}); blocks without values are skipped.
    """
    parts, offsets, at = [], {}, 0
    for block in scene["blocks"]:
        if block["id"] not in values:
            continue
        arr = np.ascontiguousarray(values[block["id"]], dtype="<f4").ravel()
        if arr.size != block["rows"] * block["cols"]:
            raise ValueError(f"values of {block['id']!r} have {arr.size} floats, "
                             f"the block has {block['rows'] * block['cols']} cells")
        parts.append(arr.tobytes())
        offsets[block["id"]] = [at, int(arr.size)]
        at += arr.size
    return b"".join(parts), offsets


def unpack(data: bytes, offsets: Mapping[str, list[int]]) -> dict[str, np.ndarray]:
    """The inverse of ``pack``: {id: float32 array} viewing ``data``."""
    buf = np.frombuffer(data, dtype="<f4")
    return {id_: buf[o:o + n] for id_, (o, n) in offsets.items()}


def t_axes_of(block: dict) -> tuple[int, ...]:
    """Which of a block's axes (0: rows, 1: cols) run over positions (its ``dims`` say "T")."""
    return tuple(k for k, d in enumerate(block.get("dims") or ()) if d == "T")


def block_patch(scene: dict, trace: Mapping, t0: int, t1: int,
                roles: tuple[str, ...] = ("activation", "aggregate")) -> dict:
    """The cells of ``scene``'s trace blocks that positions t0..t1-1 changed.

    ``trace`` holds the tensors at the scene's shapes (a ``GrowingTrace.padded()``). Returns
    ``{"ids": [block id, ...], "block": [i, ...], "starts": [...], "counts": [...],
    "strides": [...], "values": float32 array}``: run k writes ``counts[k]`` values, the
    cells ``starts[k] + j * strides[k]`` of block ``ids[block[k]]`` (row-major cell index).
    A block that names no T axis is sent whole."""
    ids: list[str] = []
    which, starts, counts, strides, values = [], [], [], [], []

    def rect(b: int, view: np.ndarray, cols: int, r0: int, r1: int, c0: int, c1: int) -> None:
        if r1 <= r0 or c1 <= c0:
            return
        part = view[r0:r1, c0:c1]
        if c1 - c0 >= r1 - r0:           # runs along rows
            for r in range(r0, r1):
                which.append(b), starts.append(r * cols + c0), counts.append(c1 - c0), strides.append(1)
            values.append(part.reshape(-1))
        else:                            # runs down columns
            for c in range(c0, c1):
                which.append(b), starts.append(r0 * cols + c), counts.append(r1 - r0), strides.append(cols)
            values.append(part.T.reshape(-1))

    for block in scene["blocks"]:
        if block["role"] not in roles or "trace" not in block:
            continue
        view = source_view(block, trace, None)
        rows, cols = block["rows"], block["cols"]
        b = len(ids)
        ids.append(block["id"])
        axes = t_axes_of(block)
        if axes == (0,):
            rect(b, view, cols, t0, t1, 0, cols)
        elif axes == (1,):
            rect(b, view, cols, 0, rows, t0, t1)
        elif axes == (0, 1):             # new rows (their every key), and the new keys' column above
            rect(b, view, cols, t0, t1, 0, t1)
            rect(b, view, cols, 0, t0, t0, t1)
        else:
            rect(b, view, cols, 0, rows, 0, cols)
    flat = np.concatenate(values).astype(np.float32) if values else np.zeros(0, np.float32)
    return {"ids": ids, "block": which, "starts": starts, "counts": counts, "strides": strides, "values": flat}
