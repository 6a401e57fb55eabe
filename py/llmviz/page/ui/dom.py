"""Small DOM builders the views share. Text goes in as textContent, never as HTML.

The page's static markup is in ``site/index.html``: ``<template data-into="ID">`` is put
into ``#ID`` by js/boot.js before Python starts; ``clone`` copies the other templates (a
timeline cell, a contents entry, a token chip) for the views to fill.
"""
from __future__ import annotations

from typing import Any, Iterable


def clone(doc: Any, template_id: str) -> Any:
    """A copy of index.html's ``<template id=template_id>``: its one element, or (for a
    template of several) a DocumentFragment of them."""
    content = doc.getElementById(template_id).content
    if content.childElementCount == 1:
        return content.firstElementChild.cloneNode(True)
    return content.cloneNode(True)


def element(doc: Any, parent: Any, tag: str, cls: str, text: str = "") -> Any:
    """Append a ``<tag class=cls>`` holding ``text`` to ``parent``; return it."""
    node = doc.createElement(tag)
    node.className = cls
    node.textContent = text
    parent.appendChild(node)
    return node


def options(doc: Any, select: Any, values: Iterable[Any]) -> None:
    """Make ``values`` the options of ``select`` (each shown as its value)."""
    items = []
    for value in values:
        option = doc.createElement("option")
        option.value = option.textContent = str(value)
        items.append(option)
    select.replaceChildren(*items)


def terms_table(doc: Any, parent: Any, terms: Iterable[tuple[str, str]], cls: str,
                label_cls: str, value_cls: str) -> Any:
    """A two-column table of (label, value) rows: the terms a cell's value is made of."""
    table = element(doc, parent, "table", cls)
    for label, value in terms:
        row = doc.createElement("tr")
        for text, cell_cls in ((label, label_cls), (value, value_cls)):
            element(doc, row, "td", cell_cls, text)
        table.appendChild(row)
    return table
