"""The words of the page, one catalogue per language: ``<lang>.toml`` in this folder.

Every word a reader sees comes from here: the tour (``<phase>.title``, ``<phase>.<step>.title``
and ``.text``, in the markup of ``llmviz.walkthrough.markup``), the worked examples' captions
(``figure.*``), the page's controls and messages (``ui.*``, ``notice.*``), the 3D view's labels
(``scene.*``), the input bar's rules and messages (``live.*``) and the notice about a damaged kept
value (``stored.*``), these two read by Python only. ``en.toml`` is the reference: another language's file has exactly its keys, and
each value keeps the ``{{names}}``, ``[[block ids|...]]`` and ``{{#if ...}}`` conditions of the
English one (``tests/test_locales.py`` checks both), written in its own words and word order.
Adding a language is adding one file (``meta.name`` is how the language menu names it).

Pure Python; ``tomllib`` is in the standard library (the page's Pyodide has it too, and imports
it when the app starts, so a stdlib trimmed to what the app imports keeps it). The page's
JavaScript, which paints the controls before Python runs, reads the same keys from
``locales/<lang>.json``, which ``build.py`` writes from these files (``js_keys``).

Public API: ``languages()``, ``catalogue(lang)``, ``Catalogue.get/text/words/number``, ``fill``,
``DEFAULT``, ``JS_PREFIXES``, ``js_keys(lang)``.
"""
from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Any

DEFAULT = "en"
HERE = Path(__file__).resolve().parent
# the parts of a catalogue the page's JavaScript reads (the rest is the tour, rendered in Python)
JS_PREFIXES = ("meta.", "ui.", "notice.", "scene.")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w]*)\s*\}\}")


def _flatten(table: dict, prefix: str = "") -> dict[str, Any]:
    """Nested TOML tables as dotted keys. A step's ``text`` given as a table stays a table:
    its keys are conditions (whole-text variants, see ``llmviz.walkthrough``)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "text":
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


@functools.cache
def _read(lang: str) -> dict[str, Any]:
    path = HERE / f"{lang}.toml"
    with open(path, "rb") as f:
        return _flatten(tomllib.load(f))


@functools.cache
def languages() -> dict[str, str]:
    """``{code: name}`` of every catalogue in this folder, English first, then by code."""
    codes = sorted(p.stem for p in HERE.glob("*.toml"))
    codes.sort(key=lambda c: c != DEFAULT)
    return {c: str(_read(c).get("meta.name", c)) for c in codes}


def fill(template: str, values: dict | None = None) -> str:
    """``template`` with each ``{{name}}`` replaced by ``values[name]`` (plain text: no markup)."""
    if not values or "{{" not in template:
        return template
    if "{{#if" in template:
        from llmviz.walkthrough.markup import resolve_conditionals
        template = resolve_conditionals(template, lambda name: bool(values.get(name)))
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


class Catalogue:
    """The words of one language; a key it lacks comes from English (the tests keep that from
    happening in a shipped catalogue, but a half-done translation still works)."""

    def __init__(self, lang: str):
        self.lang = lang if lang in languages() else DEFAULT
        self.entries = _read(self.lang)
        self.english = _read(DEFAULT)

    def get(self, key: str) -> Any:
        """The raw value of ``key`` (a string, a list of strings, or a table of text variants)."""
        if key in self.entries:
            return self.entries[key]
        if key in self.english:
            return self.english[key]
        raise KeyError(f"no text {key!r} in the catalogues ({self.lang}, {DEFAULT})")

    def text(self, key: str, **values: Any) -> str:
        """The text of ``key`` with its ``{{names}}`` filled in (plain text)."""
        return fill(self.get(key), values)

    def words(self, key: str, **values: Any) -> list[str]:
        """A list value (a table's header, a list of ordinals), each item filled in."""
        return [fill(item, values) for item in self.get(key)]

    def number(self, n: int) -> str:
        """A whole number with its thousands grouped as the language writes them (85,584 in
        English, 85 584 in Spanish: ``words.thousands``)."""
        return f"{int(n):,}".replace(",", self.text("words.thousands"))

    def has(self, key: str) -> bool:
        return key in self.entries or key in self.english


@functools.cache
def catalogue(lang: str | None = None) -> Catalogue:
    """The catalogue of ``lang`` (English for an unknown or missing code)."""
    return Catalogue(lang or DEFAULT)


def js_keys(lang: str) -> dict[str, Any]:
    """What the page's JavaScript gets for ``lang`` (``build.py`` writes it as JSON): the
    ``JS_PREFIXES`` keys, English where the language lacks one, and the language list."""
    cat = catalogue(lang)
    keys = [k for k in cat.english if k.startswith(JS_PREFIXES)]
    return {"lang": cat.lang, "languages": languages(), "text": {k: cat.get(k) for k in keys}}
