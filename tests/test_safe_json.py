"""llmviz.core.safe_json: JSON from outside is measured (size, nesting) before it is parsed."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from llmviz.core import limits, safe_json


def test_safe_json_refuses_size_and_depth_before_parsing():
    ok = "[" * 64 + "]" * 64
    assert safe_json.loads(ok, max_bytes=1000) == json.loads(ok)
    with pytest.raises(safe_json.JSONError, match="the stored state nests arrays or objects 65 levels deep; "
                                                  "the limit is 64"):
        safe_json.loads("[" * 65 + "]" * 65, max_bytes=1000, what="the stored state")
    with pytest.raises(safe_json.JSONError, match="the link is 1.0 KB; the limit is 1000 bytes"):
        safe_json.loads(b" " * 1024, max_bytes=1000, what="the link")
    with pytest.raises(safe_json.JSONError, match="longer than the limit"):
        safe_json.loads(" " * 1001, max_bytes=1000)
    with pytest.raises(safe_json.JSONError, match="is 2.0 KB"):   # counted in UTF-8 bytes, not characters
        safe_json.loads('"' + "é" * 1000 + '"', max_bytes=1500)
    with pytest.raises(safe_json.JSONError, match="not UTF-8"):
        safe_json.loads(b'"\xff"', max_bytes=1000)


def test_safe_json_counts_only_brackets_outside_strings():
    text = json.dumps({"a": "[[[[{{{{" * 100, "b": 'quote " and backslash \\ [[[', "c": [[["x]]]"]]]})
    assert safe_json.nesting_depth(text) == 4
    assert safe_json.loads(text, max_bytes=10_000, max_depth=4) == json.loads(text)
    assert safe_json.nesting_depth('"unterminated [[[[') == 0


def test_safe_json_is_linear_on_the_worst_texts():
    """8 MB of escapes, of brackets or of nesting: refused or read without recursion."""
    for text in ('"' + "\\n" * (4 * 2**20 - 1) + '"', "[" * (4 * 2**20) + "]" * (4 * 2**20)):
        assert len(text) == 8 * 2**20
        try:
            safe_json.loads(text, max_bytes=8 * 2**20)
        except safe_json.JSONError as e:
            assert "levels deep" in str(e)
    assert safe_json.nesting_depth("[" * 10**6) == 10**6


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}', "1e400", "[-1e400]"])
def test_safe_json_refuses_what_json_does_not_have(text):
    with pytest.raises(safe_json.JSONError, match="not valid JSON"):
        safe_json.loads(text, max_bytes=100)
    value = safe_json.loads(text, max_bytes=100, allow_nan=True)
    assert json.dumps(value) == json.dumps(json.loads(text))


def test_the_limits_module_and_safe_json_need_no_numpy():
    """The page checks a card before numpy is loaded: both modules import without it."""
    code = ("import sys; sys.modules['numpy'] = None\n"
            "from llmviz.core import limits, safe_json\n"
            "try:\n    limits.read_card_json('[' * 1000 + ']' * 1000)\n"
            "except limits.WeightsError as e:\n    print(e)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(__import__("pathlib").Path(limits.__file__).parents[2])})
    assert proc.returncode == 0, proc.stderr
    assert "1000 levels deep; the limit is 64" in proc.stdout
