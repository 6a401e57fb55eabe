"""The walkthrough's small text markup, rendered to safe HTML. Pure Python.

Commentary is written in paragraphs separated by blank lines. Inside a paragraph:

==========================  ==========================================================
``[[x|the input (`x`)]]``   a reference to block ``x``: a span the page makes hoverable,
                            ``<span class="ref" data-block="x">``. The id may use the
                            step's variables: ``[[h.{L}.attn.q[{h}]|the queries]]``.
``[[x]]``                   the same, labelled with the id itself in code style
``{{name}}``                a value computed for this step (a number from the trace, a
                            token, a count); numbers become ``<span class="num">``
                            spans that name the block cell they came from; a list
                            is joined with commas, a tuple written piece by piece
``{{(name)}}``              the same, in brackets when it is a negative number (for
                            a term after an operator: ``{{a}} + {{(b)}}``)
``{{dim:C}}``               a size from the config, written ``C = 48``
``{{size:C}}``              the same size, just the value: ``48``
```code```                  inline code (``{{...}}`` works inside it)
``**bold**`` ``*em*``       emphasis
``{{#if bias}}…{{/if}}``    the text inside only where the condition holds; ``{{else if
                            multi_head}}`` and ``{{else}}`` add branches, first match
                            wins. A condition is a name (``bias``, ``multi_head``,
                            ``sort``..., see ``Walk.cond``, or a boolean the step's
                            ``values`` returns), ``!name``, or ``a & !b``. Conditionals
                            nest, work inside any other markup, and may span
                            paragraphs: a tag alone on its line goes with its line
==========================  ==========================================================

Conditionals let a paragraph that differs between models by a phrase be written once::

    Last, each row {{#if bias}}gets a learned weight γ and a bias β{{else}}is
    multiplied by a learned weight γ (this model has no bias β){{/if}}. For the top row:

They are resolved first, before anything else: a branch not taken is dropped unread
(the ``{{name}}`` values in it need not exist), and a run of spaces (as a tag leaves
where it stood) becomes one space.

A paragraph whose lines all start with ``|`` is a table (first line the header; a
``|---|`` line is skipped). A paragraph whose first line starts with ``- `` is a list
(lines that do not start with ``- `` continue the item above).

Everything that is not markup is HTML-escaped, and so is every value put in, so a
vocabulary token such as ``<b>`` shows as text.
"""
from __future__ import annotations

import html
import re
from typing import Any, Callable

from llmviz.locales import Catalogue, catalogue
from llmviz.walkthrough.numbers import Geometry, Html, Num

_INLINE = re.compile(
    r"\[\[(?P<ref>[^|\[\]]+(?:\[[^\]|]+\])?)(?:\|(?P<label>.*?))?\]\]"
    r"|\{\{(?P<ph>[^{}]+)\}\}"
    r"|`(?P<code>[^`]+)`"
    r"|\*\*(?P<bold>[^*\s](?:[^*]*[^*\s])?)\*\*"
    r"|\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*"
)
# {{#if cond}}, {{else if cond}}, {{else}}, {{/if}}; the same alone on a line (the line goes too)
_COND_TAG = re.compile(r"\{\{\s*(?:#if\s+(?P<if>[^{}]+?)|else\s+if\s+(?P<elif>[^{}]+?)|(?P<else>else)|(?P<end>/if))\s*\}\}")
_STANDALONE_TAG = re.compile(r"^[ \t]*(\{\{\s*(?:#if\s[^{}]*|else(?:\s+if\s[^{}]*)?|/if)\s*\}\})[ \t]*(?:\n|\Z)", re.M)
_DIM_NAMES = {"C": "C", "T": "T", "block_size": "block_size", "n_layer": "n_layer",
              "n_head": "n_head", "nh": "n_head", "hs": "hs", "V": "V",
              "vocab_size": "vocab_size", "4C": "4C"}


def holds(condition: str, test: Callable[[str], bool]) -> bool:
    """Does ``"a & !b"`` hold, asking ``test`` about each name (left to right, lazily)?"""
    for part in condition.split("&"):
        name = part.strip()
        negate = name.startswith("!")
        name = name.lstrip("!").strip()
        if not name:
            raise ValueError(f"empty name in the condition {condition!r}")
        if bool(test(name)) == negate:
            return False
    return True


