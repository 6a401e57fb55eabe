"""Pyodide without JSPI (build.py's ``without_stack_switching``): Chromium has WebAssembly's stack
switching, and Pyodide would run every call into Python on a stack of its own; Chromium's renderer
crashed on those stacks now and then (a SIGSEGV just above the stack pointer, on a switched
stack). The page's Python must start and run the tour without it."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_the_pages_python_runs_without_stack_switching_where_the_browser_has_it(built_dist, serve_dist, browser):
    server = serve_dist(built_dist)
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "?debug=1")
        page.evaluate("() => window.llmviz.ready")
        assert page.evaluate("() => 'Suspending' in WebAssembly") is True    # the browser has JSPI
        assert page.evaluate("() => window.llmvizDebug.stackSwitching()") is False
        # Python still answers the page: its walk view shows the step asked for
        page.evaluate("() => window.llmviz.goto({phase: 'mlp', step: 'gelu'})")
        state = page.evaluate("() => window.llmviz.state()")
        assert (state["phase"], state["step"]) == ("mlp", "gelu"), state
        assert not errors, errors
    finally:
        context.close()
