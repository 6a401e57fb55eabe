"""The walkthrough in a real browser (Debian's Chromium): every step, navigation, deep
links, embedding by postMessage, reduced motion.

Each test boots Pyodide once or twice, so checks are grouped by page load. Every test
fails on a page error or a console error.
"""
from __future__ import annotations

import json
import math
import shutil
import statistics
from pathlib import Path

import pytest

import llmviz.walkthrough as wt
from llmviz.core import tracefile
from llmviz.walkthrough import numbers

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
SHOTS = Path(__file__).resolve().parent.parent.parent / ".cache" / "screenshots"
WAIT_READY = "() => window.llmviz.ready.then(() => true, e => String(e))"
STEP_IS = "([p, s]) => { const st = window.llmviz.state(); return st.phase === p && st.step === s; }"
SETTLED_AT = "([p, s]) => { const st = window.llmviz.state(); return st.phase === p && st.step === s && st.settled; }"


class Page:
    """A page of a fresh context that keeps every page and console error."""

    def __init__(self, browser, errors: list, **context_options):
        self.context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context_options})
        self.errors = errors
        self.page = self.new_page()

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                if m.type == "error" else None)
        return page

    def close(self):
        self.context.close()


@pytest.fixture
def pages(browser):
    made, errors = [], []

    def make(**options) -> Page:
        p = Page(browser, errors, **options)
        made.append(p)
        return p

    make.errors = errors
    yield make
    for p in made:
        p.close()


def boot(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.llmvizReadyDone !== undefined", timeout=TIMEOUT_MS)
    result = page.evaluate(WAIT_READY)
    assert result is True, f"llmviz.ready rejected: {result}"
    page.wait_for_function("() => window.llmviz.state().settled === true")


def state(page) -> dict:
    return page.evaluate("() => window.llmviz.state()")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"walk_{name}.png"))


def load_bundle(dist: Path):
    info = json.loads((dist / "build-info.json").read_text())

    def read(key):
        index = json.loads((dist / info[key]["json"]).read_text())
        return tracefile.read(index, (dist / info[key]["bin"]).read_bytes())

    scene = json.loads((dist / "data" / "scene.json").read_text())
    return read("trace"), read("params"), {b["id"] for b in scene["blocks"]}


def shown_tolerance(text: str) -> float:
    """Half a unit in the last digit a number is written with."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return 0.5 * 10 ** (-decimals) * 10 ** (int(exponent) if exponent else 0)


def drag_scene(page, dx: float, dy: float, steps: int) -> None:
    """Drag in the 3D view (from a little below its middle): the camera orbits."""
    box = page.locator("#scene").bounding_box()
    cx, cy = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + dx, cy + dy, steps=steps)
    page.mouse.up()


def same_camera(a: dict | None, b: dict | None, tol: float = 1e-3) -> bool:
    if a is None or b is None:
        return a is b
    return all(math.isclose(x, y, rel_tol=tol, abs_tol=tol) for key in ("position", "target")
               for x, y in zip(a[key], b[key]))


GOTO_AND_READ = """async ([p, s]) => {
  const t0 = performance.now();
  const back = await window.llmviz.goto({phase: p, step: s});
  const ms = performance.now() - t0;
  const el = document.getElementById("commentary");
  return {back, ms, state: window.llmviz.state(), text: el.innerText, hash: location.hash,
          title: el.querySelector(".wv-title") ? el.querySelector(".wv-title").textContent : "",
          blocks: [...el.querySelectorAll("[data-block]")].map(e => e.dataset.block),
          nums: [...el.querySelectorAll("span.num:not(.missing)")].map(e => e.textContent),
          plot: !!el.querySelector("svg.wv-plot"), frames: window.llmvizScene && window.llmvizScene.renderer
              ? window.llmvizScene.renderer.frameCount() : null};
}"""


# ------------------------------------------------------------------ every step

def test_every_step_of_every_phase(built_dist, serve_dist, pages):
    """goto each step (reduced motion, so it is quick): it settles, says something, names
    only blocks of the scene, and every number is the Trace's; the hash follows."""
    trace, params, scene_ids = load_bundle(built_dist)
    server = serve_dist(built_dist)
    p = pages(reduced_motion="reduce")
    boot(p.page, server.url)

    listed = p.page.evaluate("() => window.llmviz.phases()")
    assert [(ph["id"], ph["steps"]) for ph in listed] == [(ph["id"], ph["steps"]) for ph in wt.phases()]
    assert all(len(ph["step_titles"]) == ph["steps"] and all(ph["step_titles"]) for ph in listed)

    times, checked, plots = [], 0, 0
    for ph in listed:
        assert ph["step_ids"] == next(w["step_ids"] for w in wt.phases() if w["id"] == ph["id"])
        for n, s in enumerate(ph["step_ids"]):
            r = p.page.evaluate(GOTO_AND_READ, [ph["id"], s])
            st = r["state"]
            where = f"{ph['id']}/{s}"
            assert (st["phase"], st["step"], st["step_index"]) == (ph["id"], s, n) and st["settled"], where
            assert (r["back"]["phase"], r["back"]["step"]) == (ph["id"], s), where
            assert r["hash"] == f"#phase={ph['id']}&step={s}", where
            assert r["title"].strip() and len(r["text"].strip()) > len(r["title"]) + 20, where
            assert st["motion"]["reduced"] is True
            # every block the text or the step names is a block of the scene
            missing = [b for b in r["blocks"] + st["focus"] if b not in scene_ids]
            assert not missing, f"{where}: {missing} are not blocks of data/scene.json"
            # every number shown is the one the step computed, and that is the Trace's value
            assert r["nums"] == [n["text"] for n in st["numbers"]], where
            for n in st["numbers"]:
                expected = numbers.evaluate(n["source"], trace, params)
                assert math.isclose(n["value"], expected, rel_tol=1e-4, abs_tol=1e-5), (where, n, expected)
                assert abs(float(n["text"]) - expected) <= shown_tolerance(n["text"]) * 1.001 + 1e-5, (where, n)
                checked += 1
            plots += r["plot"]
            times.append(r["ms"])
    assert checked > 100, checked
    assert plots >= 1  # the GELU step draws its curve

    # reduced motion: no flights, no animations; a step is there at once and stays put
    assert statistics.median(times) < 1500, times
    p.page.evaluate("([p, s]) => window.llmviz.goto({phase: p, step: s})", ["attention", "mask"])
    cam = state(p.page)["camera"]
    p.page.wait_for_timeout(600)
    assert same_camera(cam, state(p.page)["camera"]), "the camera kept moving under reduced motion"
    assert p.page.locator(".wv-reduced").is_visible()
    shot(p.page, "reduced_attention")
    assert not pages.errors, "\n".join(pages.errors)


