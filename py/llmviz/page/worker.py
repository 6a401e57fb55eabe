"""The page's model worker: numpy, the model and its KV cache, off the main thread.

The page's app.py starts it once the views are up on the bundled trace (``<script type="py"
worker name="llmviz-model" src="./worker.py" config="./worker.toml">``, through
``pyscript.create_named_worker``): its own Pyodide, in a Web Worker, so the page's main
thread (the views, the 3D view) never waits for the model. The main thread
(``llmviz.page.model_client``) calls the functions it exports (``__export__``, PyScript's
named workers). A call from the main thread to a worker needs no SharedArrayBuffer (only
calls the other way round do, and this worker makes none), so the page works on any static
host, without cross-origin isolation headers.

* it boots on its own as soon as its Pyodide is up (not waiting for the page's Python):
  the site's address is the one Pyodide was loaded from (``pyodide.lockfileBaseUrl``, the
  site's ``pyodide/`` folder; a worker started from a blob has no address of its own);
  it reads build-info.json, loads numpy and llmviz (the wheels it names) and the default
  model (its weights from the page, as a letter: the download the 3D view's first frame
  made, ``app.shared_ticket``), and computes its example, checked against the bundled trace. ``boot()`` (the
  page calls it) waits for that and returns the result. PyScript puts the page's
  ``app.py`` beside this file (worker.toml ``[files]``), whose loading helpers this uses.
* ``job(name, args)``: "run" (a prompt), "step" (one more token), "load" (your model: npz
  bytes and card), "default" (back to the built-in model), "seed". "load" and "default" take the
  page's language (``lang``): their refusals are messages for the reader, in ``llmviz.page.live``'s words. The work is a
  ``llmviz.page.session`` generator; between its pieces the worker yields to its event
  loop, so ``status()`` (progress) and ``cancel()`` (stop at the next piece, nothing
  changes) are answered while it runs.
* Big buffers never go through those calls (they serialise their arguments: seconds per
  8 MB): they travel as the worker's own messages, ArrayBuffers transferred without a copy
  (the page's ``js/worker_mail.js`` is the other end). A result's buffers stay in the
  outbox until ``post(name, ticket)`` sends one; your model's npz comes in the same way
  (``job("load", {"npz_ticket": ...})`` waits for the letter of that ticket).

Every failure is returned as ``{"error": message}`` (one line), never raised across.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

state: dict = {"busy": None, "done": 0, "total": 0, "cancel": False, "outbox": {}, "sessions": {}, "inbox": {},
               "spares": [], "posted": set()}
MAIL_WAIT_S = 60.0   # how long a job waits for the page's letter it names
MAX_SPARES = 4       # buffers of letters (read and given back, or made ahead) kept to be written
                     # again: one per size of the last job's letters (trace, values, parameters)


def _js(value):
    from pyodide.ffi import to_js
    import js
    return to_js(value, dict_converter=js.Object.fromEntries)


def _header(result: dict) -> dict:
    """A session result split into the message (JSON text + small buffers) and the outbox."""
    out = {k: v for k, v in result.items() if not isinstance(v, (bytes, bytearray))}
    sizes = {}
    for key in ("trace", "values", "params", "param_values"):
        value = result.get(key)
        if isinstance(value, (bytes, bytearray)):
            # kept as it is, no copy (a full trace is 70 MB for nanoGPT's Shakespeare baby): a
            # session's buffer changes only in a later job, and a job starts by emptying the outbox
            state["outbox"][key] = value
            sizes[key] = len(value)
    out["sizes"] = sizes
    small = {}
    for key in ("trace", "scene"):
        part = out.get(key)
        if isinstance(part, dict) and isinstance(part.get("values"), (bytes, bytearray)):
            small[key] = part.pop("values")
    message = {"header": json.dumps(out)}
    for key, data in small.items():
        message[key + "_values"] = data
    return message


def _epoch_ms() -> float:
    """Now, in ms since 1970 (the page turns it into a mark on its own timeline)."""
    import js
    return float(js.performance.timeOrigin) + float(js.performance.now())


def site_base() -> str:
    """The site's address: Pyodide came from its ``pyodide/`` folder."""
    import js
    import pyodide_js
    return js.URL.new("../", str(pyodide_js.lockfileBaseUrl)).href


