"""Numbers for the walkthrough text, taken from the live Trace and the parameters.

Pure Python (no numpy): a tensor is anything with ``.shape`` and full-tuple integer
indexing (a numpy array or ``llmviz.core.tracefile.FlatTensor``).

Every number the commentary shows is a ``Num``: its value, how it is written, and
its *source*, a small JSON-ready description of where it came from, so that a test
(or the page, on hover) can find it again:

- a cell: ``{"in": "trace", "tensor": "h.0.attn.att", "index": [0, 1, 5, 2]}`` or
  ``{"in": "params", "tensor": "transformer.wte.weight", "index": [1, 0]}``; a "*" in
  the index stands for a whole axis (a vector, for the vector operations below);
- a computation on sources: ``{"op": "sub", "args": [source_or_number, ...]}``, with
  the operations of ``OPS`` and ``VECTOR_OPS`` (``softmax_t`` also takes
  ``"temperature"`` and ``"i"``; ``count_in`` counts the entries in ``"lo" < x < "hi"``).
  ``evaluate(source, trace, params)`` recomputes it.

This module also holds a ``Geometry`` that maps tensor elements to block cells (the
block ids a model has are ``llmviz.core.shape.ModelShape.block_ids``). Step data
writes cell ranges in one *canonical* orientation, independent of the picture:

- residual-stream activations (trace shape (B, T, X)) are X rows by T columns (one
  column per position); the (B, T) aggregates (``idx``, ``*.mean``, ``*.rstd``,
  ``probs.max``, ``probs.sum``) 1 row by T columns; ``pos_emb`` C rows by T columns;
- per-head q, k, v, head_out (``h.0.attn.q[1]``): hs rows by T columns; scores and
  att: T rows (the query position) by T columns (the key position); att.max and
  att.sum: T rows by 1 column;
- Linear weights: out rows by in columns (as stored), c_attn split per kind and head
  (``h.0.attn.c_attn.q.weight[1]``: hs rows by C columns); ``wte.weight`` C rows by V
  columns and ``wpe.weight`` C rows by block_size columns (one column per token or
  position); every 1-d parameter (biases, layer-norm weights) n rows by 1 column.

What the page receives is in the grid of the scene's blocks (``llmviz.viz.layout``),
which draws a few blocks differently (the MLP's hidden activations as T rows by 4C
columns, for one): ``Geometry`` maps every range and number through the tensor
element it shows, so step data never depends on how the picture is laid out.
"""
from __future__ import annotations

import html
import math
from typing import Any, Iterable

from llmviz.core.shape import ModelShape, full_name, head_kind, lookup_param, short_name
from llmviz.locales import catalogue


# --------------------------------------------------------------------------- blocks

def canonical_blocks(shape: ModelShape, T: int) -> list[dict]:
    """Every block of ``shape.blocks()`` in the walkthrough's canonical orientation (see the
    module docstring), in the scene's block format (``trace``/``index``/``transpose`` or
    ``param``/``slice``/``transpose``, plus ``rows``/``cols``)."""
    shapes = shape.trace_shapes(1, T)
    blocks = []
    for b in shape.blocks():
        if b.trace is not None:
            s = shapes[b.trace]
            if b.head is not None:
                tr = head_kind(b.trace) in ("q", "k", "v", "head_out")   # (T, hs) per head: hs rows
                rows, cols = (s[3], s[2]) if tr else (s[2], s[3] if len(s) == 4 else 1)
                blocks.append({"id": b.id, "trace": b.trace, "index": [0, b.head], "transpose": tr,
                               "rows": rows, "cols": cols})
            elif len(s) == 2 and b.trace == "pos_emb":   # (T, C), no batch axis
                blocks.append({"id": b.id, "trace": b.trace, "index": [], "transpose": True,
                               "rows": s[1], "cols": T})
            elif len(s) == 2:
                blocks.append({"id": b.id, "trace": b.trace, "index": [0], "transpose": False,
                               "rows": 1, "cols": T})
            else:
                blocks.append({"id": b.id, "trace": b.trace, "index": [0], "transpose": True,
                               "rows": s[2], "cols": T})
            continue
        info = shape.param_info(b.param)
        s = info.shape
        if b.rows is not None:
            blocks.append({"id": b.id, "param": b.param, "slice": list(b.rows), "transpose": False,
                           "rows": b.rows[1] - b.rows[0], "cols": s[1] if len(s) == 2 else 1})
        elif info.kind == "Embedding":   # one column per token or position
            blocks.append({"id": b.id, "param": b.param, "transpose": True, "rows": s[1], "cols": s[0]})
        elif len(s) == 2:
            blocks.append({"id": b.id, "param": b.param, "transpose": False, "rows": s[0], "cols": s[1]})
        else:
            blocks.append({"id": b.id, "param": b.param, "transpose": False, "rows": s[0], "cols": 1})
    return blocks