# ------------------------------------------------------------------ navigation

def expect_step(page, where, timeout: int = 30_000) -> None:
    """Wait until the walkthrough shows ``where``; say where it is instead if it does not."""
    try:
        page.wait_for_function(STEP_IS, arg=list(where), timeout=timeout)
    except Exception:
        st = page.evaluate("() => [window.llmviz.state().phase, window.llmviz.state().step, location.hash]")
        raise AssertionError(f"expected {where}, the page shows {st}") from None


def press_and_expect(page, key: str, where: tuple[str, str]) -> None:
    page.keyboard.press(key)
    expect_step(page, where)


def test_keys_buttons_timeline_contents_history_and_deep_links(built_dist, serve_dist, pages):
    server = serve_dist(built_dist)
    p = pages(reduced_motion="reduce")    # no flights: each step settles at once (the controls still work)
    page = p.page
    boot(page, server.url)
    listed = page.evaluate("() => window.llmviz.phases()")
    order = [(ph["id"], s) for ph in listed for s in ph["step_ids"]]
    ids = {ph["id"]: ph["step_ids"] for ph in listed}
    softmax = ids["softmax"]

    # --- keys: forward through the whole softmax phase and into the next, then back
    page.evaluate("() => window.llmviz.goto({phase: 'softmax', step: 'what'})")
    page.locator("#commentary .wv-kicker").click()
    forward = ["Space", "ArrowRight", "ArrowDown"]
    for i in range(1, len(softmax)):
        press_and_expect(page, forward[i % 3], ("softmax", softmax[i]))
    press_and_expect(page, "ArrowRight", ("projection", "heads_together"))
    backward = ["ArrowLeft", "ArrowUp", "Shift+Space"]
    for i in range(len(softmax) - 1, -1, -1):
        press_and_expect(page, backward[i % 3], ("softmax", softmax[i]))
    press_and_expect(page, "ArrowLeft", order[order.index(("softmax", "what")) - 1])
    press_and_expect(page, "Space", ("softmax", "what"))

    # keys are left alone while typing, and arrows while the 3D canvas has the focus
    page.evaluate("() => { const i = document.createElement('input'); i.id = 'wv-test-input';"
                  " document.body.appendChild(i); i.focus(); }")
    for key in ("Space", "ArrowRight", "ArrowLeft"):
        page.keyboard.press(key)
    page.wait_for_timeout(300)
    st = state(page)
    assert (st["phase"], st["step"]) == ("softmax", "what")
    assert page.evaluate("() => document.getElementById('wv-test-input').value") == " "
    page.evaluate("() => document.getElementById('wv-test-input').remove()")
    if page.locator("#scene canvas").count():
        page.evaluate("() => document.querySelector('#scene canvas').focus()")
        for key in ("ArrowRight", "ArrowDown", "ArrowLeft"):
            page.keyboard.press(key)
        page.wait_for_timeout(300)
        st = state(page)
        assert (st["phase"], st["step"]) == ("softmax", "what")
        page.keyboard.press("Escape")

    # --- buttons
    page.locator("#walk-nav .wv-next").click()
    expect_step(page, ["softmax", "max"])
    page.locator("#walk-nav .wv-prev").click()
    expect_step(page, ["softmax", "what"])

    # --- the timeline: click a step; drag from one to another
    page.locator('.wv-timeline [data-i="20"]').click()
    expect_step(page, list(order[20]))
    assert page.locator('.wv-timeline [data-i="20"]').get_attribute("class").split().count("current") == 1
    a = page.locator('.wv-timeline [data-i="30"]').bounding_box()
    b = page.locator('.wv-timeline [data-i="36"]').bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    expect_step(page, list(order[30]))
    for f in (0.3, 0.6, 1.0):
        page.mouse.move(a["x"] + (b["x"] - a["x"]) * f + b["width"] / 2, b["y"] + b["height"] / 2)
    page.mouse.up()
    expect_step(page, list(order[36]))
    # the drag is one history entry: back leads to where it started
    page.go_back()
    expect_step(page, list(order[20]))
    page.go_forward()
    expect_step(page, list(order[36]))

    # --- contents: the schematic's parts jump to their phases
    page.locator("#walk-nav .wv-toc-toggle").click()
    assert page.locator(".wv-toc").is_visible()
    shot(page, "contents")
    page.locator('.wv-schematic .wv-part[data-phase="mlp"]').click()
    expect_step(page, ["mlp", "ln_2"])
    assert not page.locator(".wv-toc").is_visible()
    page.locator("#walk-nav .wv-toc-toggle").click()
    page.evaluate("() => document.getElementById('stage').dispatchEvent("
                  "new PointerEvent('pointerdown', {bubbles: true}))")   # a press outside closes the contents
    assert not page.locator(".wv-toc").is_visible()
    page.locator("#walk-nav .wv-toc-toggle").click()
    assert page.locator(".wv-toc-list ol a.current").is_visible()   # scrolled to where the reader is
    toc_link = page.locator(".wv-toc-list a", has_text=listed[2]["step_titles"][3])
    assert toc_link.get_attribute("href") == f"#phase={listed[2]['id']}&step={listed[2]['step_ids'][3]}"
    toc_link.click()
    expect_step(page, [listed[2]["id"], listed[2]["step_ids"][3]])

    # --- history: back and forward step through the places visited
    page.evaluate("() => window.llmviz.goto({phase: 'layernorm', step: 'variance'})")
    page.evaluate("() => window.llmviz.goto({phase: 'output', step: 'logits'})")
    page.go_back()
    expect_step(page, ["layernorm", "variance"])
    page.go_back()
    expect_step(page, [listed[2]["id"], listed[2]["step_ids"][3]])
    page.go_forward()
    expect_step(page, ["layernorm", "variance"])

    # --- the panel scrolls back to the top of the step's text
    page.evaluate("() => { const p = document.getElementById('panel'); p.scrollTop = p.scrollHeight; }")
    page.locator("#walk-nav .wv-next").click()
    expect_step(page, ["layernorm", "normalise"])
    top = page.evaluate("""() => { const p = document.getElementById('panel').getBoundingClientRect();
        const n = document.getElementById('walk-nav').getBoundingClientRect();
        const c = document.querySelector('#commentary .wv-kicker').getBoundingClientRect();
        return {ok: c.top >= n.bottom - 1 && c.bottom <= p.bottom, c: c.top, n: n.bottom}; }""")
    assert top["ok"], top

    # --- hovering a reference focuses its block; a pick over a block makes its refs glow
    page.evaluate("() => window.llmviz.goto({phase: 'mlp', step: 'gelu'})")
    ref = page.locator("#commentary span.ref[data-block]").first
    block = ref.get_attribute("data-block")
    ref.hover()
    page.wait_for_function("b => window.llmviz.state().hover === b", arg=block)
    page.locator("#commentary .wv-kicker").hover()
    page.wait_for_function("() => window.llmviz.state().hover === null")
    rect = page.evaluate("b => window.llmvizScene && window.llmvizScene.renderer"
                         " ? window.llmvizScene.renderer.screenRect(b) : null", block)
    if rect:
        page.mouse.move(rect["x"] + rect["w"] / 2, rect["y"] + rect["h"] / 2)
        page.wait_for_function("b => !!document.querySelector(`#commentary .ref.wv-glow[data-block=\"${b}\"]`)",
                               arg=block, timeout=30_000)
        shot(page, "pick_glow")
        page.mouse.move(5, 5)

    # --- animation controls: speed, pause and skip go to app.motion and, by the "motion"
    # event, to the scene's player (window.llmvizScene.motion, watched here)
    watched = page.evaluate("""() => { const s = window.llmvizScene; if (!s || !s.motion) return false;
        const original = s.motion; window.motionCalls = [];
        s.motion = (m) => { const v = m && m.toJs ? m.toJs({dict_converter: Object.fromEntries}) : m;
                            window.motionCalls.push(v instanceof Map ? Object.fromEntries(v) : {...v});
                            return original(m); };
        return true; }""")
    page.select_option("#walk-nav .wv-speed", "2.0")
    assert state(page)["motion"]["speed"] == 2.0
    page.locator("#walk-nav .wv-pause").click()
    assert state(page)["motion"]["paused"] is True and page.locator("#walk-nav .wv-pause").inner_text() == "Play"
    page.locator("#walk-nav .wv-pause").click()
    assert state(page)["motion"]["paused"] is False
    page.locator("#walk-nav .wv-skip").click()
    page.select_option("#walk-nav .wv-speed", "1.0")
    assert state(page)["motion"] == {"speed": 1.0, "paused": False, "reduced": True}   # the browser asks for it
    if watched:
        calls = page.evaluate("() => window.motionCalls")
        assert [(c.get("speed"), c.get("paused"), bool(c.get("skip"))) for c in calls] == [
            (2.0, False, False), (2.0, True, False), (2.0, False, False), (2.0, False, True),
            (1.0, False, False)], calls

    # --- deep links: the hash names the view; opening it restores it, camera included
    page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 'one_score'})")
    assert page.evaluate("() => location.hash") == "#phase=attention&step=one_score"
    first = state(page)
    other = p.new_page()
    boot(other, server.url + "#phase=attention&step=one_score")
    again = state(other)
    for key in ("phase", "step", "step_index", "id", "focus", "code", "numbers"):
        assert again[key] == first[key], key
    assert same_camera(again["camera"], first["camera"]), (again["camera"], first["camera"])
    shot(other, "deep_link")

    # a camera the reader moved goes into the link (&cam=) and comes back with it
    if again["camera"] is not None:
        drag_scene(other, 120, 30, steps=6)
        other.wait_for_function("() => location.hash.includes('&cam=')", timeout=30_000)
        # wait until the camera rests (the controls glide a little after the drag, longer on a
        # loaded machine) and the link has caught up with it: the link names the camera on screen
        def parsed(href: str) -> dict:
            values = [float(v) for v in href.split("&cam=")[1].split(",")]
            return {"position": values[:3], "target": values[3:]}

        moved, camera, previous = None, None, None
        for _ in range(60):
            other.wait_for_timeout(500)
            moved, camera = parsed(other.evaluate("() => location.href")), state(other)["camera"]
            if previous is not None and same_camera(camera, previous, tol=1e-4) \
                    and same_camera(moved, camera, tol=2e-3):
                break
            previous = camera
        link = other.evaluate("() => location.href")
        assert same_camera(moved, camera, tol=2e-3), (moved, camera)
        assert not same_camera(moved, again["camera"])
        third = p.new_page()
        boot(third, link)
        restored = state(third)
        assert (restored["phase"], restored["step"]) == ("attention", "one_score")
        assert same_camera(restored["camera"], moved, tol=2e-3), (restored["camera"], moved)
        third.close()
    other.close()   # (pages done with are closed: each one left open keeps rendering)
    # a link to no step says so and opens the tour's start
    fourth = p.new_page()
    boot(fourth, server.url + "#phase=nowhere&step=scaling")
    st = state(fourth)
    assert (st["phase"], st["step"]) == (listed[0]["id"], listed[0]["step_ids"][0])
    assert "names no step" in fourth.locator("#notice").inner_text()
    fourth.close()
    # a link by step number counts as the page does: step=4 opens what the page calls "step 4
    # of 11", and the address names it by id from then on
    old = p.new_page()
    boot(old, server.url + "#phase=attention&step=4&layer=1")
    st = state(old)
    assert (st["phase"], st["step"], st["follow"]["layer"]) == ("attention", "one_score", 1)
    assert old.evaluate("() => location.hash") == "#phase=attention&step=one_score&layer=1"
    assert old.inner_text("#walk-nav .wv-count") == "4 / 11"
    assert old.inner_text("#commentary .wv-kicker").lower().endswith("step 4 of 11")
    old.close()
    # a known phase with a step it does not have (past its end, not a whole number, not a
    # number: step=Infinity once stopped the page) opens that phase's first step, and says so
    for link in ("#phase=softmax&step=Infinity", "?phase=softmax&step=50"):
        fifth = p.new_page()
        boot(fifth, server.url + link)
        st = state(fifth)
        assert (st["phase"], st["step"]) == ("softmax", "what"), link
        assert "showing Softmax, step 1 instead" in fifth.locator("#notice").inner_text(), link
        fifth.close()
    # goto refuses what does not exist, with a readable reason; a step number still works
    err = page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 99}).then(() => null, e => String(e))")
    assert err and "has steps 0.." in err
    err = page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 'scores'}).then(() => null, e => String(e))")
    assert err and "has no step 'scores'" in err
    err = page.evaluate("() => window.llmviz.goto({phase: 'attention', step: Infinity}).then(() => null, e => String(e))")
    assert err and "whole number" in err
    back = page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 5})")
    assert (back["phase"], back["step"], back["step_index"]) == ("attention", "scaling", 5)
    assert not pages.errors, "\n".join(pages.errors)


