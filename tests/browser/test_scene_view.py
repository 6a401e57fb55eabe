"""The 3D view of the built page (js/stage/bridge.js + llmviz.page.ui.scene_view) in Chromium.

One page load serves the tests of this module, in order: first frame before Python,
hover read-outs against the Trace, walkthrough steps (highlight, dim, settle), reduced
motion, and the scale views. Console errors and page errors fail the tests.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from llmviz.viz import layout
from llmviz.core import tracefile
from llmviz import walkthrough
from llmviz.page.ui import scene_steps
from pixels import png_pixels

pytestmark = pytest.mark.browser

VIEW = {"width": 1280, "height": 800}
READY_TIMEOUT_MS = 180_000


class Page:
    def __init__(self, browser, url: str, dist):
        self.dist = dist
        self.context = browser.new_context(viewport=VIEW, device_scale_factor=1)
        self.page = self.context.new_page()
        self.page.set_default_timeout(READY_TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url)

    def js(self, code: str, arg=None):
        return self.page.evaluate(code, arg)

    def pixels(self, selector: str = "#scene") -> np.ndarray:
        png = self.page.locator(selector).screenshot(type="png")
        return png_pixels(self.page, png)

    def idle(self) -> None:
        """Wait until the renderer has stopped drawing (three frames without a new one)."""
        self.page.wait_for_function(
            """() => new Promise((resolve) => {
                 const r = window.llmvizScene.renderer;
                 let last = r.frameCount(), calm = 0;
                 const check = () => {
                   const now = r.frameCount();
                   calm = now === last ? calm + 1 : 0; last = now;
                   if (calm >= 3) resolve(true); else requestAnimationFrame(check);
                 };
                 requestAnimationFrame(check);
               })""", timeout=30000)

    def check_clean(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture(scope="module")
def site(built_dist):
    from conftest import StaticServer  # tests/conftest.py

    server = StaticServer(built_dist)
    yield server
    server.close()


@pytest.fixture(scope="module")
def booted(browser, site, built_dist):
    p = Page(browser, site.url, built_dist)
    yield p
    p.context.close()


@pytest.fixture(scope="module")
def bundled(built_dist):
    data = built_dist / "data"
    trace = tracefile.read(json.loads((data / "trace.json").read_text()), (data / "trace.bin").read_bytes())
    params = tracefile.read(json.loads((data / "params.json").read_text()), (data / "params.bin").read_bytes())
    scene = json.loads((data / "scene.json").read_text())
    card = json.loads(next((built_dist / "weights").glob("*.json")).read_text())
    index = json.loads((data / "trace.json").read_text())
    ctx = {"trace": trace, "params": params, "config": trace.config, "vocab": list(card["vocab"]),
           "task": card.get("task")}
    return {"trace": trace, "scene": scene, "ctx": ctx, "text": index["text"]}


def test_first_frame_is_drawn_before_python_is_ready(booted):
    p = booted
    p.page.wait_for_function("typeof window.llmvizFirstFrame === 'number'", timeout=60000)
    # real numbers on screen: the canvas is far from uniform
    before = p.pixels()
    assert before.std() > 12, "the first frame looks blank"
    assert len(np.unique(before.reshape(-1, 3)[::7], axis=0)) > 50
    info = p.js("() => window.llmviz.ready.then(i => i, e => ({error: String(e)}))")
    assert "error" not in info, info
    first, ready = p.js("() => [window.llmvizFirstFrame, window.llmvizReadyAt]")
    assert first < ready, f"first frame at {first:.0f} ms, Python ready at {ready:.0f} ms"
    assert p.js("() => window.llmvizScene.error") is None
    p.check_clean()


def _hover_center(p: Page, block_id: str) -> dict:
    """Bring a block into view, move the pointer to its centre; returns the pick there."""
    p.js("""async (id) => { await window.llmvizScene.renderer.flyTo({ids: [id], direction: [0, 0, 1]}, 0); }""", block_id)
    p.idle()
    rect = p.js("(id) => window.llmvizScene.renderer.screenRect(id)", block_id)
    x, y = rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2
    p.page.mouse.move(5, 5)
    p.page.mouse.move(x, y, steps=3)
    pick = p.js("([x, y]) => window.llmvizScene.renderer.pickAt(x, y)", [x, y])
    assert pick and pick["id"] == block_id
    p.page.wait_for_function("() => !document.getElementById('tooltip').hidden", timeout=10000)
    return pick


def test_hover_shows_the_traces_value_and_its_terms(booted, bundled):
    p, trace = booted, bundled["trace"]
    p.page.wait_for_function("window.llmvizReadyDone === true")
    # a query cell: rows are the head's features, columns the positions
    pick = _hover_center(p, "h.0.attn.q[1]")
    shown = float(p.page.locator("#tooltip .tt-value").inner_text())
    want = float(trace["h.0.attn.q"][0, 1, pick["col"], pick["row"]])
    assert round(shown, 4) == pytest.approx(round(want, 4), abs=1.5e-4)
    text = p.page.locator("#tooltip").inner_text()
    assert "dot product" in text and "bias" in text
    # ... and the row of weights and the column of ln_1 it is the dot product of are highlighted
    cells = p.js("() => window.llmvizScene.renderer.state().cells")
    assert cells["h.0.attn.c_attn.q.weight[1]"][0] == pick["row"]
    assert cells["h.0.ln_1"][1] == pick["col"] and cells["h.0.ln_1"][3] == pick["col"] + 1

    # a residual-stream cell: token embedding + position embedding, both in numbers
    pick = _hover_center(p, "x")
    shown = float(p.page.locator("#tooltip .tt-value").inner_text())
    t, c = pick["col"], pick["row"]
    assert shown == pytest.approx(float(trace["x"][0, t, c]), abs=1.5e-4)
    terms = p.page.locator("#tooltip .tt-terms tr").all_inner_texts()
    assert [row.split()[0] for row in terms] == ["tok_emb", "pos_emb"]
    assert float(terms[0].split()[-1]) == pytest.approx(float(trace["tok_emb"][0, t, c]), abs=1.5e-4)
    assert float(terms[1].split()[-1]) == pytest.approx(float(trace["pos_emb"][t, c]), abs=1.5e-4)
    # off the blocks: no tooltip
    p.page.mouse.move(3, VIEW["height"] - 3)
    p.page.wait_for_function("() => document.getElementById('tooltip').hidden", timeout=10000)
    p.check_clean()


def _scene_step(bundled, phase: str, step_id: str, motion=None) -> dict:
    step = walkthrough.render_step(phase, step_id, bundled["ctx"])
    return scene_steps.scene_step(step, bundled["scene"], motion)


def test_a_step_highlights_its_focus_dims_the_rest_and_settles(booted, bundled):
    p = booted
    p.page.mouse.move(3, VIEW["height"] - 3)
    step = _scene_step(bundled, "attention", "one_score")   # a dot product: q . k = one score
    assert step["animation"]["kind"] == "dot"
    p.js("(s) => { window._done = window.llmvizScene.playStep(JSON.stringify(s)); }", step)
    assert p.js("() => window.llmvizSceneSettled") is False
    p.page.wait_for_function("() => window.llmvizScene.animator.playing", timeout=20000)
    ok = p.js("() => window._done")
    assert ok is True
    assert p.js("() => window.llmvizSceneSettled") is True
    state = p.js("() => window.llmvizScene.renderer.state()")
    focus = set(step["focus"])
    assert focus <= set(state["highlighted"])
    assert "wte.weight" in state["dimmed"] and "wte.weight" not in state["highlighted"]
    # nothing moves any more, so nothing is drawn
    p.idle()
    frames = p.js("() => window.llmvizScene.renderer.frameCount()")
    p.page.wait_for_timeout(600)
    assert p.js("() => window.llmvizScene.renderer.frameCount()") == frames
    # the camera framed the focus: every focus block is on screen, and outlined in the highlight colour
    shot = p.pixels()
    box = p.page.locator("#scene").bounding_box()
    for block_id in focus:
        r = p.js("(id) => window.llmvizScene.renderer.screenRect(id)", block_id)
        assert r["x"] >= box["x"] - 1 and r["x"] + r["w"] <= box["x"] + box["width"] + 1, block_id
        x0, y0 = int(r["x"] - box["x"]), int(r["y"] - box["y"])
        patch = shot[max(0, y0 - 2):y0 + int(r["h"]) + 3, max(0, x0 - 2):x0 + int(r["w"]) + 3]
        yellow = (patch[:, :, 0] > 200) & (patch[:, :, 1] > 190) & (patch[:, :, 2] < 160)
        assert yellow.sum() > 10, f"{block_id} is not outlined"
    p.check_clean()


def test_goto_awaits_the_scene_when_the_walk_view_is_there(booted):
    p = booted
    has_goto = p.js("() => window.llmviz.goto({phase: 'embedding', step: 'sum'}).then(() => true, e => String(e))")
    assert has_goto is True, f"the walkthrough's goto failed: {has_goto}"
    assert p.js("() => window.llmvizSceneSettled") is True
    assert set(p.js("() => window.llmvizScene.renderer.state().highlighted")) >= {"tok_emb", "pos_emb", "x"}
    p.check_clean()


def test_pause_holds_an_animation_and_skip_ends_it(booted, bundled):
    p = booted
    step = _scene_step(bundled, "projection", "residual")   # the residual add
    assert step["animation"]["kind"] == "residual"
    p.js("(s) => { window._done = window.llmvizScene.playStep(JSON.stringify(s)); }", step)
    p.page.wait_for_function("() => window.llmvizScene.animator.playing", timeout=20000)
    p.js("() => window.llmvizScene.motion({speed: 4, paused: true})")
    p.page.wait_for_timeout(3000)                           # longer than the whole animation at 4x
    assert p.js("() => [window.llmvizSceneSettled, window.llmvizScene.animator.playing]") == [False, True]
    p.js("() => window.llmvizScene.motion({speed: 1, paused: false, skip: true})")
    assert p.js("() => window._done") is True
    assert p.js("() => window.llmvizSceneSettled") is True
    assert set(step["focus"]) <= set(p.js("() => window.llmvizScene.renderer.state().highlighted"))
    p.check_clean()


def test_reduced_motion_settles_at_once(booted, bundled):
    p = booted
    p.page.emulate_media(reduced_motion="reduce")
    try:
        step = _scene_step(bundled, "embedding", "sum")   # the embedding columns add up
        assert step["animation"]["kind"] == "add"
        took = p.js("""async (s) => { const t0 = performance.now();
                         await window.llmvizScene.playStep(JSON.stringify(s)); return performance.now() - t0; }""", step)
        assert took < 400, f"reduced motion took {took:.0f} ms to settle"
        assert p.js("() => window.llmvizSceneSettled") is True
        assert p.js("() => window.llmvizScene.animator.playing") is False
        assert {"tok_emb", "pos_emb", "x"} <= set(p.js("() => window.llmvizScene.renderer.state().highlighted"))
    finally:
        p.page.emulate_media(reduced_motion="no-preference")
    p.check_clean()


def test_a_new_input_redraws_the_values(booted, bundled, wheelhouse):
    """Live path (numpy in the page): a new input's trace is drawn, and hovering agrees with it."""
    p = booted
    if wheelhouse is None:
        pytest.skip("needs numpy for Pyodide: set LLMVIZ_PYODIDE_WHEELHOUSE")
    assert p.js("() => window.llmviz.info.live") is True
    before = p.js("() => Array.from(window.llmvizScene.renderer.block('h.0.attn.att[0]').values)")
    text = "BACCAB" if not bundled["text"].startswith("BACCAB") else "CABBAC"
    result = p.js("(t) => window.llmviz.setInput(t).then(() => true, e => String(e))", text)
    assert result is True, f"a new input failed in a build with numpy: {result}"
    after = p.js("() => Array.from(window.llmvizScene.renderer.block('h.0.attn.att[0]').values)")
    assert len(after) == len(before) and np.abs(np.array(after) - np.array(before)).max() > 1e-3
    pick = _hover_center(p, "h.0.attn.att[0]")
    shown = float(p.page.locator("#tooltip .tt-value").inner_text())
    drawn = p.js("(i) => window.llmvizScene.renderer.block('h.0.attn.att[0]').values[i]", pick["index"])
    assert shown == pytest.approx(drawn, abs=1.5e-4)
    p.page.mouse.move(3, VIEW["height"] - 3)
    p.check_clean()