SMALL_PARAMS = 200_000   # the condition "small": a model whose numbers one can see all at once


class Geometry:
    """Maps between tensor elements and block cells, for one config and input length.

    ``scene`` is the layout the page draws (``llmviz.viz.layout.scene``), whose grid
    the output uses; ``canon`` is the canonical orientation the step data is written
    in. They agree for most blocks; where the layout draws a block transposed (the
    MLP's hidden layer, for one), cell ranges and numbers are mapped through the
    tensor element they show, so the step data never depends on the picture.
    """

    def __init__(self, config: Any, T: int):
        self.config, self.T = config, T
        self.model = ModelShape.from_config(config)
        self.shapes = self.model.trace_shapes(1, T)
        self.canon = {b["id"]: b for b in canonical_blocks(self.model, T)}
        try:
            from llmviz.viz.layout import scene
            self.scene = {b["id"]: b for b in scene(self.model, T)["blocks"]}
        except ImportError:  # the layout module is optional for the walkthrough
            self.scene = dict(self.canon)
        self._by_source: dict[tuple[str, str], list[dict]] = {}
        for b in self.scene.values():
            key = ("trace", b["trace"]) if "trace" in b else ("params", b.get("param", ""))
            self._by_source.setdefault(key, []).append(b)

    def dims(self, block: str) -> tuple[int, int]:
        b = self.scene.get(block) or self.canon[block]
        return b["rows"], b["cols"]

    def _source_shape(self, b: dict) -> tuple[int, ...]:
        if "trace" in b:
            shape = self.shapes[b["trace"]][len(b.get("index", [])):]
        else:
            shape = self.model.param_shape(b["param"])
            if "slice" in b:
                shape = (b["slice"][1] - b["slice"][0],) + tuple(shape[1:])
        if b.get("transpose") and len(shape) >= 2:
            shape = tuple(shape[:-2]) + (shape[-1], shape[-2])
        return tuple(shape)

    def _element(self, b: dict, r: int, c: int) -> tuple[str, str, tuple]:
        """The tensor element shown by cell (r, c) of block dict ``b``."""
        shape = self._source_shape(b)
        flat = r * b["cols"] + c
        rest = []
        for n in reversed(shape):
            flat, i = divmod(flat, n)
            rest.append(i)
        rest.reverse()
        if b.get("transpose") and len(rest) >= 2:
            rest[-1], rest[-2] = rest[-2], rest[-1]
        if "trace" in b:
            return "trace", b["trace"], tuple(b.get("index", [])) + tuple(rest)
        if "slice" in b:
            rest[0] += b["slice"][0]
        return "params", b["param"], tuple(rest)

    def cell_of(self, where: str, tensor: str, index: tuple) -> tuple[str, list[int]] | None:
        """The scene block and [row, col] that show one tensor element, or None."""
        if where == "params":
            tensor = full_name(tensor)
        for b in self._by_source.get((where, tensor), []):
            rest = list(index)
            if "trace" in b:
                lead = list(b.get("index", []))
                if rest[:len(lead)] != lead:
                    continue
                rest = rest[len(lead):]
            elif "slice" in b:
                r0, r1 = b["slice"]
                if not r0 <= rest[0] < r1:
                    continue
                rest[0] -= r0
            if b.get("transpose") and len(rest) >= 2:
                rest[-1], rest[-2] = rest[-2], rest[-1]
            flat = 0
            for i, n in zip(rest, self._source_shape(b)):
                flat = flat * n + i
            return b["id"], list(divmod(flat, b["cols"]))
        return None

    def to_scene(self, block: str, r: int, c: int) -> list[int]:
        """A canonical cell of ``block`` as a cell of the scene's block."""
        canon = self.canon[block]
        if block not in self.scene or canon is self.scene.get(block):
            return [r, c]
        where, tensor, index = self._element(canon, r, c)
        found = self.cell_of(where, tensor, index)
        return found[1] if found and found[0] == block else [r, c]

    def range_to_scene(self, block: str, rng: list[int]) -> list[int]:
        """A canonical [r0, c0, r1, c1] range as the scene's range (corners mapped)."""
        a = self.to_scene(block, rng[0], rng[1])
        b = self.to_scene(block, rng[2], rng[3])
        return [min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]), max(a[1], b[1])]


