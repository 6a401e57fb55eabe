"""The live view in a real browser: your input, generation, your own model, the inspector, memory.

Live tests need numpy in the page: they run when ``LLMVIZ_PYODIDE_WHEELHOUSE`` is set
(a folder with numpy's Pyodide wheel) and are skipped otherwise. The no-numpy test runs
on the second build, which never has numpy. Every request must stay on the test's
server; console errors, page errors and dialogs fail a test.
"""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent.parent
READY_TIMEOUT_MS = 180_000
WAIT_READY = "() => window.llmviz.ready.then(info => ({ok: true, info}), e => ({ok: false, error: String(e)}))"
SHOTS = Path(os.environ.get("LLMVIZ_SHOTS", "/tmp/llmviz-shots"))
needs_numpy = pytest.mark.skipif(not os.environ.get("LLMVIZ_PYODIDE_WHEELHOUSE"),
                                 reason="live inference needs numpy for Pyodide: set LLMVIZ_PYODIDE_WHEELHOUSE")
XSS_NAME = '<img src=x onerror=alert("name")>'
XSS_TOKENS = ["a", "b", '<img src=x onerror=alert(1)>', "<script>alert(2)</script>", "&amp;"]


class Page:
    """A fresh context; foreign requests, console errors, page errors and dialogs are kept."""

    def __init__(self, browser, server, **context_args):
        self.server = server
        # reduced motion unless a test asks otherwise: steps settle without flights (the input is tested here)
        context_args.setdefault("reduced_motion", "reduce")
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, **context_args)
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(READY_TIMEOUT_MS)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.server.origin + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"request to another origin: {url}")
            route.abort()

    def open(self, url: str | None = None) -> dict:
        self.page.goto(url or self.server.url)
        result = self.page.evaluate(WAIT_READY)
        assert result["ok"], result.get("error")
        self.page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
        return self.page.evaluate("() => window.llmviz.live.then(() => window.llmviz.info)")   # ready's + live's

    def js(self, expr: str, arg=None):
        return self.page.evaluate(expr, arg)

    def call(self, expr: str, arg=None) -> dict:
        """Run a promise-returning expression: {ok, value} or {ok: false, error}."""
        return self.page.evaluate(f"(arg) => Promise.resolve(({expr})).then(value => ({{ok: true, value}}), "
                                  "e => ({ok: false, error: String(e && e.message || e)}))", arg)

    def seq(self) -> str:
        return self.js("() => document.getElementById('live-seq').dataset.text")

    def idle(self) -> None:
        self.page.wait_for_function("() => document.getElementById('live').dataset.busy !== '1'")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / name))

    def check_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert not self.dialogs, f"a dialog opened: {self.dialogs}"


@pytest.fixture
def open_page(browser):
    pages = []

    def make(server, **kw):
        p = Page(browser, server, **kw)
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.context.close()


def _click_block(p: Page, block_id: str, fx: float = 0.5, fy: float = 0.5) -> dict | None:
    """Hover, then click, a point of a block in the 3D view (where the renderer says it is).

    Returns the scene view's hover tooltip ({title, value}) read before the click (the
    inspector then covers part of the scene), or None when no tooltip showed."""
    p.page.wait_for_function("() => window.llmvizScene && window.llmvizScene.renderer && window.llmvizSceneSettled")
    rect = p.js("(id) => window.llmvizScene.renderer.screenRect(id)", block_id)
    assert rect and rect["w"] > 0, f"{block_id} is not on screen: {rect}"
    x, y = rect["x"] + rect["w"] * fx, rect["y"] + rect["h"] * fy
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    p.page.mouse.move(x, y)
    try:   # the tooltip follows the pointer within a frame or two, if the cell has one
        p.page.wait_for_function("() => { const t = document.getElementById('tooltip');"
                                 " return t && !t.hidden && t.querySelector('.tt-value'); }", timeout=2000)
    except PlaywrightTimeout:
        pass
    tip = p.js("""() => { const t = document.getElementById('tooltip');
        return t && !t.hidden && t.querySelector('.tt-value') ?
            {title: t.querySelector('.tt-title').textContent, value: t.querySelector('.tt-value').textContent} : null; }""")
    p.page.mouse.click(x, y)
    p.page.wait_for_function("() => !document.getElementById('inspector').hidden")
    return tip


