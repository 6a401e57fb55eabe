"""What the code panel shows of a whole class: its outline, or its fields.

Two views of a class snippet (``annotate.Snippet`` of a ``class`` statement, as
``code_refs`` resolves it from nanoGPT's ``model.py`` or our port):

``outline(snippet)``
    the lines that say what the class is made of: its ``class`` line, each method's
    decorators and ``def`` line, and any other class-level statement (``__call__ =
    forward``); method bodies and docstrings are folded away. ``focus`` lists the
    ``def forward`` lines, the ones a tour of the forward pass is about.
``field_lines(snippet)``
    ``{line: field name}`` for a dataclass's fields (``n_embd: int = 768``), so the
    panel can write this model's value beside each one.

Both read only the snippet's own text (line numbers are the file's), so they work in
the page on the snippets of ``data/code.json``. Pure Python (``ast``), no numpy.
"""
from __future__ import annotations

import ast
import textwrap

from llmviz.codepanel.annotate import Snippet

__all__ = ["outline", "field_lines"]


def _class_node(snippet: Snippet) -> tuple[ast.ClassDef, list[str]]:
    """The snippet's class statement (line numbers as in the snippet, from 1) and its lines."""
    text = textwrap.dedent(snippet.text)
    tree = ast.parse(text)
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    if len(tree.body) != 1 or not classes:
        raise ValueError(f"{snippet.file}:{snippet.symbol} (lines {snippet.lines[0]}-{snippet.lines[1]}) "
                         "is not one class statement")
    return classes[0], text.split("\n")


def _head(node: ast.AST, lines: list[str]) -> list[int]:
    """Lines (1-based in the snippet) of a def's or class's decorators and its header,
    up to the colon: not its docstring or body."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    body = getattr(node, "body", [])
    last = node.lineno
    if body:   # a header broken over lines ends before the body's first line ...
        last = max(last, body[0].lineno - 1)
        while last > node.lineno and (not lines[last - 1].strip() or lines[last - 1].strip().startswith("#")):
            last -= 1   # ... without the comments and blank lines above the body
        if body[0].lineno == node.lineno:   # ``def f(): return 1``: all on one line
            last = node.lineno
    return list(range(first, last + 1))


def outline(snippet: Snippet) -> dict[str, list[int]]:
    """``{"shown": [file lines], "focus": [file lines]}``: the class with bodies folded.

    Shown are the ``class`` line, every method's decorators and ``def`` line, and any
    other statement at class level but the docstring; ``focus`` are the ``def forward``
    lines among them."""
    node, lines = _class_node(snippet)
    offset = snippet.lines[0] - 1
    shown = _head(node, lines)
    focus: list[int] = []
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            head = _head(stmt, lines)
            shown += head
            if stmt.name == "forward":
                focus += [n for n in head if lines[n - 1].lstrip().startswith("def ")]
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                and isinstance(stmt.value.value, str):
            continue   # the docstring: folded with the bodies
        else:
            shown += list(range(stmt.lineno, stmt.end_lineno + 1))
    return {"shown": sorted({n + offset for n in shown}), "focus": [n + offset for n in focus]}


def field_lines(snippet: Snippet) -> dict[int, str]:
    """``{file line: field name}`` for each annotated field of the class (``block_size: int = 1024``)."""
    node, _lines = _class_node(snippet)
    offset = snippet.lines[0] - 1
    return {stmt.lineno + offset: stmt.target.id for stmt in node.body
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)}
