"""JSON from outside (a model card, the page's stored state, a link), read within limits.

``json.loads`` recurses once per level of nesting: a 200 KB text of ``[[[[…]]]]``
ends in RecursionError in CPython and kills Pyodide outright ("Maximum call stack
size exceeded"), before any ``except`` can run. ``loads`` therefore measures the
text first, with no recursion: its size against ``max_bytes``, then its nesting
depth against ``max_depth`` (strings are blanked out by a regular expression, the
brackets left over are counted by a running sum), and only then parses it. It also
refuses what JSON does not have: NaN, Infinity and numbers too large for a float.

Every refusal is a ``JSONError`` (a ValueError) with one readable line that names
what was read (``what``: "the model card", "the stored state", …) and the limit; its
``problem`` and ``values`` say the same as data (``"too_deep"``, ``{"depth": 900, "limit": 64}``),
for a caller that words it in another language (the page's ``stored``).
Pure Python: the page can use it before numpy is loaded.
"""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 64

# a string literal, escapes included, or an unterminated one up to the end of the text;
# possessive repeats (Python 3.11+) keep no backtracking state, so long strings cost no memory
_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONError(ValueError):
    """Text that is too big, too deep or not JSON; the message names what it was.

    ``problem``: "too_big" (size, limit), "not_utf8" (byte), "not_text" (type), "too_long"
    (limit), "too_deep" (depth, limit) or "invalid" (detail); ``values``: those numbers, as
    the message shows them."""

    def __init__(self, message: str, problem: str = "", **values: Any):
        super().__init__(message)
        self.problem, self.values = problem, values


def size_text(n: int) -> str:
    """A byte count for a message: '812 bytes', '12.5 KB', '9.0 MB'."""
    if n < 1024:
        return f"{n} bytes"
    if n < 2**20:
        return f"{n / 1024:.1f} KB"
    return f"{n / 2**20:.1f} MB"


def _limit_text(n: int) -> str:
    """A limit for a message: '8 MB' when it is whole megabytes, else as ``size_text``."""
    return f"{n // 2**20} MB" if n >= 2**20 and n % 2**20 == 0 else size_text(n)


def utf8_size(text: str) -> int:
    """The length of ``text`` in UTF-8 bytes (no copy for ASCII text)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in ``text``, brackets inside strings not counted.

    Linear in the length of the text, no recursion: strings are removed, then the
    depth is the running sum of +1 per opening and -1 per closing bracket.
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value


def loads(text: str | bytes | bytearray | memoryview, *, max_bytes: int, max_depth: int = MAX_DEPTH,
          what: str = "the model card", allow_nan: bool = False) -> Any:
    """Parse ``text`` (str, or UTF-8 bytes) as JSON within limits; JSONError otherwise.

    Refused before parsing: more than ``max_bytes`` bytes, arrays/objects nested deeper
    than ``max_depth``. Refused while parsing: anything that is not JSON, and (unless
    ``allow_nan``) the constants NaN, Infinity, -Infinity and numbers beyond a float.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        size = len(text)
        if size > max_bytes:
            raise _too_big(what, size, max_bytes)
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise JSONError(f"{what} is not UTF-8 text (byte {e.start})", "not_utf8", byte=e.start) from None
    elif not isinstance(text, str):
        raise JSONError(f"{what} must be JSON text, got {type(text).__name__}", "not_text", type=type(text).__name__)
    elif len(text) > max_bytes:   # before utf8_size: a huge text is not encoded to be measured
        limit = _limit_text(max_bytes)
        raise JSONError(f"{what} is longer than the limit of {limit}", "too_long", limit=limit)
    elif utf8_size(text) > max_bytes:
        raise _too_big(what, utf8_size(text), max_bytes)
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JSONError(f"{what} nests arrays or objects {depth} levels deep; the limit is {max_depth}",
                        "too_deep", depth=depth, limit=max_depth)
    try:
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError, MemoryError) as e:
        detail = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise JSONError(f"{what} is not valid JSON ({detail})", "invalid", detail=detail) from None


def _too_big(what: str, size: int, max_bytes: int) -> JSONError:
    size, limit = size_text(size), _limit_text(max_bytes)
    return JSONError(f"{what} is {size}; the limit is {limit}", "too_big", size=size, limit=limit)