async def boot(base=None, info_text=None):
    """The worker's own boot (started when it came up): the first text's result message."""
    if "boot" not in state:
        state["boot"] = asyncio.ensure_future(_boot(base, info_text))
    return await state["boot"]


async def _boot(base=None, info_text=None):
    """Load numpy, llmviz and the default model; run and check its example."""
    import app as page_app   # the page's app.py, put beside this file by worker.toml [files]

    t0 = time.perf_counter()
    marks = [("worker-up", _epoch_ms())]
    try:
        page_app.set_base(str(base) if base else site_base())
        info = json.loads(str(info_text)) if info_text else json.loads(
            (await page_app._fetch_bytes("build-info.json")).decode("utf-8"))
        wheels = info.get("wheels", {})
        if "numpy" not in wheels:
            return _js({"error": "this build has no numpy"})
        model_info = info["model"]
        paths = page_app.shared_files(info)     # the page's downloads, handed over as letters
        files_done = asyncio.gather(*(_shared(page_app, p) for p in paths))
        pycache_done = asyncio.ensure_future(page_app._fetch_optional((info.get("pycache") or {}).get("file")))
        kernel_path = (info.get("kernels") or {}).get("matmul")
        kernel_done = asyncio.ensure_future(page_app._fetch_bytes(kernel_path)) if kernel_path else None
        await page_app._load_wheels([wheels[name] for name in ("numpy", "llmviz")])
        files = dict(zip(paths, await files_done))
        pycache = await pycache_done
        if pycache:
            page_app.use_pycache(pycache)
        t_wheels = time.perf_counter()
        marks.append(("worker-wheels", _epoch_ms()))

        import numpy as np
        from llmviz.core import tracefile, weights
        from llmviz.page import wasm_matmul
        from llmviz.page.session import Session, compare_traces, drive

        matmul = await wasm_matmul.install(kernel_done)   # the Linears' x @ W.T (numpy if no kernel)
        if matmul["kind"] != "wasm-simd":
            import js
            js.console.warn(f"llmviz: the model computes with numpy alone, slower ({matmul['why']})")

        card = json.loads(files[model_info["card"]].decode("utf-8"))
        model = weights.from_bytes(files[model_info["weights"]], card)
        session = Session(model, card)
        marks.append(("worker-model", _epoch_ms()))
        index = json.loads(files[info["trace"]["json"]].decode("utf-8"))
        bundled = tracefile.read(index, files[info["trace"]["bin"]])
        prompt = index.get("example") if isinstance(index.get("example"), str) else index["text"]
        ids = model.vocab.encode(prompt, model.config.block_size)
        result = drive(session.run(ids))
        diff = compare_traces(session.trace(), bundled)
        marks.append(("worker-forward", _epoch_ms()))
        state["sessions"] = {"default": session, "current": session}
        out = _with_params(session, result)
        out.update(numpy_version=np.__version__, max_abs_diff=diff, matmul=matmul,
                   logits=np.asarray(session.trace()["logits"][0], dtype=float).tolist(),
                   prompt=prompt, marks=marks,
                   timing={"wheels_s": t_wheels - t0, "total_s": time.perf_counter() - t0})
        return _js(_header(out))
    except Exception as e:  # noqa: BLE001 - the page says why live inference is off
        return _js({"error": f"{type(e).__name__}: {e}"})


async def _shared(page_app, path: str) -> bytes:
    """A file the page reads too (``app.shared_files``: the weights, the card, the bundled trace),
    from the page's letter (app.py hands it over: one download for both); fetched here when the
    page could not have it."""
    data = await _letter(page_app.shared_ticket(path))
    return data if data else await page_app._fetch_bytes(path)


def _with_params(session, result: dict) -> dict:
    """A full result plus the model's parameters (tracefile) and the scene's parameter values."""
    pindex, pdata = session.params()
    pvalues, poffsets = session.param_values(session.scene)
    out = dict(result)
    out.update(params=pdata, params_index=pindex, param_values=pvalues, param_offsets=poffsets,
               card=session.card, config=session.config.to_dict(), vocab=list(session.model.vocab.tokens))
    return out