def resolve_conditionals(text: str, test: Callable[[str], bool]) -> str:
    """``text`` with each ``{{#if}}…{{else if}}…{{else}}…{{/if}}`` replaced by the branch
    whose condition holds (``holds(condition, test)``), or by nothing. Conditions of
    branches inside a branch not taken are never asked."""
    if "{{" not in text:
        return text
    text = _STANDALONE_TAG.sub(lambda m: m.group(1), text)
    out: list[str] = []
    # one frame per open {{#if}}: does the text around it show ("parent"), was one of its
    # branches taken, has its {{else}} come, and the tag itself (for messages)
    stack: list[dict] = []
    showing = True
    pos = 0
    for m in _COND_TAG.finditer(text):
        if showing:
            out.append(text[pos:m.start()])
        pos = m.end()
        if m.group("if") is not None:
            shown = showing and holds(m.group("if"), test)
            stack.append({"parent": showing, "taken": shown, "else": False, "tag": m.group(0)})
            showing = shown
            continue
        if not stack:
            raise ValueError(f"{m.group(0)} without an open {{{{#if ...}}}}")
        frame = stack[-1]
        if m.group("end") is not None:
            stack.pop()
            showing = frame["parent"]
            continue
        if frame["else"]:
            raise ValueError(f"{m.group(0)} after {{{{else}}}} in {frame['tag']}")
        if m.group("elif") is not None:
            showing = frame["parent"] and not frame["taken"] and holds(m.group("elif"), test)
        else:
            frame["else"] = True
            showing = frame["parent"] and not frame["taken"]
        frame["taken"] = frame["taken"] or showing
    if stack:
        raise ValueError(f"{stack[-1]['tag']} is never closed with {{{{/if}}}}")
    out.append(text[pos:])
    return "".join(out)


def _env_condition(env: dict) -> Callable[[str], bool]:
    def test(name: str) -> bool:
        if not isinstance(env.get(name), bool):
            raise KeyError(f"unknown text condition {name!r} (not a boolean value of the step)")
        return env[name]
    return test