def _inspected(p: Page) -> dict:
    return p.js("""() => {
        const q = (s) => document.querySelector(s);
        const where = q('#insp-cell .insp-where').textContent;
        const m = where.match(/\\[(\\d+), (\\d+)\\]/);
        return {id: q('#insp-shape').textContent.split(' ')[0], row: +m[1], col: +m[2],
                value: q('#insp-cell .insp-value').textContent, raw: q('#insp-cell .insp-value').dataset.raw,
                sel: q('#insp-table td.sel') ? q('#insp-table td.sel').textContent : null,
                heat: [q('#insp-heat').width, q('#insp-heat').height],
                text: q('#insp-cell .insp-text') ? q('#insp-cell .insp-text').textContent : ''};
    }""")


def _expected_value(weights_path: Path, text: str, block_id: str, row: int, col: int) -> float:
    """The same cell computed here, in CPython, by llmviz.viz.provenance."""
    from llmviz.viz import provenance
    from llmviz.core import weights
    model = weights.load(weights_path)
    ids = model.vocab.encode(text)
    trace = model.trace([ids])
    return provenance.describe(block_id, row, col, trace, model.state_dict(), model.config, T=len(ids))["value"]


# ---------------------------------------------------------------- numpy in the page

@needs_numpy
def test_input_generation_and_inspector(open_page, built_dist, serve_dist, site_weights):
    p = open_page(serve_dist(built_dist), permissions=["clipboard-read", "clipboard-write"])
    info = p.open()
    assert info["numpy"] and info["live"]
    field = p.page.locator("#live-input")
    assert field.is_enabled() and field.get_attribute("data-limit") == "6"

    # typing: each letter is checked; a letter outside the vocabulary is refused, and stays
    # in the field to be fixed (the view keeps the last input that fits)
    field.fill("")
    field.press_sequentially("CCBAAB", delay=30)
    p.page.wait_for_function("() => document.getElementById('live-seq').dataset.text === 'CCBAABAABBCC'")
    p.idle()
    field.press("End")
    field.press_sequentially("x")
    assert field.input_value() == "CCBAABx"
    msg = p.page.inner_text("#live-msg")
    assert "'x'" in msg and "A, B, C" in msg, msg
    field.press("Backspace")
    p.page.wait_for_function("() => document.getElementById('live-msg').textContent === ''")
    field.press_sequentially("A")
    assert field.input_value() == "CCBAABA"
    assert "sorts exactly 6" in p.page.inner_text("#live-msg")
    field.press("Backspace")
    p.idle()
    assert p.seq() == "CCBAABAABBCC"
    assert "the model's answer: AABBCC (sorted)" in p.page.inner_text("#live-choice")
    p.shot("live-typed.png")

    bad = p.call("window.llmviz.setInput('CCBxAB')")
    assert not bad["ok"] and "A, B, C" in bad["error"], bad
    assert p.seq() == "CCBAABAABBCC"

    # generation: the answer appears letter by letter, each step a new trace in the view
    # (the lengths the strip's text takes: only changes of data-text count, not a re-render of the same text)
    p.js("""() => { window.__lengths = []; new MutationObserver((records) => { for (const m of records) {
        const now = document.getElementById('live-seq').dataset.text;
        if (m.oldValue !== now) window.__lengths.push(now.length); } }).observe(
        document.getElementById('live-seq'), {attributes: true, attributeFilter: ['data-text'], attributeOldValue: true}); }""")
    got = p.call("window.llmviz.generate(6)")
    assert got == {"ok": True, "value": "CCBAABAABBCC"}, got
    lengths = p.js("() => window.__lengths")
    assert [n for i, n in enumerate(lengths) if i == 0 or n != lengths[i - 1]] == [6, 7, 8, 9, 10, 11, 12], lengths
    assert p.js("() => window.llmvizScene.modelScene.T") == 11
    assert "runner-up" in p.page.inner_text("#live-choice")
    assert [t.inner_text() for t in p.page.locator("#live-seq .tok.gen").all()] == list("AABBCC")

    # one token at a time with the buttons: the strip shows the input and what was written after
    # it; the whole answer is written, so "Next token" is off until "Reset" goes back to the input,
    # and then each click writes exactly one more token, up to the whole answer again
    assert p.page.locator("#live-next").is_disabled() and p.page.locator("#live-reset").is_enabled()
    assert "Reset" in p.page.get_attribute("#live-next", "title")
    p.page.click("#live-reset")
    p.page.wait_for_function("() => document.getElementById('live-seq').dataset.text === 'CCBAAB'")
    p.idle()
    assert p.page.locator("#live-reset").is_disabled() and p.page.locator("#live-next").is_enabled()
    for n in range(7, 13):
        p.page.click("#live-next")
        p.page.wait_for_function(f"() => document.getElementById('live-seq').dataset.text.length === {n}")
        p.idle()
        assert p.seq() == "CCBAABAABBCC"[:n]
        # the scene keeps its layout (the sort record's 11 positions) while the text grows
        assert p.js("() => window.llmvizScene.modelScene.T") == 11
        if n == 7:
            # position 6 has values, 7.. none yet
            columns = p.js("""() => { const b = window.llmvizScene.renderer.block('x');
                return [6, 7].map(c => Array.from({length: b.rows}, (_, r) => Math.abs(b.values[r * b.cols + c])).reduce((a, v) => a + v, 0)); }""")
            assert columns[0] > 0 and columns[1] == 0, columns
            choice = p.page.inner_text("#live-choice")
            assert choice.startswith("chose A (p = ") and "greedy" in choice, choice
    assert p.page.locator("#live-next").is_disabled()
    p.page.click("#live-next", force=True)   # a click on the disabled button changes nothing
    p.page.wait_for_timeout(300)
    assert p.seq() == "CCBAABAABBCC"
    p.page.click("#live-reset")
    p.page.wait_for_function("() => document.getElementById('live-seq').dataset.text === 'CCBAAB'")
    # sampling from the controls: temperature and top-k are live only while "sample" is on
    assert p.page.locator("#live-temp").is_disabled()
    p.page.check("#live-sample")
    p.page.fill("#live-temp", "2")
    p.page.fill("#live-topk", "1")
    p.page.click("#live-next")
    p.page.wait_for_function("() => document.getElementById('live-seq').dataset.text.length === 7")
    p.idle()
    assert p.seq() == "CCBAABA" and "sampled at T=2, top-1" in p.page.inner_text("#live-choice")
    p.page.uncheck("#live-sample")
    assert p.page.locator("#live-topk").is_disabled()
    # sampling at top-k 1 is greedy whatever the temperature
    assert p.call("window.llmviz.generate(6, {temperature: 2.0, top_k: 1, seed: 3})")["value"] == "CCBAABAABBCC"

    # the inspector: click a block, compare with the tooltip and with CPython
    p.call("window.llmviz.setInput('CBABBC')")
    p.idle()
    tip = _click_block(p, "h.0.attn.q[1]", 0.62, 0.4)
    cell = _inspected(p)
    assert cell["id"] == "h.0.attn.q[1]"
    want = _expected_value(site_weights, "CBABBCABBBC", cell["id"], cell["row"], cell["col"])
    assert float(cell["raw"]) == pytest.approx(want, abs=1e-5)
    assert cell["sel"] == f"{want:.4f}"
    # the scene view's hover read-out of the same cell says the same
    assert tip is not None, "no tooltip showed on hover"
    assert tip["value"] == cell["value"] and f"[{cell['row']}, {cell['col']}]" in tip["title"], (tip, cell)
    assert cell["heat"][0] > 0 and cell["heat"][1] > 0 and "dot product" in cell["text"]
    headers = p.js("() => [...document.querySelectorAll('#insp-table thead th')].map(th => th.textContent)")
    assert headers[1:4] == ["0:C", "1:B", "2:A"] and headers[0] == "hs \\ T", headers
    assert p.js("() => document.querySelector('#insp-table tbody th').textContent") == "d0"
    assert "head 1" in p.page.inner_text("#insp-axes")
    p.shot("live-inspector.png")

    # another cell by clicking the table
    p.page.click("#insp-table td[data-r='2'][data-c='4']")
    cell2 = _inspected(p)
    assert (cell2["row"], cell2["col"]) == (2, 4)
    assert float(cell2["raw"]) == pytest.approx(_expected_value(site_weights, "CBABBCABBBC", "h.0.attn.q[1]", 2, 4),
                                                abs=1e-5)

    # copy as CSV: every value, labelled
    p.page.click("#insp-copy")
    p.page.wait_for_function("() => document.getElementById('insp-copied').textContent !== ''")
    text = p.js("() => navigator.clipboard.readText()")
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 17 and len(rows[0]) == 12 and rows[1][0] == "d0" and rows[0][1] == "0:C"
    assert float(rows[3][5]) == pytest.approx(float(cell2["raw"]), abs=1e-6)

    p.page.keyboard.press("Escape")
    p.page.wait_for_function("() => document.getElementById('inspector').hidden")
    p.check_clean()