# ------------------------------------------------------------------ embedding

def test_embedding_by_postmessage(built_dist, serve_dist, pages, tmp_path):
    """The example course page (another origin: another port) drives a frame of the site;
    a page of an origin the frame does not allow is ignored.

    The three origins share the host (different ports); a frame of another *site*
    (localhost vs 127.0.0.1) is tested in test_cross_site_embed.py."""
    site = serve_dist(built_dist)
    course_dir = tmp_path / "course"
    course_dir.mkdir()
    shutil.copy(built_dist / "embed-example.html", course_dir / "embed-example.html")
    course = serve_dist(course_dir)
    intruder_dir = tmp_path / "intruder"
    intruder_dir.mkdir()
    frame_url = f"{site.url}index.html?embed=1&phase=intro&step=weights_activations&origin={course.origin}"
    (intruder_dir / "index.html").write_text(
        f'<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>intruder</title>'
        f'<iframe id="f" src="{frame_url}" width="800" height="600"></iframe>'
        '<script>window.got = []; addEventListener("message", e => window.got.push(e.data));</script>')
    intruder = serve_dist(intruder_dir)
    assert len({site.origin, course.origin, intruder.origin}) == 3

    p = pages(viewport={"width": 1000, "height": 1500}, reduced_motion="reduce")
    page = p.page
    page.goto(f"{course.url}embed-example.html?site={site.url}")
    page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:ready' && r.frame === 'first frame')",
                           timeout=TIMEOUT_MS)
    frame = page.frame_locator("#frame-score")
    child = next(f for f in page.frames if f.url.startswith(site.origin) and "phase=attention" in f.url)
    child.wait_for_function("() => window.llmviz.state().settled === true")
    st = child.evaluate("() => window.llmviz.state()")
    assert (st["phase"], st["step"], st["locked"], st["embed"]) == ("attention", "one_score", True, True)
    # locked: no navigation, the keys do nothing, the link opens the full page at this step
    assert not frame.locator("#walk-nav .wv-next").is_visible()
    assert not frame.locator(".wv-timeline").is_visible()
    assert not frame.locator("#topbar").is_visible()
    frame.locator("#commentary .wv-kicker").click()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    assert child.evaluate("() => window.llmviz.state().step") == "one_score"
    href = frame.locator("#wv-embed-bar .wv-full").get_attribute("href")
    assert href == "./index.html#phase=attention&step=one_score"
    frame.locator("#wv-embed-bar .wv-drawer").click()
    assert not frame.locator("#panel").is_visible()
    frame.locator("#wv-embed-bar .wv-drawer").click()
    assert frame.locator("#panel").is_visible()
    shot(page, "embed_example")

    # the course page's button: goto, and the answer is the new state
    page.select_option("#target", "mlp:gelu")
    page.click("#goto")
    page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:state' && r.msg.phase === 'mlp')",
                           timeout=60_000)
    reply = page.evaluate("() => window.replies.filter(r => r.msg.type === 'llmviz:state').pop().msg")
    now = child.evaluate("() => window.llmviz.state()")
    assert (reply["phase"], reply["step"]) == ("mlp", "gelu") == (now["phase"], now["step"])
    assert reply["focus"] == now["focus"] and reply["code"] == now["code"] and reply["id"] >= 1
    assert same_camera(reply["camera"], now["camera"])
    assert '"phase": "mlp"' in page.locator("#reply").inner_text()
    page.click("#ask")
    page.wait_for_function("() => window.replies.filter(r => r.msg.type === 'llmviz:state').length >= 2")
    # a bad goto is answered with an error, and changes nothing
    page.evaluate(f"() => document.getElementById('frame-score').contentWindow.postMessage("
                  f"{{type: 'llmviz:goto', phase: 'nowhere', step: 'idea', id: 99}}, '{site.origin}')")
    page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:error' && r.msg.id === 99)")
    assert child.evaluate("() => window.llmviz.state().phase") == "mlp"
    # a goto may name the transformer block and head to follow
    page.evaluate(f"() => document.getElementById('frame-score').contentWindow.postMessage("
                  f"{{type: 'llmviz:goto', phase: 'softmax', step: 'max', layer: 1, head: 2, id: 7}}, '{site.origin}')")
    page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:state' && r.msg.id === 7)")
    reply = page.evaluate("() => window.replies.find(r => r.msg.id === 7).msg")
    assert (reply["phase"], reply["step"], reply["follow"]) == ("softmax", "max", {"layer": 1, "head": 2})
    # a step number is still obeyed, and the answer names the step by id
    page.evaluate(f"() => document.getElementById('frame-score').contentWindow.postMessage("
                  f"{{type: 'llmviz:goto', phase: 'softmax', step: 2, id: 8}}, '{site.origin}')")
    page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:state' && r.msg.id === 8)")
    reply = page.evaluate("() => window.replies.find(r => r.msg.id === 8).msg")
    assert (reply["phase"], reply["step"], reply["step_index"]) == ("softmax", "exp", 2)
    assert "h.1.attn.scores[2]" in reply["focus"], reply["focus"]
    shot(page, "embed_after_goto")

    # --- a page of an origin the frame does not allow: ignored, no answer
    q = p.new_page()
    q.goto(intruder.url)
    bad = next(f for f in q.frames if f.url.startswith(site.origin))
    bad.wait_for_function("() => window.llmviz && window.llmvizReadyDone === true", timeout=TIMEOUT_MS)
    bad.wait_for_function("() => window.llmviz.state().settled === true")
    before = bad.evaluate("() => window.llmviz.state()")
    assert (before["phase"], before["step"]) == ("intro", "weights_activations")
    assert intruder.origin not in bad.evaluate("() => window.llmviz.embedOrigins")
    q.evaluate(f"""() => {{ const w = document.getElementById('f').contentWindow;
        w.postMessage({{type: 'llmviz:goto', phase: 'output', step: 'logits'}}, '{site.origin}');
        w.postMessage({{type: 'llmviz:state'}}, '{site.origin}');
        w.postMessage({{llmviz: 'goto', arg: {{phase: 'output', step: 'logits'}}, id: 1}}, '{site.origin}'); }}""")
    q.wait_for_timeout(1500)
    after = bad.evaluate("() => window.llmviz.state()")
    assert (after["phase"], after["step"]) == ("intro", "weights_activations")
    assert q.evaluate("() => window.got") == []   # not even a ready message went to it
    assert not pages.errors, "\n".join(pages.errors)


