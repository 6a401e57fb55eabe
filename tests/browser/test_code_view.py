"""The code panel in a real page (llmviz.page.ui.code_view): highlighting, shapes, tabs,
collapsing that sticks, variable hover <-> scene focus, and a build without nanoGPT.

Page loads in one browser context (so localStorage carries over): the built site as
conftest builds it (with nanoGPT's snippets when $LLMVIZ_NANOGPT points at its model.py),
at several window sizes and embedded, then the same site with data/code.json's nanoGPT
parts nulled, as a build without nanoGPT's source writes it. At every size, no shape
note may cover any code and no code may be clipped or scroll out of view sideways. Steps are driven through the view's ``?debug=1``
hook (``llmvizDebug.codeStep(phase, i)``, which counts steps by number), so the test does
not depend on the walkthrough's navigation; the test names steps by id.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmviz.walkthrough as wt
from llmviz.codepanel.annotate import source_lines

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_MS = 180_000
WAIT_READY = "() => window.llmviz.ready.then(info => ({ok: true, info}), e => ({ok: false, error: String(e)}))"
BUILD_HINT = "python build.py --nanogpt PATH/TO/nanoGPT"


def _nanogpt_in(dist: Path) -> bool:
    data = json.loads((dist / "data" / "code.json").read_text())
    return any(pair.get("nanogpt") for pair in data["snippets"].values())


def _without_nanogpt(dist: Path) -> bytes:
    data = json.loads((dist / "data" / "code.json").read_text())
    for pair in data["snippets"].values():
        pair["nanogpt"] = None
    data["scopes"] = {k: v for k, v in data["scopes"].items() if not k.startswith("nanogpt:")}
    return json.dumps(data).encode()


def _boot(context, url, errors, size=(1400, 900)):
    page = context.new_page()
    page.set_default_timeout(READY_TIMEOUT_MS)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.goto(url)
    page.wait_for_function("() => window.llmviz && window.llmviz.ready")   # boot.js has run (a busy machine is slow)
    result = page.evaluate(WAIT_READY)
    assert result["ok"], result
    page.wait_for_function("() => window.llmvizDebug && window.llmvizDebug.codeStep")
    return page


STEP_NUMBER = {(p["id"], step_id): i for p in wt.phases() for i, step_id in enumerate(p["step_ids"])}


def _shown(phase, step_id) -> str:
    """The code panel showing a step (its data-step counts steps by number)."""
    return f"#code .cv[data-step='{phase}:{STEP_NUMBER[(phase, step_id)]}']"


def _step(page, phase, step_id):
    """Show a step in the panel (again, if the walkthrough moves on its own right then)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    index = STEP_NUMBER[(phase, step_id)]
    shown = _shown(phase, step_id)
    for _attempt in range(5):
        page.evaluate(f"window.llmvizDebug.codeStep({json.dumps(phase)}, {int(index)})")
        try:
            page.wait_for_selector(shown, state="attached", timeout=3000)
            return
        except PlaywrightTimeout:
            continue   # another step was shown over it: show this one again
    raise AssertionError(f"the code panel does not show step {phase}:{step_id}")


# Per visible code line of a selector's panes: its code (span.src) is not clipped, nothing
# scrolls sideways out of view, and its shape note (span.note) covers none of its code's text
# (the note sits after the code on the same row, or on a row of its own under it) and lies
# inside the code box. Returns {lines, notes, bad}.
NOTES_CLEAR = """(sel) => {
  const out = {lines: 0, notes: 0, bad: []};
  const overlap = (a, b) => a.right > b.left + 0.5 && a.left < b.right - 0.5
                         && a.bottom > b.top + 0.5 && a.top < b.bottom - 0.5;
  for (const line of document.querySelectorAll(sel + ' .code .line')) {
    if (!line.offsetParent) continue;  // a collapsed snippet or a hidden pane
    out.lines++;
    const where = line.closest('.cv-snippet').dataset.id + ' line ' + line.dataset.line;
    const src = line.querySelector(':scope > .src'), note = line.querySelector(':scope > .note');
    const pre = line.closest('pre');
    if (!src) { out.bad.push(where + ': no span.src'); continue; }
    if (pre.scrollWidth > pre.clientWidth + 1) out.bad.push(where + ': the code box scrolls sideways');
    if (src.scrollWidth > src.clientWidth + 1) out.bad.push(where + ': its code is clipped');
    if (!note) continue;
    out.notes++;
    const nr = note.getBoundingClientRect(), pr = pre.getBoundingClientRect();
    if (nr.width < 1 || nr.left < pr.left - 0.5 || nr.right > pr.right + 0.5)
      out.bad.push(where + ': its note is not inside the code box');
    const range = document.createRange();
    range.selectNodeContents(src);
    for (const r of range.getClientRects())
      if (r.width > 0 && overlap(r, nr)) {
        out.bad.push(where + ': the note ' + JSON.stringify(note.textContent) + ' covers its code');
        break;
      }
  }
  return out;
}"""

