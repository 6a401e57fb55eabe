"""The page's chrome in a real browser: the input bar, the embed's controls, the notes drawer.

* the input bar is one compact row of controls and one status line (at most 64 px high at
  1400x900), and wraps on a phone (390x844) without losing a control or running off screen;
* an embed (``?embed=1``) shows the step, its notes and code, prev/next and the step text,
  without the input bar, the scale buttons and the animation controls (``&controls=1``
  brings them back); a link's step number reads as the page shows it ("step 4 of 11");
* hiding the embed's notes gives the 3D view more room, and the view frames the step again.

Every test fails on a page error or a console error.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from page_log import record_errors

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
SHOTS = Path(os.environ.get("LLMVIZ_SHOTS", "/tmp/llmviz-shots"))
MAX_BAR_PX = 64
CONTROLS = ("#live-input", "#live-seq", "#live-next", "#live-reset", "#live-sample", "#live-load", "#live-startover",
            "#live-choice")


class Visit:
    def __init__(self, browser, server, width: int, height: int, **options):
        self.server = server
        # reduced motion unless a test asks otherwise: steps settle without flights (the chrome is tested here)
        options.setdefault("reduced_motion", "reduce")
        self.context = browser.new_context(viewport={"width": width, "height": height}, **options)
        self.errors: list[str] = []
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        record_errors(self.page, self.errors)

    def open(self, path: str = "") -> None:
        self.page.goto(self.server.url + path)
        result = self.page.evaluate("() => window.llmviz.ready.then(() => true, e => String(e))")
        assert result is True, result
        self.page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
        self.page.wait_for_function("() => window.llmviz.state().settled === true")

    def rect(self, selector: str) -> dict | None:
        return self.page.evaluate("(s) => { const el = document.querySelector(s); if (!el) return null;"
                                  " const r = el.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width,"
                                  " h: r.height, right: r.right, bottom: r.bottom}; }", selector)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"chrome_{name}.png"))


@pytest.fixture
def visit(browser, built_dist, serve_dist):
    server = serve_dist(built_dist)
    made = []

    def make(width=1400, height=900, **options) -> Visit:
        v = Visit(browser, server, width, height, **options)
        made.append(v)
        return v

    yield make
    for v in made:
        assert not v.errors, "\n".join(v.errors)
        v.context.close()


def _inside(inner: dict, outer: dict, slack: float = 0.5) -> bool:
    return (inner["x"] >= outer["x"] - slack and inner["y"] >= outer["y"] - slack
            and inner["right"] <= outer["right"] + slack and inner["bottom"] <= outer["bottom"] + slack)


def test_the_input_bar_is_one_compact_row(visit):
    v = visit(1400, 900)
    v.open()
    bar = v.rect("#live")
    assert bar["h"] <= MAX_BAR_PX, bar
    field = v.rect("#live-input")
    for selector in CONTROLS:
        assert v.page.locator(selector).is_visible(), selector
        box = v.rect(selector)
        assert _inside(box, bar), (selector, box, bar)
        if selector != "#live-choice":   # every control on the field's row; the status line below it
            assert box["y"] < field["bottom"] and box["bottom"] > field["y"], (selector, box, field)
    assert v.page.inner_text("#live-choice").startswith("the model's answer: ")
    v.shot("bar_1400")
    # a message shares the status line: the bar keeps its height, the whole text is the tooltip
    field_el = v.page.locator("#live-input")
    field_el.press("End")
    field_el.press_sequentially("x")
    v.page.wait_for_function("() => document.getElementById('live-msg').textContent.includes(\"'x'\")")
    assert v.rect("#live")["h"] == bar["h"]
    msg = v.rect("#live-msg")
    assert msg["w"] > 100 and _inside(msg, bar), msg
    assert v.page.get_attribute("#live-msg", "title") == v.page.inner_text("#live-msg")
    v.shot("bar_1400_message")
    field_el.press("Backspace")
    # sampling brings its two knobs into the same bar
    v.page.check("#live-sample")
    assert v.page.locator("#live-temp").is_visible() and v.page.locator("#live-topk").is_visible()
    assert v.rect("#live")["h"] <= MAX_BAR_PX + 32, v.rect("#live")

    phone = visit(390, 844)
    phone.open()
    bar = phone.rect("#live")
    for selector in CONTROLS:
        assert phone.page.locator(selector).is_visible(), selector
        box = phone.rect(selector)
        assert box["x"] >= 0 and box["right"] <= 390 and _inside(box, bar), (selector, box)
    assert phone.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert bar["h"] <= 3 * MAX_BAR_PX, bar
    phone.shot("bar_390")


def test_an_embed_shows_the_step_not_the_page_tools(visit):
    v = visit(800, 600)
    v.open("?embed=1&phase=attention&step=4")
    st = v.page.evaluate("() => window.llmviz.state()")
    assert (st["phase"], st["step"], st["embed"]) == ("attention", "one_score", True)
    # the link's number is the one the page shows
    assert v.page.inner_text("#walk-nav .wv-count") == "4 / 11"
    assert v.page.inner_text("#commentary .wv-kicker").lower().endswith("step 4 of 11")
    for hidden in ("#live", "#scene .scene-scales", "#walk-nav .wv-motion"):
        assert v.page.locator(hidden).count() == 1 and not v.page.locator(hidden).is_visible(), hidden
    for shown in ("#walk-nav .wv-prev", "#walk-nav .wv-next", "#walk-nav .wv-where", "#wv-embed-bar .wv-drawer",
                  "#code .cv-tabs", "#commentary .wv-title"):
        assert v.page.locator(shown).is_visible(), shown
    # the 3D view starts at the top of the frame: nothing above it
    assert v.rect("#scene")["y"] <= 1, v.rect("#scene")
    v.shot("embed_800")

    # &controls=1 brings the tools back
    c = visit(800, 600)
    c.open("?embed=1&controls=1&phase=attention&step=one_score")
    for shown in ("#live", "#scene .scene-scales", "#walk-nav .wv-motion", "#live-next"):
        assert c.page.locator(shown).is_visible(), shown

    # without the input bar, what it would have said goes to the notices
    n = visit(800, 600)
    n.open("?embed=1&phase=attention&step=one_score&input=ABCD")
    notice = n.page.inner_text("#notice")
    assert "ABCD" in notice and "does not fit" in notice, notice


def test_hiding_the_notes_frames_the_step_again(visit):
    v = visit(800, 600)
    v.open("?embed=1&phase=attention&step=one_score")
    camera = "() => JSON.stringify(window.llmviz.state().camera)"
    before, scene_before = v.page.evaluate(camera), v.rect("#scene")
    v.page.click("#wv-embed-bar .wv-drawer")
    assert v.page.inner_text("#wv-embed-bar .wv-drawer") == "Show notes"
    v.page.wait_for_function("(w) => document.getElementById('scene').getBoundingClientRect().width > w + 100",
                             arg=scene_before["w"])
    v.page.wait_for_function("(c) => JSON.stringify(window.llmviz.state().camera) !== c", arg=before)
    v.page.wait_for_function("() => window.llmvizSceneSettled === true")
    view = v.page.evaluate("() => window.llmvizScene.viewState()")
    scene = view["scene"]
    scene["right"], scene["bottom"] = scene["x"] + scene["w"], scene["y"] + scene["h"]
    assert view["blocks"], view
    for block_id, box in view["blocks"].items():
        box["right"], box["bottom"] = box["x"] + box["w"], box["y"] + box["h"]
        assert _inside(box, scene, 1), (block_id, box, scene)
    v.shot("embed_notes_hidden")
    # and back: the same size, the same view as before
    v.page.click("#wv-embed-bar .wv-drawer")
    v.page.wait_for_function("""(c) => { const want = JSON.parse(c), now = window.llmviz.state().camera;
        return ["position", "target"].every((k) => now[k].every((x, i) =>
            Math.abs(x - want[k][i]) <= 1e-3 * Math.max(1, Math.abs(want[k][i])))); }""", arg=before)
