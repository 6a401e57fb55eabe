"""The page's Python entry point, run by PyScript (``<script type="py" src="./app.py">``).

The main thread never runs the model: numpy, the model and its KV cache live in the
page's model worker (``llmviz.page.worker``, its own Pyodide in a Web Worker), so the
views stay responsive whatever the model does. The first view needs no worker: the
walkthrough of the built-in model shows the bundled trace, which the worker only computes
again. So the page is ready on the bundled trace, and live inference joins when the worker
is up (on this 2-core machine the two Pythons starting at once took each other's time:
ready came at 3.2-3.5 s, it comes at 2.2-2.4 s now). app.py boots the app in this order,
telling the header what it is doing:

1. load the llmviz wheel by URL (one ``loadPackage`` call), fetch every data file
   (bundled trace, scene, model card, and the parameters: with numpy the model's own
   weights file, the download the 3D view's first frame made, read without numpy by
   ``llmviz.core.flat_weights``; without numpy the bundled copy) and build.py's precompiled
   modules (``wheels/pycache.zip``, unpacked under ``sys.pycache_prefix`` so that
   importing the wheels reads bytecode instead of compiling them);
2. read the bundled trace (``data/trace.json`` + ``.bin``), pure Python;
3. mount the views (``llmviz.page.ui.start``), then settle ``window.llmviz.ready`` with
   ``{python, numpy, model, live: false, ...}``;
4. with numpy: the model worker starts once the bundled trace is read (before the views
   mount: measured, that brought live inference 0.2 s closer and ready no later), through
   ``pyscript.create_named_worker``; it loads numpy, llmviz and the model (its weights and
   the bundled trace come from this page's downloads as letters, js/worker_mail.js's
   sendShared), runs the forward pass on the same input and checks it against the bundled
   trace (max abs difference <= 1e-5);
   then (``go_live``) the views take it (``App.join_model``: the live bar switches on) and
   ``window.llmviz.live`` resolves with ``{live: true, numpy_version, max_abs_diff, ...}``.
   A worker that cannot start leaves the page on the bundled trace, with a notice saying why.

Each stage ends with ``performance.mark("llmviz:<stage>")`` (``python -m llmviz bench
--page`` prints them). Without numpy the page says so and runs on the bundled trace.
The worker imports this file too, for its loading helpers (``set_base`` gives it the page's
address). This file is also part of the llmviz wheel; importing it outside the browser
has no side effects.
"""
from __future__ import annotations

import asyncio
import json
import sys

TOLERANCE = 1e-5
WORKER = "llmviz-model"   # the name of the model worker's <script> (js/worker_mail.js finds it by it)
WORKER_SRC, WORKER_CONFIG = "./worker.py", "./worker.toml"

state: dict = {}   # what the app knows: build info, the trace, the model (when live)
BASE: list[str] = []   # the page's address, for a worker (which has none of its own)


def set_base(url: str) -> None:
    """Resolve this module's paths against ``url`` (the model worker calls it)."""
    BASE[:] = [url]


def _url(path: str) -> str:
    """An absolute URL for a path relative to the page (works from any sub-path)."""
    import js
    return js.URL.new(path, BASE[0] if BASE else js.document.baseURI).href


def _page():
    """``window.llmviz``, the page's API (js/boot.js, imported through PyScript's js_modules)."""
    from pyscript.js_modules import boot
    return boot.llmviz


def _say(key: str, english: str, **values) -> str:
    """The catalogue's text ``key`` in the page's language. Through boot.js (``llmviz.t``, the
    JSON that i18n.js loaded), since some of these are said before the llmviz wheel is loaded."""
    try:
        from pyscript.ffi import to_js
        return str(_page().t(key, to_js(values, dict_converter=__import__("js").Object.fromEntries), english))
    except Exception:  # noqa: BLE001 - a message is never worth failing for: say it in English
        return english.replace("{{", "{").replace("}}", "}").format(**values) if values else english


def _progress(text: str) -> None:
    _page().progress(text)


def mark(name: str, epoch_ms: float | None = None) -> None:
    """A ``performance.mark("llmviz:<name>")`` for the load-time breakdown (``llmviz bench --page``);
    ``epoch_ms``: when it happened (ms since 1970: the model worker's clock), else now."""
    try:
        import js
        if epoch_ms is None:
            js.performance.mark(f"llmviz:{name}")
        else:
            from pyscript.ffi import to_js
            at = max(0.0, epoch_ms - float(js.performance.timeOrigin))
            js.performance.mark(f"llmviz:{name}", to_js({"startTime": at}, dict_converter=js.Object.fromEntries))
    except Exception:  # noqa: BLE001 - timing is never worth an error
        pass


