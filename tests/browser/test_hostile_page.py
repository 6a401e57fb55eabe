"""Hostile input never breaks the page (issue 16, the page's side), in a real browser.

Each case gives the page something a probe once broke it with: a link (F1), a model card
or npz through ``llmviz.loadModel`` (F2, F4), what the page keeps in localStorage and
IndexedDB (F1, F3, F5, F6), a postMessage (F6), odd API arguments, long or malformed link
values. After each one the page must still work: ``llmviz.setInput('CCBAAB')`` then
``llmviz.generate(6)`` (greedy) write ``AABBCC``, no page error or console error happened,
and the wasm heap (``HEAPU8.length`` of the Pyodide PyScript runs, read through PyScript's
``hooks.main.onReady``) grew by less than 64 MB. Hostile files are made by
``tests/hostile_files.py``, as the CPython side's tests make them.

Needs numpy in the page (``LLMVIZ_PYODIDE_WHEELHOUSE``): without it the test skips, except
under CI=true, where it fails (browser tests must run in CI).
"""
from __future__ import annotations

import json
import os
import re
from urllib.parse import quote

import pytest

from hostile_files import DEEP, SORT, with_gib_of_zeros, with_void_member

pytestmark = pytest.mark.browser

READY_TIMEOUT_MS = 180_000
MB = 2**20
MAX_HEAP_GROWTH = 64 * MB
ANSWER = "CCBAABAABBCC"    # CCBAAB and the model's greedy answer AABBCC
EXCEPTION_NAME = re.compile(r"^\s*[A-Z]\w*(Error|Exception)\b")
# the Pyodide PyScript runs, for its heap: PyScript's own hook, added before the interpreter starts
HEAP_HOOK = """
if (document.contentType === "text/html") {
  import(new URL("pyscript/core.js", document.baseURI).href)
    .then(({ hooks }) => hooks.main.onReady.add((wrap) => { window.__llmvizInterpreter = wrap.interpreter; }))
    .catch(() => {});
}
"""
HEAP_JS = "() => window.__llmvizInterpreter._module.HEAPU8.length"


@pytest.fixture(scope="module", autouse=True)
def _numpy_in_the_page():
    if not os.environ.get("LLMVIZ_PYODIDE_WHEELHOUSE"):
        reason = "the page generates only with numpy for Pyodide: set LLMVIZ_PYODIDE_WHEELHOUSE"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: browser tests must run in CI)")
        pytest.skip(reason)


class Browsing:
    """One browser page for visits one after another. Each visit starts with the origin's storage
    emptied (localStorage, sessionStorage, the IndexedDB where js/live.js keeps a model) and
    then loads the site again: the same page keeps Pyodide's compiled wasm in memory, so a boot
    after the first takes about half as long as in a fresh context. Service workers are blocked
    (one would serve the site from its own cache, past the routes below). Reduced motion: steps
    settle without their flights (what these tests give the page is input, not motion)."""

    def __init__(self, browser, server):
        self.server = server
        self.context = browser.new_context(viewport={"width": 1400, "height": 900}, reduced_motion="reduce",
                                           service_workers="block")
        self.files: dict[str, bytes] = {}
        self.visit: Visit | None = None
        self.context.route("**/*", self._route)
        self.context.add_init_script(HEAP_HOOK)
        self.page = self.context.new_page()
        self.page.set_default_timeout(READY_TIMEOUT_MS)
        self.page.on("pageerror", lambda e: self._problem(f"page error: {e}"))
        self.page.on("console", lambda m: self._problem(f"console {m.type}: {m.text[:300]}")
                     if m.type == "error" else None)
        self.page.on("dialog", lambda d: (self._problem(f"dialog: {d.message}"), d.dismiss()))

    def _problem(self, text: str) -> None:
        if self.visit is not None:
            self.visit.problems.append(text)

    def _route(self, route):
        url = route.request.url
        if url in self.files:
            route.fulfill(status=200, body=self.files[url], content_type="application/octet-stream")
        elif url.startswith(self.server.origin + "/"):
            route.continue_()
        else:
            self._problem(f"request to another origin: {url}")
            route.abort()

    def close(self) -> None:
        self.context.close()