# ------------------------------------------------------------------ a new input

def test_commentary_follows_a_new_input(built_dist, serve_dist, pages, wheelhouse):
    """With numpy in the page, a new input re-renders the step: its numbers are the new
    Trace's (recomputed here in CPython from the same weights)."""
    if wheelhouse is None:
        pytest.skip("set LLMVIZ_PYODIDE_WHEELHOUSE to a folder with numpy built for Pyodide 314 "
                    "to test the walkthrough on a live trace")
    import numpy as np
    from llmviz.core import weights

    info = json.loads((built_dist / "build-info.json").read_text())
    model = weights.load(built_dist / info["model"]["weights"])
    server = serve_dist(built_dist)
    p = pages(reduced_motion="reduce")
    boot(p.page, server.url + "#phase=attention&step=one_score")
    before = state(p.page)
    assert (before["phase"], before["step"]) == ("attention", "one_score")
    listed = p.page.evaluate("() => window.llmviz.phases()")
    first_embedding = sum(ph["steps"] for ph in listed[:[ph["id"] for ph in listed].index("embedding")])
    title_cell = p.page.locator(f'.wv-timeline [data-i="{first_embedding}"]')   # "Position t holds X"
    old_title = title_cell.get_attribute("title")
    p.page.evaluate("() => window.llmviz.setInput('ACA')")
    p.page.wait_for_function("ids => JSON.stringify(window.llmviz.state().ids) !== JSON.stringify(ids)",
                             arg=before["ids"])
    p.page.wait_for_function("() => window.llmviz.state().settled === true")
    after = state(p.page)
    assert (after["phase"], after["step"]) == ("attention", "one_score")
    assert after["numbers"] != before["numbers"]
    trace = model.trace(np.array([after["ids"]]))
    params = model.state_dict()
    nums = p.page.evaluate("() => [...document.querySelectorAll('#commentary span.num:not(.missing)')]"
                           ".map(e => e.textContent)")
    assert nums == [n["text"] for n in after["numbers"]]
    for n in after["numbers"]:
        expected = numbers.evaluate(n["source"], trace, params)
        assert math.isclose(n["value"], expected, rel_tol=1e-4, abs_tol=1e-5), (n, expected)
    # the step titles that name a token follow the input too ("Position t holds X")
    if after["ids"][-1] != before["ids"][-1] or len(after["ids"]) != len(before["ids"]):
        assert title_cell.get_attribute("title") != old_title
    assert not pages.errors, "\n".join(pages.errors)