async def _fetch_bytes(path: str) -> bytes:
    """A file of this site as bytes (the browser's fetch: no pyodide.http import on the way);
    one fetched already for the 3D view's first frame (``window.llmvizFetched``: the scene and
    the weights, asked for by index.html's first script) is taken from there, not downloaded
    again (the model worker, which has no window, fetches)."""
    import js
    fetched = getattr(getattr(js, "window", None), "llmvizFetched", None)
    pending = getattr(fetched, path, None) if fetched is not None else None
    if pending is not None:
        try:
            return (await pending).to_bytes()
        except Exception:  # noqa: BLE001 - the first frame's fetch failed: try again here
            pass
    resp = await js.fetch(_url(path))
    if not resp.ok:
        raise RuntimeError(f"could not load {path} (HTTP {resp.status})")
    return (await resp.arrayBuffer()).to_bytes()


async def _fetch_json(path: str):
    return json.loads((await _fetch_bytes(path)).decode("utf-8"))


PYCACHE_PREFIX = "/llmviz-pycache"


async def _fetch_optional(path: str | None) -> bytes | None:
    """A file that only makes the boot faster: None (and a console warning) when it cannot be had."""
    if not path:
        return None
    try:
        return await _fetch_bytes(path)
    except Exception as e:  # noqa: BLE001 - the page works without it, only slower
        import js
        js.console.warn(f"llmviz: {path} not used ({type(e).__name__}: {e}); modules are compiled instead")
        return None


def use_pycache(data: bytes, prefix: str = PYCACHE_PREFIX) -> int:
    """Unpack build.py's precompiled modules (wheels/pycache.zip) under ``prefix`` and point
    ``sys.pycache_prefix`` there, so importing the wheels reads bytecode instead of compiling
    every module again. Returns the number of modules."""
    import io
    import os
    import zipfile

    made: set[str] = set()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [name for name in z.namelist() if name.endswith(".pyc") and ".." not in name.split("/")]
        for name in names:
            path = f"{prefix}/{name}"
            folder = path.rsplit("/", 1)[0]
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            with open(path, "wb") as f:
                f.write(z.read(name))
    sys.pycache_prefix = prefix
    return len(names)


def _wheel_name(path: str) -> str:
    """The distribution name of a wheel file (``wheels/numpy-2.4.3-....whl`` -> ``numpy``)."""
    return path.rsplit("/", 1)[-1].split("-", 1)[0].lower().replace("_", "-")


async def _load_wheels(paths: list[str]) -> None:
    """Install wheels from this site by URL in one ``loadPackage`` call (their downloads run in
    parallel); an error names the first file that did not install and the reason."""
    import js
    import pyodide_js
    from pyscript.ffi import create_proxy, to_js

    errors: list[str] = []
    on_error = create_proxy(lambda msg: errors.append(str(msg)))
    on_message = create_proxy(lambda msg: js.console.debug(str(msg)))
    options = to_js({"errorCallback": on_error, "messageCallback": on_message})
    try:
        loaded = await pyodide_js.loadPackage(to_js([_url(path) for path in paths]), options)
        names = {str(pkg.name).lower().replace("_", "-") for pkg in loaded}
    finally:
        on_error.destroy()
        on_message.destroy()
    missing = [path for path in paths if _wheel_name(path) not in names]
    if errors or missing:
        path = missing[0] if missing else paths[0]
        named = [line for line in errors if _wheel_name(path) in line.lower()]
        reason = " ".join(line for line in (named or errors) if line.strip()) or "nothing was installed"
        raise RuntimeError(f"could not load {path}: {reason}")


def shared_ticket(path: str) -> str:
    """The ticket of the letter (``js/worker_mail.js``) in which the page hands the model worker
    a file both read (the weights: the 3D view's first frame reads them too; the card and the
    bundled trace: this page reads them)."""
    return f"shared:{path}"


def shared_files(info: dict) -> list[str]:
    """The files of the build that both the page and the model worker read, downloaded once by
    the page and handed to the worker as letters: the weights, the card, the bundled trace."""
    model = info["model"]
    return [model["weights"], model["card"], info["trace"]["json"], info["trace"]["bin"]]


async def _fetch_shared(path: str) -> bytes:
    """One of ``shared_files``, read by the page: the one download the worker's letter carries
    too (``worker_mail.download``, kept in window.llmvizFetched)."""
    from pyscript.js_modules import worker_mail
    return (await worker_mail.download(path)).to_bytes()