_GEOMETRY: dict = {}


def geometry(config: Any, T: int) -> Geometry:
    """The (cached) Geometry for a config and input length."""
    key = (ModelShape.from_config(config), T)
    if key not in _GEOMETRY:
        if len(_GEOMETRY) > 16:
            _GEOMETRY.clear()
        _GEOMETRY[key] = Geometry(config, T)
    return _GEOMETRY[key]


def block_dims(block: str, config: Any, T: int) -> tuple[int, int]:
    """(rows, cols) of a block's cell grid in the scene, for input length T."""
    return geometry(config, T).dims(block)


def block_cell(source: dict, config: Any, T: int) -> tuple[str, list[int]] | None:
    """The scene block id and [row, col] of the cell that shows a cell source, or None."""
    if "tensor" not in source or "*" in source["index"]:
        return None
    return geometry(config, T).cell_of(source.get("in", "trace"), source["tensor"], tuple(source["index"]))


# ------------------------------------------------------------------ formatting

def fmt(value: float, digits: int | None = None) -> str:
    """A number as the commentary writes it: about three significant digits, ASCII minus."""
    if digits is not None:
        text = f"{value:.{digits}f}"
    else:
        a = abs(value)
        if a == 0:
            return "0"
        if math.isinf(value):
            return "-inf" if value < 0 else "inf"
        if a >= 1e5:
            text = f"{value:.2e}"
        elif a >= 100:
            text = f"{value:.1f}"
        elif a >= 0.0995:  # rounds to 0.10 or more
            text = f"{value:.2f}"
        elif a >= 0.00995:
            text = f"{value:.3f}"
        else:
            text = f"{value:.2g}"  # 0.0063, 0.00094, 9.4e-05
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def fmt_prob(value: float) -> str:
    """A probability: like ``fmt``, but close to 1 with enough digits to tell it from 1."""
    if 0.995 <= value < 1.0 - 5e-7:
        return f"{value:.{math.ceil(-math.log10(1.0 - value))}f}"
    return fmt(value)


class Html(str):
    """A string that is already safe HTML (the markup inserts it as is)."""


class Num:
    """A number for the text, with the source it was read or computed from."""

    __slots__ = ("value", "source", "digits", "style")

    def __init__(self, value: float | int | None, source: dict, digits: int | None = None,
                 style: str | None = None):
        self.value, self.source, self.digits, self.style = value, source, digits, style

    @property
    def text(self) -> str:
        if self.value is None:
            return "?"
        if isinstance(self.value, int):
            return str(self.value)
        if self.style == "prob" and self.digits is None:
            return fmt_prob(self.value)
        return fmt(self.value, self.digits)

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self) -> str:
        return f"Num({self.text}, {self.source})"


