"""Code annotations: find lines of a Python file by symbol and selector, then highlight them.

A code reference is data, not pasted code: ``CodeRef("nanogpt",
"CausalSelfAttention.forward", Assign("att", calls="softmax"))`` names the
statement that assigns ``att`` by calling ``softmax`` inside that method.
``resolve`` parses the file with ``ast``, finds the one place the selector
describes and returns the file's own lines as a ``Snippet``. A selector that
matches nothing, or more than one place, raises ``SelectorError`` naming it, so
a change in the source file breaks the build instead of showing the wrong lines.

Selector kinds (all frozen dataclasses, so a catalogue of them reads as data):

==================================  ==================================================
``Whole()``                         the whole symbol (def or class, decorators included)
``Init()``                          a class's ``__init__``
``Assign(name, calls, uses, nth)``  the statement assigning to ``name`` (also ``+=``
                                    and tuple targets; ``name`` may be dotted, e.g.
                                    ``self.c_attn``), optionally only those whose value
                                    calls ``calls`` or mentions ``uses``
``Call(func, nth)``                 the statement that calls ``func``
``Return(nth)``                     the return statement
``ForLoop(over, nth)``              the for loop whose iterable is ``over``
``If(uses, nth)``                   the if statement whose test mentions ``uses``
``Span(first, last)``               the lines from one statement to another
==================================  ==================================================

Dotted names match by their tail: ``calls="softmax"`` matches ``F.softmax(...)``
and ``softmax(...)``; ``calls="self.c_proj"`` matches only ``self.c_proj(...)``.
``nth`` (1-based, in file order; -1 for the last) picks one of several matches.

Variables: ``bind`` takes ``Var`` specs (which statement gives a variable which
meaning) and marks every use of the variable in a snippet with that meaning, by
a small def-use pass over the function; ``highlight`` then wraps those tokens in
``<span class="var" data-block=...>`` and writes a note (e.g. ``q: (1, 3, 11, 16)``)
beside the line that assigns them.

Weights: ``bind_weights`` takes ``Weights`` specs (which attribute chain, e.g.
``self.c_fc``, or which keyword, e.g. ``wte=`` in ``dict(wte=...)``, names which
module of the model) and marks each of those tokens in a snippet; ``highlight``
wraps the whole chain in ``<span class="var param" data-var=... data-block=...
data-blocks=... data-params=...>``, so it is hovered and lit like a variable.

Pure Python (``ast`` + pygments); no numpy, so it runs in the page as well. The page runs it
without pygments: build.py stores each snippet's tokens (``lex``) in data/code.json, and
``highlight`` uses a snippet's ``tokens`` when it has them.
"""
from __future__ import annotations

import ast
import functools
import html
import io
from dataclasses import field, fields, replace, dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence, Union

__all__ = [
    "SelectorError", "Whole", "Init", "Assign", "Call", "Return", "ForLoop", "If", "Span",
    "Param", "Selector", "CodeRef", "Snippet", "Var", "Weights", "resolve", "bind", "bind_weights",
    "highlight", "lex", "css",
    "source_lines", "scope_of", "with_scope",
]


class SelectorError(LookupError):
    """A code reference matched no place, or more than one place, in its source file."""


# ----------------------------------------------------------------------------
# selectors


class _Selector:
    def describe(self) -> str:
        """A short, readable form, e.g. ``Assign('att', calls='softmax')``."""
        args = []
        for i, f in enumerate(fields(self)):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, _Selector):
                text = value.describe()
            else:
                text = repr(value)
            args.append(text if i == 0 else f"{f.name}={text}")
        return f"{type(self).__name__}({', '.join(args)})"

    __str__ = describe


@dataclass(frozen=True)
class Whole(_Selector):
    """The whole symbol: its def or class statement and body, decorators included."""


@dataclass(frozen=True)
class Init(_Selector):
    """The ``__init__`` method of the class named by the symbol."""


@dataclass(frozen=True)
class Assign(_Selector):
    """The statement assigning to ``name`` (optionally: whose value calls/mentions a name)."""
    name: str
    calls: str | None = None
    uses: str | None = None
    nth: int | None = None


@dataclass(frozen=True)
class Call(_Selector):
    """The statement that calls ``func``."""
    func: str
    nth: int | None = None


@dataclass(frozen=True)
class Return(_Selector):
    """The return statement."""
    nth: int | None = None