class Visit:
    """A visit of the site in a ``Browsing`` page, with the origin's storage empty; its own errors."""

    def __init__(self, browsing: Browsing, files: dict[str, bytes] | None = None):
        self.server = browsing.server
        self.problems: list[str] = []
        browsing.visit = None                 # the last visit's page is left: its errors are no one's
        browsing.files = {f"{self.server.origin}/hostile/{name}": data for name, data in (files or {}).items()}
        self.page = browsing.page
        self.page.goto(self.server.url + "build-info.json")   # a document of the site's origin
        self.page.evaluate("""() => new Promise((resolve, reject) => {
            localStorage.clear();
            sessionStorage.clear();
            const req = indexedDB.deleteDatabase("llmviz-live");
            req.onsuccess = () => resolve();
            req.onerror = () => reject(req.error);
        })""")
        browsing.visit = self


    def keep(self, local: dict[str, str] | None = None, idb_record=None, idb: bool = False) -> None:
        """Put values in this origin's localStorage (raw strings) and, with ``idb``, put
        ``idb_record`` (any JSON value; None: no record) where js/live.js keeps a model."""
        self.page.evaluate("""async ({local, idb, record}) => {
            for (const [k, v] of Object.entries(local)) localStorage.setItem(k, v);
            if (!idb) return;
            await new Promise((resolve, reject) => {
                const req = indexedDB.open("llmviz-live", 1);
                req.onupgradeneeded = () => req.result.createObjectStore("models");
                req.onerror = () => reject(req.error);
                req.onsuccess = () => {
                    const tx = req.result.transaction("models", "readwrite");
                    const store = tx.objectStore("models");
                    if (record === null) store.delete("custom"); else store.put(record, "custom");
                    tx.oncomplete = () => { req.result.close(); resolve(); };
                    tx.onerror = () => reject(tx.error);
                };
            });
        }""", {"local": local or {}, "idb": idb, "record": idb_record})

    def open(self, path: str = "") -> dict:
        self.page.goto(self.server.url + path)
        result = self.page.evaluate("() => window.llmviz.ready.then(info => ({ok: true, info}), "
                                    "e => ({ok: false, error: String(e)}))")
        assert result["ok"], result.get("error")
        self.page.wait_for_function("() => document.getElementById('live').dataset.restored === '1'")
        self.page.wait_for_function("() => window.llmviz.state().settled === true")
        return result["info"]

    def heap(self) -> int:
        return int(self.page.evaluate(HEAP_JS))

    def call(self, expr: str, arg=None) -> dict:
        """A promise-returning expression: {ok, value} or {ok: false, error}."""
        return self.page.evaluate(f"(arg) => Promise.resolve().then(() => ({expr})).then(value => ({{ok: true, value}}), "
                                  "e => ({ok: false, error: String(e && e.message !== undefined ? e.message : e)}))",
                                  arg)

    def post(self, message: dict) -> dict:
        """postMessage to the page from itself (its own origin is allowed); the reply."""
        return self.page.evaluate("""(msg) => new Promise((resolve) => {
            const id = Math.random();
            window.addEventListener("message", function answer(e) {
                const d = e.data;   // an answer, not the message itself (the page posts to itself)
                if (d && d.id === id && (d.llmviz === "result" || d.type === "llmviz:error"
                                         || (d.type === "llmviz:state" && "phase" in d))) {
                    window.removeEventListener("message", answer);
                    resolve(d);
                }
            });
            window.postMessage({...msg, id}, location.origin);
        })""", message)

    def notices(self) -> list[str]:
        return self.page.evaluate("() => [...document.querySelectorAll('#notice > p')].map(p => p.textContent)")

    def message(self) -> str:
        return self.page.inner_text("#live-msg")

    def stored(self, key: str):
        return self.page.evaluate("(k) => localStorage.getItem(k)", key)

    def works(self, heap_before: int) -> int:
        """The page still generates, nothing went wrong, and the heap grew < 64 MB; the heap now."""
        self.page.wait_for_function("() => document.getElementById('live').dataset.busy !== '1'")
        assert self.call("window.llmviz.setInput('CCBAAB')") == {"ok": True, "value": ANSWER}
        assert self.call("window.llmviz.generate(6)") == {"ok": True, "value": ANSWER}
        assert self.page.evaluate("() => document.getElementById('live-seq').dataset.text") == ANSWER
        assert not self.problems, "\n".join(self.problems)
        heap = self.heap()
        assert heap - heap_before < MAX_HEAP_GROWTH, f"the wasm heap grew from {heap_before / MB:.0f} MB " \
                                                     f"to {heap / MB:.0f} MB"
        return heap