# ------------------------------------------------------------------ evaluation

OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "exp": lambda a: math.exp(a),
    "log": lambda a: math.log(a),
    "sqrt": lambda a: math.sqrt(a),
    "recip": lambda a: 1.0 / a,
    "square": lambda a: a * a,
}


def _softmax_t(xs: list[float], temperature: float, i: int) -> float:
    scaled = [x / temperature for x in xs]
    m = max(scaled)
    exps = [math.exp(x - m) for x in scaled]
    return exps[i] / sum(exps)


VECTOR_OPS = {
    "sum": lambda xs: math.fsum(xs),
    "var": lambda xs: math.fsum((x - math.fsum(xs) / len(xs)) ** 2 for x in xs) / len(xs),
    "mean": lambda xs: math.fsum(xs) / len(xs),
    "max": lambda xs: max(xs),
    "min": lambda xs: min(xs),
    "argmax": lambda xs: max(range(len(xs)), key=lambda i: xs[i]),
    "norm": lambda xs: math.sqrt(math.fsum(x * x for x in xs)),
    "count_neg": lambda xs: sum(1 for x in xs if x < 0),
    "dot": lambda xs, ys: math.fsum(x * y for x, y in zip(xs, ys)),
}


class MissingParams(LookupError):
    """A source names a parameter but no parameters were given."""


def param_tensor(params: Any, name: str):
    """A parameter by state-dict name, with or without the ``transformer.`` prefix."""
    if params is None:
        raise MissingParams(name)
    try:
        return lookup_param(params, name)
    except KeyError:
        raise MissingParams(name) from None


def read_cell(source: dict, trace: Any, params: Any):
    """The value (or, with a "*" in the index, the list of values) a cell source names."""
    tensor = trace[source["tensor"]] if source.get("in", "trace") == "trace" \
        else param_tensor(params, source["tensor"])
    index = list(source["index"])
    if index and index[-1] == "*" and "*" not in index[:-1]:   # a row: read at once, not value by value
        return [float(v) for v in tensor[tuple(index[:-1])].tolist()]
    if "*" in index:
        axis = index.index("*")
        n = tensor.shape[axis]
        out = []
        for i in range(n):
            index[axis] = i
            out.append(float(tensor[tuple(index)]))
        return out
    value = tensor[tuple(index)]
    if getattr(tensor, "dtype", None) is not None and "int" in str(tensor.dtype):
        return int(value)
    return float(value)


def evaluate(source: Any, trace: Any, params: Any = None):
    """Recompute the value a source describes (a number, or a list for a vector)."""
    if isinstance(source, (int, float)):
        return source
    if "tensor" in source:
        return read_cell(source, trace, params)
    return apply_op(source, [evaluate(a, trace, params) for a in source["args"]])


def apply_op(source: dict, args: list):
    """An op source's value from the values of its arguments."""
    op = source["op"]
    if op == "softmax_t":
        return _softmax_t(args[0], source["temperature"], source["i"])
    if op == "count_in":
        return sum(1 for x in args[0] if source["lo"] < x < source["hi"])
    if op in VECTOR_OPS:
        return VECTOR_OPS[op](*args)
    return OPS[op](*args)


# ------------------------------------------------------------------ the walk

