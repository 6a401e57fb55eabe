"""The built site in a real browser (Debian's Chromium): boot, offline, sub-path, update, live path.

Every request of every test goes through ``context.route``: requests to the test's own
server go on, anything else is aborted and fails the test. Console errors and page
errors fail it too.
"""
from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.browser

READY_TIMEOUT_MS = 180_000
WAIT_READY = "() => window.llmviz.ready.then(info => ({ok: true, info}), e => ({ok: false, error: String(e)}))"


class Watch:
    """A fresh browser context with every request checked and every error kept."""

    def __init__(self, browser, server):
        self.server = server
        self.context = browser.new_context()
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.new_page()

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.server.origin + "/") or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(READY_TIMEOUT_MS)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        return page

    def ready(self, page=None) -> dict:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        page = page or self.page
        # boot.js defines window.llmviz; until it has run (a module that never loads: say so, with
        # the page's errors) there is no promise to wait for
        try:
            page.wait_for_function("() => window.llmviz !== undefined", timeout=60_000)
        except PlaywrightTimeout:
            raise AssertionError(f"boot.js never ran (no window.llmviz); the page's errors: {self.errors}") from None
        result = page.evaluate(WAIT_READY)
        assert result["ok"], f"llmviz.ready rejected: {result.get('error')}"
        return result["info"]

    def check_clean(self) -> None:
        assert not self.foreign, f"requests to other origins: {self.foreign}"
        assert not self.errors, "\n".join(self.errors)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watch(browser):
    watches = []

    def make(server):
        w = Watch(browser, server)
        watches.append(w)
        return w

    yield make
    for w in watches:
        w.close()


def _build_id(dist) -> str:
    return json.loads((dist / "build-info.json").read_text())["build_id"]


def _boot_and_check(w, url, dist, at_ready: list | None = None) -> dict:
    """Load the page (url None: the page is loading already), check what ``ready`` says;
    ``at_ready`` gets the page as it was when ready resolved (AT_READY)."""
    if url is not None:
        w.page.goto(url)
    if at_ready is not None:
        at_ready.append(w.page.evaluate(AT_READY))
    info = w.ready()
    assert re.fullmatch(r"3\.14\.\d+", info["python"]), info
    assert info["build"] == _build_id(dist)
    expected_numpy = "numpy" in json.loads((dist / "build-info.json").read_text())["wheels"]
    assert info["numpy"] is expected_numpy
    assert info["model"] == json.loads((dist / "build-info.json").read_text())["model"]["name"]
    assert w.page.locator("#status").inner_text().startswith("Ready")
    assert w.page.locator("#model-name").inner_text() == info["model"]
    webgl2 = w.page.evaluate("() => !!document.createElement('canvas').getContext('webgl2')")
    assert webgl2, "no WebGL2 context on this page"
    w.check_clean()
    return info


POST = """(msg) => new Promise(resolve => {
  addEventListener("message", e => { if (e.data && e.data.llmviz === "result" && e.data.id === msg.id) resolve(e.data); });
  postMessage(msg, "*");
})"""


def test_boot_from_root(built_dist, serve_dist, watch):
    server = serve_dist(built_dist)
    w = watch(server)
    info = _boot_and_check(w, server.url, built_dist)
    # Pyodide's wasm came gzip-compressed (gunzipped by the page: tools/pyodide_fetch_gz.js)
    requested = w.page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    assert server.url + "pyodide/pyodide.asm.wasm.gz" in requested
    assert not any(u.endswith("/pyodide.asm.wasm") for u in requested), requested
    # the command API answers by postMessage too (for an embedding page)
    state = w.page.evaluate(POST, {"llmviz": "state", "id": 7})
    assert state["ok"] and state["value"]["build"] == info["build"]
    assert state["value"].get("ready", True) is True
    unknown = w.page.evaluate(POST, {"llmviz": "goto", "arg": {"phase": "nowhere"}, "id": 8})
    assert unknown["id"] == 8 and ("ok" in unknown)
    if not unknown["ok"]:
        assert unknown["error"]


def test_pyodide_wasm_comes_gzip_compressed_and_from_a_host_that_decodes_it(built_dist, serve_dist, watch):
    """dist/ ships Pyodide's wasm as pyodide.asm.wasm.gz, which the page gunzips as it streams; a host
    that decodes .gz files itself (as with Content-Encoding: gzip) hands over the wasm, which passes."""
    import gzip

    server = serve_dist(built_dist)
    w = watch(server)
    wasm = gzip.decompress((built_dist / "pyodide" / "pyodide.asm.wasm.gz").read_bytes())
    decoded = []

    def decoding_host(route):
        decoded.append(route.request.url)
        route.fulfill(status=200, body=wasm, headers={"Content-Type": "application/wasm"})

    w.page.route("**/pyodide.asm.wasm.gz", decoding_host)
    _boot_and_check(w, server.url, built_dist)
    # (the page's Pyodide, and the model worker's when the build has numpy)
    assert decoded and set(decoded) == {server.url + "pyodide/pyodide.asm.wasm.gz"}


