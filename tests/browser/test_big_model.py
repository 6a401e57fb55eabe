"""A Shakespeare-baby-sized model in the page (issue 14): the model works off the main thread.

The model (6 layers, 6 heads, 384 wide, context 256, nanoGPT's 65 shakespeare_char tokens;
random weights) is made once per session by ``llmviz.cli.bench_models.make_model`` into a
temporary folder (never committed) and served beside the built site (a folder of links to
``built_dist``'s files plus the model's two files: the page fetches them from its own origin).
It is loaded with ``llmviz.loadModel``; then an input of block_size - 1 characters (the window
all but full) and ``generate(2)`` (one token through the KV cache, which fills the window,
then one past it: the window slides, a full forward pass) run while a PerformanceObserver of
"longtask" entries watches the page's main thread.

The issue's goal is no main-thread task over GOAL_MS (100 ms). The test asserts a regression
bound, LONGEST_TASK_BOUND_MS, not the goal: the longest task here is 60-100 ms on a quiet 2-core
machine (``python -m llmviz bench --page`` prints "goal met / not met" per model size), more
under load, and a timed assertion at the goal would flake. The bound
catches what was fixed: the whole forward pass on the main thread (5-9 s, before the worker),
a big trace's buffer allocated in one task (0.3-1.2 s: its first touch of new memory), a copy
of your model into IndexedDB in one task, labels added one by one under PyScript's observer.

The intro's notes must not call a model of millions of numbers "small enough to see",
nothing may be drawn as shape only unsaid, the scale toolbar names the model and a
255-character input wraps inside its panel.
"""
from __future__ import annotations

import os

import pytest

from test_live_view import open_page  # noqa: F401 - the shared page driver's fixture (tests/browser is on sys.path)

pytestmark = pytest.mark.browser

GOAL_MS = 100                  # issue 14's goal (the bench measures it: see the docstring)
LONGEST_TASK_BOUND_MS = 400    # the regression bound asserted: ~3x the worst task measured (quiet machine)
needs_numpy = pytest.mark.skipif(not os.environ.get("LLMVIZ_PYODIDE_WHEELHOUSE"),
                                 reason="live inference needs numpy for Pyodide: set LLMVIZ_PYODIDE_WHEELHOUSE")
BABY = dict(block_size=256, vocab_size=65, n_layer=6, n_head=6, n_embd=384)
OBSERVE = """() => { window.__tasks = []; new PerformanceObserver((l) => l.getEntries().forEach(
    (e) => window.__tasks.push(Math.round(e.duration)))).observe({type: "longtask"}); }"""
TAKE = "() => { const t = window.__tasks; window.__tasks = []; return t; }"


@pytest.fixture(scope="session")
def baby_site(built_dist, tmp_path_factory):
    """The built site plus baby.npz / baby.json, made once per session (links, no copies)."""
    from llmviz.cli.bench_models import make_model

    site = tmp_path_factory.mktemp("baby-site")
    for entry in built_dist.iterdir():
        (site / entry.name).symlink_to(entry)
    npz, card, n_params = make_model(site, BABY, "baby")
    return site, npz.name, card.name, n_params


@needs_numpy
def test_a_shakespeare_baby_sized_model_never_blocks_the_page(open_page, baby_site, serve_dist):
    from llmviz.cli.bench_models import text_of, SHAKESPEARE_CHARS

    site, npz_name, card_name, n_params = baby_site
    assert 10e6 < n_params < 11e6
    p = open_page(serve_dist(site))
    p.open()
    res = p.call("""Promise.all([fetch(arg.npz).then((r) => r.arrayBuffer()), fetch(arg.card).then((r) => r.text())])
                    .then(([npz, card]) => window.llmviz.loadModel(npz, card))""", {"npz": npz_name, "card": card_name})
    assert res["ok"], res
    p.idle()
    p.js(OBSERVE)   # loading is measured by the bench; the test watches setInput and generate

    text = text_of(BABY["block_size"] - 1, SHAKESPEARE_CHARS)
    res = p.call("window.llmviz.setInput(arg)", text)
    assert res["ok"], res
    p.idle()
    p.page.wait_for_function("() => window.llmvizSceneSettled")
    during_input = p.js(TAKE)
    res = p.call("window.llmviz.generate(2)")   # fills the window (KV cache), then slides it
    assert res["ok"] and len(res["value"]) == BABY["block_size"] + 1 and res["value"].startswith(text), res
    p.idle()
    p.page.wait_for_function("() => window.llmvizSceneSettled")
    during_generate = p.js(TAKE)
    worst = max(during_input + during_generate, default=0)
    print(f"long tasks: setInput {during_input}, generate {during_generate}; longest main-thread task: {worst} ms (goal {GOAL_MS} ms: {'met' if worst <= GOAL_MS else 'not met'})")
    assert max(during_input, default=0) <= LONGEST_TASK_BOUND_MS, f"setInput: long tasks {during_input} ms"
    assert max(during_generate, default=0) <= LONGEST_TASK_BOUND_MS, f"generate: long tasks {during_generate} ms"

    # text models as first-class: the notes, the toolbar, the input's panel, nothing unsaid
    notes = p.page.inner_text("#commentary")
    for words in ("small enough to see", "fits on screen", "sort model", "CBABBC"):
        assert words not in notes, words
    assert p.js("() => window.llmvizScene.renderer.overflow().length") == 0 or \
        "shape only" in p.page.inner_text("body")
    toolbar = p.page.inner_text(".scene-scales") if p.page.locator(".scene-scales").count() else ""
    assert "baby" in toolbar and "sort model" not in toolbar, toolbar
    box = p.js("""() => { const f = document.getElementById('live-input'), l = document.getElementById('live');
        return {field: f.getBoundingClientRect().right, panel: l.getBoundingClientRect().right,
                scroll: l.scrollWidth - l.clientWidth}; }""")
    assert box["field"] <= box["panel"] + 1 and box["scroll"] <= 1, box
    p.check_clean()