def test_a_links_camera_and_a_moved_one_stay_when_new_numbers_come(built_dist, serve_dist, pages, wheelhouse):
    """A link with ``&input=`` and ``&cam=``: the page runs the model on the link's input, and the
    step, shown again with those numbers, keeps the link's camera (it used to fly back to the
    step's own view, and the link lost its &cam=). The same for a camera the reader moved, when
    they type a new input; another step is shown at its own view, and the link drops &cam=."""
    if wheelhouse is None:
        pytest.skip("set LLMVIZ_PYODIDE_WHEELHOUSE to a folder with numpy built for Pyodide 314: "
                    "new numbers come from the live model")
    server = serve_dist(built_dist)
    p = pages(reduced_motion="reduce")
    boot(p.page, server.url + "#phase=attention&step=one_score")
    own = state(p.page)["camera"]
    cam = {"position": [own["position"][0] + 6, own["position"][1] + 2, own["position"][2]],
           "target": list(own["target"])}
    link = ("#phase=attention&step=one_score&input=CABBAC&cam="
            + ",".join(f"{v:.4f}" for v in cam["position"] + cam["target"]))

    other = pages(reduced_motion="reduce")
    boot(other.page, server.url + link)
    # the link's input has been run (its numbers are in the step) and the step has settled again
    other.page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
    other.page.wait_for_function("() => window.llmviz.state().settled === true")
    shown = state(other.page)
    assert "CABBAC" in shown["text"], shown["text"]
    assert same_camera(shown["camera"], cam, tol=2e-3), (shown["camera"], cam)
    assert not same_camera(shown["camera"], own)
    assert "&cam=" in other.page.evaluate("() => location.hash")

    # the reader's own camera (here: the link's, moved on by a drag) stays for a typed input too
    drag_scene(other.page, -80, 20, steps=5)
    moved, previous = None, None
    for _ in range(40):          # until the controls' glide after the drag has ended
        other.page.wait_for_timeout(300)
        moved = state(other.page)["camera"]
        if previous is not None and same_camera(moved, previous, tol=1e-4):
            break
        previous = moved
    assert not same_camera(moved, cam)
    before = state(other.page)["ids"]
    other.page.evaluate("() => window.llmviz.setInput('BCA')")
    other.page.wait_for_function("ids => JSON.stringify(window.llmviz.state().ids) !== JSON.stringify(ids)",
                                 arg=before)
    other.page.wait_for_function("() => window.llmviz.state().settled === true")
    assert same_camera(state(other.page)["camera"], moved, tol=2e-3)
    assert "&cam=" in other.page.evaluate("() => location.hash")
    # going to another step shows that step's own view again, and the link drops &cam=
    other.page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 0})")
    assert "&cam=" not in other.page.evaluate("() => location.hash")
    assert not pages.errors, "\n".join(pages.errors)