def test_scale_views_load_frame_and_come_back(booted, bundled):
    p = booted
    p.page.wait_for_function("() => !document.querySelector('.scene-scales button').disabled")
    x_before = p.js("() => Array.from(window.llmvizScene.renderer.block('x').values.slice(0, 5))")
    config = bundled["trace"].config
    for name in ("gpt2-small", "gpt2-xl", "gpt3"):
        want = layout.scale_lineup(name, config, "sort-abc")
        p.page.locator(f".scene-scales button[data-scale='{name}']").click()
        p.page.wait_for_function("(n) => window.llmvizScene.mode === n", arg=name)
        assert p.js("() => window.llmvizScene.renderer.blockIds().length") == len(want["blocks"])
        info = p.page.locator(".scene-scale-info").inner_text()
        assert want["label"] in info and "no weights" in info
        # this model and each real GPT up to this one, side by side, each named with its size
        labels = p.js("() => [...document.querySelectorAll('.llmviz-annotation[data-kind=model]')]"
                      ".filter((el) => el.style.display === 'block').map((el) => [el.dataset.model, el.textContent])")
        assert [key for key, _ in labels] == [m["key"] for m in want["models"]], labels
        for (key, text), m in zip(labels, want["models"]):
            assert f"{m['param_count']:,}" in text, (key, text)
        # framed: the first and the last block are both on screen
        box = p.page.locator("#scene").bounding_box()
        for block_id in (want["blocks"][0]["id"], want["blocks"][-1]["id"]):
            r = p.js("(id) => window.llmvizScene.renderer.screenRect(id)", block_id)
            assert r is not None
            cx, cy = r["x"] + r["w"] / 2, r["y"] + r["h"] / 2
            assert box["x"] <= cx <= box["x"] + box["width"] and box["y"] <= cy <= box["y"] + box["height"], (name, block_id)
        p.idle()
        assert p.pixels().std() > 5, f"{name}: nothing drawn"
    p.page.locator(".scene-scales button[data-scale='model']").click()
    p.page.wait_for_function("() => window.llmvizScene.mode === 'model'")
    assert p.js("() => window.llmvizScene.renderer.blockIds().length") == len(bundled["scene"]["blocks"])
    x_after = p.js("() => Array.from(window.llmvizScene.renderer.block('x').values.slice(0, 5))")
    assert x_after == pytest.approx(x_before, abs=1e-5)
    p.check_clean()