def one_line(text: str) -> bool:
    return "\n" not in text.strip() and "Traceback" not in text and 'File "' not in text


@pytest.fixture(scope="module")
def site(built_dist):
    """The built site, served for this module (serve_dist is per test)."""
    from conftest import StaticServer
    server = StaticServer(built_dist)
    yield server
    server.close()


@pytest.fixture(scope="module")
def browsing(browser, site):
    b = Browsing(browser, site)
    yield b
    b.close()


@pytest.fixture
def visit(browsing):
    def make(files=None) -> Visit:
        return Visit(browsing, files)
    return make


@pytest.fixture(scope="module")
def api_page(browser, site):
    """One page for the tests that only call the API (loadModel, setInput, generate, goto,
    postMessage): each gives it something hostile, then checks that it still works. A boot
    costs seconds; what these tests do needs none of its own. Its own context: it stays open."""
    b = Browsing(browser, site)
    v = Visit(b, {"sort.npz": SORT.read_bytes(), "junk.npz": with_gib_of_zeros(), "v.npy.npz": with_void_member()})
    v.open()
    yield v
    b.close()


@pytest.fixture(scope="module")
def clean_heap(browsing) -> int:
    """The heap of a page opened with nothing hostile, once it has generated."""
    v = Visit(browsing)
    v.open()
    return v.works(v.heap())


def _first_step(v: Visit) -> tuple[str, str]:
    st = v.page.evaluate("() => window.llmviz.state()")
    return st["phase"], st["step"]


# ---------------------------------------------------------------- F1: step numbers in links and kept positions

@pytest.mark.parametrize("where, how", [
    ("?phase=attention&step=Infinity", "url"),
    ("#phase=attention&step=inf", "url"),
    ("#phase=attention&step=-1e999", "url"),
    (json.dumps("#phase=attention&step=Infinity"), "stored"),
    (json.dumps("#phase=attention&step=NaN&layer=1"), "stored"),
], ids=["query-infinity", "hash-inf", "hash-1e999", "stored-infinity", "stored-nan"])
def test_f1_a_step_number_that_is_no_step_opens_the_phases_first(visit, clean_heap, where, how):
    v = visit()
    if how == "stored":   # the position the page keeps for the next visit (JSON text of the hash)
        v.keep({"llmviz.live.hash": where})
        v.open()
    else:
        v.open(where)
    assert _first_step(v) == ("attention", "idea")
    notices = v.notices()
    assert any("names no step" in n and "step 1" in n for n in notices), notices
    v.works(clean_heap)


def test_f1_a_position_kept_as_plain_text_is_dropped(visit, clean_heap):
    v = visit()
    v.keep({"llmviz.live.hash": "#phase=attention&step=1e999"})   # not JSON: dropped, the key named
    v.open()
    assert _first_step(v) == ("intro", "welcome")
    assert any("llmviz.live.hash" in n for n in v.notices()), v.notices()
    v.works(clean_heap)


# ---------------------------------------------------------------- F2: a deep card

