"""The views' one bridge to JavaScript, built on ``pyscript.ffi``.

Every view talks to the page through these few helpers instead of its own:

* ``to_js(value)``: a Python value for JS: dicts become plain objects (``pyscript.ffi.to_js``
  does that), tuples arrays, and None becomes ``null`` (Pyodide would make it ``undefined``,
  which drops out of JSON and postMessage).
* ``to_py(value)``: a plain Python copy of a JS value: objects and Maps as dicts, arrays as
  lists, ``null``/``undefined`` as None, numbers and strings as they are. What cannot be
  copied (a symbol, a function, a Proxy or getter that throws, nesting deeper than 64
  levels) is an ``ArgumentError`` with one readable line, never a RecursionError: the
  API's callers pass anything.
* ``absent(value)``: None, JS ``null`` or ``undefined`` (``pyscript.ffi.is_none``).
* ``proxy(fn)`` / ``listen(target, event, fn)``: a JS function for ``fn`` that lives as long as
  the page (``pyscript.ffi.create_proxy``, kept in one registry, so no view keeps its own).
* ``once(fn)``: a JS function that may be called once and then frees itself (executors).
* ``future(promise)``: an asyncio Future with a JS Promise's value (awaitable many times).

``pyodide.ffi`` is used only for what ``pyscript.ffi`` does not offer: ``jsnull`` (to send
null) and ``create_once_callable``. Outside the browser (CPython, the unit tests) this module
imports too; its helpers then have nothing to talk to.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable

try:
    from pyscript.ffi import create_proxy, is_none
    from pyscript.ffi import to_js as _pyscript_to_js
    from pyodide.ffi import JsProxy, create_once_callable, jsnull   # not in pyscript.ffi
except ImportError:  # CPython: the views' pure parts import this module too
    create_proxy = create_once_callable = _pyscript_to_js = None
    jsnull = None

    class JsProxy:  # nothing is one outside the browser
        pass

    def is_none(value: Any) -> bool:
        return value is None

__all__ = ["to_js", "to_py", "absent", "proxy", "listen", "once", "future", "PROXIES", "ArgumentError",
           "first_line"]

PROXIES: list = []   # every proxy made by proxy(): alive for the page's lifetime
MAX_DEPTH = 64       # arrays and objects nested deeper than this are not copied (safe_json's limit)


class ArgumentError(ValueError):
    """A JS value that cannot be copied into Python; the message is one line for the caller."""


def absent(value: Any) -> bool:
    """None, JS null or undefined (Pyodide hands null over as ``jsnull``, a truthy-looking object)."""
    return is_none(value)


def _nulls(value: Any) -> Any:
    if value is None:
        return jsnull
    if isinstance(value, dict):
        return {str(k): _nulls(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulls(v) for v in value]
    return value


def to_js(value: Any) -> Any:
    """``value`` for JavaScript: dicts as plain objects, None as null (nested ones too)."""
    return _pyscript_to_js(_nulls(value))


def to_py(value: Any, _depth: int = 0) -> Any:
    """A plain Python copy of a JS (or Python) value: dict, list, str, int, float, bool or None.

    JS objects are copied one level at a time (``JsProxy.to_py(depth=1)``), so nesting is
    counted here and refused past MAX_DEPTH; ArgumentError for what cannot be copied."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if _depth > MAX_DEPTH:
        raise ArgumentError(f"a value nested more than {MAX_DEPTH} levels deep cannot be read")
    if isinstance(value, dict):
        return {str(k): to_py(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_py(v, _depth + 1) for v in value]
    if absent(value):
        return None
    if not isinstance(value, JsProxy):
        return str(value)
    try:
        plain = value.to_py(depth=1)   # objects, Maps, arrays; a symbol or function stays a JsProxy
    except Exception as e:  # noqa: BLE001 - a getter or a Proxy trap that throws
        raise ArgumentError(f"a JavaScript value could not be read ({first_line(e)})") from None
    if isinstance(plain, JsProxy):
        raise ArgumentError(f"a JavaScript {getattr(value, 'typeof', 'value')} cannot be read here")
    return to_py(plain, _depth)


def first_line(error: BaseException) -> str:
    """An error's message as one line for a reader: the last line of a JS error that carries a
    Python traceback (which says what went wrong), at most 160 characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1] if lines else type(error).__name__
    return text[:160]


def proxy(fn: Callable[..., Any]) -> Any:
    """A JS function calling ``fn``, kept alive for the page's lifetime."""
    p = create_proxy(fn)
    PROXIES.append(p)
    return p


def listen(target: Any, event: str, fn: Callable[..., Any], options: dict | None = None) -> Any:
    """``target.addEventListener(event, fn)`` for the page's lifetime; returns the JS function."""
    p = proxy(fn)
    if options is None:
        target.addEventListener(event, p)
    else:
        target.addEventListener(event, p, to_js(options))
    return p


def once(fn: Callable[..., Any]) -> Any:
    """A JS function for ``fn`` that frees itself after its one call (a Promise executor)."""
    return create_once_callable(fn)


def future(promise: Any) -> asyncio.Future:
    """An asyncio Future that settles with a JS Promise's value (or its error)."""
    async def wait():
        return await promise
    return asyncio.ensure_future(wait())