@dataclass(frozen=True)
class ForLoop(_Selector):
    """The for loop over ``over`` (its iterable, or the function its iterable calls)."""
    over: str
    nth: int | None = None


@dataclass(frozen=True)
class If(_Selector):
    """The if statement whose test mentions ``uses``."""
    uses: str
    nth: int | None = None


@dataclass(frozen=True)
class Span(_Selector):
    """Every line from the first line of ``first`` to the last line of ``last``."""
    first: "Selector"
    last: "Selector"


@dataclass(frozen=True)
class Param(_Selector):
    """For ``Var`` only: the variable is the function's parameter of that name."""


Selector = Union[Whole, Init, Assign, Call, Return, ForLoop, If, Span, Param]


@dataclass(frozen=True)
class CodeRef:
    """Where a computation lives: a source (``"nanogpt"`` or ``"port"``), a symbol, a selector.

    ``symbol`` is a dotted path of defs and classes (``"GPT.forward"``,
    ``"LayerNorm"``, ``"softmax"``); ``select`` None means the whole symbol.
    ``role`` says how the page shows it: ``"forward"`` (the computation),
    ``"init"`` (where the parameters are made; shown collapsed), ``"compact"``
    (a line or two for a granular step), ``"excerpt"`` (longer lines of a function
    that a step marks inside the whole function), ``"config"`` (a config class, with the
    loaded model's values beside it), ``"outline"`` (a class with its bodies folded). ``file`` overrides the source's default file.
    """
    source: str
    symbol: str
    select: Selector | None = None
    role: str = "forward"
    file: str | None = None

    def describe(self) -> str:
        sel = (self.select or Whole()).describe()
        return f"{self.source}:{self.symbol} {sel}"


@dataclass
class Snippet:
    """Lines ``first..last`` (1-based, inclusive) of ``file``; ``text`` is exactly those lines.

    ``symbol`` is the def or class the lines belong to (``Init`` resolves to
    ``"X.__init__"``). ``vars``, ``notes`` and ``occurrences`` are filled by ``bind``;
    ``weights`` and ``weight_occurrences`` by ``bind_weights``.
    """
    source: str
    file: str
    symbol: str
    lines: tuple[int, int]
    text: str
    role: str = "forward"
    selector: str = ""
    url: str | None = None
    source_text: str = field(default="", repr=False, compare=False)
    vars: list[dict] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    occurrences: dict[tuple[int, int], dict] = field(default_factory=dict)
    weights: list[dict] = field(default_factory=list)
    weight_occurrences: dict[tuple[int, int], dict] = field(default_factory=dict)
    # pygments' tokens of the shown text, as (css class, text) pairs (``lex``): set, ``highlight``
    # needs no pygments (the page gets them from data/code.json, lexed at build time)
    tokens: tuple[tuple[str, str], ...] | None = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------
# parsing and symbol lookup


def source_lines(text: str) -> list[str]:
    """The file's lines as Python numbers them (universal newlines), without line ends."""
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline=None).readlines()]


@functools.lru_cache(maxsize=64)
def _parse(text: str) -> tuple[ast.Module, tuple[str, ...]]:
    return ast.parse(text), tuple(source_lines(text))


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _find_symbol(tree: ast.Module, symbol: str, filename: str) -> ast.AST:
    node: ast.AST = tree
    for part in symbol.split("."):
        found = [n for n in getattr(node, "body", []) if isinstance(n, _DEFS) and n.name == part]
        if not found:
            raise SelectorError(f"{filename}: no def or class {symbol!r} (missing {part!r})")
        if len(found) > 1:
            lines = ", ".join(str(n.lineno) for n in found)
            raise SelectorError(f"{filename}: {symbol!r} is defined {len(found)} times (lines {lines})")
        node = found[0]
    return node


def _first_line(node: ast.AST) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _statements(node: ast.AST) -> Iterator[ast.stmt]:
    """Every statement inside ``node`` in file order, nested blocks included, nested defs not."""
    for name in ("body", "orelse", "finalbody"):
        for stmt in getattr(node, name, []) or []:
            if not isinstance(stmt, ast.stmt):
                continue
            yield stmt
            if not isinstance(stmt, _DEFS):
                yield from _statements(stmt)
    for handler in getattr(node, "handlers", []) or []:
        yield from _statements(handler)
    for case in getattr(node, "cases", []) or []:
        yield from _statements(case)