# resolves once the camera has not moved for three frames in a row (a flight has ended)
CAMERA_AT_REST = """() => new Promise((resolve) => {
  const r = window.llmvizScene.renderer;
  let last = JSON.stringify(r.getCamera()), calm = 0;
  const check = () => { const now = JSON.stringify(r.getCamera()); calm = now === last ? calm + 1 : 0; last = now;
                        if (calm >= 3) resolve(true); else requestAnimationFrame(check); };
  requestAnimationFrame(check);
})"""
RECTS_JS = """(ids) => Object.fromEntries(ids.map((id) => [id, window.llmvizScene.renderer.screenRect(id)]))"""


def test_back_from_a_scale_view_is_the_steps_view(booted, bundled):
    p = booted
    p.page.wait_for_function("() => !document.querySelector('.scene-scales button').disabled")
    step = _scene_step(bundled, "attention", "one_score", {"reduced": True})
    assert p.js("(s) => window.llmvizScene.playStep(JSON.stringify(s))", step) is True
    before = p.js("() => window.llmvizScene.renderer.getCamera()")
    for name in ("gpt2-small", "gpt3"):
        p.page.locator(f".scene-scales button[data-scale='{name}']").click()
        p.page.wait_for_function("(n) => window.llmvizScene.mode === n", arg=name)
        # the size note does not cover the model: every block is drawn below it
        note = p.page.locator(".scene-scale-info").bounding_box()
        rects = p.js(RECTS_JS, p.js("() => window.llmvizScene.renderer.blockIds()"))
        top = min(r["y"] for r in rects.values() if r)
        assert top >= note["y"] + note["height"] - 1, (name, top, note)
    p.page.locator(".scene-scales button[data-scale='model']").click()
    p.page.wait_for_function("() => window.llmvizScene.mode === 'model'")
    after = p.js("() => window.llmvizScene.renderer.getCamera()")
    dist = float(np.linalg.norm(np.subtract(before["position"], before["target"])))
    for key in ("position", "target"):
        assert np.allclose(after[key], before[key], atol=1e-3 * dist), (key, before, after)
    assert set(step["focus"]) <= set(p.js("() => window.llmvizScene.renderer.state().highlighted"))
    p.check_clean()


