"""The trimmed standard library and the slim numpy (issue 15): build.py ships only the modules
of tools/stdlib_modules.txt in python_stdlib.zip and of tools/numpy_modules.txt in numpy's
wheel. After the page has done everything it does (``llmviz.cli.page_tour.exercise``: the whole
tour, generations, another input, a model load and a refused model) it must have imported
nothing those lists lack and shown no error: an import the zip or the wheel cannot serve fails
the page, and so this test.
"""
from __future__ import annotations

import pytest

import build
from llmviz.cli import page_tour

pytestmark = pytest.mark.browser


def test_the_page_imports_only_modules_the_trimmed_zip_holds(built_dist, serve_dist, browser, wheelhouse):
    if wheelhouse is None:
        pytest.skip("needs numpy for Pyodide (LLMVIZ_PYODIDE_WHEELHOUSE) to generate and load a model")
    server = serve_dist(built_dist)
    # reduced motion: each goto settles without its camera flight and animation (JavaScript only:
    # the Python the page runs, and so the modules it imports, are the same)
    context = browser.new_context(reduced_motion="reduce")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(180_000)
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url + "?debug=1")
        page.evaluate("() => window.llmviz.ready")
        info = page.evaluate("() => window.llmviz.live")
        assert info["live"] is True
        done = page_tour.exercise(page)
        assert done["steps"] > 40
        assert done["greedy"] and done["sampled"] and done["input"] == "ok" and done["model"] == "ok", done
        assert done["refused"] != "ok" and "Could not use this model" in done["refused"], done
        loaded = set(page_tour.stdlib_modules(page))
        assert {"json", "asyncio", "zipfile"} <= loaded       # read from the shipped zip
        missing = sorted(loaded - build.stdlib_modules())
        assert not missing, f"the page imported modules tools/stdlib_modules.txt lacks: {missing}"
        # the same for the slim numpy wheel (tools/numpy_modules.txt)
        numpy = set(page_tour.numpy_modules(page))
        assert {"numpy", "numpy._core._multiarray_umath"} <= numpy
        missing = sorted(numpy - build.numpy_modules())
        assert not missing, f"the page imported numpy modules tools/numpy_modules.txt lacks: {missing}"
        # the refused model logs its reason on the console, and a slow machine may log a step that
        # took long to settle (a timing note, not a failure); nothing else may
        allowed = ("Could not use this model", "not an .npz", "did not settle within")
        assert not [e for e in errors if not any(a in e for a in allowed)], errors
    finally:
        context.close()