def _header(stmt: ast.stmt) -> list[ast.AST]:
    """The expressions a statement owns itself (a compound statement's header, not its body)."""
    if isinstance(stmt, (ast.If, ast.While)):
        return [stmt.test]
    if isinstance(stmt, (ast.For, ast.AsyncFor)):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, (ast.With, ast.AsyncWith)):
        return list(stmt.items)
    if isinstance(stmt, ast.Match):
        return [stmt.subject]
    if isinstance(stmt, (ast.Try,) + _DEFS):
        return []
    return [stmt]


def _parts(node: ast.AST) -> list[str]:
    """``self.c_attn`` -> ['self', 'c_attn']; a non-name link in the chain becomes '?'."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return _parts(node.value) + [node.attr]
    return ["?"]


def _tail_is(node: ast.AST, dotted: str) -> bool:
    want = dotted.split(".")
    return _parts(node)[-len(want):] == want


def _calls(nodes: Iterable[ast.AST], func: str) -> bool:
    return any(isinstance(n, ast.Call) and _tail_is(n.func, func)
               for node in nodes for n in ast.walk(node))


def _mentions(nodes: Iterable[ast.AST], name: str) -> bool:
    return any(isinstance(n, (ast.Name, ast.Attribute)) and _tail_is(n, name)
               for node in nodes for n in ast.walk(node))


def _targets(stmt: ast.stmt) -> list[ast.AST]:
    if isinstance(stmt, ast.Assign):
        raw = list(stmt.targets)
    elif isinstance(stmt, (ast.AugAssign, ast.AnnAssign)):
        raw = [stmt.target]
    else:
        return []
    out = []
    while raw:
        t = raw.pop(0)
        if isinstance(t, (ast.Tuple, ast.List)):
            raw = list(t.elts) + raw
        elif isinstance(t, ast.Starred):
            raw.insert(0, t.value)
        else:
            out.append(t)
    return out


def _matches(sel: Selector, stmt: ast.stmt) -> bool:
    if isinstance(sel, Assign):
        if not any(_parts(t) == sel.name.split(".") for t in _targets(stmt)):
            return False
        value = [stmt.value] if getattr(stmt, "value", None) is not None else []
        if sel.calls is not None and not _calls(value, sel.calls):
            return False
        if sel.uses is not None and not _mentions(value, sel.uses):
            return False
        return True
    if isinstance(sel, Call):
        return _calls(_header(stmt), sel.func)
    if isinstance(sel, Return):
        return isinstance(stmt, ast.Return)
    if isinstance(sel, ForLoop):
        if not isinstance(stmt, (ast.For, ast.AsyncFor)):
            return False
        it = stmt.iter
        return _tail_is(it, sel.over) or (isinstance(it, ast.Call) and _tail_is(it.func, sel.over))
    if isinstance(sel, If):
        return isinstance(stmt, ast.If) and _mentions([stmt.test], sel.uses)
    raise TypeError(f"not a statement selector: {sel!r}")


def _lines_of(node: ast.AST) -> tuple[int, int]:
    return _first_line(node), node.end_lineno


def _select(scope: ast.AST, sel: Selector, where: str) -> tuple[int, int]:
    """The line range that ``sel`` picks inside ``scope``; SelectorError unless exactly one."""
    if sel is None or isinstance(sel, Whole):
        return _lines_of(scope)
    if isinstance(sel, Init):
        if not isinstance(scope, ast.ClassDef):
            raise SelectorError(f"{where}: {sel.describe()} needs a class symbol")
        inits = [n for n in scope.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
        if len(inits) != 1:
            raise SelectorError(f"{where}: {sel.describe()} matches {len(inits)} places")
        return _lines_of(inits[0])
    if isinstance(sel, Span):
        first = _select(scope, sel.first, where)
        last = _select(scope, sel.last, where)
        if last[1] < first[0]:
            raise SelectorError(f"{where}: {sel.describe()} ends (line {last[1]}) before it "
                                f"starts (line {first[0]}); swap first and last")
        return first[0], last[1]
    return _lines_of(_one_statement(scope, sel, where))


def _one_statement(scope: ast.AST, sel: Selector, where: str) -> ast.stmt:
    found = [s for s in _statements(scope) if _matches(sel, s)]
    nth = getattr(sel, "nth", None)
    if nth is not None:
        index = nth - 1 if nth > 0 else len(found) + nth
        if not 0 <= index < len(found):
            raise SelectorError(f"{where}: {sel.describe()} asks for match {nth} but there are "
                                f"{len(found)}" + _at(found))
        return found[index]
    if len(found) != 1:
        hint = "" if not found else "; add nth= or a calls=/uses= filter to pick one"
        raise SelectorError(f"{where}: {sel.describe()} matches {len(found)} places{_at(found)}{hint}")
    return found[0]


def _at(found: Sequence[ast.AST]) -> str:
    return f" (lines {', '.join(str(s.lineno) for s in found)})" if found else ""


def _scope(ref: CodeRef, tree: ast.Module, filename: str) -> tuple[ast.AST, str]:
    """The def the ref's lines live in, and its qualified name."""
    node = _find_symbol(tree, ref.symbol, filename)
    if isinstance(ref.select, Init):
        _select(node, ref.select, f"{filename}:{ref.symbol}")  # raises unless exactly one
        init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        return init, ref.symbol + ".__init__"
    return node, ref.symbol


