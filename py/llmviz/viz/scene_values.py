"""The numbers behind a scene's blocks: one float32 buffer per block, and their packing.

``block_values(scene, trace, state_dict)`` reads each block's ``trace``/``param``
source (see ``llmviz.viz.layout``) and returns the block's values as a flat float32
array in its row-major cell order (rows x cols). ``pack`` puts them all in one
``values.bin`` with an offset table, for shipping a prerendered example.
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
    return np.ascontiguousarray(arr, dtype=np.float32).reshape(rows, cols)


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