def test_f2_a_deeply_nested_card_is_refused_and_the_page_goes_on(api_page):
    v = api_page
    before = v.heap()
    res = v.call("fetch('hostile/sort.npz').then(r => r.arrayBuffer()).then(b => window.llmviz.loadModel(b, arg))",
                 DEEP)
    assert not res["ok"] and "100000 levels deep" in res["error"] and one_line(res["error"]), res
    # a JS object nested as deeply (JSON.stringify overflows the stack) is refused too
    res = v.call("fetch('hostile/sort.npz').then(r => r.arrayBuffer()).then(b => {"
                 " let card = []; for (let i = 0; i < 100000; i++) card = [card];"
                 " return window.llmviz.loadModel(b, card); })")
    assert not res["ok"] and one_line(res["error"]) and not EXCEPTION_NAME.match(res["error"]), res
    assert v.page.inner_text("#model-name") == "sort-abc"
    v.works(before)


# ---------------------------------------------------------------- F3, F5: what the page keeps, damaged

# each boot damages several keys at once (a key at most once per boot): every one is dropped
# with its own notice. Three boots instead of one per value: each boot costs seconds.
DAMAGED = [
    {"llmviz.code.collapsed": "[" * 50_000 + "]" * 50_000,      # F3 as reported: larger than MAX_STORED_BYTES
     "llmviz.code.tab": '{"x": 1}',                              # F5: a dict where a tab name goes
     "llmviz.live.input": "[" * 50_000 + "]" * 50_000,
     "llmviz.live.model": '["custom"]',
     "llmviz.live.hash": '{"phase": "attention"}'},
    {"llmviz.code.collapsed": '{"gpt.forward": "yes", "x": [1]}',
     "llmviz.code.tab": '"nowhere"',
     "llmviz.live.input": '{"text": "CCBAAB"}',
     "llmviz.live.hash": "NaN"},
    {"llmviz.code.collapsed": "[" * 30_000 + "]" * 30_000},      # within the size, too deep to parse
]


@pytest.mark.parametrize("damaged", DAMAGED, ids=["too-big-or-wrong-type", "wrong-values", "too-deep"])
def test_f3_f5_damaged_stored_state_is_dropped_with_a_notice(visit, clean_heap, damaged):
    v = visit()
    v.keep(damaged)
    v.open()
    notices = v.notices()
    for key in damaged:
        named = [n for n in notices if key in n]
        assert len(named) == 1 and one_line(named[0]) and len(named[0]) < 300, (key, notices)
        assert v.stored(key) is None, f"{key} is still kept"
    assert len(notices) == len(damaged), notices
    # the code panel works: snippets on the tab shown, and a tab click is kept again
    v.page.wait_for_function("() => document.querySelectorAll('#code .cv-snippet').length > 0")
    v.page.click("#cv-tab-port")
    assert json.loads(v.stored("llmviz.code.tab")) == "port"
    v.works(clean_heap)


def test_what_the_page_keeps_is_json_and_read_back(visit):
    v = visit()
    v.open()
    v.page.click("#cv-tab-port")
    v.page.click("#cv-pane-port .cv-snippet .cv-title")
    assert v.call("window.llmviz.setInput('ABCABC')")["ok"]
    v.page.evaluate("() => window.llmviz.goto({phase: 'mlp', step: 'gelu'})")
    v.page.evaluate("() => window.dispatchEvent(new Event('pagehide'))")
    kept = {k: json.loads(v.stored(k)) for k in ("llmviz.code.tab", "llmviz.code.collapsed", "llmviz.live.input",
                                                   "llmviz.live.hash")}
    assert kept["llmviz.code.tab"] == "port" and kept["llmviz.live.input"] == "ABCABC", kept
    assert isinstance(kept["llmviz.code.collapsed"], dict) and kept["llmviz.code.collapsed"], kept
    assert kept["llmviz.live.hash"].startswith("#phase=mlp&step=gelu"), kept
    v.open()
    assert not v.notices()
    assert v.page.locator("#live-input").input_value() == "ABCABC"
    assert _first_step(v) == ("mlp", "gelu")
    assert v.page.get_attribute("#cv-tab-port", "aria-selected") == "true"