async def _start_worker(paths: list[str]):
    """Start the model worker (PyScript's named worker: its own Pyodide, in a Web Worker) and
    return its proxy and the message its ``boot`` answered with (it loads numpy and the model
    on its own as soon as it is up); the files it waits for (``shared_files``) come from the
    page's downloads (the weights: the 3D view's first frame's)."""
    from pyscript import create_named_worker
    from pyscript.js_modules import worker_mail

    worker = await create_named_worker(src=WORKER_SRC, name=WORKER, config=WORKER_CONFIG)
    for path in paths:      # Promises: the worker waits for its letters
        worker_mail.sendShared(path, shared_ticket(path))
    return worker, await worker.boot()


async def boot() -> dict:
    import js

    mark("app-start")
    info = await _fetch_json("build-info.json")
    state["build"] = info
    model_info = info.get("model", {})
    js.document.getElementById("model-name").textContent = model_info.get("name") or "?"
    wheels = info.get("wheels", {})
    has_numpy = "numpy" in wheels

    # everything of this thread at once: the llmviz wheel (one loadPackage call; the code
    # panel's snippets come lexed from the build: no pygments here) and every data file
    _progress(_say("ui.progress.wheels", "Loading llmviz"))
    wheels_done = asyncio.ensure_future(_load_wheels([wheels["llmviz"]]))
    # the parameters once: with numpy from the model's weights file (the 3D view's download,
    # which the worker takes too), else the bundled copy
    params = [model_info["weights"]] if has_numpy else [info["params"]["json"], info["params"]["bin"]]
    paths = [info["trace"]["json"], info["trace"]["bin"], "data/scene.json", model_info["card"]] + params
    shared = shared_files(info)   # downloaded once, here, and handed to the model worker too
    files_done = asyncio.gather(*((_fetch_shared if path in shared else _fetch_bytes)(path) for path in paths))
    pycache_done = asyncio.ensure_future(_fetch_optional((info.get("pycache") or {}).get("file")))
    try:
        await wheels_done
    except BaseException:
        files_done.cancel()
        pycache_done.cancel()
        raise
    mark("wheels")
    code_done = asyncio.ensure_future(_code_snippets())
    files = dict(zip(paths, await files_done))
    pycache = await pycache_done
    mark("files")
    if pycache:
        use_pycache(pycache)
        mark("pycache")

    _progress(_say("ui.progress.trace", "Reading the bundled trace"))
    from llmviz.core import flat_weights, tracefile
    text = lambda path: files[path].decode("utf-8")  # noqa: E731
    index = json.loads(text(info["trace"]["json"]))
    bundled = tracefile.read(index, files[info["trace"]["bin"]])
    state["bundled"], state["trace"] = bundled, bundled
    state["index"] = index
    state["scene"] = json.loads(text("data/scene.json"))
    state["card"] = json.loads(text(model_info["card"]))
    if has_numpy:
        state["params"] = flat_weights.read(files[model_info["weights"]], state["card"]["config"])
    else:
        state["params"] = tracefile.read(json.loads(text(info["params"]["json"])), files[info["params"]["bin"]])
    mark("bundled")
    if has_numpy:   # the model worker starts now, while the views mount: go_live takes it over
        state["worker_start"] = asyncio.ensure_future(_start_worker(shared))

    result = {"python": sys.version.split()[0], "numpy": has_numpy, "model": model_info.get("name"),
              "live": False, "build": info.get("build_id"), "example": index.get("example"),
              "numpy_status": info.get("numpy", {}).get("status")}
    if not has_numpy:
        _page().notice(_say("notice.no_numpy", "Live inference needs numpy for Pyodide, which this build does not "
                            "include: the page shows the trace computed when the site was built."))

    state["code"] = await code_done
    mark("code")
    on_ready(result)
    mark("views")
    return result


async def go_live() -> dict:
    """Hand the model worker (numpy builds; ``boot`` started it) to the views once it has
    checked its forward pass against the bundled trace. Returns what ``llmviz.live``
    resolves with: ``{live: true, numpy_version, max_abs_diff, logits, matmul}``, or ``{live: false,
    error}`` (the views then stay on the bundled trace and a notice says why)."""
    from llmviz.page.model_client import ModelClient

    app = state["app"]
    try:
        worker, message = await state.pop("worker_start")
        mark("worker")
        client = ModelClient(worker)
        try:
            booted = await client.accept_boot(message)
        except Exception as e:  # noqa: BLE001 - JobError (its one line) or a broken answer
            raise RuntimeError(f"the model could not start in its worker: {e}") from None
        for name, at in booted.header.get("marks") or []:
            mark(name, at)
        diff = float(booted.header["max_abs_diff"])
        if diff > TOLERANCE:
            raise RuntimeError(f"the forward pass in the browser differs from the bundled trace by {diff:g} "
                               f"(more than {TOLERANCE:g})")
    except Exception as e:  # noqa: BLE001 - every failure reaches the page, readably
        reason = f"{type(e).__name__}: {e}" if not isinstance(e, RuntimeError) else str(e)
        import js
        js.console.error(f"llmviz: live inference: {reason}")
        _page().notice(_say("notice.live_failed", "Live inference could not start ({{error}}): the page shows "
                            "the trace computed when the site was built.", error=reason))
        app.model_failed(reason)
        return {"live": False, "error": reason}
    state["client"] = client
    app.join_model(client, booted.values)
    mark("live")
    return {"live": True, "numpy": True, "numpy_version": booted.header.get("numpy_version"),
            "max_abs_diff": diff, "logits": booted.header.get("logits"),   # logits: for tests and bench
            "matmul": booted.header.get("matmul")}   # {kind: "wasm-simd" | "numpy", why}: llmviz.page.wasm_matmul


