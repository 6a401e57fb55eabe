"""What the page keeps for the next visit, read back within limits (``page.ui.stored``), and
the API's argument checks (``ffi.to_py``, ``live_view.generate_options``): the pure parts, in
CPython. The page itself is tested in tests/browser/test_hostile_page.py."""
from __future__ import annotations

import json

import pytest

from llmviz.core import limits
from llmviz.page.ui import ffi, stored
from llmviz.page.ui.code_view import TABS
from llmviz.page.ui.live_view import KEPT, KEY_HASH, KEY_INPUT, KEY_MODEL, LiveError, generate_options

TAB = stored.one_of(dict(TABS))


@pytest.mark.parametrize("raw, check, value", [
    ('"port"', TAB, "port"),
    ('{"gpt.forward": true, "attention.init": false}', stored.flags(), {"gpt.forward": True, "attention.init": False}),
    ('"CBABBC"', KEPT[KEY_INPUT], "CBABBC"),
    ('"custom"', KEPT[KEY_MODEL], "custom"),
    ('"#phase=mlp&step=gelu"', KEPT[KEY_HASH], "#phase=mlp&step=gelu"),
])
def test_what_the_page_keeps_reads_back(raw, check, value):
    assert stored.decode(raw, check) == value
    assert stored.decode(json.dumps(value), check) == value   # write() keeps json.dumps(value)


@pytest.mark.parametrize("raw, check, words", [
    ("[" * 50_000 + "]" * 50_000, stored.flags(), "longer than the limit of 64.0 KB"),   # F3 as reported
    ("[" * 30_000 + "]" * 30_000, stored.flags(), "30000 levels deep; the limit is 64"),
    ('{"x": 1}', TAB, "not one of nanogpt, port"),
    ('"nowhere"', TAB, "not one of"),
    ("port", TAB, "not valid JSON"),                         # kept as text, not JSON
    ('{"a": "yes"}', stored.flags(), "entry 'a' is text, not true or false"),
    ("[true]", stored.flags(), "an array, not an object"),
    ('"' + "x" * (limits.MAX_STORED_BYTES + 10) + '"', KEPT[KEY_INPUT], "the limit of 64.0 KB"),
    ('{"text": "CCBAAB"}', KEPT[KEY_INPUT], "an object, not text"),
    ('["custom"]', KEPT[KEY_MODEL], "not one of custom, default"),
    ('"phase=attention"', KEPT[KEY_HASH], "does not begin with '#'"),
    ("NaN", KEPT[KEY_HASH], "not valid JSON"),
    ("1e999", KEPT[KEY_HASH], "not valid JSON"),
    (None, KEPT[KEY_HASH], "not text"),
], ids=lambda v: v[:30] + "…" if isinstance(v, str) and len(v) > 30 else None)
def test_a_damaged_value_is_refused_with_one_line_that_starts_with_it(raw, check, words):
    with pytest.raises(stored.Refused) as info:
        stored.decode(raw, check)
    reason = str(info.value)
    assert words in reason and reason.startswith(("it ", "its ")) and "\n" not in reason and len(reason) < 300, reason
    notice = stored.dropped_notice("llmviz.code.tab", info.value)
    assert notice.startswith("The page forgot what it kept as llmviz.code.tab: it")
    assert notice == f"The page forgot what it kept as llmviz.code.tab: {reason}."


@pytest.mark.parametrize("lang", ["es", "zh"])
@pytest.mark.parametrize("raw, check", [
    ("[" * 30_000 + "]" * 30_000, stored.flags()),   # too deep (safe_json's reason, as data)
    ('"' + "x" * (limits.MAX_STORED_BYTES + 10) + '"', KEPT[KEY_INPUT]),   # too long
    ("port", TAB),                                    # not JSON
    ('{"x": 1}', TAB),                                # not one of
    ('{"a": "yes"}', stored.flags()),                 # an entry of the wrong kind
    ('{"text": "CCBAAB"}', KEPT[KEY_INPUT]),          # an object, not text
    (None, KEPT[KEY_HASH]),
], ids=["deep", "long", "json", "one_of", "entry", "kind", "none"])
def test_the_notice_of_a_dropped_value_is_in_the_page_language(raw, check, lang):
    """The notice and its reason are the catalogue's words in the language, with the same values
    as the English line (kinds of value worded too), and no English left in them."""
    from llmviz.locales import catalogue
    with pytest.raises(stored.Refused) as info:
        stored.decode(raw, check)
    e, words = info.value, catalogue(lang)
    values = dict(e.values)
    if "kind" in values:
        values["kind"] = words.text(f"stored.kind.{values['kind']}")
        assert values["kind"] != catalogue("en").text(f"stored.kind.{e.values['kind']}")
    reason = words.text(e.key, **values)
    notice = stored.dropped_notice("llmviz.code.tab", e, lang)
    assert notice == words.text("stored.dropped", name="llmviz.code.tab", reason=reason)
    assert e.text(lang) == reason != str(e)
    assert "The page forgot" not in notice and not any(w in notice for w in ("it is", "its entry", "not one of"))


def test_to_py_refuses_nesting_beyond_the_limit_with_a_readable_line():
    deep: list = []
    for _ in range(ffi.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(ffi.ArgumentError, match="nested more than 64 levels"):
        ffi.to_py(deep)
    fits: list = []
    for _ in range(ffi.MAX_DEPTH - 1):
        fits = [fits]
    assert ffi.to_py(fits) == fits
    assert ffi.to_py({"a": (1, None, "x"), 2: {True}}) == {"a": [1, None, "x"], "2": [True]}


def test_first_line_of_an_error_with_a_traceback():
    error = RuntimeError('Traceback (most recent call last):\n  File "x.py", line 1\nValueError: no such step\n')
    assert ffi.first_line(error) == "ValueError: no such step"
    assert ffi.first_line(RuntimeError("")) == "RuntimeError"


@pytest.mark.parametrize("opts, want", [
    (None, (1, 0.0, None, None)),
    ({}, (1, 0.0, None, None)),
    (6, (6, 0.0, None, None)),
    (6.0, (6, 0.0, None, None)),
    ({"n": 2, "temperature": 2, "top_k": 1.0, "seed": 3}, (2, 2.0, 1, 3)),
    ({"n": 2, "top_k": 0}, (2, 0.0, None, None)),
])
def test_generate_options(opts, want):
    assert generate_options(opts) == want


@pytest.mark.parametrize("opts, words", [
    ({"n": "six"}, "number of tokens must be a whole number"),
    ({"n": 2.5}, "whole number"),
    ({"n": True}, "whole number"),
    ({"n": 1, "temperature": "hot"}, "temperature must be a number"),
    ({"n": 1, "temperature": float("inf")}, "temperature must be a number"),
    ({"n": 1, "temperature": -1}, "temperature must be a number"),
    ({"n": 1, "top_k": -2}, "top_k must be a positive"),
    ({"n": 1, "seed": "x" * 500}, "seed must be a whole number"),
])
def test_generate_options_refuse_with_a_short_line(opts, words):
    with pytest.raises(LiveError, match=words) as info:
        generate_options(opts)
    assert len(str(info.value)) < 160
