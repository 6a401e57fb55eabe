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
part (CPython tests). Storage may be unavailable (a sandboxed or cross-site frame): then
nothing is read or kept, silently.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable

from llmviz.core import limits, safe_json

PREFIX = "llmviz."

Check = Callable[[Any], Any]


# ---------------------------------------------------------------- type checks (raise ValueError: "it ...")

def one_of(values: Iterable[str]) -> Check:
    """A string among ``values``."""
    allowed = tuple(values)

    def check(value: Any) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise ValueError(f"it is not one of {', '.join(allowed)}")
        return value
    return check


def text(*, starts: str = "", max_chars: int = 4096) -> Check:
    """A string (beginning with ``starts``) of at most ``max_chars`` characters."""
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"it is {_kind(value)}, not text")
        if len(value) > max_chars:
            raise ValueError(f"it is {len(value):,} characters long; the limit is {max_chars:,}")
        if not value.startswith(starts):
            raise ValueError(f"it does not begin with {starts!r}")
        return value
    return check


def flags(max_items: int = 1000) -> Check:
    """An object of booleans (at most ``max_items``), e.g. ``{"gpt.forward": true}``."""
    def check(value: Any) -> dict[str, bool]:
        if not isinstance(value, dict):
            raise ValueError(f"it is {_kind(value)}, not an object of true/false values")
        if len(value) > max_items:
            raise ValueError(f"it has {len(value):,} entries; the limit is {max_items:,}")
        wrong = next((k for k, v in value.items() if not isinstance(v, bool)), None)
        if wrong is not None:
            raise ValueError(f"its entry {_cut(wrong)!r} is {_kind(value[wrong])}, not true or false")
        return dict(value)
    return check


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "text", bool: "true or false", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _cut(value: str, n: int = 30) -> str:
    return value if len(value) <= n else value[:n] + "…"


# ---------------------------------------------------------------- the pure part

def decode(raw: Any, check: Check) -> Any:
    """A kept value (JSON text) checked; ValueError (a reason that starts with "it") otherwise."""
    if not isinstance(raw, str):
        raise ValueError("it is not text")
    value = safe_json.loads(raw, max_bytes=limits.MAX_STORED_BYTES, max_depth=limits.MAX_JSON_DEPTH, what="it")
    return check(value)


def dropped_notice(key: str, reason: str) -> str:
    """The one line that says a kept value was dropped, and why."""
    return f"The page forgot what it kept as {key}: {reason}."


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
    except ValueError as e:
        forget(key)
        app.emit("notice", text=dropped_notice(key, str(e)))
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