async def _code_snippets() -> dict | None:
    """The code panel's snippets (``data/code.json``, 0.3 MB) read during the boot, while this
    thread waits for its other files: their parse took 80-170 ms in one task right after
    ``ready``. None when they cannot be read: the code panel then fetches them itself and
    says what went wrong."""
    from llmviz.page.ui.code_view import CODE_JSON, read_snippets

    try:
        return await read_snippets(await _fetch_bytes(CODE_JSON))
    except Exception:  # noqa: BLE001 - the panel's own load reports it
        return None


def on_ready(result: dict) -> None:
    """Hand the page to its views (llmviz.page.ui): the scene, the walkthrough, the code, the live input."""
    from llmviz.page import ui
    from llmviz.page.ui.core import App

    index, card = state["index"], state["card"]
    trace = state["trace"]
    import js
    lang = str(js.document.documentElement.lang or "en").split("-")[0]   # i18n.js chose it
    app = App(lang=lang, build=state["build"], config=trace.config, vocab=list(card["vocab"]), card=card,
              trace=trace, params=state["params"], text=index["text"], ids=list(index["ids"]),
              scene=state["scene"], model=None, live=False, numpy=result["numpy"], values=None)
    if result["numpy"]:   # the model worker is starting (boot); go_live hands it to the views
        app.model_starting = asyncio.get_event_loop().create_future()
    app.code_snippets = state.get("code")
    state["app"] = app
    errors = ui.start(app)
    if errors:
        import js
        for error in errors:
            js.console.error(f"llmviz: {error}")
        _page().notice(_say("notice.part_failed", "Part of the page failed to start: {{errors}}",
                            errors="; ".join(errors)))


async def main() -> None:
    import js
    from pyscript.ffi import to_js

    try:
        result = await boot()
    except Exception as e:  # noqa: BLE001 - every failure must reach the page, readably
        js.console.error(f"llmviz: {type(e).__name__}: {e}")
        _page()._boot.reject(f"{type(e).__name__}: {e}")
        return
    _page()._boot.resolve(to_js(result))
    _debug_hooks()
    if result["numpy"]:
        _page()._boot.live(to_js(await go_live()))


def _debug_hooks() -> None:
    """With ``?debug=1``: ``window.llmvizDebug.stdlibModules()`` and ``numpyModules()``, Promises
    of the standard library and numpy modules this Python and the model worker's have imported
    (``llmviz.page.stdlib_usage``, for the tests of the trimmed zip and the slim numpy wheel: both
    Pythons read the same python_stdlib.zip, and numpy is the worker's); ``stackSwitching()``,
    whether this Pyodide uses JSPI (build.py's ``without_stack_switching``)."""
    import js
    from pyscript.ffi import create_proxy, to_js

    if js.URLSearchParams.new(js.location.search).get("debug") != "1":
        return
    from llmviz.page import stdlib_usage
    if not getattr(js.window, "llmvizDebug", None):
        js.window.llmvizDebug = js.Object.new()

    def both(here, there):
        async def union():
            names = set(here())
            client = state.get("client")
            if client is not None:
                names |= set(await there(client))
            return to_js(sorted(names))
        return create_proxy(lambda: js.Promise.resolve(asyncio.ensure_future(union())))

    js.window.llmvizDebug.stdlibModules = both(stdlib_usage.loaded, lambda client: client.stdlib_modules())
    js.window.llmvizDebug.numpyModules = both(lambda: stdlib_usage.package_modules("numpy"),
                                              lambda client: client.numpy_modules())
    # whether this Pyodide runs Python on stacks of its own (JSPI; build.py turns it off)
    import pyodide_js
    js.window.llmvizDebug.stackSwitching = create_proxy(lambda: bool(pyodide_js._module.jspiSupported))


def start() -> None:
    asyncio.ensure_future(main())


if __name__ == "__main__" and sys.platform == "emscripten":
    start()
