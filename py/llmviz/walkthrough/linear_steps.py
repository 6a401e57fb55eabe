"""The "weights · input + bias = output" steps of the tour, built from the blocks they name.

Several steps work out one cell of a linear layer: row ``row`` of a weight block times
column ``col`` of an input block, plus the bias of that row, is cell (row, col) of the
output block (the query, the attention's output projection, the MLP's two layers, the
logits). ``linear_step`` writes the ``values``, ``focus``, ``cells`` and ``animation`` of
such a step from those blocks; ``linear_animation`` is the step after it, the same
product for every cell. Pure Python, like the rest of the walkthrough.

Blocks are id templates in the canonical orientation of ``numbers`` (weights out x in,
activations features x positions), e.g. ``"h.{L}.mlp.c_fc.weight"``; the numbers shown are
the tensor elements those cells hold, so a step names blocks only, never tensor indexes.
"""
from __future__ import annotations

from typing import Callable, Union

from llmviz.core.shape import short_name
from llmviz.walkthrough.numbers import Num, Walk, geometry

Index = Union[int, Callable[[Walk], int]]


def linear_step(weight: str, input: str, output: str, bias: str | None = None,  # noqa: A002
                row: Index = 0, col: Index | None = None) -> dict:
    """The ``Step`` fields of "row ``row`` of ``weight`` · column ``col`` of ``input``
    (+ ``bias``) = cell (row, col) of ``output``", to splat into a ``Step``.

    ``row`` and ``col`` are numbers or functions of the ``Walk``; ``col`` is the position
    followed (``t``) unless given. ``bias`` counts only in models with biases. The values
    are ``expr`` (the worked sum: two products, how many in all, the bias, the result) and
    ``row``."""
    def at(w: Walk) -> tuple[int, int, dict[str, str]]:
        r = row(w) if callable(row) else int(row)
        c = w.t if col is None else col(w) if callable(col) else int(col)
        names = {"weight": weight, "input": input, "output": output}
        if bias is not None and w.bias:
            names["bias"] = bias
        ids = w.vars()
        return r, c, {k: v.format_map(ids) for k, v in names.items()}

    def values(w: Walk) -> dict:
        r, c, b = at(w)
        n = _width(w, b["weight"])
        pairs = [(_cell(w, b["weight"], r, i), _cell(w, b["input"], i, c)) for i in range(min(2, n))]
        bias_num = _cell(w, b["bias"], r, 0) if "bias" in b else None
        return {"expr": w.sum_expr(pairs, n, bias_num, _cell(w, b["output"], r, c)), "row": r}

    def focus(w: Walk) -> list[str]:
        return list(at(w)[2].values())

    def cells(w: Walk) -> dict:
        r, c, b = at(w)
        return {b["weight"]: [f"row {r}"], b["input"]: [f"col {c}"], b["output"]: [f"cell {r} {c}"]}

    def animation(w: Walk) -> dict:
        r, c, b = at(w)
        n = _width(w, b["weight"])
        return {"kind": "dot", "a": b["weight"], "a_cells": [r, 0, r, n - 1],
                "b": b["input"], "b_cells": [0, c, n - 1, c], "bias": b.get("bias"),
                "out": b["output"], "cell": [r, c]}

    def figure(w: Walk):
        from llmviz.walkthrough import figures
        r, c, b = at(w)
        weights = figures.row(w, b["weight"], r)
        inputs = figures.column(w, b["input"], c)
        bias_num = _cell(w, b["bias"], r, 0) if "bias" in b else None
        out = _cell(w, b["output"], r, c)
        W, x, y = _short(b["weight"]), _short(b["input"]), _short(b["output"])
        title = f"{y}[{r}, {c}] = {W}[{r}] · {x}[:, {c}]" + (" + b" if bias_num is not None else "")
        return figures.dot(w, title, (f"{W}[{r}]", weights), (f"{x}[:, {c}]", inputs), (f"{y}[{r}, {c}]", out),
                           rows=figures.features(len(weights)), bias=bias_num)

    return {"values": values, "focus": focus, "cells": cells, "animation": animation, "figure": figure}


def _short(block: str) -> str:
    """A block's name as the code writes it: ``h.0.attn.q[1]`` -> ``q``, ``h.0.ln_1`` -> ``ln_1``,
    ``h.0.attn.c_attn.q.weight[1]`` -> ``W_q``, ``h.0.mlp.c_fc.weight`` -> ``c_fc``."""
    base = block.split("[")[0]
    if ".c_attn." in base:
        return "W_" + base.split(".c_attn.")[1].split(".")[0]
    if base.endswith(".weight"):
        return base[:-len(".weight")].rsplit(".", 1)[-1]
    name = base.split(".", 2)[-1] if base.startswith("h.") else base
    return name if name.endswith(".out") else name.removeprefix("attn.").removeprefix("mlp.")


def linear_animation(weight: str, input: str, output: str,  # noqa: A002
                     bias: str | None = None) -> Callable[[Walk], dict]:
    """The ``animation`` of "every cell of ``output``": each row of ``weight`` with each
    column of ``input`` (+ ``bias``, in models with biases)."""
    def animation(w: Walk) -> dict:
        out = {"kind": "matmul", "weight": weight, "input": input, "out": output}
        if bias is not None:
            out["bias"] = bias if w.bias else None
        return out
    return animation


def _width(w: Walk, weight: str) -> int:
    """How many numbers a row of the weight block holds (the length of the dot product)."""
    return int(geometry(w.config, w.T).canon[weight]["cols"])


def _cell(w: Walk, block: str, r: int, c: int) -> Num:
    """The number in canonical cell (r, c) of ``block``, with its tensor source."""
    geo = geometry(w.config, w.T)
    where, tensor, index = geo._element(geo.canon[block], r, c)  # noqa: SLF001 - the block's cell -> element map
    if where == "params":
        return w.par(short_name(tensor), *index)
    return w.act(tensor, *index)