@needs_numpy
def test_typing_rules_and_a_bar_that_does_not_jump(open_page, built_dist, serve_dist):
    """Lower case is read as capitals; a refused text stays in the field; "too long" names
    the task's input length, not block_size; a short input says why there is no answer; an
    empty field says the view keeps the last input; the bar (and so the 3D view) keeps its
    height whatever the input (user review items 4 and 12)."""
    for width, height in ((1280, 800), (390, 844)):
        p = open_page(serve_dist(built_dist))
        p.page.set_viewport_size({"width": width, "height": height})
        p.open()
        field = p.page.locator("#live-input")
        bar = "() => [document.getElementById('live').getBoundingClientRect().height, " \
              "document.getElementById('scene').getBoundingClientRect().height]"

        def settle(seq, p=p):
            p.page.wait_for_function("(t) => document.getElementById('live-seq').dataset.text === t", arg=seq)
            p.idle()

        field.fill("CCBAAB")
        settle("CCBAABAABBCC")
        full = p.js(bar)
        assert "the model's answer: AABBCC (sorted)" in p.page.inner_text("#live-choice")

        # lower case: read as the vocabulary's capitals, and run
        field.fill("")
        field.press_sequentially("bca", delay=20)
        settle("BCA")
        assert field.input_value() == "BCA"
        assert "'b'" not in p.page.inner_text("#live-msg")
        # three letters: no answer, and the line says why, in the same place
        choice = p.page.inner_text("#live-choice")
        assert "no answer" in choice and "6 letters" in choice and "3" in choice, choice
        assert p.js(bar) == full, (width, p.js(bar), full)
        if width == 1280:
            p.shot("live-short-input.png")

        # a refused text stays in the field; the message names the real limit
        field.fill("CCBAABA")
        p.page.wait_for_function("() => document.getElementById('live-msg').classList.contains('error')")
        assert field.input_value() == "CCBAABA"
        msg = p.page.inner_text("#live-msg")
        assert "7 letters" in msg and "sorts exactly 6" in msg and "block_size" not in msg, msg
        field.fill("CCBxAB")
        p.page.wait_for_function("() => document.getElementById('live-msg').textContent.includes(\"'x'\")")
        assert field.input_value() == "CCBxAB" and p.seq() == "BCA"
        field.fill("abc")   # lower case throughout: nothing refused, nothing emptied
        settle("ABC")
        assert field.input_value() == "ABC"
        assert not p.js("() => document.getElementById('live-msg').classList.contains('error')")

        # an empty field: the view keeps the last input, and says so
        field.fill("")
        p.page.wait_for_function("() => document.getElementById('live-msg').textContent.includes('empty')")
        assert "ABC" in p.page.inner_text("#live-msg") and p.seq() == "ABC"
        assert field.input_value() == ""
        assert p.js(bar) == full, (width, p.js(bar), full)

        # the API takes lower case too, and names the task's length when refusing
        assert _answers(p, "ccbaab") == "CCBAABAABBCC"
        too_long = p.call("window.llmviz.setInput('CCBAABA')")
        assert not too_long["ok"] and "sorts exactly 6" in too_long["error"], too_long
        assert p.js(bar) == full
        p.check_clean()