def resolve(ref: CodeRef, source_text: str, filename: str) -> Snippet:
    """The snippet of ``source_text`` that ``ref`` selects; SelectorError if not exactly one."""
    tree, lines = _parse(source_text)
    where = f"{filename}:{ref.symbol}"
    node = _find_symbol(tree, ref.symbol, filename)
    first, last = _select(node, ref.select, where)
    _, symbol = _scope(ref, tree, filename)
    return Snippet(source=ref.source, file=filename, symbol=symbol, lines=(first, last),
                   text="\n".join(lines[first - 1:last]), role=ref.role,
                   selector=ref.describe(), source_text=source_text)


# ----------------------------------------------------------------------------
# variables: which tokens of a snippet carry which tensor


@dataclass(frozen=True)
class Var:
    """A meaning of a code variable inside one function.

    ``at`` is the statement that gives ``name`` this meaning (``Param()``: the
    function's parameter). ``block`` is the id of the block that shows the value
    (a template, e.g. ``"h.{i}.attn.q"``; None: no block). ``shape`` None means the
    block's trace shape; a string names another trace tensor whose shape it has;
    a tuple spells it in dims (``("B", "T", "C")``). ``keepdims`` appends a 1, as
    numpy's ``keepdims=True`` does. Name ``"return"`` with ``at=Return()`` notes
    the shape a function returns.
    """
    name: str
    block: str | None
    at: Selector = Param()
    shape: str | tuple | None = None
    keepdims: bool = False


def _function_scope(tree: ast.Module, symbol: str, filename: str) -> ast.AST:
    return _find_symbol(tree, symbol, filename)


def scope_of(snippet: Snippet) -> tuple[int, str]:
    """The lines of the def (or class) a snippet belongs to: ``(first line, text)``.

    With ``with_scope`` this is all ``bind`` needs, so a page can bind variables
    for a new input length without holding the whole source file.
    """
    tree, lines = _parse(snippet.source_text)
    node = _find_symbol(tree, snippet.symbol, snippet.file)
    first, last = _lines_of(node)
    return first, "\n".join(lines[first - 1:last])


def with_scope(snippet: Snippet, first: int, text: str) -> Snippet:
    """``snippet`` with a stand-in source made from its scope alone (see ``scope_of``).

    The stand-in keeps the file's line numbers: blank lines up to the scope, and
    for a method one ``class Name:`` line just above it, so ``bind`` finds the
    symbol where the real file has it.
    """
    parts = snippet.symbol.split(".")
    if len(parts) > 2 or (len(parts) == 2 and first < 2):
        raise ValueError(f"cannot rebuild the scope of {snippet.symbol!r} at line {first}")
    head = [""] * (first - 1)
    if len(parts) == 2:
        head[-1] = f"class {parts[0]}:"
    return replace(snippet, source_text="\n".join(head + [text]) + "\n")