def test_a_resized_view_frames_the_step_again_unless_the_reader_moved(booted, bundled):
    p = booted
    step = _scene_step(bundled, "projection", "residual", {"reduced": True})
    assert p.js("(s) => window.llmvizScene.playStep(JSON.stringify(s))", step) is True
    wide = p.js("() => window.llmvizScene.renderer.getCamera()")
    try:
        p.page.set_viewport_size({"width": 700, "height": 900})
        # the camera moves by more than rounding (a reframe for the old size must not count)
        p.page.wait_for_function("""(c) => { const now = window.llmvizScene.renderer.getCamera();
            const d = Math.hypot(...c.position.map((v, i) => v - c.target[i]));
            return Math.hypot(...now.position.map((v, i) => v - c.position[i])) > 1e-3 * d; }""", arg=wide)
        p.page.wait_for_function(CAMERA_AT_REST)
        narrow = p.js("() => window.llmvizScene.renderer.getCamera()")
        # it is (close to) the step's own framing for this size: framing again barely moves it
        again = p.js("() => window.llmvizScene.reframe(0).then(() => window.llmvizScene.renderer.getCamera())")
        dist = float(np.linalg.norm(np.subtract(again["position"], again["target"])))
        assert np.allclose(again["position"], narrow["position"], atol=0.1 * dist), (again, narrow)
        assert not np.allclose(wide["position"], narrow["position"], atol=1e-3 * dist), (wide, narrow)
        # a camera the reader moved stays where they put it
        moved = {"position": [v + 3.0 for v in narrow["position"]], "target": narrow["target"]}
        p.js("(c) => window.llmvizScene.renderer.setCamera(c)", moved)
        p.page.set_viewport_size(VIEW)
        p.page.wait_for_timeout(600)
        kept = p.js("() => window.llmvizScene.renderer.getCamera()")
        assert np.allclose(kept["position"], moved["position"], atol=1e-6), (kept, moved)
    finally:
        p.page.set_viewport_size(VIEW)
    p.check_clean()