def _converted_model(folder: Path, tokens: list[str] | None = None, name: str = "tiny-test") -> tuple[Path, Path]:
    """A small random nanoGPT-layout checkpoint (torch, llmviz.cli.torch_gpt) through `python -m llmviz convert`."""
    import pickle

    import torch

    from llmviz.core.model import GPTConfig
    from llmviz.cli.torch_gpt import GPT as TorchGPT

    tokens = tokens or list("\n !abcdefgh")
    torch.manual_seed(0)
    config = GPTConfig(block_size=8, vocab_size=len(tokens), n_layer=2, n_head=2, n_embd=16)
    model = TorchGPT(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    folder.mkdir(parents=True, exist_ok=True)
    model_args = dict(n_layer=2, n_head=2, n_embd=16, block_size=8, bias=True, vocab_size=len(tokens), dropout=0.0)
    torch.save({"model": model.state_dict(), "model_args": model_args, "iter_num": 3,
                "config": {"dataset": "tiny"}}, folder / "ckpt.pt")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(tokens), "itos": dict(enumerate(tokens)),
                     "stoi": {t: i for i, t in enumerate(tokens)}}, f)
    out = folder / f"{name}.npz"
    proc = subprocess.run([sys.executable, "-m", "llmviz", "convert", str(folder / "ckpt.pt"), "-o", str(out),
                           "--name", name], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT / "py")))
    assert proc.returncode == 0, proc.stderr
    return out, out.with_suffix(".json")


