"""Small DOM builders the views share. Text goes in as textContent, never as HTML."""
from __future__ import annotations

from typing import Any, Iterable


def element(doc: Any, parent: Any, tag: str, cls: str, text: str = "") -> Any:
    """Append a ``<tag class=cls>`` holding ``text`` to ``parent``; return it."""
    node = doc.createElement(tag)
    node.className = cls
    node.textContent = text
    parent.appendChild(node)
    return node


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
