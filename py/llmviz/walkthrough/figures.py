"""Worked examples: the numbers of one step's operation, laid out as a small table that the
3D view shows beside the blocks for the whole step (``site/js/stage/card.js`` draws it).

Pure Python. A figure is a few *columns* of numbers (an operand, a stage of a computation,
the result), one row per element (a feature, a position, a vocabulary entry), and a few
formula *lines* with the real numbers. Every number is a ``numbers.Num``, so each column
knows the block cells it came from: the page draws a curve from the column to those cells,
and colours each number as its cell is coloured. A column of derived numbers (products,
differences, exponentials) has no block and is coloured on its own scale.

``render(fig, geometry)`` turns a figure into what the page receives::

    {"title": str, "rows": [label or None], "columns": [{"label", "sign", "block", "cells",
     "values", "texts", "role", "mark", "hidden"}], "lines": [str],
     "result": {"label", "text", "value", "block", "cell", "cells"} or None}

``result_text`` and ``result_at`` override the result's text and cells (a result that is no
traced number: the token appended after the input points past the end of ``idx``); ``cell`` is
the first of ``cells``.
``rows`` are the row labels in order; ``None`` stands for the rows left out (long vectors
show their first and last elements). ``cells`` are [row, col] in the scene's grid of
``block`` (or None). ``mark`` columns are what the step is about; ``hidden`` columns are
later stages, kept so the table keeps its shape from step to step.
"""
from __future__ import annotations

import math
import dataclasses
from .numbers import Num, fmt

MAX_ROWS = 12       # longer columns show their first HEAD and last TAIL rows
HEAD, TAIL = 8, 2


@dataclasses.dataclass
class Column:
    label: str
    nums: list[Num]
    sign: str = ""          # written before the column's heading: "×", "=", "−", ...
    role: str = "activation"
    mark: bool = False
    hidden: bool = False


@dataclasses.dataclass
class Figure:
    title: str
    columns: list[Column]
    rows: list[str]                          # one label per element
    lines: list[str] = dataclasses.field(default_factory=list)
    result: tuple[str, Num] | None = None
    keep: list[int] = dataclasses.field(default_factory=list)   # rows shown however long the columns
    # the result written as text (a token, a sequence) and the cell it points at, given directly:
    # for a result that is no element of a traced tensor (a token appended after the input)
    result_text: str | None = None
    result_at: tuple[str, list[list[int]]] | None = None     # a block and its cells


def shown_rows(n: int, keep: list[int] = ()) -> list[int | None]:
    """The rows a column of n shows: all of them, or the first ones, the ``keep`` rows (the ones
    the step talks about) and the last TAIL, with a gap (None) wherever rows are left out."""
    if n <= MAX_ROWS:
        return list(range(n))
    keep = sorted({k for k in keep if 0 <= k < n})
    wanted = sorted(set(range(HEAD - len(keep))) | set(keep) | set(range(n - TAIL, n)))
    out: list[int | None] = []
    for i in wanted:
        if out and out[-1] is not None and i != out[-1] + 1:
            out.append(None)
        out.append(i)
    return out


def _cell(num: Num, geometry) -> tuple[str, list[int]] | None:
    source = num.source
    if geometry is None or "tensor" not in source or "*" in source.get("index", []):
        return None
    return geometry.cell_of(source.get("in", "trace"), source["tensor"], tuple(source["index"]))


def _finite(value) -> float | None:
    """A number the page can receive as JSON (None for missing, infinite and NaN values)."""
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _text(num: Num) -> str:
    """A number as the table writes it (−∞ for a masked score)."""
    if num.value is not None and math.isinf(float(num.value)):
        return "−∞" if num.value < 0 else "∞"
    return num.text


def render(fig: Figure | None, geometry) -> dict | None:
    """The figure as the page receives it (see the module docstring)."""
    if fig is None:
        return None
    n = len(fig.rows)
    rows = shown_rows(n, fig.keep)
    columns = []
    for col in fig.columns:
        if len(col.nums) != n:
            raise ValueError(f"figure {fig.title!r}: column {col.label!r} has {len(col.nums)} numbers for {n} rows")
        cells, block = [], None
        for i in rows:
            where = _cell(col.nums[i], geometry) if i is not None else None
            if where is not None and block in (None, where[0]):
                block = where[0]
                cells.append(where[1])
            else:
                cells.append(None)
        columns.append({
            "label": col.label, "sign": col.sign, "block": block, "cells": cells if block else None,
            "values": [_finite(col.nums[i].value) if i is not None else None for i in rows],
            "texts": ["⋮" if i is None else _text(col.nums[i]) for i in rows],
            "role": col.role, "mark": col.mark, "hidden": col.hidden,
        })
    result = None
    if fig.result is not None:
        label, num = fig.result
        where = _cell(num, geometry)
        block, cells = (where[0], [where[1]]) if where else (None, [])
        if fig.result_at is not None:
            block, cells = fig.result_at
        result = {"label": label, "text": fig.result_text or _text(num), "value": _finite(num.value),
                  "block": block, "cell": cells[0] if cells else None, "cells": cells}
    return {"title": fig.title, "rows": [None if i is None else fig.rows[i] for i in rows],
            "columns": columns, "lines": list(fig.lines), "result": result}