# ------------------------------------------------------------------ following another block and head

def test_follow_another_block_and_head(built_dist, serve_dist, pages):
    """The Follow selects zoom the tour into another block and head: the step, its numbers
    and the URL follow; a deep link and goto carry them; a link to a head the model does
    not have is refused with a notice; back restores the earlier choice."""
    trace, params, scene_ids = load_bundle(built_dist)
    config = json.loads((built_dist / "build-info.json").read_text())["model"]["config"]
    last_layer, last_head = config["n_layer"] - 1, config["n_head"] - 1
    assert last_layer > 0 and last_head > 0, "the shipped model should have several blocks and heads"
    server = serve_dist(built_dist)
    p = pages(reduced_motion="reduce")
    page = p.page
    boot(page, server.url + "#phase=attention&step=one_score")
    assert state(page)["follow"] == {"layer": 0, "head": 0}
    assert all(f.startswith(("h.0.", "x")) for f in state(page)["focus"]), state(page)["focus"]

    # the selects: one option per block and per head of this model
    assert page.locator(".wv-layer option").count() == config["n_layer"]
    assert page.locator(".wv-head option").count() == config["n_head"]
    page.select_option(".wv-head", str(last_head))
    page.wait_for_function("h => window.llmviz.state().follow.head === h && window.llmviz.state().settled",
                           arg=last_head)
    page.select_option(".wv-layer", str(last_layer))
    page.wait_for_function("L => window.llmviz.state().follow.layer === L && window.llmviz.state().settled",
                           arg=last_layer)
    st = state(page)
    assert (st["phase"], st["step"]) == ("attention", "one_score")
    assert page.evaluate("() => location.hash") == f"#phase=attention&step=one_score&layer={last_layer}&head={last_head}"
    per_head = [f for f in st["focus"] if "[" in f]
    assert per_head and all(f.startswith(f"h.{last_layer}.") and f.endswith(f"[{last_head}]") for f in per_head), \
        st["focus"]
    assert set(st["focus"]) <= scene_ids
    for n in st["numbers"]:   # the numbers are the followed head's, from the Trace
        assert any(f"h.{last_layer}." in str(v) for v in json.dumps(n["source"]).split('"')), n
        expected = numbers.evaluate(n["source"], trace, params)
        assert math.isclose(n["value"], expected, rel_tol=1e-4, abs_tol=1e-5), n
    shot(page, "follow_last_head")
    page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 'idea'})")
    assert f"We follow head {last_head} of block {last_layer}" in page.locator("#commentary").inner_text()

    # steps onward keep following it; the intro and output phases do not depend on it
    page.evaluate("() => window.llmviz.goto({phase: 'mlp', step: 'idea'})")
    assert all(not f.startswith("h.0.") for f in state(page)["focus"]), state(page)["focus"]

    # goto with layer and head; a head the model does not have is refused, nothing changes
    back = page.evaluate("() => window.llmviz.goto({phase: 'softmax', step: 'max', layer: 1, head: 0})")
    assert back["follow"] == {"layer": 1, "head": 0} and (back["phase"], back["step"]) == ("softmax", "max")
    assert page.evaluate("() => location.hash") == "#phase=softmax&step=max&layer=1"
    assert page.locator(".wv-layer").input_value() == "1" and page.locator(".wv-head").input_value() == "0"
    err = page.evaluate("(h) => window.llmviz.goto({phase: 'softmax', step: 'max', head: h})"
                        ".then(() => 'resolved', e => String(e))", config["n_head"])
    assert "this model has" in err and f"head {config['n_head']}" in err, err
    assert state(page)["follow"] == {"layer": 1, "head": 0}

    # back: the earlier step and the block and head it followed
    page.go_back()
    page.wait_for_function("() => window.llmviz.state().phase === 'mlp' && window.llmviz.state().settled")
    assert state(page)["follow"] == {"layer": last_layer, "head": last_head}

    # a deep link names them; an impossible one says so and keeps the defaults
    q = pages(reduced_motion="reduce")
    boot(q.page, server.url + "#phase=attention&step=keys_values&layer=1&head=2")
    assert state(q.page)["follow"] == {"layer": 1, "head": 2}
    assert q.page.locator(".wv-layer").input_value() == "1"
    r = pages(reduced_motion="reduce")
    boot(r.page, server.url + f"#phase=attention&step=keys_values&layer={config['n_layer']}")
    assert state(r.page)["follow"] == {"layer": 0, "head": 0}
    assert "does not have" in r.page.locator("body").inner_text()
    assert not pages.errors, "\n".join(pages.errors)


