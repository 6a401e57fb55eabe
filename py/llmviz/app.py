"""The page's Python entry point, run by PyScript (``<script type="py" src="./app.py">``).

It boots the app in this order, telling the header what it is doing:

1. load the wheels that build.py put in ``wheels/`` (pygments, llmviz, and numpy when
   this build has it) by URL with Pyodide's ``loadPackage``;
2. read the bundled trace (``data/trace.json`` + ``.bin``), pure Python;
3. with numpy: load the weights, run the forward pass on the same input in the
   browser, and check it against the bundled trace (max abs difference <= 1e-5);
4. settle ``window.llmviz.ready`` with ``{python, numpy, model, live, ...}``.

Without numpy the page says so and runs on the bundled trace. The walkthrough and
scene glue hook in at ``on_ready`` (to be filled in by the app's next modules).
This file is also part of the llmviz wheel; importing it outside the browser has no
side effects.
"""
from __future__ import annotations

import asyncio
import json
import sys

TOLERANCE = 1e-5

state: dict = {}   # what the app knows: build info, the trace, the model (when live)


def _url(path: str) -> str:
    """An absolute URL for a path relative to the page (works from any sub-path)."""
    import js
    return js.URL.new(path, js.document.baseURI).href


def _progress(text: str) -> None:
    import js
    js.llmviz.progress(text)


async def _fetch_bytes(path: str) -> bytes:
    from pyodide.http import pyfetch
    resp = await pyfetch(_url(path))
    if not resp.ok:
        raise RuntimeError(f"could not load {path} (HTTP {resp.status})")
    return await resp.bytes()


async def _load_wheel(path: str) -> None:
    """Install a wheel from this site by URL; an error names the file and the reason."""
    import js
    import pyodide_js
    from pyodide.ffi import create_proxy, to_js

    errors: list[str] = []
    on_error = create_proxy(lambda msg: errors.append(str(msg)))
    on_message = create_proxy(lambda msg: js.console.debug(str(msg)))
    options = to_js({"errorCallback": on_error, "messageCallback": on_message},
                    dict_converter=js.Object.fromEntries)
    try:
        loaded = await pyodide_js.loadPackage(_url(path), options)
    finally:
        on_error.destroy()
        on_message.destroy()
    if errors or not len(loaded):
        reason = " ".join(line for line in errors if line.strip()) or "nothing was installed"
        raise RuntimeError(f"could not load {path}: {reason}")


def compare_traces(live, bundled) -> float:
    """The largest absolute difference between two traces over every float tensor."""
    import numpy as np

    worst = 0.0
    missing = [name for name in bundled if name not in live]
    if missing:
        raise RuntimeError(f"the live trace has no {missing[0]!r}")
    for name in bundled:
        ref = bundled[name]
        got = np.asarray(live[name])
        want = np.frombuffer(ref.buffer(), dtype=np.int64 if ref.dtype == "int64" else np.float32)
        want = want.reshape(ref.shape)
        if got.shape != want.shape:
            raise RuntimeError(f"{name}: live shape {got.shape}, bundled {want.shape}")
        if want.size:
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
    return worst


async def boot() -> dict:
    import js

    info = json.loads(bytes(await _fetch_bytes("build-info.json")).decode("utf-8"))
    state["build"] = info
    model_info = info.get("model", {})
    js.document.getElementById("model-name").textContent = model_info.get("name") or "?"

    _progress("Loading pygments and llmviz")
    for name in ("pygments", "llmviz"):
        await _load_wheel(info["wheels"][name])
    from llmviz import tracefile

    _progress("Reading the bundled trace")
    index = json.loads(bytes(await _fetch_bytes(info["trace"]["json"])).decode("utf-8"))
    data = await _fetch_bytes(info["trace"]["bin"])
    bundled = tracefile.read(index, data)
    state["bundled"], state["trace"] = bundled, bundled
    state["index"] = index
    params_index = json.loads(bytes(await _fetch_bytes(info["params"]["json"])).decode("utf-8"))
    state["params"] = tracefile.read(params_index, await _fetch_bytes(info["params"]["bin"]))
    state["scene"] = json.loads(bytes(await _fetch_bytes("data/scene.json")).decode("utf-8"))
    state["card"] = json.loads(bytes(await _fetch_bytes(model_info["card"])).decode("utf-8"))

    result = {"python": sys.version.split()[0], "numpy": False, "model": model_info.get("name"),
              "live": False, "build": info.get("build_id"), "example": index.get("example"),
              "numpy_status": info.get("numpy", {}).get("status")}

    if "numpy" in info.get("wheels", {}):
        _progress("Loading numpy")
        await _load_wheel(info["wheels"]["numpy"])
        import numpy as np
        result["numpy"] = True
        result["numpy_version"] = np.__version__

        _progress("Loading the model")
        from llmviz import weights
        card = state["card"]
        model = weights.from_bytes(bytes(await _fetch_bytes(model_info["weights"])), card)
        state["model"] = model

        _progress("Running the model in your browser")
        live = model.trace([list(index["ids"])])
        diff = compare_traces(live, bundled)
        result["max_abs_diff"] = diff
        if diff > TOLERANCE:
            raise RuntimeError(f"the forward pass in the browser differs from the bundled trace by {diff:g} "
                               f"(more than {TOLERANCE:g})")
        state["trace"] = live
        state["params"] = model.state_dict()
        result["live"] = True
        result["logits"] = np.asarray(live["logits"][0], dtype=float).tolist()  # for tests and bench
    else:
        js.llmviz.notice("Live inference needs numpy for Pyodide, which this build does not include: "
                         "the page shows the trace computed when the site was built.")

    on_ready(result)
    return result


def on_ready(result: dict) -> None:
    """Hand the page to its views (llmviz.ui): the scene, the walkthrough, the code, the live input."""
    from llmviz import ui
    from llmviz.ui.core import App

    index, card = state["index"], state["card"]
    trace = state["trace"]
    app = App(build=state["build"], config=trace.config, vocab=list(card["vocab"]), card=card,
              trace=trace, params=state["params"], text=index["text"], ids=list(index["ids"]),
              scene=state["scene"], model=state.get("model"), live=result["live"], numpy=result["numpy"])
    state["app"] = app
    errors = ui.start(app)
    if errors:
        import js
        for error in errors:
            js.console.error(f"llmviz: {error}")
        js.llmviz.notice("Part of the page failed to start: " + "; ".join(errors))


async def main() -> None:
    import js
    from pyodide.ffi import to_js

    try:
        result = await boot()
    except Exception as e:  # noqa: BLE001 - every failure must reach the page, readably
        js.console.error(f"llmviz: {type(e).__name__}: {e}")
        js.llmviz._boot.reject(f"{type(e).__name__}: {e}")
        return
    js.llmviz._boot.resolve(to_js(result, dict_converter=js.Object.fromEntries))


def start() -> None:
    asyncio.ensure_future(main())


if __name__ == "__main__" and sys.platform == "emscripten":
    start()