def bind(snippet: Snippet, specs: Sequence[Var], describe: Callable[[Var], dict | None],
         source_text: str | None = None) -> Snippet:
    """A copy of ``snippet`` with ``vars``, ``notes`` and ``occurrences`` filled in.

    ``describe(spec)`` gives ``{"block": id|None, "shape": tuple|None, ...}`` for a
    spec in the current context (any extra keys are kept), or None to leave it out.
    Each name token in the snippet is bound to the meaning of the last statement
    before it that assigned the name (or to the parameter); tokens whose
    meaning has no spec are left plain.
    """
    text = snippet.source_text if source_text is None else source_text
    uses, defs = _plan(text, snippet.file, snippet.symbol, tuple(specs))
    infos = [describe(spec) for spec in specs]
    first, last = snippet.lines

    occurrences: dict[tuple[int, int], dict] = {}
    for line, col, name, index in uses:
        if first <= line <= last and infos[index] is not None:
            occurrences[(line, col)] = {"name": name, **infos[index]}

    # one entry per meaning that shows up in the snippet
    vars_: dict[tuple, dict] = {}
    for (line, _col), occ in sorted(occurrences.items()):
        key = (occ["name"], occ.get("block"), occ.get("shape"))
        entry = vars_.setdefault(key, {**occ, "lines": []})
        if line not in entry["lines"]:
            entry["lines"].append(line)

    notes_by_line: dict[int, list[tuple[str, Any]]] = {}
    for line, index in defs:
        spec, info = specs[index], infos[index]
        if info is None or not first <= line <= last:
            continue
        if info.get("shape") is not None:
            notes_by_line.setdefault(line, []).append((spec.name, tuple(info["shape"])))
        if spec.name == "return":
            key = ("return", info.get("block"), info.get("shape"))
            vars_.setdefault(key, {"name": "return", **info, "lines": [line]})
    notes = {line: _note(items) for line, items in sorted(notes_by_line.items())}

    return replace(snippet, vars=list(vars_.values()), notes=notes, occurrences=occurrences)


@functools.lru_cache(maxsize=128)
def _plan(text: str, filename: str, symbol: str, specs: tuple[Var, ...]
          ) -> tuple[list[tuple[int, int, str, int]], list[tuple[int, int]]]:
    """Where each spec's variable occurs in the function (line, column in characters,
    name, spec index), and the line where each spec's meaning is made."""
    tree, lines = _parse(text)
    func = _function_scope(tree, symbol, filename)
    where = f"{filename}:{symbol}"

    statements = list(_statements(func))
    order = {id(s): i for i, s in enumerate(statements)}
    owner: dict[int, ast.stmt] = {}
    for s in statements:
        for h in _header(s):
            for n in ast.walk(h):
                owner.setdefault(id(n), s)

    # which statement (or parameter) gives which name which meaning
    meaning_at: dict[tuple[str, int], int] = {}   # (name, statement order) -> spec index
    param_meaning: dict[str, int] = {}
    def_lines: list[tuple[int, int]] = []
    args = func.args if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    params = [] if args is None else args.posonlyargs + args.args + args.kwonlyargs
    for index, spec in enumerate(specs):
        if isinstance(spec.at, Param):
            if spec.name not in [a.arg for a in params]:
                raise SelectorError(f"{where}: var {spec.name!r} is marked Param() but the "
                                    f"function has no such parameter")
            param_meaning[spec.name] = index
            def_lines.append((func.lineno, index))
        else:
            stmt = _one_statement(func, spec.at, f"{where} var {spec.name!r}")
            meaning_at[(spec.name, order[id(stmt)])] = index
            def_lines.append((stmt.lineno, index))

    # every statement that (re)binds each name, mapped or not
    rebinds: dict[str, list[int]] = {}
    for s in statements:
        for h in _header(s):
            for n in ast.walk(h):
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                    rebinds.setdefault(n.id, []).append(order[id(s)])

    uses: list[tuple[int, int, str, int]] = []

    def mark(line: int, col_bytes: int, name: str, index: int | None) -> None:
        if index is not None:
            col = len(lines[line - 1].encode("utf-8")[:col_bytes].decode("utf-8", "replace"))
            uses.append((line, col, name, index))

    for a in params:
        mark(a.lineno, a.col_offset, a.arg, param_meaning.get(a.arg))
    for node in ast.walk(func):
        if not isinstance(node, ast.Name) or id(node) not in owner:
            continue
        stmt_index = order[id(owner[id(node)])]
        if isinstance(node.ctx, ast.Store):
            index = meaning_at.get((node.id, stmt_index))
        else:
            earlier = [i for i in rebinds.get(node.id, []) if i < stmt_index]
            index = meaning_at.get((node.id, earlier[-1])) if earlier else param_meaning.get(node.id)
        mark(node.lineno, node.col_offset, node.id, index)
    return uses, def_lines