# ------------------------------------------------------------------ a phone-sized screen, the keys of the 3D view

def test_narrow_screen_scrolls_the_page_and_the_scene_says_when_it_has_the_keys(built_dist, serve_dist, pages):
    """At 390x844 the page scrolls as a whole (no notes squeezed into a small box), the 3D view
    keeps a usable height, the walkthrough's bar sticks to the top; a focused 3D view says
    that the arrows now move the camera, and Escape gives them back."""
    server = serve_dist(built_dist)
    p = pages(viewport={"width": 390, "height": 844}, reduced_motion="reduce")
    page = p.page
    boot(page, server.url + "#phase=attention&step=one_score")
    m = page.evaluate("""() => {
      const panel = document.getElementById('panel'), scene = document.getElementById('scene');
      return {doc: document.documentElement.scrollHeight, view: innerHeight,
              panelScroll: panel.scrollHeight, panelClient: panel.clientHeight,
              scene: scene.getBoundingClientRect().height,
              status: document.getElementById('status').getBoundingClientRect().height,
              top: document.getElementById('topbar').getBoundingClientRect().height};
    }""")
    assert m["doc"] > m["view"], m                         # the page scrolls ...
    assert m["panelScroll"] <= m["panelClient"] + 1, m      # ... not a little box inside it
    assert m["scene"] >= 250, m
    assert m["status"] <= m["top"], m                       # the status stays inside the header
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("() => window.scrollY > 0")
    nav = page.evaluate("() => { const r = document.getElementById('walk-nav').getBoundingClientRect();"
                        " return [r.top, r.bottom, innerHeight]; }")
    assert -1 <= nav[0] and nav[1] <= nav[2] + 1, nav       # scrolled to the end, the bar is still in view
    page.click(".wv-next")
    expect_step(page, ("attention", "score_row"))
    # the contents list gets the whole width
    page.click(".wv-toc-toggle")
    toc = page.evaluate("""() => { const t = document.querySelector('.wv-toc').getBoundingClientRect(),
        l = document.querySelector('.wv-toc-list').getBoundingClientRect(); return [t.width, l.width]; }""")
    assert toc[1] >= toc[0] * 0.8, toc
    page.keyboard.press("Escape")
    shot(page, "narrow_390")
    # an embedded page of the same width keeps its frame layout: nothing scrolls but the notes
    e = pages(viewport={"width": 800, "height": 600}, reduced_motion="reduce")
    boot(e.page, server.url + "?embed=1&phase=attention&step=keys_values")
    m = e.page.evaluate("""() => ({doc: document.documentElement.scrollHeight, view: innerHeight,
        panel: document.getElementById('panel').getBoundingClientRect().toJSON()})""")
    assert m["doc"] <= m["view"] + 1, m
    # the drawer beside the 3D view, nearly as tall as the frame (a notice bar may sit above it)
    assert m["panel"]["left"] > 200 and m["panel"]["height"] > 0.75 * m["view"], m

    # the 3D view's keys
    q = pages(reduced_motion="reduce")
    boot(q.page, server.url + "#phase=mlp&step=idea")
    hint = q.page.locator(".wv-keyhint")
    assert not hint.is_visible()
    q.page.click("#scene canvas", position={"x": 40, "y": 300})
    hint.wait_for(state="visible")
    assert "Esc" in hint.inner_text()
    q.page.keyboard.press("ArrowRight")                   # moves the camera, not the tour
    q.page.wait_for_timeout(300)
    assert state(q.page)["step"] == "idea"
    q.page.keyboard.press("Escape")
    hint.wait_for(state="hidden")
    q.page.keyboard.press("ArrowRight")
    expect_step(q.page, ("mlp", "expand"))
    # other controls over the 3D view (the colour legend) leave the arrows to the tour
    q.page.focus("#scene details summary")
    q.page.keyboard.press("ArrowRight")
    expect_step(q.page, ("mlp", "expand_all"))
    assert not pages.errors, "\n".join(pages.errors)