class Renderer:
    """Renders markup for one step; collects the numbers and block refs it used.

    ``condition(name) -> bool`` answers the names in ``{{#if ...}}`` (by default: the
    boolean values in ``env``); ``words`` is the catalogue of the language written in."""

    def __init__(self, env: dict, dims: dict, id_vars: dict, geometry: Geometry | None = None,
                 condition: Callable[[str], bool] | None = None, words: Catalogue | None = None):
        self.env, self.dims, self.id_vars, self.geometry = env, dims, id_vars, geometry
        self.words = words or catalogue()
        self.condition = condition or _env_condition(env)
        self.numbers: list[dict] = []
        self.refs: list[str] = []

    # ---- blocks of text
    def render(self, text: str) -> str:
        out = []
        text = resolve_conditionals(text, self.condition)
        for para in re.split(r"\n\s*\n", text.strip()):
            lines = [re.sub(r"[ \t]{2,}", " ", ln.strip()) for ln in para.strip().splitlines() if ln.strip()]
            if not lines:
                continue
            if all(ln.startswith("|") for ln in lines):
                out.append(self._table(lines))
            elif lines[0].startswith("- "):
                items: list[str] = []
                for ln in lines:
                    if ln.startswith("- "):
                        items.append(ln[2:])
                    else:  # a continuation of the item above
                        items[-1] += " " + ln
                out.append("<ul>" + "".join(f"<li>{self.inline(i)}</li>" for i in items) + "</ul>")
            else:
                out.append(f"<p>{self.inline(' '.join(lines))}</p>")
        return "\n".join(out)

    def _table(self, lines: list[str]) -> str:
        rows = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines
                if not re.fullmatch(r"\|[\s\-:|]+\|?", ln)]
        head, body = rows[0], rows[1:]
        return self.table_html(head, body, self.inline)

    def table_html(self, head: list, body: list[list], cell: Callable[[Any], str]) -> str:
        th = "".join(f"<th>{cell(c)}</th>" for c in head)
        trs = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in body)
        return f'<table class="wt-table"><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>'

    # ---- inline
    def inline(self, text: str) -> str:
        out, pos = [], 0
        for m in _INLINE.finditer(text):
            out.append(html.escape(text[pos:m.start()]))
            pos = m.end()
            if m.group("ref") is not None:
                block = self.block_id(m.group("ref"))
                self.refs.append(block)
                label = m.group("label")
                inner = self.inline(label) if label is not None else f"<code>{html.escape(block)}</code>"
                out.append(f'<span class="ref" data-block="{html.escape(block)}">{inner}</span>')
            elif m.group("ph") is not None:
                out.append(self.placeholder(m.group("ph").strip()))
            elif m.group("code") is not None:
                out.append(f"<code>{self._code(m.group('code'))}</code>")
            elif m.group("bold") is not None:
                out.append(f"<b>{self.inline(m.group('bold'))}</b>")
            else:
                out.append(f"<em>{self.inline(m.group('em'))}</em>")
        out.append(html.escape(text[pos:]))
        return "".join(out)

    def _code(self, text: str) -> str:
        out, pos = [], 0
        for m in re.finditer(r"\{\{([^{}]+)\}\}", text):
            out.append(html.escape(text[pos:m.start()]))
            out.append(self.placeholder(m.group(1).strip()))
            pos = m.end()
        out.append(html.escape(text[pos:]))
        return "".join(out)

    def block_id(self, template: str) -> str:
        try:
            return template.format_map(self.id_vars)
        except (KeyError, ValueError, IndexError) as e:
            raise ValueError(f"block reference {template!r} uses an unknown variable ({e})") from None

    def placeholder(self, name: str) -> str:
        if name.startswith("dim:") or name.startswith("size:"):
            kind, dim = name.split(":", 1)
            if dim not in _DIM_NAMES:
                raise KeyError(f"unknown size {dim!r} in {{{{{name}}}}}; known: {', '.join(_DIM_NAMES)}")
            value = self.dims[dim]
            shown = html.escape(dim if dim != "4C" else "4C")
            if kind == "size":
                return f'<span class="dim" data-dim="{shown}">{value}</span>'
            return f'<span class="dim" data-dim="{shown}"><var>{shown}</var> = {value}</span>'
        if name.startswith("(") and name.endswith(")"):  # {{(x)}}: brackets if negative
            inner = name[1:-1].strip()
            value = self.env.get(inner)
            shown = self.placeholder(inner)
            negative = isinstance(value, Num) and value.value is not None and value.value < 0
            return f"({shown})" if negative else shown
        if name not in self.env:
            raise KeyError(f"the text uses {{{{{name}}}}} but the step computes no value {name!r}")
        return self.value(self.env[name])

    def value(self, value: Any) -> str:
        """One value as HTML: Num -> number span (recorded), Html as is, the rest escaped."""
        if isinstance(value, Num):
            return self.num(value)
        if isinstance(value, Html):
            return str(value)
        if isinstance(value, list):
            return ", ".join(self.value(v) for v in value)
        if isinstance(value, tuple):
            return "".join(self.value(v) for v in value)
        return html.escape(str(value))

    def num(self, n: Num) -> str:
        text = n.text
        if n.value is None:
            missing = html.escape(self.words.text("words.missing_number"), quote=True)
            return f'<span class="num missing" title="{missing}">?</span>'
        entry = {"text": text, "value": n.value, "source": n.source}
        attrs = ""
        where = None
        if self.geometry is not None and "tensor" in n.source and "*" not in n.source["index"]:
            where = self.geometry.cell_of(n.source.get("in", "trace"), n.source["tensor"],
                                          tuple(n.source["index"]))
        if where is not None:
            entry["block"], entry["cell"] = where[0], where[1]
            attrs = (f' data-block="{html.escape(where[0])}"'
                     f' data-cell="{where[1][0]},{where[1][1]}"')
        if "tensor" in n.source:
            idx = ", ".join(str(i) for i in n.source["index"])
            attrs += f' title="{html.escape(n.source["tensor"])}[{html.escape(idx)}]"'
        self.numbers.append(entry)
        return f'<span class="num"{attrs}>{html.escape(text)}</span>'

    def plain(self, value: Any) -> str:
        """A table cell's value as plain text (for the structured ``table`` field)."""
        if isinstance(value, Num):
            return value.text
        if isinstance(value, Html):
            return html.unescape(re.sub(r"<[^>]+>", "", value))
        return str(value)