# steps with long lines (the scores line of "Why divide by sqrt(hs)", the embedding sum,
# the whole attention forward pass, the q/k/v split)
CLEAR_STEPS = (("attention", "scaling"), ("attention", "idea"), ("attention", "keys_values"), ("embedding", "sum"),
               ("mlp", "idea"))
SIZES = ((1400, 900), (1280, 800), (800, 900), (390, 844))


def _notes_clear(page, panes, where):
    """No shape note covers code in these panes, which show at least one note."""
    for pane in panes:
        result = page.evaluate(NOTES_CLEAR, pane)
        assert result["notes"] > 0, (where, pane, result)
        assert not result["bad"], (where, pane, result["bad"][:10])


def _refs(page):
    return json.loads(page.evaluate("window.llmvizDebug.codeRefs()"))


def test_code_panel(browser, built_dist, serve_dist, tmp_path, wheelhouse):
    server = serve_dist(built_dist)
    with_ng = _nanogpt_in(built_dist)
    T = len(json.loads((built_dist / "data" / "trace.json").read_text())["ids"])
    config = json.loads((built_dist / "data" / "trace.json").read_text())["config"]
    errors: list[str] = []
    # service workers blocked: the second load meets the route; reduced motion: steps settle at once
    context = browser.new_context(service_workers="block", reduced_motion="reduce")
    try:
        page = _boot(context, server.url + "?debug=1", errors)

        # ---- a step: tabs, pygments tokens, this model's shapes, the refs published
        _step(page, "attention", "idea")
        # first visit: nanoGPT's tab when the build has its source, else this page's numpy
        default = "nanogpt" if with_ng else "port"
        assert page.get_attribute(f"#code .cv-tab[data-tab={default}]", "aria-selected") == "true"
        assert page.locator(f"#cv-pane-{default}").is_visible()
        assert page.locator("#code .cv-tab").all_inner_texts() == ["nanoGPT (PyTorch)", "this page (numpy)"]
        page.locator("#code .cv-tab[data-tab=nanogpt]").focus()
        page.keyboard.press("ArrowRight")  # the tabs work from the keyboard too
        assert page.get_attribute("#code .cv-tab[data-tab=port]", "aria-selected") == "true"
        pane = page.locator("#cv-pane-port")
        assert pane.is_visible() and not page.locator("#cv-pane-nanogpt").is_visible()
        for token in ("k", "nf", "n", "o", "p"):  # keyword, function name, name, operator, punctuation
            assert pane.locator(f".code span.{token}").count() > 0, token
        notes = pane.locator(".code .note").all_inner_texts()
        hs = config["n_embd"] // config["n_head"]
        assert f"att: (1, {config['n_head']}, {T}, {T})" in notes, notes
        assert f"q: (1, {config['n_head']}, {T}, {hs})" in notes, notes
        color = page.evaluate("getComputedStyle(document.querySelector('#cv-pane-port .code span.k')).color")
        assert color not in ("rgb(0, 0, 0)", "rgb(229, 231, 235)"), color  # a theme colour, not the text's
        refs = _refs(page)
        port_lines = source_lines((ROOT / "py" / "llmviz" / "core" / "model.py").read_text(encoding="utf-8"))
        port_refs = [r for r in refs if r["source"] == "port"]
        assert [r["symbol"] for r in port_refs] == ["CausalSelfAttention.forward", "CausalSelfAttention.__init__"]
        for r in port_refs:
            assert r["text"] == "\n".join(port_lines[r["lines"][0] - 1:r["lines"][1]])
            assert pane.locator(f".code[data-lines='{r['lines'][0]}-{r['lines'][1]}']").count() == 1
        assert ({r["source"] for r in refs} == {"port", "nanogpt"}) == with_ng
        page.screenshot(path=str(tmp_path / "code_port.png"))

        # ---- collapsing sticks per snippet while moving through steps
        _step(page, "layernorm", "why")
        fwd = "#cv-pane-port .cv-snippet[data-id='port:layernorm.forward']"
        init = "#cv-pane-port .cv-snippet[data-id='port:layernorm.init']"
        assert "collapsed" not in page.get_attribute(fwd, "class")
        assert "collapsed" in page.get_attribute(init, "class")
        assert not page.locator(init + " .cv-body").is_visible()
        page.locator(fwd + " .cv-title").click()
        assert "collapsed" in page.get_attribute(fwd, "class")
        assert not page.locator(fwd + " .cv-body").is_visible()
        assert page.get_attribute(fwd + " .cv-head", "aria-expanded") == "false"
        page.locator(init + " .cv-title").click()
        assert page.locator(init + " .cv-body").is_visible()
        _step(page, "layernorm", "mean")  # shows layernorm.forward again
        assert page.locator("#cv-pane-port").is_visible(), "the tab choice sticks"
        assert "collapsed" in page.get_attribute(fwd, "class")
        assert page.locator(init + " .cv-body").is_visible()
        page.locator(fwd + " .cv-title").click()  # open again for the hover checks
        assert page.locator(fwd + " .cv-body").is_visible()

        # ---- hovering a code variable focuses its block in the scene; focus/pick light variables
        _step(page, "attention", "idea")
        att = pane.locator(".code span.var[data-block='h.0.attn.att']").first
        att.hover()
        want = [f"h.0.attn.att[{h}]" for h in range(config["n_head"])]
        assert page.evaluate("Array.from(window.llmvizDebug.codeLastFocus)") == want
        if page.evaluate("!!(window.llmvizScene && window.llmvizScene.renderer)"):  # the scene view is there
            lit_in_scene = page.evaluate("window.llmvizScene.renderer.state().highlighted")
            assert set(want) <= set(lit_in_scene), lit_in_scene
        page.mouse.move(5, 5)
        assert page.evaluate("Array.from(window.llmvizDebug.codeLastFocus)") == []
        page.evaluate("window.llmvizDebug.codeEmit('pick', JSON.stringify({id: 'h.0.attn.att[1]', row: 0, col: 0}))")
        lit = pane.locator(".code span.var.lit")
        assert lit.count() >= 2 and set(lit.evaluate_all("els => els.map(e => e.dataset.block)")) == {"h.0.attn.att"}
        page.evaluate("window.llmvizDebug.codeEmit('focus', JSON.stringify({ids: ['h.0.attn.q[0]', 'h.0.attn.q[1]']}))")
        assert set(lit.evaluate_all("els => els.map(e => e.dataset.block)")) == {"h.0.attn.q"}
        page.evaluate("window.llmvizDebug.codeEmit('pick', JSON.stringify({id: null}))")
        assert lit.count() == 0

        # ---- nanoGPT's tab: GitHub links at the pinned commit, opened in a new tab only
        page.locator("#code .cv-tab[data-tab=nanogpt]").click()
        if with_ng:
            link = page.locator("#cv-pane-nanogpt .cv-link").first
            assert link.get_attribute("target") == "_blank" and link.get_attribute("rel") == "noopener"
            href = link.get_attribute("href")
            assert href.startswith("https://github.com/karpathy/nanoGPT/blob/") and "#L" in href
            assert page.locator("#cv-pane-nanogpt .code span.var[data-block='h.0.attn.att']").count() > 0
        page.screenshot(path=str(tmp_path / "code_nanogpt.png"))

        # ---- the theme follows the page
        assert page.evaluate("document.getElementById('code').classList.contains('code-dark')")
        page.evaluate("document.documentElement.setAttribute('data-theme', 'light')")
        page.wait_for_function("() => document.getElementById('code').classList.contains('code-light')")
        bg = page.evaluate("getComputedStyle(document.querySelector('#code .code')).backgroundColor")
        assert sum(int(c) for c in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]) > 600, bg
        page.evaluate("document.documentElement.removeAttribute('data-theme')")
        page.wait_for_function("() => document.getElementById('code').classList.contains('code-dark')")
        page.locator("#code .cv-tab[data-tab=port]").click()

        # ---- weights: `self.c_fc` in the MLP step is the followed layer's c_fc weight (and bias)
        layer = config["n_layer"] - 1
        page.evaluate(f"window.llmviz.goto({{phase: 'mlp', step: 'idea', layer: {layer}}})")  # follow the last layer
        _step(page, "mlp", "idea")  # the step with MLP.forward (and __init__), in that layer
        assert page.locator("#code .cv-snippet[data-key='mlp.forward']").count() >= 1
        want = [f"h.{layer}.mlp.c_fc.weight"] + ([f"h.{layer}.mlp.c_fc.bias"] if config.get("bias", True) else [])
        scene_ids = page.evaluate("window.llmvizScene && window.llmvizScene.renderer ? "
                                  "Array.from(window.llmvizScene.renderer.blockIds()) : null")
        if scene_ids is not None:
            assert set(want) <= set(scene_ids), "blocks the scene does not have"
        for pane_id in ("#cv-pane-port",) + (("#cv-pane-nanogpt",) if with_ng else ()):
            fc = page.locator(f"{pane_id} .cv-snippet[data-key='mlp.forward'] .code "
                              "span.var.param[data-var='self.c_fc']")
            assert fc.count() == 1, pane_id
            assert fc.inner_text() == "self.c_fc"
            assert fc.get_attribute("data-block") == want[0]
            assert fc.get_attribute("data-blocks").split() == want
        fc = pane.locator(".cv-snippet[data-key='mlp.forward'] .code span.var.param[data-var='self.c_fc']")
        fc.locator("span.n").hover()  # the `c_fc` part of the chain: the whole chain is one target
        assert page.evaluate("Array.from(window.llmvizDebug.codeLastFocus)") == want
        if scene_ids is not None:
            lit_in_scene = page.evaluate("window.llmvizScene.renderer.state().highlighted")
            assert set(want) <= set(lit_in_scene), lit_in_scene
        bg = fc.evaluate("e => getComputedStyle(e).backgroundColor")
        assert bg not in ("rgba(0, 0, 0, 0)", "transparent"), bg  # shows that it is hovered
        page.screenshot(path=str(tmp_path / "code_weights_hover.png"))
        page.mouse.move(5, 5)
        assert page.evaluate("Array.from(window.llmvizDebug.codeLastFocus)") == []
        # and the other way: the scene points at the weight block, the token lights up
        page.evaluate(f"window.llmvizDebug.codeEmit('pick', JSON.stringify({{id: {json.dumps(want[0])}, "
                      "row: 0, col: 0}))")
        assert "lit" in fc.get_attribute("class").split()
        page.evaluate("window.llmvizDebug.codeEmit('pick', JSON.stringify({id: null}))")
        assert "lit" not in fc.get_attribute("class").split()

        # ---- shape notes never cover code: long lines wrap, the note goes under when it does not fit
        tabs = ("port",) + (("nanogpt",) if with_ng else ())
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            for phase, step_id in CLEAR_STEPS:
                _step(page, phase, step_id)
                for tab in tabs:
                    page.locator(f"#code .cv-tab[data-tab={tab}]").click()
                    _notes_clear(page, [f"#cv-pane-{tab}"], f"{phase}:{step_id} at {width}x{height}")
            if width == 390:
                page.screenshot(path=str(tmp_path / "code_390.png"), full_page=True)
        # the scores line keeps all of `* (1.0 / math.sqrt(...))` in view, its note too
        page.set_viewport_size({"width": 1280, "height": 800})
        _step(page, "attention", "scaling")
        page.locator("#code .cv-tab[data-tab=port]").click()
        line = page.locator("#cv-pane-port .cv-snippet[data-key='attention.scores'] .code .line").first
        assert "math.sqrt" in line.locator(".src").inner_text()
        assert line.locator(".src").is_visible() and line.locator(".note").is_visible()
        page.screenshot(path=str(tmp_path / "code_scores.png"))
        page.set_viewport_size({"width": 1400, "height": 900})
        if with_ng:  # a tab chosen stays chosen on the next visit
            page.locator("#code .cv-tab[data-tab=nanogpt]").click()
            page.close()
            page = _boot(context, server.url + "?debug=1", errors)
            _step(page, "attention", "idea")
            assert page.locator("#cv-pane-nanogpt").is_visible(), "the tab choice survives a reload"
        page.locator("#code .cv-tab[data-tab=nanogpt]").click()  # the last choice: nanoGPT's tab
        page.close()

        # ---- embedded (an 800x600 iframe, one step pinned): the same, in a narrower panel
        page = _boot(context, server.url + "?debug=1&embed=1&lock=1&phase=attention&step=keys_values", errors,
                     size=(800, 600))
        page.wait_for_selector(_shown("attention", "keys_values"))
        page.locator("#code .cv-tab[data-tab=port]").click()
        _notes_clear(page, ["#cv-pane-port"], "embed attention:keys_values")
        page.screenshot(path=str(tmp_path / "code_embed.png"))
        page.locator("#code .cv-tab[data-tab=nanogpt]").click()
        if with_ng:
            _notes_clear(page, ["#cv-pane-nanogpt"], "embed attention:keys_values")
        page.close()

        # ---- a build without nanoGPT's source; stored choices survive the reload
        bare = _without_nanogpt(built_dist)
        context.route("**/data/code.json", lambda route: route.fulfill(
            status=200, body=bare, headers={"Content-Type": "application/json"}))
        page = _boot(context, server.url + "?debug=1", errors)
        _step(page, "layernorm", "mean")
        # the last choice was nanoGPT's tab, but this build has none: the numpy tab opens
        assert page.get_attribute("#code .cv-tab[data-tab=port]", "aria-selected") == "true"
        assert page.locator("#cv-pane-port").is_visible() and not page.locator("#cv-pane-nanogpt").is_visible()
        assert "collapsed" not in page.get_attribute(init, "class"), "the collapse choice survives a reload"
        page.locator("#code .cv-tab[data-tab=nanogpt]").click()
        missing = page.locator("#cv-pane-nanogpt .cv-missing")
        assert missing.is_visible()
        text = missing.inner_text()
        assert "does not include nanoGPT" in text and BUILD_HINT in text
        assert page.locator("#cv-pane-nanogpt .code").count() == 0
        page.screenshot(path=str(tmp_path / "code_missing.png"))
        page.locator("#code .cv-show-port").click()
        assert page.locator("#cv-pane-port .code span.k").first.is_visible()
        assert {r["source"] for r in _refs(page)} == {"port"}

        # ---- a new input length redraws the shapes ("trace"/"model" events), when live
        live = page.evaluate("() => window.llmviz.live.then((info) => info.live)")
        assert live == (wheelhouse is not None), "a build with numpy for Pyodide runs the model live"
        if live:
            shown = page.evaluate("window.llmviz.setInput('ACB')")
            T2 = min(len(shown), config["block_size"])
            assert T2 != T
            page.wait_for_function(f"() => document.querySelector('#code .cv-dims').textContent.includes('T = {T2},')")
            _step(page, "attention", "idea")
            notes = page.locator("#cv-pane-port .code .note").all_inner_texts()
            assert f"att: (1, {config['n_head']}, {T2}, {T2})" in notes, notes
    finally:
        context.close()
    assert not errors, "\n".join(errors)


