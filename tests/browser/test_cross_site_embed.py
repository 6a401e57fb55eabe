"""The page inside a frame of another *site*: the parent on ``localhost``, the page on
``127.0.0.1`` (two ports). Playwright's fresh contexts block third-party storage, so in
that frame ``indexedDB.open`` fails, ``localStorage``/``sessionStorage`` throw and the
service worker may not register. PyScript waits for its IndexedDB package cache while
it starts; boot.js answers PyScript's own databases (``IDBMap/...``) from memory there, so
the page still boots.

Checks, in one page load: the frame boots (``llmviz.ready`` resolves) and says so in its
status line; with its storage blocked (``llmviz.storage.blocked``), PyScript's databases
live in memory, every other database is refused by the browser (so the live view does not
pretend to keep a model), and it runs without offline support; a postMessage goto from the
parent (allowed by ``?origin=``) is answered with the new state; no page or console errors
in either document. Then a page of the site opened on its own (first party) gets the
browser's IndexedDB for every database, PyScript's too.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000

PARENT = """<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>course</title>
<iframe id="f" src="{src}" width="1000" height="700"></iframe>
<script>
  window.replies = [];
  addEventListener("message", (e) => window.replies.push({{origin: e.origin, msg: e.data}}));
</script>
"""

BLOCKED = """() => { try { localStorage.getItem("x"); return false; } catch (e) { return true; } }"""


def test_boots_and_answers_in_a_frame_of_another_site(built_dist, serve_dist, browser, tmp_path):
    site = serve_dist(built_dist)
    parent_dir = tmp_path / "course"
    parent_dir.mkdir()
    course = serve_dist(parent_dir)
    parent_origin = course.origin.replace("127.0.0.1", "localhost")
    src = f"{site.url}index.html?embed=1&origin={parent_origin}"
    (parent_dir / "index.html").write_text(PARENT.format(src=src))

    context = browser.new_context()
    errors: list[str] = []
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    # the page's console includes its frames'
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    try:
        page.goto(f"{parent_origin}/index.html")
        frame = page.frame_locator("#f")
        child = next(f for f in page.frames if f.url.startswith(site.origin))
        child.wait_for_function("() => window.llmvizReadyDone === true || window.llmvizReadyDone === 'error'",
                                timeout=TIMEOUT_MS)
        assert child.evaluate("() => window.llmvizReadyDone") is True, child.evaluate("() => window.llmviz.error")
        assert frame.locator("#status").inner_text().startswith("Ready")

        # the frame really is third-party here: storage blocked, PyScript's databases in memory
        storage = child.evaluate("() => window.llmviz.storage")
        blocked = child.evaluate(BLOCKED)
        assert storage["blocked"] is blocked, storage
        if blocked:
            assert any(name.startswith("IDBMap/") for name in storage["memoryDatabases"]), storage
            # the live view may not claim to keep a model: the browser refuses its database
            kept = child.evaluate("""async () => {
                const live = await import("./js/live.js");
                let saved;
                try { saved = await live.saveModel(new Uint8Array([1, 2, 3]), "{}"); }
                catch (e) { saved = "refused: " + e.message; }
                return {saved: String(saved), loaded: await live.loadSaved()}; }""")
            assert kept["saved"].startswith("refused"), kept
            assert kept["loaded"] is None
            assert child.evaluate("() => window.llmviz.offline") is False
        else:  # a browser that lets the frame store (partitioned): the real thing is used
            assert storage["memoryDatabases"] == [], storage

        # the parent drives the frame: goto, answered with the new state
        child.wait_for_function("() => window.llmviz.state().settled === true")
        phases = child.evaluate("() => window.llmviz.phases()")
        target = phases[-1]
        step = target["step_ids"][-1]
        assert (target["id"], step) != tuple(child.evaluate("() => [window.llmviz.state().phase, window.llmviz.state().step]"))
        page.evaluate(f"""() => document.getElementById("f").contentWindow.postMessage(
            {{type: "llmviz:goto", phase: "{target['id']}", step: "{step}", id: 7}}, "{site.origin}")""")
        page.wait_for_function("() => window.replies.some(r => r.msg.type === 'llmviz:state' && r.msg.id === 7)",
                               timeout=60_000)
        reply = page.evaluate("() => window.replies.find(r => r.msg.type === 'llmviz:state' && r.msg.id === 7)")
        assert reply["origin"] == site.origin
        now = child.evaluate("() => window.llmviz.state()")
        assert (reply["msg"]["phase"], reply["msg"]["step"]) == (target["id"], step) == (now["phase"], now["step"])
        assert not errors, "\n".join(errors)
    finally:
        context.close()

    # first party (the page on its own): the browser's own IndexedDB, PyScript's databases too
    context = browser.new_context()
    try:
        top = context.new_page()
        top.goto(site.url + "index.html")
        top.wait_for_function("() => window.llmvizReadyDone === true", timeout=TIMEOUT_MS)
        real = top.evaluate("""async () => {
            const open = indexedDB.open("IDBMap/llmviz-test-db");
            const db = await new Promise((ok, no) => { open.onsuccess = () => ok(open.result); open.onerror = () => no(open.error); });
            const out = {real: db instanceof IDBDatabase, storage: window.llmviz.storage,
                         pyscript: (await indexedDB.databases()).some((d) => d.name.startsWith("IDBMap/") && d.name.includes("@"))};
            db.close();
            indexedDB.deleteDatabase("IDBMap/llmviz-test-db");
            return out; }""")
        assert real == {"real": True, "storage": {"blocked": False, "memoryDatabases": []}, "pyscript": True}
    finally:
        context.close()