def _shape_text(shape: Sequence[int]) -> str:
    """``(1, 11, 48)``; a 1-tuple keeps its comma: ``(48,)``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _note(items: list[tuple[str, tuple]]) -> str:
    """``[("q", s), ("k", s)]`` -> ``"q, k: (1, 11, 48)"``; a return reads ``"returns (..)"``."""
    groups: dict[tuple, list[str]] = {}
    for name, shape in items:
        groups.setdefault(shape, []).append(name)
    parts = []
    for shape, names in groups.items():
        text = _shape_text(shape)
        named = [n for n in names if n != "return"]
        if named:
            parts.append(f"{', '.join(named)}: {text}")
        if len(named) != len(names):
            parts.append(f"returns {text}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------
# weights: which tokens of a snippet name a module (or parameter) of the model


@dataclass(frozen=True)
class Weights:
    """A module or parameter of the model, as one function names it.

    ``path`` is a dotted attribute chain (``"self.c_fc"``, ``"self.transformer.wte"``,
    ``"self.weight"``): every such chain in the function, read or assigned, is
    marked (also inside a longer chain: ``self.weight`` in ``self.weight.shape``).
    A ``path`` without a dot is a keyword argument (``wte`` in ``dict(wte=...)``).
    ``module`` is the module's or parameter's name in the model, a template like
    ``Var.block`` (``"h.{i}.mlp.c_fc"``, ``"{ln}.weight"``).
    """
    path: str
    module: str


def bind_weights(snippet: Snippet, specs: Sequence[Weights], describe: Callable[[Weights], dict | None],
                 source_text: str | None = None) -> Snippet:
    """A copy of ``snippet`` with ``weights`` and ``weight_occurrences`` filled in.

    ``describe(spec)`` gives ``{"block": id, "blocks": [scene ids], ...}`` for a spec
    in the current context (extra keys are kept, e.g. ``params``), or None to leave
    its tokens plain (say, a bias the model does not have). Raises SelectorError
    when a spec's path occurs nowhere in the function, so a renamed attribute
    breaks the build.
    """
    text = snippet.source_text if source_text is None else source_text
    found = _weight_plan(text, snippet.file, snippet.symbol, tuple(specs))
    infos = [describe(spec) for spec in specs]
    first, last = snippet.lines
    occurrences: dict[tuple[int, int], dict] = {}
    entries: dict[tuple, dict] = {}
    for line, col, end, index in found:
        info = infos[index]
        if info is None or not first <= line <= last:
            continue
        occ = {"name": specs[index].path, **info, "end": end}
        occurrences[(line, col)] = occ
        entry = entries.setdefault((occ["name"], occ.get("block")),
                                   {k: v for k, v in occ.items() if k != "end"} | {"lines": []})
        if line not in entry["lines"]:
            entry["lines"].append(line)
    for entry in entries.values():
        entry["lines"].sort()
    return replace(snippet, weights=list(entries.values()), weight_occurrences=occurrences)


@functools.lru_cache(maxsize=128)
def _weight_plan(text: str, filename: str, symbol: str, specs: tuple[Weights, ...]
                 ) -> list[tuple[int, int, int, int]]:
    """Where each spec's path occurs in the function: (line, first column, end column
    (both in characters), spec index), in file order."""
    tree, lines = _parse(text)
    func = _function_scope(tree, symbol, filename)
    where = f"{filename}:{symbol}"
    paths = [spec.path for spec in specs]
    if len(set(paths)) != len(paths):
        raise ValueError(f"{where}: a weights path is listed twice: {paths}")
    attrs = {tuple(p.split(".")): i for i, p in enumerate(paths) if "." in p}
    keywords = {p: i for i, p in enumerate(paths) if "." not in p}

    def chars(line: int, col_bytes: int) -> int:
        return len(lines[line - 1].encode("utf-8")[:col_bytes].decode("utf-8", "replace"))

    out: list[tuple[int, int, int, int]] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Attribute) and tuple(_parts(node)) in attrs:
            if node.lineno != node.end_lineno:
                continue  # a chain broken over lines: left plain
            col = chars(node.lineno, node.col_offset)
            out.append((node.lineno, col, chars(node.lineno, node.end_col_offset),
                        attrs[tuple(_parts(node))]))
        elif isinstance(node, ast.keyword) and node.arg in keywords:
            col = chars(node.lineno, node.col_offset)
            out.append((node.lineno, col, col + len(node.arg), keywords[node.arg]))
    seen = {index for *_pos, index in out}
    missing = [p for i, p in enumerate(paths) if i not in seen]
    if missing:
        raise SelectorError(f"{where}: weights {', '.join(map(repr, missing))} occur nowhere "
                            f"in the function")
    return sorted(out)


# ----------------------------------------------------------------------------
# HTML


def _css_class(ttype) -> str:
    from pygments.token import STANDARD_TYPES

    while ttype not in STANDARD_TYPES:
        ttype = ttype.parent
    return STANDARD_TYPES[ttype]


def highlight(snippet: Snippet, shapes: dict[int, str] | None = None) -> str:
    """The snippet as HTML: pygments token classes, file line numbers, shape notes.

    The markup uses the class names of pygments' ``HtmlFormatter`` (so ``css()``
    styles it), one ``<span class="line" data-line="N">`` per line holding
    ``<span class="ln">N</span>``, the tokens, and a ``<span class="note">`` when
    the line assigns a tensor; bound variables are wrapped in
    ``<span class="var" data-var=... data-block=... data-blocks=...>``, bound weights
    (``bind_weights``: a whole chain such as ``self.c_fc``) in ``<span class="var param"
    data-var=... data-block=... data-blocks=... data-params=...>``.
    ``shapes`` (line -> note) overrides the notes ``bind`` made. The indentation
    shared by all lines is left out of the HTML (``snippet.text`` keeps it).
    """
    notes = dict(snippet.notes)
    if shapes:
        notes.update(shapes)
    first = snippet.lines[0]
    text_lines = snippet.text.split("\n")
    indent = _indent(text_lines)
    rows: list[list[str]] = [[]]
    line, col = first, indent
    open_end = None  # the end column of the weights chain being wrapped, if any
    for cls, value in (snippet.tokens if snippet.tokens is not None else lex(snippet)):
        for k, piece in enumerate(value.split("\n")):
            if k:
                if open_end is not None:
                    rows[-1].append("</span>")
                    open_end = None
                rows.append([])
                line, col = line + 1, indent
            if not piece:
                continue
            text = html.escape(piece, quote=False)
            token = f'<span class="{cls}">{text}</span>' if cls else text
            occ = snippet.occurrences.get((line, col))
            if occ is not None and occ["name"] == piece:
                token = _wrap_var(token, occ)
            weights = None if open_end is not None else snippet.weight_occurrences.get((line, col))
            if weights is not None and _names(text_lines, first, line, col, weights):
                rows[-1].append(_open_weights(weights))
                open_end = weights["end"]
            rows[-1].append(token)
            col += len(piece)
            if open_end is not None and col >= open_end:
                rows[-1].append("</span>")
                open_end = None
    if open_end is not None:
        rows[-1].append("</span>")
    n_lines = snippet.lines[1] - first + 1
    rows = (rows + [[] for _ in range(n_lines)])[:n_lines]
    out = []
    for i, tokens in enumerate(rows):
        number = first + i
        note = notes.get(number)
        note_html = f'<span class="note">{html.escape(note)}</span>' if note else ""
        out.append(f'<span class="line" data-line="{number}"><span class="ln">{number}</span>'
                   f'{"".join(tokens)}{note_html}</span>')
    attrs = (f'class="code" data-source="{html.escape(snippet.source)}" '
             f'data-file="{html.escape(snippet.file)}" '
             f'data-lines="{snippet.lines[0]}-{snippet.lines[1]}"')
    # block-level lines, so no newline between them (the JSON's "text" is for copying)
    return f'<div {attrs}><pre>' + "".join(out) + "</pre></div>"


def _indent(text_lines: list[str]) -> int:
    """The indentation all non-blank lines share (left out of the HTML)."""
    indents = [len(t) - len(t.lstrip(" ")) for t in text_lines if t.strip()]
    return min(indents) if indents else 0


def lex(snippet: Snippet) -> tuple[tuple[str, str], ...]:
    """Pygments' tokens of the snippet as ``highlight`` shows it (without the shared
    indentation): (css class of pygments' ``HtmlFormatter``, text) pairs. build.py stores them
    in data/code.json (``code_refs.to_json``), so the page highlights without pygments."""
    from pygments.lexers.python import PythonLexer

    text_lines = snippet.text.split("\n")
    indent = _indent(text_lines)
    shown = "\n".join(t[indent:] for t in text_lines)
    lexer = PythonLexer(stripnl=False, ensurenl=False)
    return tuple((_css_class(ttype), value) for _index, ttype, value in lexer.get_tokens_unprocessed(shown))


def _names(text_lines: list[str], first: int, line: int, col: int, occ: dict) -> bool:
    """Whether the source from ``col`` to the occurrence's end spells its path."""
    if not 0 <= line - first < len(text_lines):
        return False
    spelled = text_lines[line - first][col:occ["end"]]
    return "".join(spelled.split()) == occ["name"]


def _open_weights(occ: dict) -> str:
    attrs = [f'data-var="{html.escape(occ["name"])}"']
    if occ.get("block"):
        attrs.append(f'data-block="{html.escape(occ["block"])}"')
    if occ.get("blocks"):
        attrs.append(f'data-blocks="{html.escape(" ".join(occ["blocks"]))}"')
    params = occ.get("params") or []
    if params:
        attrs.append(f'data-params="{html.escape(" ".join(params))}"')
        shapes = occ.get("shapes") or [None] * len(params)
        parts = [name if shape is None else f"{name} {_shape_text(shape)}"
                 for name, shape in zip(params, shapes)]
        attrs.append(f'title="{html.escape(", ".join(parts))}"')
    return f'<span class="var param" {" ".join(attrs)}>'


def _wrap_var(token: str, occ: dict) -> str:
    attrs = [f'data-var="{html.escape(occ["name"])}"']
    if occ.get("block"):
        attrs.append(f'data-block="{html.escape(occ["block"])}"')
    if occ.get("blocks"):
        attrs.append(f'data-blocks="{html.escape(" ".join(occ["blocks"]))}"')
    if occ.get("shape") is not None:
        attrs.append(f'title="{html.escape(_note([(occ["name"], tuple(occ["shape"]))]))}"')
    return f'<span class="var" {" ".join(attrs)}>{token}</span>'


THEMES = {"light": "default", "dark": "github-dark"}

_LAYOUT = """\
{scope} {{ font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }}
{scope} pre {{ margin: 0; padding: 0.5em 0; line-height: 1.45; overflow-x: auto; }}
{scope} .line {{ display: block; padding-right: 1em; }}
{scope} .ln {{ display: inline-block; min-width: 3ch; margin-right: 1.5ch; text-align: right; opacity: 0.5; user-select: none; }}
{scope} .note {{ margin-left: 2ch; color: {note}; font-style: italic; }}
{scope} .note::before {{ content: "# "; }}
{scope} .var {{ cursor: pointer; border-bottom: 1px dotted currentColor; }}
{scope} .var.active, {scope} .line.active {{ background: {hl}; }}"""


def _theme_css(theme: str, scopes: list[str]) -> str:
    from pygments.formatters import HtmlFormatter

    if theme not in THEMES:
        raise ValueError(f"theme must be one of {sorted(THEMES)} or 'auto', got {theme!r}")
    formatter = HtmlFormatter(style=THEMES[theme], cssclass="code")
    rules = formatter.get_background_style_defs(scopes) + formatter.get_token_style_defs(scopes)
    hl = "rgba(255, 200, 0, 0.35)" if theme == "light" else "rgba(255, 210, 90, 0.25)"
    color = "#24292f" if theme == "light" else "#e6edf3"
    note = "#7c4dbd" if theme == "light" else "#c3a6ff"
    layout = "\n".join(_LAYOUT.format(scope=s, hl=hl, note=note) for s in scopes)
    return "\n".join(rules) + "\n" + "\n".join(f"{s} {{ color: {color}; }}" for s in scopes) + "\n" + layout


def css(theme: str = "auto") -> str:
    """Pygments CSS (plus line/note/variable layout) for ``highlight``'s HTML.

    ``"light"`` scopes every rule under ``.code-light .code``, ``"dark"`` under
    ``.code-dark .code`` (put that class on any ancestor); ``"auto"`` styles
    ``.code`` light by default and dark under ``[data-theme=dark]`` or, unless
    ``[data-theme=light]`` is set, when the system prefers a dark scheme.
    """
    if theme in THEMES:
        return _theme_css(theme, [f".code-{theme} .code"])
    if theme != "auto":
        raise ValueError(f"theme must be 'light', 'dark' or 'auto', got {theme!r}")
    light = _theme_css("light", [".code"])
    dark = _theme_css("dark", ["[data-theme=dark] .code"])
    media = _theme_css("dark", [":root:not([data-theme=light]) .code"])
    indented = "\n".join("  " + line for line in media.splitlines())
    return f"{light}\n{dark}\n@media (prefers-color-scheme: dark) {{\n{indented}\n}}\n"