# The open pane of the code panel, after a step has settled: every open snippet longer than
# 4 lines marks a line, and the first marked line lies inside the part of the panel on screen
# (the pane's scroll box, the side panel's and the window's). Returns {step, marked, code, bad}
# (code: how many open snippets the pane shows; a pane may have none and say why).
MARKS_IN_VIEW = """() => {
  const pane = document.querySelector('#code .cv-pane:not([hidden])');
  const out = {step: document.querySelector('#code .cv').dataset.step, marked: 0, bad: [],
               code: pane.querySelectorAll('.cv-snippet:not(.collapsed) .code').length};
  const box = pane.getBoundingClientRect(), panel = document.getElementById('panel').getBoundingClientRect();
  const top = Math.max(box.top, panel.top, 0), bottom = Math.min(box.bottom, panel.bottom, innerHeight);
  for (const snippet of pane.querySelectorAll('.cv-snippet:not(.collapsed)')) {
    const lines = snippet.querySelectorAll('.code .line').length;
    const marked = snippet.querySelectorAll('.code .line.marked').length;
    out.marked += marked;
    if (lines > 4 && !marked) out.bad.push(snippet.dataset.id + ': ' + lines + ' lines, none marked');
  }
  const first = pane.querySelector('.cv-snippet:not(.collapsed) .code .line.marked');
  if (first) {
    const r = first.getBoundingClientRect();
    if (r.top < top - 1 || r.bottom > bottom + 1 || bottom - top < r.height)
      out.bad.push('the first marked line, ' + first.closest('.cv-snippet').dataset.id + ' line '
                   + first.dataset.line + ', is out of view: ' + [r.top, r.bottom, top, bottom].map(Math.round));
  }
  return out;
}"""