def _job(name: str, args: dict, npz: bytes | None):
    """The session generator of a job (and whether its result carries the parameters)."""
    from llmviz.page import live
    from llmviz.page.session import Session

    sessions = state["sessions"]
    if name == "run":
        return sessions["current"].run(args["ids"], bool(args.get("complete", True))), False
    if name == "step":
        return sessions["current"].step(float(args.get("temperature") or 0.0), args.get("top_k")), False
    if name == "load":
        model = live.load_model(npz, args["card"], args.get("lang"))   # WeightsError: says what is wrong
        session = Session(model, live.parse_card_text(args["card"]))
        return _switch(session, args), True
    if name == "default":
        return _switch(sessions["default"], args), True
    raise ValueError(f"no job named {name!r}")


def _switch(session, args: dict):
    """Run the first text of another model (``prompt`` when it fits it, else one from its card);
    it becomes the current model only when that works."""
    prompt = session.first_prompt(args.get("prompt"), args.get("example"), args.get("lang"))
    ids = session.model.vocab.encode(prompt, session.block_size)
    result = yield from session.run(ids, bool(args.get("complete", True)))
    result["prompt"] = prompt
    state["sessions"]["current"] = session
    return result


async def job(name, args_text, npz=None):
    """Run a job, yielding between its pieces; its result message, {"cancelled": true} or {"error"}."""
    name = str(name)
    if state["busy"]:
        return _js({"error": f"the model is busy ({state['busy']})"})
    state.update(busy=name, done=0, total=0, cancel=False, posted=set())
    state["outbox"].clear()
    t0 = time.perf_counter()
    gen = None
    try:
        args = json.loads(str(args_text)) if args_text else {}
        if name == "seed":
            import random
            state["sessions"]["current"].rng = random.Random(int(args["seed"]))
            return _js({"header": json.dumps({"kind": "seed"})})
        data = bytes(npz.to_bytes()) if npz is not None and hasattr(npz, "to_bytes") else None
        if data is None and args.get("npz_ticket"):
            data = await asyncio.wait_for(_letter(str(args["npz_ticket"])), MAIL_WAIT_S)
        gen, with_params = _job(name, args, data)
        while True:
            try:
                state["done"], state["total"] = next(gen)
            except StopIteration as stop:
                result = stop.value
                break
            await asyncio.sleep(0)      # status() and cancel() are answered here
            if state["cancel"]:
                gen.close()
                return _js({"cancelled": True})
        if with_params:
            result = _with_params(state["sessions"]["current"], result)
        result["timing"] = dict(state["sessions"]["current"].timing, job_s=time.perf_counter() - t0)
        return _js(_header(result))
    except Exception as e:  # noqa: BLE001 - one line for the page
        from llmviz.core.limits import WeightsError
        from llmviz.core.vocab import InputError
        text = str(e) if isinstance(e, (WeightsError, InputError)) else f"{type(e).__name__}: {e}"
        return _js({"error": text.strip().splitlines()[-1] if text.strip() else type(e).__name__,
                    "kind": type(e).__name__})
    finally:
        state["busy"] = None


def stdlib_modules():
    """The standard library modules this worker's Python imported (``llmviz.page.stdlib_usage``)."""
    from llmviz.page import stdlib_usage
    return _js(stdlib_usage.loaded())


def numpy_modules():
    """numpy and the modules of it this worker's Python imported (the slim wheel's check)."""
    from llmviz.page import stdlib_usage
    return _js(stdlib_usage.package_modules("numpy"))


def status():
    return _js({"busy": state["busy"], "done": state["done"], "total": state["total"]})


def cancel():
    state["cancel"] = bool(state["busy"])
    return state["cancel"]