def test_start_over_forgets_every_kept_key_and_the_saved_model(visit):
    v = visit()
    v.keep({"llmviz.code.tab": '"port"', "llmviz.other": '"x"', "unrelated": "kept"},
           idb_record={"npz": "not bytes", "card": 3}, idb=True)
    v.open()
    v.page.evaluate("() => sessionStorage.setItem('llmviz.session', '1')")
    v.page.click("#live-startover")
    v.page.wait_for_function("() => document.getElementById('live-msg').textContent.startsWith('Started over')")
    left = v.page.evaluate("""async () => ({
        local: Object.keys(localStorage).filter(k => k.startsWith('llmviz')),
        session: Object.keys(sessionStorage).filter(k => k.startsWith('llmviz')),
        unrelated: localStorage.getItem('unrelated'),
        record: await new Promise((resolve) => { const req = indexedDB.open('llmviz-live', 1);
            req.onsuccess = () => { const get = req.result.transaction('models').objectStore('models').get('custom');
                get.onsuccess = () => { resolve(get.result === undefined ? null : 'kept'); req.result.close(); }; }; }),
    })""")
    assert left == {"local": [], "session": [], "unrelated": "kept", "record": None}, left


# ---------------------------------------------------------------- F4: an npz that is huge inside

@pytest.mark.parametrize("name", ["junk", "v.npy"])
def test_f4_an_npz_huge_inside_is_refused_before_it_is_inflated(api_page, name):
    v = api_page
    before = v.heap()
    res = v.call(f"fetch('hostile/{name}.npz').then(r => r.arrayBuffer())"
                 ".then(b => window.llmviz.loadModel(b, JSON.stringify(arg)))", json.loads(SORT.with_suffix(".json")
                                                                                           .read_text()))
    assert not res["ok"] and name in res["error"] and one_line(res["error"]), res
    after_refusal = v.heap()
    print(f"\nF4 {name}: wasm heap {before / MB:.1f} MB before loadModel, {after_refusal / MB:.1f} MB after "
          f"its refusal")
    v.works(before)


# ---------------------------------------------------------------- F6: JS null where Python wants None

@pytest.mark.parametrize("record", [None, "a string", {"card": "{}"}], ids=["none", "string", "no-npz"])
def test_f6_a_kept_model_that_is_missing_or_damaged_asks_for_the_files_again(visit, clean_heap, record):
    v = visit()
    v.keep({"llmviz.live.model": json.dumps("custom")}, idb_record=record, idb=True)
    v.open()
    assert "load its .npz and .json again" in v.message(), v.message()
    assert v.page.inner_text("#model-name") == "sort-abc"
    v.works(clean_heap)


def test_f6_null_by_postmessage_and_api_is_a_readable_refusal(api_page):
    v = api_page
    before = v.heap()
    for message in ({"llmviz": "loadModel", "arg": None}, {"llmviz": "loadModel"},
                    {"llmviz": "loadModel", "arg": {"npz": None, "card": None}},
                    {"llmviz": "setInput", "arg": None}, {"llmviz": "generate", "arg": None},
                    {"llmviz": "goto", "arg": None}):
        reply = v.post(message)
        if message["llmviz"] == "generate":   # generate(null): one token, the default
            assert reply["ok"], (message, reply)
            continue
        assert reply["ok"] is False and one_line(reply["error"]), (message, reply)
        assert not EXCEPTION_NAME.match(reply["error"]) and "JsNull" not in reply["error"], (message, reply)
    assert "needs the npz" in v.post({"llmviz": "loadModel", "arg": None})["error"]
    for expr in ("window.llmviz.loadModel(null, null)", "window.llmviz.loadModel(undefined)",
                 "window.llmviz.goto(null)", "window.llmviz.setInput(undefined)"):
        res = v.call(expr)
        assert not res["ok"] and one_line(res["error"]) and not EXCEPTION_NAME.match(res["error"]), (expr, res)
    v.works(before)


