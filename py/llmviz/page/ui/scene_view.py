"""The 3D view, driven from Python: values, steps, hover read-outs, scale views.

``site/js/stage/bridge.js`` draws the bundled example before Python is up (a fast first
frame) and exposes ``window.llmvizScene``; this module takes over from there:

* "trace": with numpy, every block's values again (``llmviz.viz.scene_values``), one
  float32 buffer per block; without numpy the bundled values are already drawn.
* "model": the new scene, then (with the "trace" that follows) its values.
* "step": camera flight, highlight of the focus and its cells, dimming of the rest,
  and the step's animation (``render/anim.js``). ``app.settle`` is an asyncio Future
  per step that resolves (True when it ran to its end) once the view has settled, and
  ``window.llmvizSceneSettled`` says the same to tests.
* "motion": ``app.motion = {speed, paused, reduced}`` (+ ``skip`` in the payload)
  from the walk view's playback controls.
* "focus": blocks named by a hovered text reference or code variable come forward;
  ``[]`` puts the step's own highlight back.
* hover: ``llmviz.viz.provenance.describe`` fills ``#tooltip`` with the value and the
  numbers it came from, and highlights those cells; ``app.emit("pick", ...)``.
  A click emits ``"select"``.
* scale views: the sort model beside GPT-2 small, GPT-2 XL and GPT-3 at their real
  shapes (``llmviz.viz.layout.scale_scene``), no weights, with their parameter counts (a
  one-line note; the scale view is framed below it). Back to the sort model, the view
  is the current step's again.

``app.camera()`` returns the renderer's camera ({position, target, fov}) or None.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from llmviz.page.ui import scene_steps
from llmviz.page.ui.dom import element, terms_table

DEFAULT_MOTION = {"speed": 1.0, "paused": False, "reduced": False}


def _absent(value) -> bool:
    """JS null and undefined (Pyodide passes null as ``pyodide.ffi.jsnull``, not None)."""
    if value is None:
        return True
    try:
        from pyodide.ffi import jsnull
    except ImportError:  # older Pyodide: null arrives as None
        return False
    return value is jsnull


class SceneView:
    def __init__(self, app):
        import js

        self.app = app
        self.js = js
        self.api = getattr(js, "llmvizScene", None)
        self.mode = "model"
        self.scale_cache: dict[str, dict] = {}
        self.proxies: list = []
        self.last_pick = None
        if not hasattr(app, "motion") or not isinstance(getattr(app, "motion"), dict):
            app.motion = dict(DEFAULT_MOTION)
        app.camera = self.camera
        app.settle = self._done_future(True)

    # ---- plumbing ----------------------------------------------------------
    @property
    def renderer(self):
        r = getattr(self.api, "renderer", None) if self.api is not None else None
        return None if _absent(r) else r

    def _proxy(self, fn):
        from pyodide.ffi import create_proxy
        p = create_proxy(fn)
        self.proxies.append(p)
        return p

    def _done_future(self, value: Any) -> asyncio.Future:
        fut = asyncio.get_event_loop().create_future()
        fut.set_result(value)
        return fut

    def _future_of(self, promise) -> asyncio.Future:
        """An asyncio Future that resolves with a JS Promise's value (False if it fails)."""
        from pyodide.ffi import create_proxy

        fut = asyncio.get_event_loop().create_future()
        holder: list = []

        def settle(value=None, failed=False):
            if not fut.done():
                fut.set_result(False if failed else (bool(value) if value is not None else True))
            for p in holder:
                p.destroy()
            holder.clear()

        ok = create_proxy(lambda v=None: settle(v))
        err = create_proxy(lambda e=None: settle(failed=True))
        holder.extend([ok, err])
        promise.then(ok, err)
        return fut

    def camera(self) -> dict | None:
        r = self.renderer
        if r is None:
            return None
        cam = r.getCamera()
        return {"position": list(cam.position), "target": list(cam.target), "fov": float(cam.fov)}

    # ---- mount ---------------------------------------------------------------
    def mount(self) -> None:
        app = self.app
        app.on("trace", self.on_trace)
        app.on("model", self.on_model)
        app.on("step", self.on_step)
        app.on("focus", self.on_focus)
        app.on("motion", self.on_motion)
        if self.api is None:
            return
        self.api.onScale(self._proxy(self.on_scale))
        self.api.ready.then(self._proxy(lambda ok=None: self._connect()))

    def _connect(self) -> None:
        r = self.renderer
        if r is None or getattr(self, "_connected", False):
            return
        self._connected = True
        self.api.takeOver()
        r.onPick(self._proxy(self.on_pick))
        r.onClick(self._proxy(self.on_click))
        self.on_motion()

    # ---- values ----------------------------------------------------------------
    def push_values(self) -> int:
        """Every block's values of the current trace (numpy only); returns the number of blocks."""
        app, r = self.app, self.renderer
        if r is None or self.mode != "model" or not app.numpy or app.scene is None:
            return 0
        from llmviz.viz import scene_values

        T_trace = int(tuple(app.trace["idx"].shape)[-1])
        pad = 0.0 if T_trace < int(app.scene.get("T", T_trace)) else None
        values = scene_values.block_values(app.scene, app.trace, app.params, pad=pad)
        for block_id, arr in values.items():
            r.setValues(block_id, arr)      # a float32 numpy array: copied through the buffer protocol
        return len(values)

    def on_trace(self, **_: Any) -> None:
        if self.renderer is None:
            return
        # the letters over idx and the vocabulary beside logits and probs
        self.renderer.setTokens(json.dumps({"vocab": list(self.app.vocab), "tokens": list(self.app.ids)}))
        if self.app.numpy:
            self.push_values()
        # without numpy the trace cannot change: the bundled values are on screen

    def on_model(self, **_: Any) -> None:
        self.scale_cache.clear()         # the line-ups show the model beside the real GPTs
        if self.api is None or self.app.scene is None:
            return
        if self.mode != "model":
            self.mode = "model"
            self.api.showModel()
        self.api.setModelScene(json.dumps(self.app.scene))

    # ---- steps -------------------------------------------------------------------
    def on_step(self, step: dict | None = None, **_: Any) -> None:
        app = self.app
        if step is None:
            step = app.step
        if self.renderer is None or step is None or app.scene is None:
            app.settle = self._done_future(False)
            return
        if self.mode != "model":
            self.back_to_model()
        payload = scene_steps.scene_step(step, app.scene, getattr(app, "motion", None))
        promise = self.api.playStep(json.dumps(payload))
        app.settle = self._future_of(promise)

    def on_motion(self, **kw: Any) -> None:
        if self.api is None:
            return
        from pyodide.ffi import to_js

        motion = dict(DEFAULT_MOTION)
        motion.update(getattr(self.app, "motion", None) or {})
        motion.update({k: v for k, v in kw.items() if k in ("speed", "paused", "reduced", "skip")})
        self.api.motion(to_js(motion, dict_converter=self.js.Object.fromEntries))

    def on_focus(self, ids: list | None = None, **_: Any) -> None:
        if self.api is None or self.app.scene is None:
            return
        from pyodide.ffi import to_js

        names = scene_steps.expand(list(ids or []), self.app.scene)
        self.api.focus(to_js(names))

    # ---- hover and click ---------------------------------------------------------
    def _tooltip(self):
        return self.js.document.getElementById("tooltip")

    def hide_tooltip(self) -> None:
        el = self._tooltip()
        if el is not None:
            el.hidden = True

    def show_tooltip(self, parts: dict) -> None:
        doc, el = self.js.document, self._tooltip()
        if el is None:
            return
        el.textContent = ""

        def add(tag: str, cls: str, text: str):
            return element(doc, el, tag, cls, text)

        add("div", "tt-title", parts["title"])
        add("div", "tt-value", parts["value"])
        if parts.get("where"):
            add("div", "tt-where", parts["where"])
        if parts.get("text"):
            add("p", "tt-text", parts["text"])
        if parts.get("terms"):
            terms_table(doc, el, parts["terms"], "tt-terms", "tt-term", "tt-num")
        el.hidden = False
        self.api.placeTooltip()

    def describe(self, block_id: str, row: int, col: int) -> dict:
        from llmviz.viz import provenance

        app = self.app
        return provenance.describe(block_id, row, col, app.trace, app.params, app.config,
                                   T=app.scene.get("T") if app.scene else None)

    def on_pick(self, pick) -> None:
        from pyodide.ffi import to_js

        if _absent(pick):
            self.last_pick = None
            self.hide_tooltip()
            self.api.related(None)
            self.app.emit("pick", id=None, row=None, col=None)
            return
        block_id, row, col = str(pick.id), int(pick.row), int(pick.col)
        self.last_pick = (block_id, row, col)
        if self.mode != "model":
            scene = self.scale_cache.get(self.mode, {})
            block = next((b for b in scene.get("blocks", []) if b["id"] == block_id), {})
            dims = " x ".join(str(d) for d in block.get("dims", [])) or f"{block.get('rows')} x {block.get('cols')}"
            self.show_tooltip({"title": block.get("label") or block_id, "value": f"{block.get('rows')} x {block.get('cols')} ({dims})",
                               "where": block_id, "text": "Scale view: the shape of this block in the real model, "
                               "drawn with a neutral pattern; it has no weights here.", "terms": []})
            return
        try:
            info = self.describe(block_id, row, col)
        except Exception as e:  # noqa: BLE001 - a tooltip must never break hovering
            self.show_tooltip({"title": block_id, "value": "?", "where": "", "text": f"({type(e).__name__}: {e})",
                               "terms": []})
            return
        block = next((b for b in self.app.scene.get("blocks", []) if b["id"] == block_id), None)
        self.show_tooltip(scene_steps.tooltip_parts(info, block, self.app.vocab))
        related = [r for r in info.get("related") or [] if r.get("id")]
        self.api.related(to_js(related, dict_converter=self.js.Object.fromEntries))
        self.app.emit("pick", id=block_id, row=row, col=col)

    def on_click(self, pick) -> None:
        if _absent(pick) or self.mode != "model":
            return
        self.app.emit("select", id=str(pick.id), row=int(pick.row), col=int(pick.col))

    # ---- scale views ------------------------------------------------------------------
    def back_to_model(self) -> None:
        self.mode = "model"
        self.api.showModel()
        if self.app.numpy:
            self.push_values()
        else:
            self.api.restoreBundled()

    def on_scale(self, name: str) -> None:
        from llmviz.viz import layout
        from pyodide.ffi import to_js

        name = str(name)
        self.hide_tooltip()
        if name == "model":
            if self.mode != "model":
                self.back_to_model()
            return
        if name not in self.scale_cache:
            model_name = (self.app.card or {}).get("name") or "this model"
            self.scale_cache[name] = layout.scale_lineup(name, self.app.config, model_name)
        scene = self.scale_cache[name]
        n_params = int(scene["param_count"])
        # short: the note sits over the view (the models are framed below it)
        text = f"This model beside real GPTs up to {scene['label']}, at their real sizes: shape only, no weights."
        self.mode = name
        self.api.showScale(json.dumps(scene), to_js({"text": text, "param_count": n_params},
                                                   dict_converter=self.js.Object.fromEntries))


def mount(app) -> SceneView:
    view = SceneView(app)
    view.mount()
    app.scene_view = view
    return view