class Walk:
    """Everything a step needs to fill its text: sizes, chosen position/layer/head, numbers.

    ``t`` is the position the commentary follows (the last one, whose output is the
    next token), ``L`` the layer and ``h`` the head it zooms into: 0 and 0, or what
    ``ctx["follow"]`` says (``{"layer": L, "head": h}``, see ``ModelShape.follow``).
    ``shape`` is the model's ``ModelShape``. ``lang`` is the language the text is written in
    (``ctx["lang"]``), ``words`` its catalogue, and ``say(key, **values)`` one of its texts.
    """

    def __init__(self, ctx: Any):
        get = ctx.get if isinstance(ctx, dict) else (lambda k, d=None: getattr(ctx, k, d))
        self.trace = get("trace")
        if self.trace is None:
            raise ValueError("the walkthrough needs a trace (ctx['trace'])")
        self.config = get("config") or self.trace.config
        self.shape = ModelShape.from_config(self.config)
        self.params = get("params")
        vocab = get("vocab")
        vocab = getattr(vocab, "tokens", vocab)
        self.vocab = list(vocab) if vocab is not None else [str(i) for i in range(self.shape.V)]
        idx = self.trace["idx"]
        self.T = int(idx.shape[1])
        self.ids = [int(idx[0, i]) for i in range(self.T)]
        self.target_text = get("target_text")
        self.words = catalogue(get("lang"))
        self.lang = self.words.lang
        self.nanogpt = get("nanogpt") is not False   # does the code panel have nanoGPT's source?
        task = get("task")  # "sort", or a model card's task dict ({"name": "sort", ...})
        if isinstance(task, dict):
            self.input_len = int(task.get("input_len", 6))
            task = task.get("name")
        else:
            self.input_len = 6
        self.task = task or ("sort" if self.vocab == ["A", "B", "C"] else "text")
        d = self.shape.dims(self.T)
        self.dims = d
        self.C, self.V, self.nh, self.hs = d["C"], d["V"], d["nh"], d["hs"]
        self.n_layer, self.block_size = d["n_layer"], d["block_size"]
        self.bias = self.shape.bias
        follow = self.shape.follow(get("follow"))
        self.t, self.L, self.h = self.T - 1, follow["layer"], follow["head"]
        self.LL = self.n_layer - 1

    # ---- template variables for block ids, cells and animations
    def vars(self) -> dict:
        return {"t": self.t, "L": self.L, "h": self.h, "LL": self.LL, "T": self.T, "C": self.C,
                "V": self.V, "nh": self.nh, "hs": self.hs, "n_layer": self.n_layer,
                "tm": self.mask_row(), "C4": 4 * self.C, "k": self.ids[self.t],
                "xin": self.stream_in(self.L), "h2": self.nh - 1, "s": 0,
                "next": self.argmax_token(self.t), "j": self.fc_row()}

    def n_params(self) -> int:
        """How many numbers the weights hold (lm_head counted once if the given weights tie
        it to wte; without weights, counted apart)."""
        return self.shape.param_count(tied=self.tied())

    def tied(self) -> bool:
        """Whether lm_head's weights are wte's (nanoGPT's weight tying), in the weights given."""
        if not hasattr(self, "_tied_cache"):
            self._tied_cache = self.params is not None and self._tied()
        return self._tied_cache

    def _tied(self) -> bool:
        try:
            a = param_tensor(self.params, "lm_head.weight")
            b = param_tensor(self.params, "transformer.wte.weight")
        except MissingParams:
            return False
        return a is b or a.tolist() == b.tolist()

    def stream_in(self, layer: int) -> str:
        """The block id of the residual stream entering ``layer``."""
        return "x" if layer == 0 else f"h.{layer - 1}.x"

    def fc_row(self) -> int:
        """The MLP hidden unit the commentary follows: the one whose input at position t is
        closest to -0.5, where GELU's bend is easy to see on the plot."""
        col = self.values(self.vec(f"h.{self.L}.mlp.fc", 0, self.t, "*"))
        return min(range(len(col)), key=lambda j: abs(col[j] + 0.5))

    def forward_path(self) -> list[str]:
        """The main blocks in forward order, for the intro's sweep."""
        path = ["idx", "tok_emb", "pos_emb", "x"]
        for i in range(self.n_layer):
            p = f"h.{i}."
            path += [p + "ln_1", p + "attn.y", p + "attn.out", p + "x_attn", p + "ln_2",
                     p + "mlp.fc", p + "mlp.gelu", p + "mlp.out", p + "x"]
        return path + ["ln_f", "logits", "probs"]

    def sum_expr(self, pairs: list[tuple[Num, Num]], n_total: int, bias: Num | None,
                 result: Num) -> tuple:
        """``a × b + c × d + … (n products) + bias = result``, as parts for the markup."""
        def bracket(n: Num) -> list:
            return ["(", n, ")"] if n.value is not None and n.value < 0 else [n]

        parts: list = []
        for i, (a, b) in enumerate(pairs):
            parts += ([" + "] + bracket(a) if i else [a]) + [" × "] + bracket(b)
        if n_total > len(pairs):
            parts.append(" + … " + self.say("words.products_in_all", n=n_total))
        if bias is not None:
            parts += [" + "] + bracket(bias)
        parts += [" = ", result]
        return tuple(parts)

    def say(self, key: str, **values: Any) -> str:
        """The catalogue's text ``key`` in the walk's language, ``{{names}}`` filled (plain text)."""
        return self.words.text(key, **values)

    def mask_row(self) -> int:
        """The query row the causal-mask step shows: one with masked entries to its right."""
        return max(0, (self.T - 1) // 2)

    def cond(self, name: str) -> bool:
        if name == "*":
            return True
        if name == "sort":
            return self.task == "sort"
        if name == "target":
            return self.target() is not None
        if name == "bias":
            return self.bias
        if name == "multi_layer":
            return self.n_layer > 1
        if name == "multi_head":
            return self.nh > 1
        if name == "params":
            return self.params is not None
        if name == "nanogpt":
            return self.nanogpt
        if name == "gelu_tanh":
            return self.shape.gelu == "tanh"
        if name == "small":      # few enough numbers to read them all on one screen
            return self.shape.param_count() <= SMALL_PARAMS
        raise KeyError(f"unknown text condition {name!r}")

    # ---- numbers
    def act(self, tensor: str, *index: int, digits: int | None = None, style: str | None = None) -> Num:
        """A value of the trace, e.g. ``w.act("x", 0, t, c)``."""
        source = {"in": "trace", "tensor": tensor, "index": list(index)}
        return Num(read_cell(source, self.trace, None), source, digits, style)

    def nums(self, elements: Iterable[tuple[str, str, tuple]]) -> list[Num]:
        """``act`` or ``par`` of each element (``geometry``'s (where, tensor, index)), the same
        Nums; the elements along one row of a float tensor read that row once, not value by value
        (a big model's dot product: 2 x 4C values, 15-35 ms of a step's render in the page)."""
        rows: dict[tuple, list | None] = {}
        out = []
        for where, tensor, index in elements:
            if where != "params" and "int" in str(getattr(self.trace[tensor], "dtype", "")):
                out.append(self.act(tensor, *index))     # token ids: ints, one at a time
                continue
            source = ({"in": "params", "tensor": full_name(short_name(tensor)), "index": list(index)}
                      if where == "params" else {"in": "trace", "tensor": tensor, "index": list(index)})
            key = (source["in"], source["tensor"], tuple(index[:-1]))
            if key not in rows:
                try:
                    rows[key] = read_cell({**source, "index": [*index[:-1], "*"]}, self.trace, self.params)
                except MissingParams:
                    rows[key] = None
            row = rows[key]
            out.append(Num(row[index[-1]] if row is not None else None, source))
        return out

    def prob(self, tensor: str, *index: int) -> Num:
        """A probability of the trace (near 1 it shows enough digits to differ from 1)."""
        return self.act(tensor, *index, style="prob")

    def par(self, name: str, *index: int, digits: int | None = None) -> Num:
        """A parameter value by state-dict name without ``transformer.`` (``"wte.weight"``)."""
        source = {"in": "params", "tensor": full_name(name), "index": list(index)}
        try:
            value = read_cell(source, self.trace, self.params)
        except MissingParams:
            value = None
        return Num(value, source, digits)

    def qkv_w(self, kind: str, L: int, h: int, j: int, i: int, **kw) -> Num:
        """Row j of head h's query/key/value weights (a slice of c_attn.weight), column i."""
        return self.par(f"h.{L}.attn.c_attn.weight", self.shape.c_attn_rows(kind, h)[0] + j, i, **kw)

    def qkv_b(self, kind: str, L: int, h: int, j: int, **kw) -> Num:
        return self.par(f"h.{L}.attn.c_attn.bias", self.shape.c_attn_rows(kind, h)[0] + j, **kw)

    def vec(self, tensor: str, *index: Any, params: bool = False) -> dict:
        """A vector source: one index is "*" (e.g. ``w.vec("x", 0, t, "*")``)."""
        if params:
            return {"in": "params", "tensor": full_name(tensor), "index": list(index)}
        return {"in": "trace", "tensor": tensor, "index": list(index)}

    def op(self, op: str, *args: Any, digits: int | None = None, style: str | None = None, **extra) -> Num:
        """A computed number, e.g. ``w.op("sub", w.act(...), w.act(...))``."""
        srcs = [a.source if isinstance(a, Num) else a for a in args]
        source = {"op": op, "args": srcs, **extra}
        # a Num's value is its source's (read or computed once already): not read again
        try:
            values = [a.value if isinstance(a, Num) else evaluate(a, self.trace, self.params) for a in args]
            value = None if any(v is None for v in values) else apply_op(source, values)
        except MissingParams:
            value = None
        if op in ("argmax", "count_neg", "count_in"):
            value = int(value) if value is not None else None
        return Num(value, source, digits, style)

    def values(self, vector: dict) -> list[float]:
        return read_cell(vector, self.trace, self.params)

    # ---- tokens
    def token_label(self, i: int) -> str:
        if 0 <= i < len(self.vocab):
            s = self.vocab[i]
        else:
            return f"#{i}"
        named = {"\n": "\\n", " ": "␣", "\t": "\\t", "": "∅"}
        return named.get(s, s if s.isprintable() else repr(s)[1:-1])

    def tok(self, i: int) -> Html:
        """Token ``i`` as a safe, quoted chip: <span class="tok">B</span>."""
        return Html(f'<span class="tok" data-token="{int(i)}">{html.escape(self.token_label(i))}</span>')

    def tok_at(self, t: int) -> Html:
        return self.tok(self.ids[t])

    def idx(self, t: int) -> Num:
        return self.act("idx", 0, t)

    def text_of(self, ids: Iterable[int]) -> Html:
        return Html("".join(self.tok(i) for i in ids))

    def writes_last_letter(self) -> bool:
        """This pass writes the sort task's last answer letter: input_len letters in, the first
        input_len - 1 of the answer already written; the task stops after it (nothing is fed back)."""
        return self.task == "sort" and self.T == 2 * self.input_len - 1

    def argmax_token(self, t: int) -> int:
        row = self.values(self.vec("probs", 0, t, "*"))
        return max(range(len(row)), key=lambda i: row[i])

    def target(self) -> int | None:
        """The token the last position should predict, when known.

        ``target_text`` is what should follow the input; its first token is the
        target. Without it, the sort task knows its answer: the input letters sorted.
        """
        text = self.target_text
        if text:
            for i, s in sorted(enumerate(self.vocab), key=lambda p: -len(p[1])):
                if s and text.startswith(s):
                    return i
            return None
        n = self.input_len
        if self.task == "sort" and self.T >= n:
            letters = [self.vocab[i] for i in self.ids[:n]]
            answer = sorted(letters)
            k = self.T - n
            if k < len(answer):
                return self.vocab.index(answer[k])
        return None

    def cols(self, *ranges: tuple) -> list:
        return [list(r) for r in ranges]