# ---------------------------------------------------------------- the minor ones

def test_a_long_link_input_is_not_echoed_whole(visit, clean_heap):
    v = visit()
    v.open("?input=" + "A" * 10_000)
    msg = v.message()
    assert "…" in msg and len(msg) < 400 and "A" * 100 not in msg, msg[:500]
    assert v.page.locator("#live-input").input_value() == "CBABBC"
    v.works(clean_heap)


def test_malformed_origins_are_dropped_from_the_allow_list(visit, clean_heap):
    v = visit()
    bad = ["http://a b.example", "https://user:pw@evil.example", "https://%41.example",
           "https://x..example", "ftp://files.example", "https://ok.example:99999", "*", "null"]
    query = "&".join(f"origin={quote(o, safe='')}" for o in bad)
    v.open(f"?embed=1&{query}&origin=https://Good.Example:443/page")
    allowed = v.page.evaluate("() => window.llmviz.embedOrigins")
    assert allowed == ["https://good.example", v.server.origin], allowed
    v.works(clean_heap)


ODD_ARGUMENTS = [
    "window.llmviz.setInput(Symbol('x'))",
    "window.llmviz.setInput(new Proxy({}, {get() { throw new Error('a trap'); }}))",
    "window.llmviz.setInput({get text() { throw new Error('a getter'); }})",
    "window.llmviz.generate(Symbol('n'))",
    "window.llmviz.generate(2, new Proxy({}, {ownKeys() { throw new Error('a trap'); }}))",
    "window.llmviz.goto({phase: 'attention', step: Symbol('s')})",
    "window.llmviz.goto(new Proxy({}, {get() { throw new Error('a trap'); }}))",
    "window.llmviz.goto((() => { let a = []; for (let i = 0; i < 100000; i++) a = [a]; return a; })())",
    "window.llmviz.loadModel(new Proxy({}, {get() { throw new Error('a trap'); }}), '{}')",
    "window.llmviz.loadModel(new ArrayBuffer(8), {toJSON() { throw new Error('a getter'); }})",
]


def test_odd_api_arguments_get_one_readable_line(api_page):
    v = api_page
    before = v.heap()
    for expr in ODD_ARGUMENTS:
        res = v.call(expr)
        assert not res["ok"], (expr, res)
        err = res["error"]
        assert one_line(err) and len(err) < 300 and not EXCEPTION_NAME.match(err), (expr, err)
        assert "Recursion" not in err and "JsProxy" not in err, (expr, err)
        v.works(before)   # after each one: it still generates, the heap grew < 64 MB in all


def test_error_replies_by_postmessage_are_readable(api_page):
    v = api_page
    before = v.heap()
    replies = [v.post({"type": "llmviz:goto", "phase": "nowhere", "step": "x"}),
               v.post({"type": "llmviz:goto", "phase": "attention", "step": 1e999}),
               v.post({"llmviz": "goto", "arg": {"phase": "attention", "step": "nope"}}),
               v.post({"llmviz": "setInput", "arg": "CCBxAB"}),
               v.post({"llmviz": "loadModel", "arg": {"npz": "text", "card": "{}"}})]
    for reply in replies:
        err = reply.get("error")
        assert err and one_line(err) and not EXCEPTION_NAME.match(err), reply
    assert "no walkthrough phase 'nowhere'" in replies[0]["error"], replies[0]
    v.works(before)


def test_two_notices_are_two_lines(visit, clean_heap):
    v = visit()
    v.keep({"llmviz.code.tab": "{}"})
    v.open("#phase=attention&step=Infinity&layer=9")
    notices = v.notices()
    assert len(notices) == 3, notices
    shown = v.page.inner_text("#notice")
    assert [line for line in shown.splitlines() if line.strip()] == notices, shown
    v.works(clean_heap)
