"""What the page keeps for the next visit (localStorage), read back within limits.

Every value the page keeps is JSON text under a key ``llmviz.<view>.<name>`` (the code
panel's tab and folded snippets, the live view's input, model choice and walkthrough
position). Anything in storage may be damaged or hostile (another script of the site,
an old build, a hand edit): a value of 200 KB of ``[[[[`` once killed Pyodide at every
visit. So every read goes through ``safe_json.loads`` with ``limits.MAX_STORED_BYTES``
and the depth limit, then through the reader's type check (``one_of``, ``text``,
``flags``); a value that fails is removed, and one notice line names its key and says
why. The page then goes on as if nothing had been kept.

``read(app, key, check)`` / ``write(key, value)`` / ``forget_all()`` (every ``llmviz.*``
key of localStorage and sessionStorage: "start over"). ``decode(raw, check)`` is the pure
part (CPython tests). A reason is a ``Refused`` (a ValueError): its catalogue key
(``stored.*``) and values, worded in English by ``str()`` and in the page's language by
``Refused.text(lang)``, and the notice by ``dropped_notice`` in the same language. Storage may be unavailable (a sandboxed or cross-site frame): then
nothing is read or kept, silently.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from llmviz.core import limits, safe_json
from llmviz.locales import catalogue

PREFIX = "llmviz."

Check = Callable[[Any], Any]


class Refused(ValueError):
    """Why a kept value is not used ("it ..."): the catalogue's ``key`` and its ``values``; a value
    named ``kind`` is the key of a kind of JSON value (``stored.kind.<kind>``), worded in turn."""

    def __init__(self, key: str, **values: Any):
        self.key, self.values = key, values
        super().__init__(self.text())

    def text(self, lang: str | None = None) -> str:
        """The reason in ``lang`` (None: English)."""
        words = catalogue(lang)
        values = dict(self.values)
        if "kind" in values:
            values["kind"] = words.text(f"stored.kind.{values['kind']}")
        return words.text(self.key, **values)


# ---------------------------------------------------------------- type checks (raise Refused: "it ...")

def one_of(values: Iterable[str]) -> Check:
    """A string among ``values``."""
    allowed = tuple(values)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise Refused("stored.not_one_of", values=", ".join(allowed))
        return value
    return check


def text(*, starts: str = "", max_chars: int = 4096) -> Check:
    """A string (beginning with ``starts``) of at most ``max_chars`` characters."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise Refused("stored.not_text", kind=_kind(value))
        if len(value) > max_chars:
            raise Refused("stored.too_many_chars", n=f"{len(value):,}", limit=f"{max_chars:,}")
        if not value.startswith(starts):
            raise Refused("stored.no_start", start=repr(starts))
        return value
    return check


def flags(max_items: int = 1000) -> Check:
    """An object of booleans (at most ``max_items``), e.g. ``{"gpt.forward": true}``."""
    def check(value: Any) -> dict[str, bool]:
        if not isinstance(value, dict):
            raise Refused("stored.not_flags", kind=_kind(value))
        if len(value) > max_items:
            raise Refused("stored.too_many_entries", n=f"{len(value):,}", limit=f"{max_items:,}")
        wrong = next((k for k, v in value.items() if not isinstance(v, bool)), None)
        if wrong is not None:
            raise Refused("stored.entry_not_flag", name=repr(_cut(wrong)), kind=_kind(value[wrong]))
        return dict(value)
    return check


def _kind(value: Any) -> str:
    """The kind of a JSON value, as a key of ``stored.kind``."""
    names = {dict: "object", list: "array", str: "text", bool: "bool", int: "number", float: "number",
             type(None): "null"}
    return names[type(value)]   # json.loads makes nothing else


def _cut(value: str, n: int = 30) -> str:
    return value if len(value) <= n else value[:n] + "…"


# ---------------------------------------------------------------- the pure part

def decode(raw: Any, check: Check) -> Any:
    """A kept value (JSON text) checked; Refused (a reason that starts with "it") otherwise."""
    if not isinstance(raw, str):
        raise Refused("stored.raw_not_text")
    try:
        value = safe_json.loads(raw, max_bytes=limits.MAX_STORED_BYTES, max_depth=limits.MAX_JSON_DEPTH,
                                what="it")
    except safe_json.JSONError as e:   # raw is text: too long, too big, too deep or not JSON
        raise Refused(f"stored.json.{e.problem}", **e.values) from None
    return check(value)


def dropped_notice(key: str, reason: Refused, lang: str | None = None) -> str:
    """The one line that says a kept value was dropped, and why, in ``lang`` (None: English)."""
    return catalogue(lang).text("stored.dropped", name=key, reason=reason.text(lang))


# ---------------------------------------------------------------- the page's storage

def _storage(name: str = "localStorage"):
    """window.localStorage / sessionStorage, or None where the browser refuses it (or outside a page)."""
    try:
        import js
        store = getattr(js.window, name)
        store.getItem("llmviz-probe")   # throws where storage is blocked
        return store
    except Exception:  # noqa: BLE001 - no storage: nothing is read or kept
        return None


def read(app: Any, key: str, check: Check, default: Any = None) -> Any:
    """The value kept under ``key`` if it passes ``check``; else ``default`` (a damaged value is
    removed, and a notice names it)."""
    store = _storage()
    if store is None:
        return default
    try:
        raw = store.getItem(key)
    except Exception:  # noqa: BLE001
        return default
    from llmviz.page.ui import ffi
    if ffi.absent(raw):
        return default
    try:
        return decode(str(raw), check)
    except Refused as e:
        forget(key)
        app.emit("notice", text=dropped_notice(key, e, app.lang))
        return default


def write(key: str, value: Any) -> None:
    """Keep ``value`` (JSON) under ``key``; None forgets it. Silently nothing without storage."""
    if value is None:
        forget(key)
        return
    store = _storage()
    if store is None:
        return
    try:
        store.setItem(key, json.dumps(value))
    except Exception:  # noqa: BLE001 - full or refused: the value lasts for this page only
        pass


def forget(key: str) -> None:
    store = _storage()
    if store is not None:
        try:
            store.removeItem(key)
        except Exception:  # noqa: BLE001
            pass


def forget_all() -> list[str]:
    """Remove every ``llmviz.*`` key of localStorage and sessionStorage; the keys removed."""
    removed = []
    for name in ("localStorage", "sessionStorage"):
        store = _storage(name)
        if store is None:
            continue
        try:
            keys = [str(store.key(i)) for i in range(int(store.length))]
            for key in keys:
                if key.startswith(PREFIX):
                    store.removeItem(key)
                    removed.append(key)
        except Exception:  # noqa: BLE001
            continue
    return removed