def test_a_browser_without_decompression_streams_takes_the_raw_wasm(built_dist, serve_dist, watch):
    """Without DecompressionStream (browsers before 2023) the page's Pyodide fetches
    pyodide.asm.wasm as it is (which dist/ holds, and the service worker does not store)."""
    server = serve_dist(built_dist)
    w = watch(server)
    w.page.add_init_script("delete window.DecompressionStream;")
    _boot_and_check(w, server.url, built_dist)
    requested = w.page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    assert server.url + "pyodide/pyodide.asm.wasm" in requested


def test_boot_from_sub_path(built_dist, serve_dist, watch):
    server = serve_dist(built_dist)
    w = watch(server)
    _boot_and_check(w, server.sub_url, built_dist)
    requested = w.page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    outside = [u for u in requested if not u.startswith(server.sub_url)]
    assert not outside, f"requests outside the sub-path: {outside}"


def test_a_third_party_request_is_caught(built_dist, serve_dist, watch):
    # the guard itself: a request to another origin must be seen and aborted
    server = serve_dist(built_dist)
    w = watch(server)
    w.page.goto(server.url)
    w.page.evaluate("() => fetch('https://example.invalid/x').catch(() => null)")
    assert w.foreign == ["https://example.invalid/x"]


def test_offline_reload(built_dist, serve_dist, watch):
    server = serve_dist(built_dist)
    w = watch(server)
    w.page.goto(server.url)
    w.ready()
    assert w.page.evaluate("() => window.llmviz.offline") is True
    w.context.set_offline(True)
    w.page.reload()
    info = w.ready()
    assert info["build"] == _build_id(built_dist)
    assert w.page.evaluate("() => !!navigator.serviceWorker.controller")
    w.check_clean()


def test_new_build_replaces_the_old_one(built_dist, second_dist, serve_dist, watch):
    server = serve_dist(built_dist)
    w = watch(server)
    w.page.goto(server.url)
    w.ready()
    assert w.page.evaluate("() => window.llmviz.offline") is True
    assert w.page.locator("#build-label").inner_text() == ""

    server.root = second_dist
    second = _build_id(second_dist)
    w.page.reload()
    # the old worker may serve the old page once; the new one then takes over and reloads it
    w.page.wait_for_function(f"() => document.querySelector('meta[name=llmviz-build]').content === {second!r}"
                             " && window.llmvizReadyDone === true", timeout=READY_TIMEOUT_MS)
    info = w.ready()
    assert info["build"] == second
    assert w.page.locator("#build-label").inner_text() == "second build"
    caches = w.page.evaluate("() => caches.keys()")
    assert caches == [f"llmviz-{second}"], caches
    w.check_clean()


def test_without_numpy_the_page_says_so(second_dist, serve_dist, watch):
    server = serve_dist(second_dist)
    w = watch(server)
    info = _boot_and_check(w, server.url, second_dist)
    assert info["numpy"] is False and info["live"] is False
    notice = w.page.locator("#notice")
    assert notice.is_visible()
    assert "needs numpy for Pyodide" in notice.inner_text()
    # this build is --no-bundle: the modules as written, three.js by the import map, and the 3D view up
    requested = w.page.evaluate("() => performance.getEntriesByType('resource').map(e => e.name)")
    for rel in ("js/renderer.js", "js/render/blocks.js", "vendor/three/three.core.js"):
        assert server.url + rel in requested, rel
    assert w.page.evaluate("() => window.llmvizScene.renderer.frameCount() > 0")