def _goto(page, phase, step_id):
    """Go to a step through the page's own API and wait until it has settled."""
    state = page.evaluate("(w) => window.llmviz.goto(w)", {"phase": phase, "step": step_id})
    assert (state["phase"], state["step"]) == (phase, step_id), state
    page.wait_for_selector(_shown(phase, step_id), state="attached")


def _marks_in_view(page, where):
    result = page.evaluate(MARKS_IN_VIEW)
    assert result["marked"] > 0 or not result["code"], (where, "no line marked", result)
    assert not result["bad"], (where, result["bad"])
    return result


def test_every_step_opens_the_code_at_its_marked_lines(browser, built_dist, serve_dist, tmp_path):
    """Issue 11, finding 6: the lines a step is about are marked and scrolled into view, in
    both tabs, at a desktop size; on a phone, inside the code's own box."""
    server = serve_dist(built_dist)
    with_ng = _nanogpt_in(built_dist)
    tabs = ("nanogpt", "port") if with_ng else ("port",)
    errors: list[str] = []
    context = browser.new_context(service_workers="block", reduced_motion="reduce")
    try:
        page = _boot(context, server.url + "?debug=1", errors)
        steps = [(p["id"], s) for p in wt.phases() for s in p["step_ids"]]
        # from the last step back, so each step opens with the panel where the step after it left it
        for phase, step_id in reversed(steps):
            _goto(page, phase, step_id)
            for tab in tabs:
                page.locator(f"#code .cv-tab[data-tab={tab}]").click()
                _marks_in_view(page, f"{phase}:{step_id} [{tab}] at 1400x900")
        for phase, step_id in (("intro", "read_output"), ("output", "append")):
            page.screenshot(path=str(tmp_path / f"marks_{phase}_{step_id}.png"))
        # a phone: the page scrolls as a whole, the code keeps a box of its own and scrolls in it
        page.set_viewport_size({"width": 390, "height": 844})
        for phase, step_id in (("intro", "read_output"), ("output", "append"), ("attention", "idea")):
            _goto(page, phase, step_id)
            page.locator(f"#code .cv-tab[data-tab={tabs[0]}]").click()
            page.evaluate("() => document.querySelector('#code .cv-pane:not([hidden])').scrollIntoView()")
            _marks_in_view(page, f"{phase}:{step_id} at 390x844")
    finally:
        context.close()
    assert not errors, "\n".join(errors)