# ------------------------------------------------------------------ the kinds of figures

def dot(w, title: str, a: tuple[str, list[Num]], b: tuple[str, list[Num]], result: tuple[str, Num], *,
        rows: list[str] | None = None, bias: Num | None = None, after: list[str] = (),
        roles: tuple[str, str] = ("parameter", "activation")) -> Figure:
    """A dot product: the two vectors side by side, their products, and the sum (plus a bias,
    then any ``after`` lines, e.g. the division by √hs) as formula lines."""
    (a_label, a_nums), (b_label, b_nums) = a, b
    products = [w.op("mul", x, y) for x, y in zip(a_nums, b_nums)]
    n = len(products)
    total = math.fsum(float(p.value) for p in products if p.value is not None)
    lines = [w.say("figure.sum_products", n=n, total=fmt(total))]
    if bias is not None and bias.value is not None:
        lines.append(w.say("figure.plus_bias", b=bias.text, total=fmt(total + float(bias.value))))
    lines += list(after)
    return Figure(title, [Column(a_label, a_nums, role=roles[0]), Column(b_label, b_nums, sign="×", role=roles[1]),
                          Column(w.say("figure.product"), products, sign="=", role="aggregate", mark=True)],
                  rows or [str(i) for i in range(n)], lines, result)


def elementwise(title: str, columns: list[Column], rows: list[str], lines: list[str] = (),
                result: tuple[str, Num] | None = None, keep: list[int] = ()) -> Figure:
    """Columns combined element by element (an addition, a lookup, a function applied to each)."""
    return Figure(title, columns, rows, list(lines), result, list(keep))


def stages(title: str, columns: list[Column], rows: list[str], stage: int, lines: list[str] = (),
           result: tuple[str, Num] | None = None) -> Figure:
    """A computation in stages (a softmax, a layer norm): every stage a column; the columns up
    to ``stage`` are shown, ``stage`` itself marked, the later ones hidden (the table keeps its
    shape from one step to the next)."""
    cols = []
    for k, col in enumerate(columns):
        col.mark = k == stage
        col.hidden = k > stage
        cols.append(col)
    return Figure(title, cols, rows, list(lines), result)



# ------------------------------------------------------------------ reading blocks

def cell(w, block: str, r: int, c: int):
    """The number in canonical cell (r, c) of ``block`` (an id, variables filled), as a Num."""
    from llmviz.walkthrough.linear_steps import _cell
    return _cell(w, block, r, c)


def column(w, block: str, c: int) -> list:
    """Canonical column c of ``block`` (a feature vector of one position, a row of weights' inputs)."""
    return _cells(w, block, [(r, c) for r in range(_dims(w, block)[0])])


def row(w, block: str, r: int) -> list:
    """Canonical row r of ``block`` (a row of weights, a row of attention, a feature over positions)."""
    return _cells(w, block, [(r, c) for c in range(_dims(w, block)[1])])


def _dims(w, block: str) -> tuple[int, int]:
    from llmviz.walkthrough.numbers import geometry
    b = geometry(w.config, w.T).canon[block]
    return int(b["rows"]), int(b["cols"])


def _cells(w, block: str, coords: list[tuple[int, int]]) -> list:
    """``cell`` of each (r, c), the tensor rows they lie along read once (``Walk.nums``)."""
    from llmviz.walkthrough.numbers import geometry
    geo = geometry(w.config, w.T)
    b = geo.canon[block]
    return w.nums(geo._element(b, r, c) for r, c in coords)  # noqa: SLF001 - the block's cell -> element map


def features(n: int) -> list[str]:
    """Row labels of a feature vector: the index of each feature."""
    return [str(i) for i in range(n)]


def positions(w, n: int | None = None) -> list[str]:
    """Row labels of a vector over positions: the position and its token."""
    n = w.T if n is None else n
    return [f"{s} {w.token_label(w.ids[s])}" for s in range(n)]


def vocabulary(w) -> list[str]:
    """Row labels of a vector over the vocabulary: each token."""
    return [w.token_label(i) for i in range(w.V)]