def _answers(p: Page, text: str = "CCBAAB") -> str:
    got = p.call("window.llmviz.setInput(arg)", text)
    assert got["ok"], got
    return got["value"]


@needs_numpy
def test_your_model_bad_files_markup_and_memory(open_page, built_dist, serve_dist, tmp_path):
    pytest.importorskip("torch")
    npz, card = _converted_model(tmp_path / "tiny")
    server = serve_dist(built_dist)
    p = open_page(server)
    p.open()
    assert p.page.inner_text("#model-name") == "sort-abc"

    # a corrupt file: a message, and the sort model still answers
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 20)
    p.page.set_input_files("#live-file", [str(junk), str(card)])
    p.page.wait_for_function("() => document.getElementById('live-msg').classList.contains('error')")
    msg = p.page.inner_text("#live-msg")
    assert "not an .npz" in msg and "current model stays" in msg, msg
    assert p.page.inner_text("#model-name") == "sort-abc"
    p.shot("live-bad-file.png")
    assert _answers(p) == "CCBAABAABBCC"

    # more than 64 MB: refused by its size, before it is read (a dropped file, and by the JS API)
    p.js("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(65 * 2 ** 20)], 'huge.npz'));
        dt.items.add(new File(['{}'], 'huge.json'));
        document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""")
    p.page.wait_for_function("() => document.getElementById('live-msg').textContent.includes('huge.npz')")
    assert "64 MB" in p.page.inner_text("#live-msg")
    res = p.call("window.llmviz.loadModel(new ArrayBuffer(65 * 2 ** 20), arg)", json.loads(card.read_text()))
    assert not res["ok"] and "64 MB" in res["error"], res
    assert p.page.inner_text("#model-name") == "sort-abc"

    # a card that does not fit the weights, by the JS API: rejected with the reason
    bad_card = json.loads(card.read_text())
    bad_card["config"]["n_embd"] = 32
    bad_card["config"]["n_head"] = 2
    res = p.call("window.llmviz.loadModel(new Uint8Array(arg.npz).buffer, arg.card)",
                 {"npz": list(npz.read_bytes()), "card": bad_card})
    assert not res["ok"] and "shape" in res["error"], res
    assert _answers(p, "ABCABC") == "ABCABCAABBCC"
    assert p.page.inner_text("#model-name") == "sort-abc"

    # your model through the file picker: layout, header and the code panel follow it. The bar
    # grows by its field alone (two lines for a vocabulary with a newline), not by a re-wrapped
    # row: "use the default model" goes on the status line (a resized canvas waits for the GPU:
    # with a software GL a freeze of 0.1-0.3 s while the new model's values go up)
    heights = "() => ['scene', 'live-input'].map((id) => document.getElementById(id).getBoundingClientRect().height)"
    scene_before, field_before = p.js(heights)
    p.page.set_input_files("#live-file", [str(npz), str(card)])
    p.page.wait_for_function("() => document.getElementById('model-name').textContent === 'tiny-test'")
    p.idle()
    scene_after, field_after = p.js(heights)
    assert scene_before - scene_after == pytest.approx(field_after - field_before, abs=2.5), (scene_after, field_after)
    status, link = (p.page.locator(s).bounding_box() for s in ("#live-msg", "#live-default"))
    assert abs(link["y"] + link["height"] / 2 - (status["y"] + status["height"] / 2)) < 4, (link, status)
    scene_cfg = p.js("() => window.llmvizScene.modelScene.config")
    assert (scene_cfg["n_layer"], scene_cfg["n_head"], scene_cfg["n_embd"], scene_cfg["vocab_size"]) == (2, 2, 16, 11)
    assert p.js("() => window.llmvizScene.renderer.screenRect('h.1.attn.q[1]') !== null")
    assert p.page.locator("#live-input").get_attribute("data-limit") == "8"
    got = p.call("window.llmviz.generate(3)")
    assert got["ok"] and len(got["value"]) == len(p.page.locator("#live-input").input_value()) + 3, got
    # laid out once for the positions it may show (live.scene_length: its block_size, 8, here)
    assert p.js("() => window.llmvizScene.modelScene.T") == 8
    typed = p.call("window.llmviz.setInput('hello')")
    assert not typed["ok"] and "'l'" in typed["error"], typed      # no 'l' in this vocabulary
    assert _answers(p, "bad cafe") == "bad cafe"
    p.shot("live-your-model.png")

    # remembered: input, model (IndexedDB) and the walkthrough position survive a reload
    p.js("() => { location.hash = 'phase=attention&step=query'; }")
    p.page.wait_for_function("() => { const s = window.llmviz.state(); return s.phase === 'attention'"
                             " && s.step === 'query' && s.settled; }")
    hash_before = p.js("() => location.hash")
    p.open(server.url)            # no hash in the URL: the kept one comes back
    assert p.page.inner_text("#model-name") == "tiny-test"
    assert p.page.locator("#live-input").input_value() == "bad cafe"
    assert p.js("() => location.hash") == hash_before

    # an embedded slide shows what its URL names: neither the kept model, input nor position
    p.open(server.url + "?embed=1&lock=1&phase=softmax&step=exp")
    assert p.js("() => document.getElementById('model-name').textContent") == "sort-abc"
    assert p.page.locator("#live-input").input_value() == "CBABBC"
    shown = p.js("() => window.llmviz.state()")
    assert (shown["phase"], shown["step"]) == ("softmax", "exp"), shown
    p.open(server.url)            # the full page still has its memory
    assert p.page.inner_text("#model-name") == "tiny-test"
    # a link that names a view shows the default model; reloading it keeps what the reader had
    p.page.goto("about:blank")
    p.open(server.url + "#phase=attention&step=keys_values")
    assert p.page.inner_text("#model-name") == "sort-abc"
    assert p.page.locator("#live-input").input_value() == "CBABBC"
    p.page.reload()
    p.page.wait_for_function("() => window.llmvizReadyDone === true")
    p.page.wait_for_function("() => document.getElementById('model-name').textContent === 'tiny-test'")
    p.open(server.url)
    assert p.page.inner_text("#model-name") == "tiny-test"
    # a link may name the input: that input, on the default model, whatever was kept
    p.page.goto("about:blank")
    p.page.goto(server.url + "#phase=attention&step=one_score&input=ccbaab")
    # until the model worker is up the bar says it will run the link's input
    said = p.js("() => window.llmviz.ready.then(() => document.getElementById('live-msg').textContent)")
    assert "to run ccbaab" in said, said
    p.page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
    assert p.page.inner_text("#model-name") == "sort-abc"
    assert p.page.locator("#live-input").input_value() == "CCBAAB"
    p.page.wait_for_function("() => window.llmviz.state().text.startsWith('CCBAAB')")
    assert p.js("() => location.hash") == "#phase=attention&step=one_score&input=CCBAAB"
    p.call("window.llmviz.setInput('ABCABC')")
    p.page.wait_for_function("() => location.hash.endsWith('&input=ABCABC')")
    p.call("window.llmviz.setInput('CBABBC')")   # the example again: the link needs no input
    p.page.wait_for_function("() => !location.hash.includes('input=')")
    # an embedded slide may name one too, and its link to the full page carries it
    p.page.goto("about:blank")
    p.open(server.url + "?embed=1&phase=softmax&step=max&input=BBACCA")
    assert p.page.locator("#live-input").input_value() == "BBACCA"
    p.page.wait_for_function("() => document.querySelector('#wv-embed-bar .wv-full').getAttribute('href')"
                             ".endsWith('&input=BBACCA')")
    # one that does not fit says why and shows the example
    p.page.goto("about:blank")
    p.open(server.url + "#phase=intro&step=welcome&input=ABCD")
    assert p.page.locator("#live-input").input_value() == "CBABBC"
    assert "does not fit" in p.page.inner_text("#live-msg")
    p.page.goto("about:blank")
    p.open(server.url)
    assert p.page.inner_text("#model-name") == "tiny-test"

    # back to the default model with the link
    p.page.click("#live-default")
    p.page.wait_for_function("() => document.getElementById('model-name').textContent === 'sort-abc'")
    p.idle()
    assert _answers(p) == "CCBAABAABBCC"

    # drag and drop onto the page works like the file picker
    p.js("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) dt.items.add(new File([new Uint8Array(f.bytes)], f.name));
        document.body.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
        document.body.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", [{"name": npz.name, "bytes": list(npz.read_bytes())}, {"name": card.name, "bytes": list(card.read_bytes())}])
    p.page.wait_for_function("() => document.getElementById('model-name').textContent === 'tiny-test'")
    assert p.js("() => document.getElementById('live-drop').hidden")

    # start over: nothing kept
    p.idle()
    p.page.click("#live-startover")
    p.page.wait_for_function("() => document.getElementById('model-name').textContent === 'sort-abc'")
    p.page.wait_for_function("() => document.getElementById('live-msg').textContent.startsWith('Started over')")
    kept = p.js("() => ['llmviz.live.input', 'llmviz.live.model', 'llmviz.live.hash']"
                ".map(k => localStorage.getItem(k))")
    assert kept[:2] == [None, None] and "attention" not in (kept[2] or ""), kept
    p.open(server.url)
    assert p.page.inner_text("#model-name") == "sort-abc"
    assert p.page.locator("#live-input").input_value() == "CBABBC"
    assert p.js("() => location.hash") in ("", "#") or "attention" not in p.js("() => location.hash")
    p.check_clean()


@needs_numpy
def test_card_markup_is_text(open_page, built_dist, serve_dist, tmp_path):
    pytest.importorskip("torch")
    npz, card_path = _converted_model(tmp_path / "xss", tokens=list(XSS_TOKENS), name="xss")
    card = json.loads(card_path.read_text())
    card["name"] = XSS_NAME
    p = open_page(serve_dist(built_dist))
    p.open()
    res = p.call("window.llmviz.loadModel(new Uint8Array(arg.npz).buffer, JSON.stringify(arg.card))",
                 {"npz": list(npz.read_bytes()), "card": card})
    assert res["ok"], res
    p.idle()
    assert p.js("() => document.getElementById('model-name').textContent") == XSS_NAME
    # the vocabulary: in the refusal message, and as labels of the inspector's wte table
    field = p.page.locator("#live-input")
    field.press("End")
    field.press_sequentially("z")
    msg = p.page.inner_text("#live-msg")
    assert XSS_TOKENS[2] in msg and XSS_TOKENS[3] in msg, msg
    _click_block(p, "wte.weight")
    headers = p.js("() => [...document.querySelectorAll('#insp-table thead th')].map(th => th.textContent)")
    assert headers[1:] == XSS_TOKENS, headers
    p.page.wait_for_timeout(500)
    p.shot("live-markup.png")
    assert p.js("() => document.querySelectorAll('img[src=\"x\"], #live script, #inspector script, #topbar img').length") == 0
    assert p.js("() => [...document.querySelectorAll('script')].filter(s => s.textContent.includes('alert(')).length") == 0
    assert not p.dialogs
    p.check_clean()


# ---------------------------------------------------------------- without numpy

def test_without_numpy_the_field_says_why_and_the_inspector_works(open_page, second_dist, serve_dist, site_weights):
    p = open_page(serve_dist(second_dist))
    info = p.open()
    assert not info["numpy"]
    field = p.page.locator("#live-input")
    assert field.is_disabled()
    assert "needs numpy" in field.get_attribute("title")
    assert "needs numpy" in p.page.inner_text("#live-msg")
    for button in ("#live-next", "#live-reset", "#live-load"):
        assert p.page.locator(button).is_disabled(), button
    assert p.seq() == "CBABBCABBBCC"
    res = p.call("window.llmviz.setInput('CCBAAB')")
    assert not res["ok"] and "numpy" in res["error"]
    res = p.call("window.llmviz.generate(2)")
    assert not res["ok"] and "numpy" in res["error"]

    # the inspector reads the bundled trace (pure Python)
    tip = _click_block(p, "h.1.attn.att[0]", 0.3, 0.8)
    cell = _inspected(p)
    want = _expected_value(site_weights, "CBABBCABBBC", cell["id"], cell["row"], cell["col"])
    assert float(cell["raw"]) == pytest.approx(want, abs=1e-6)
    assert tip is not None and tip["value"] == cell["value"], (tip, cell)
    p.shot("live-no-numpy.png")
    p.page.click("#insp-close")
    assert p.js("() => document.getElementById('inspector').hidden")
    # start over works without numpy too
    p.page.click("#live-startover")
    p.page.wait_for_function("() => document.getElementById('live-msg').textContent.startsWith('Started over')")
    p.check_clean()
