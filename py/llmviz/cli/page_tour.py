"""Drive a served page through everything it can do, in Playwright: the whole tour (every
step of every phase), a greedy and a sampled generation, another input, a model load and a
refused model. Used to measure which standard library and numpy modules the page imports
(``tools/stdlib_usage.py``, ``tests/browser/test_stdlib_zip.py``): the page must have imported
whatever it ever will by the end of it.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LOAD_MODEL = """([npz, card]) => window.llmviz.loadModel(
  Uint8Array.from(atob(npz), (c) => c.charCodeAt(0)).buffer, card).then(() => "ok", (e) => String(e))"""


def exercise(page, weights: Path | None = None) -> dict:
    """Run the page (already at ``?debug=1`` and ready) through all it does; returns what it did."""
    weights = weights or ROOT / "weights" / "sort.npz"
    done = {"steps": 0}
    for phase in page.evaluate("() => window.llmviz.phases()"):
        for step in phase["step_ids"]:
            page.evaluate("(t) => window.llmviz.goto(t)", {"phase": phase["id"], "step": step})
            done["steps"] += 1
    done["greedy"] = page.evaluate("() => window.llmviz.generate(3)")
    done["sampled"] = page.evaluate("() => window.llmviz.generate(2, {temperature: 1.0})")
    done["input"] = page.evaluate("() => window.llmviz.setInput('AAB').then(() => 'ok', (e) => String(e))")
    card = json.loads(weights.with_suffix(".json").read_text(encoding="utf-8"))
    done["model"] = page.evaluate(LOAD_MODEL, [base64.b64encode(weights.read_bytes()).decode(), card])
    done["refused"] = page.evaluate(LOAD_MODEL, [base64.b64encode(b"not a zip").decode(), "{}"])
    return done


def stdlib_modules(page) -> list[str]:
    """The standard library modules the page's Python has imported (``?debug=1`` pages)."""
    return list(page.evaluate("() => window.llmvizDebug.stdlibModules()"))


def numpy_modules(page) -> list[str]:
    """numpy and the modules of it the page's Python has imported (``?debug=1`` pages)."""
    return list(page.evaluate("() => window.llmvizDebug.numpyModules()"))