def test_the_size_buttons_are_a_toolbar(booted):
    """← → move between the size buttons (one Tab stop); the keys stay there, as the
    walkthrough leaves keys in the 3D view alone."""
    p = booted
    state = p.js("() => window.llmviz.state ? window.llmviz.state() : null")
    bar = p.page.locator(".scene-scales")
    assert bar.get_attribute("role") == "toolbar"
    tab_stops = lambda: p.js("() => [...document.querySelectorAll('.scene-scales button')]"  # noqa: E731
                             ".filter((b) => b.tabIndex === 0).map((b) => b.dataset.scale)")
    assert tab_stops() == ["model"]
    p.page.locator(".scene-scales button[data-scale='gpt2-small']").focus()
    focused = lambda: p.js("() => document.activeElement.dataset.scale")  # noqa: E731
    for key, want in (("ArrowRight", "gpt2-xl"), ("ArrowRight", "gpt3"), ("ArrowRight", "model"),
                      ("ArrowLeft", "gpt3"), ("Home", "model"), ("End", "gpt3")):
        p.page.keyboard.press(key)
        assert focused() == want, key
    assert tab_stops() == ["gpt3"]
    assert p.js("() => window.llmvizScene.mode") == "model"        # moving the focus chooses nothing
    if state and "step" in state:
        now = p.js("() => window.llmviz.state()")
        assert (now["phase"], now["step"]) == (state["phase"], state["step"])
    p.js("() => document.activeElement.blur()")
    p.check_clean()


NO_WEBGL2 = """(() => {
  const original = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (kind, ...rest) {
    return kind === 'webgl2' ? null : original.call(this, kind, ...rest);
  };
})();"""


def test_without_webgl2_the_page_says_so_and_the_rest_works(browser, site):
    context = browser.new_context(viewport=VIEW)
    context.add_init_script(NO_WEBGL2)
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        page.goto(site.url)
        info = page.evaluate("() => window.llmviz.ready.then(i => i, e => ({error: String(e)}))")
        assert "error" not in info, info
        message = page.locator("#scene .scene-message").inner_text()
        assert "WebGL2" in message and "text and code" in message
        assert page.evaluate("() => window.llmvizScene.renderer") is None
        # the walkthrough still moves and settles at once
        moved = page.evaluate("() => window.llmviz.goto({phase: 'embedding', step: 'token_lookup'}).then(() => true, e => String(e))")
        assert moved is True, moved
        assert page.locator("#commentary").inner_text().strip()
        assert not errors, "\n".join(errors)
    finally:
        context.close()