def test_live_inference_matches_the_bundled_trace(built_dist, serve_dist, watch, wheelhouse):
    if wheelhouse is None:
        pytest.skip("set LLMVIZ_PYODIDE_WHEELHOUSE to a folder with numpy built for Pyodide 314 "
                    "(numpy-*-cp314-cp314-pyemscripten_2026_0_wasm32.whl) to test live inference")
    import numpy as np

    from llmviz.core import tracefile

    server = serve_dist(built_dist)
    w = watch(server)
    # ready: the walkthrough on the bundled trace while the model worker starts (the bar says so)
    seen = []
    _boot_and_check(w, server.url, built_dist, at_ready=seen)
    at_ready = seen[0]
    assert at_ready["info"]["numpy"] is True and at_ready["info"]["live"] is False, at_ready
    assert at_ready["field_disabled"] and "starting" in at_ready["msg"].lower(), at_ready
    assert "starting" in at_ready["status"], at_ready
    live = w.page.evaluate("() => window.llmviz.live")
    assert live["live"] is True and live["numpy"] is True, live
    assert w.page.evaluate("() => window.llmviz.info.live") is True   # live's answer merged into info
    assert w.page.evaluate("() => document.getElementById('live-input').disabled") is False
    assert w.page.locator("#status").inner_text() == "Ready: live inference in your browser"
    info = live
    assert info["max_abs_diff"] <= 1e-5
    # the Linears and attention compute with the wasm SIMD kernel (Chromium runs wasm SIMD)
    assert info["matmul"]["kind"] == "wasm-simd", info["matmul"]
    assert w.page.locator("#notice").is_hidden()
    # independently of the page's own check: its logits against the bundled trace
    bundled = tracefile.read((built_dist / "data" / "trace.json").read_text(),
                             (built_dist / "data" / "trace.bin").read_bytes())
    want = np.array(bundled["logits"].tolist()[0])
    got = np.array(info["logits"])
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-5
    # a command sent as soon as the page is ready waits for the model worker, then runs
    w.page.goto(server.url)
    shown = w.page.evaluate("() => window.llmviz.ready.then(() => window.llmviz.setInput('ABCCBA'))")
    assert shown.startswith("ABCCBA"), shown
    assert w.page.evaluate("() => window.llmviz.info.live") is True


# the page at the moment ready resolves (a microtask later: the model worker cannot have joined)
AT_READY = """() => window.llmviz.ready.then((info) => ({
  info,
  field_disabled: document.getElementById("live-input").disabled,
  msg: document.getElementById("live-msg").textContent,
  status: document.getElementById("status").textContent,
}))"""


# the parameter blocks' values the 3D view holds (those values.bin leaves out)
FIRST_FRAME_PARAMS = """async () => {
  const { offsets } = window.llmvizScene.bundled;
  const out = {};
  for (const block of window.llmvizScene.modelScene.blocks) {
    if (block.param && !(block.id in offsets)) {
      const values = window.llmvizScene.renderer.block(block.id).values;
      out[block.id] = values ? Array.from(values) : null;
    }
  }
  return out;
}"""


def test_the_first_frame_reads_the_parameters_from_the_weights_downloaded_once(built_dist, serve_dist, watch):
    """values.bin leaves out the parameters the weights file stores: the 3D view reads them from
    weights/NAME.npz (site/js/stage/npz.js) and draws the same numbers the build's scene_values gives, and
    Python takes that download (and scene.json) instead of fetching them again."""
    import numpy as np

    from llmviz.core import weights
    from llmviz.viz import scene_values

    server = serve_dist(built_dist)
    w = watch(server)
    requests: list[str] = []
    w.page.on("request", lambda r: requests.append(r.url[len(server.url):]))
    _boot_and_check(w, server.url, built_dist)
    scene = json.loads((built_dist / "data" / "scene.json").read_text())
    got = w.page.evaluate(FIRST_FRAME_PARAMS)
    model = weights.load(built_dist / scene["weights"])
    want = scene_values.block_values(scene, None, model.state_dict(), roles=("parameter",))
    in_bin = json.loads((built_dist / "data" / "values.json").read_text())
    assert set(got) | set(in_bin) >= set(want) and len(got) > 0.9 * len(want)
    for block_id, values in got.items():
        assert np.array_equal(np.array(values, dtype=np.float32), want[block_id]), block_id
    assert requests.count(scene["weights"]) == 1 and requests.count("data/scene.json") == 1, requests
    # values.bin holds no parameter the weights file stores
    assert (built_dist / "data" / "values.bin").stat().st_size == 4 * sum(count for _, count in in_bin.values())
    assert not set(got) & set(in_bin)