def post(name, ticket):
    """Send an outbox buffer of the last job to the page as a message of its own (its
    ArrayBuffer transferred); its size in bytes, or -1 when there is none."""
    import js
    from pyodide.ffi import to_js

    data = state["outbox"].get(str(name))
    if data is None:
        return -1
    state["posted"].add(len(data))
    spare = take_spare(len(data))
    if spare is None:
        bytes_ = js.Uint8Array.new(len(data))
        if name != "trace":   # the page gives a trace back once it has copied it: the next one finds that
            asyncio.ensure_future(_warm_spare(len(data)))   # the next letter of this size finds one ready
    else:   # memory the page gave back: written again without a first touch of new pages
        bytes_ = js.Uint8Array.new(spare, 0, len(data))
    bytes_.assign(data)
    message = js.Object.fromEntries(to_js([["llmvizMail", str(ticket)], ["bytes", bytes_]]))
    js.postMessage(message, to_js([bytes_.buffer]))
    return len(data)


def take_spare(size: int):
    """A buffer of ``size`` bytes the page gave back (``worker_mail.giveBack``), taken out of
    the spares; None when there is none (a new one is allocated then, its pages touched for
    the first time as it is written: 40 ms to 0.6 s for the 70 MB trace of a big model, where
    a spare takes a copy's time). The same size only: a full trace is followed by its values,
    a little smaller, which would otherwise take the trace's buffer every time."""
    for buffer in state["spares"]:
        if int(buffer.byteLength) == size:
            state["spares"].remove(buffer)
            return buffer
    return None


async def _warm_spare(size: int) -> None:
    """A spare of ``size`` bytes made while the worker waits for the page: a letter of a new
    size (the first text of a model) is allocated and touched for the first time as it is
    written, and the page keeps some letters (the scene's values until the next text replaces
    them), so the next text's letter of that size would pay the same again (0.2 s for a
    Shakespeare-sized model's values, the first token after an input): this buffer's pages
    are touched now, outside any job, and it joins the spares unless one of its size came back."""
    import js
    while state["busy"]:                 # after the job that posted the letter, not during it
        await asyncio.sleep(0.05)
    await asyncio.sleep(0)
    if any(int(b.byteLength) == size for b in state["spares"]):
        return
    buffer = js.ArrayBuffer.new(size)
    js.Uint8Array.new(buffer).fill(1)    # the first touch of its pages, now
    keep_spare(buffer)


def keep_spare(buffer) -> None:
    """Keep ``buffer`` as the spare of its size if the last job's letters had that size (one of
    an older text's size, given back when the page replaced it, is dropped, as is a second of a
    size the spares have): so a trace and the values always find theirs."""
    size = int(buffer.byteLength)
    if size not in state["posted"]:
        return
    others = [b for b in state["spares"] if int(b.byteLength) != size]
    state["spares"] = (others + [buffer])[-MAX_SPARES:]


def _letter(ticket: str):
    """The page's letter under ``ticket`` (a future: it may come before or after the job)."""
    inbox = state["inbox"]
    if ticket not in inbox:
        inbox[ticket] = asyncio.get_event_loop().create_future()
    return _take_letter(ticket)


async def _take_letter(ticket: str) -> bytes:
    try:
        return await state["inbox"][ticket]
    finally:
        state["inbox"].pop(ticket, None)


def _on_message(event) -> None:
    """A letter from the page (``worker_mail.send``): its bytes, for the job that names it; or
    a letter of ours the page read and gave back (``worker_mail.giveBack``): a spare."""
    data = event.data
    if data is not None and getattr(data, "llmvizSpare", None) is True:
        keep_spare(data.bytes.buffer)
        return
    ticket = getattr(data, "llmvizMail", None) if data is not None else None
    if not isinstance(ticket, str):
        return
    inbox = state["inbox"]
    future = inbox.get(ticket)
    if future is None:
        future = inbox[ticket] = asyncio.get_event_loop().create_future()
    if not future.done():
        future.set_result(bytes(data.bytes.to_bytes()))


def _listen(namespace: dict) -> None:
    """Letters from the page come to ``xworker.onmessage`` (PyScript's worker looks up the name
    ``xworker`` in the worker's main module for each message the page posts itself)."""
    from polyscript import xworker
    from pyodide.ffi import create_proxy

    xworker.onmessage = create_proxy(_on_message)
    namespace["xworker"] = xworker


__export__ = ["boot", "job", "status", "cancel", "post", "stdlib_modules", "numpy_modules"]

if __name__ == "__main__" and sys.platform == "emscripten":
    _listen(globals())
    state["boot"] = asyncio.ensure_future(_boot())   # at once, while the page's Python starts