def test_the_first_frames_data_arrive_while_its_modules_download(built_dist, serve_dist, watch):
    """index.html's first script asks for the first frame's data (#llmviz-first-data: the scene, its
    values, the weights) without waiting for any module: here stage/bridge.js is held back until all
    of them have arrived; then the first frame takes them from there, and nothing asks again."""
    server = serve_dist(built_dist)
    w = watch(server)
    listed = re.search(r'id="llmviz-first-data">(.*?)</script>', (built_dist / "index.html").read_text(), re.S)
    data = json.loads(listed.group(1))
    held, finished, requests = [], [], []
    w.page.route("**/js/stage/bridge.js", lambda route: held.append(route))
    w.page.on("request", lambda r: requests.append(r.url[len(server.url):]))
    w.page.on("requestfinished", lambda r: finished.append(r.url[len(server.url):]))
    w.page.goto(server.url, wait_until="commit")
    for _ in range(600):
        if held and set(data) <= set(finished):
            break
        w.page.wait_for_timeout(50)
    assert held, "the page never asked for js/stage/bridge.js"
    assert set(data) <= set(finished), f"with bridge.js held back, only these arrived: {finished}"
    held[0].continue_()
    _boot_and_check(w, None, built_dist)
    assert w.page.evaluate("() => window.llmvizScene.renderer.blockIds().length") > 0
    for rel in data:
        assert requests.count(rel) == 1, (rel, requests)


def test_the_progress_line_counts_the_files_the_page_downloads(built_dist, serve_dist, watch):
    """build-info.json's boot_files (what the progress line counts: "6.6 of 7.5 MB") are the files of
    Python, the wheels, the model and its data that the page fetches before it is ready: none left
    out (the bar would end short of them), none it never asks for (the raw wasm beside the .gz, the
    model worker's numpy: it would never fill)."""
    import build

    server = serve_dist(built_dist)
    w = watch(server)
    seen_lines = []
    w.page.expose_function("seeStatus", lambda text: seen_lines.append(text))
    w.page.add_init_script("""addEventListener("DOMContentLoaded", () => {
      const el = document.getElementById("status");
      new MutationObserver(() => window.seeStatus(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true});
    });""")
    _boot_and_check(w, server.url, built_dist)
    fetched = w.page.evaluate("""() => performance.getEntriesByType('resource')
        .filter((e) => e.startTime < window.llmvizReadyAt)
        .map((e) => e.name.slice(location.href.replace(/[^/]*$/, '').length).split('?')[0])""")
    info = json.loads((built_dist / "build-info.json").read_text())
    assert set(info["boot_files"]) == {rel for rel in fetched if rel.startswith(build.BOOT_DIRS)}, fetched
    total = sum(info["files"][rel]["size"] for rel in info["boot_files"]) / 1e6
    assert any(line.endswith(f" of {total:.1f} MB)") for line in seen_lines), seen_lines


def test_a_failed_boot_rejects_ready_and_says_why(built_dist, serve_dist, watch):
    server = serve_dist(built_dist)
    w = watch(server)
    w.page.route("**/wheels/llmviz-*.whl", lambda route: route.fulfill(status=404, body="gone"))
    w.page.goto(server.url)
    result = w.page.evaluate(WAIT_READY)
    assert not result["ok"]
    assert "could not load wheels/llmviz-" in result["error"]
    status = w.page.locator("#status").inner_text()
    assert status.startswith("Could not start:") and "llmviz" in status
    assert w.page.evaluate("() => window.llmvizReadyDone") == "error"
    assert not w.foreign


def test_a_model_worker_that_cannot_start_leaves_the_walkthrough_and_says_why(built_dist, serve_dist, watch,
                                                                                wheelhouse):
    """The walkthrough does not wait for the model worker; when the worker cannot start (here:
    its numpy wheel is gone), the page stays on the bundled trace and says why, on the page and
    to a script (llmviz.live, and setInput's refusal)."""
    if wheelhouse is None:
        pytest.skip("needs a build with numpy for Pyodide (LLMVIZ_PYODIDE_WHEELHOUSE)")
    server = serve_dist(built_dist)
    w = watch(server)
    w.context.route("**/wheels/numpy-*.whl", lambda route: route.fulfill(status=404, body="gone"))
    w.page.goto(server.url)
    assert w.ready()["live"] is False
    live = w.page.evaluate("() => window.llmviz.live")
    assert live["live"] is False and "numpy" in live["error"], live
    notice = w.page.locator("#notice").inner_text()
    assert "Live inference could not start" in notice and "numpy" in notice, notice
    assert w.page.locator("#status").inner_text() == "Ready: showing the bundled trace"
    assert w.page.evaluate("() => document.getElementById('live-input').disabled") is True
    refused = w.page.evaluate("() => window.llmviz.setInput('ABCABC').then(() => 'ran', (e) => e.message)")
    assert refused.startswith("Live inference could not start"), refused
    # the walkthrough still moves, on the bundled numbers
    w.page.evaluate("() => window.llmviz.goto({phase: 'attention', step: 0})")
    assert w.page.evaluate("() => window.llmviz.state().phase") == "attention"
