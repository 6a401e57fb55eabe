"""The 3D view, driven from Python: values, steps, hover read-outs, scale views.

``site/js/stage/bridge.js`` draws the bundled example before Python is up (a fast first
frame) and exports its bridge (``window.llmvizScene`` too); this module takes over from there:

* "trace": the values the model worker sent with it (``app.values``, a
  ``llmviz.page.model_client.SceneValues``): all of a new text's activations (the bridge
  draws them a slice at a time, ``js/stage/values.js``), or a new token's few cells;
  without numpy the bundled values are already drawn.
* "live": the model worker joined: its values of the shown trace (the same numbers as the
  bundled ones on screen) are handed over, so that a new token's patch has them to change.
* "model": the new scene (the size toolbar names the model), then (with the "trace" that
  follows) its values. Blocks the 3D view has no room to draw with values (the renderer's
  ``overflow()``) are named in a notice: nothing is drawn as shape only unsaid.
* ``play(step)``: camera flight, highlight of the focus and its cells, dimming of the
  rest, and the step's animation (``render/anim.js``); returns an asyncio Future that
  resolves (True when it ran to its end) once the view has settled. The walk view calls
  it for every step it shows; ``window.llmvizSceneSettled`` says the same to tests.
* "motion": ``app.motion`` ({speed, paused, reduced}; + ``skip`` in the payload), set by
  the walk view's playback controls.
* "focus": blocks named by a hovered text reference or code variable come forward;
  ``[]`` puts the step's own highlight back.
* hover: ``llmviz.viz.provenance.describe`` fills ``#tooltip`` with the value and the
  numbers it came from, and highlights those cells; ``app.emit("pick", ...)``.
  A click emits ``"select"``.
* scale views: the model beside GPT-2 small, GPT-2 XL and GPT-3 at their real
  shapes (``llmviz.viz.layout.scale_scene``), no weights, with their parameter counts (a
  one-line note; the scale view is framed below it). Back to the model, the view
  is the current step's again.

``camera()`` returns the renderer's camera ({position, target, fov}) or None, and
``set_camera(cam)`` moves it (a Future, done once it is there). The JS side is
``js/stage/bridge.js``, imported through PyScript's ``js_modules`` (``pyscript.toml``).
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from llmviz.page.ui import ffi, scene_steps
from llmviz.page.ui.dom import element, terms_table
from llmviz.viz.layout import block_label


def _done(value: Any) -> asyncio.Future:
    """A Future that is already resolved with ``value``."""
    fut = asyncio.get_event_loop().create_future()
    fut.set_result(value)
    return fut


async def _settled(promise) -> bool:
    """The value of a step's JS Promise as a bool (True when it resolves with nothing, False if it fails)."""
    try:
        value = await promise
    except Exception:  # noqa: BLE001 - a failed flight is a step that did not run to its end
        return False
    return True if ffi.absent(value) else bool(value)


class SceneView:
    def __init__(self, app):
        import js
        from pyscript.js_modules import scene as scene_js   # js/stage/bridge.js (pyscript.toml)

        self.app = app
        self.js = js
        self.api = scene_js.bridge
        self.mode = "model"
        self.scale_cache: dict[str, dict] = {}
        self.last_pick = None
        self.connected = False   # hovering and clicking wired to the renderer (once its first frame is up)
        self.scene_text: tuple[dict, str] | None = None   # (a new scene, its JSON): encode_scene -> on_model

    # ---- plumbing ----------------------------------------------------------
    @property
    def renderer(self):
        r = self.api.renderer
        return None if ffi.absent(r) else r

    def camera(self) -> dict | None:
        r = self.renderer
        if r is None:
            return None
        cam = r.getCamera()
        return {"position": list(cam.position), "target": list(cam.target), "fov": float(cam.fov),
                "moving": bool(getattr(cam, "moving", False))}   # a flight or the controls' glide

    def set_camera(self, cam: dict) -> asyncio.Future:
        """Move the camera to ``cam`` ({position, target}); a Future, done once it is there."""
        r = self.renderer
        if r is None:
            return _done(None)
        return ffi.future(r.setCamera(ffi.to_js(cam)))

    def view_state(self) -> dict | None:
        """Where things are on screen now (the bridge's ``viewState()``): the scene's rectangle,
        each focus block's and the worked-example card's, in CSS px; None without a 3D view."""
        if self.renderer is None:
            return None
        return ffi.to_py(self.api.viewState())

    # ---- mount ---------------------------------------------------------------
    def mount(self) -> None:
        app = self.app
        app.on("trace", self.on_trace)
        app.on("model", self.encode_scene)    # a task of its own (App.update_model), then:
        app.on("model", self.on_model)
        app.on("focus", self.on_focus)
        app.on("motion", self.on_motion)
        app.on("live", self.on_live)
        self.api.onScale(ffi.proxy(self.on_scale))
        self.api.ready.then(ffi.proxy(lambda ok=None: self._connect()))

    def _connect(self) -> None:
        r = self.renderer
        if r is None or self.connected:
            return
        self.connected = True
        self.api.takeOver()
        r.onPick(ffi.proxy(self.on_pick))
        r.onClick(ffi.proxy(self.on_click))
        self.on_motion()
        self.api.setModelLabel(self.model_label())
        self.push_values()      # the model worker's values of the first text (kept for redrawing)
        self.report_overflow()

    # ---- values ----------------------------------------------------------------
    def push_values(self) -> bool:
        """Hand ``app.values`` (the model worker's, for the current trace) to the bridge; False
        when there is nothing to draw (the bundled trace, a scale view, no 3D view)."""
        app, values = self.app, self.app.values
        if self.renderer is None or values is None or app.scene is None:
            return False
        if values.kind == "patch":
            self.api.patchValues(json.dumps(values.patch), values.data)
            return True
        parts = {}
        if values.params is not None:
            parts["params"] = [values.params[0], json.dumps(values.params[1])]
        if values.acts is not None:
            parts["acts"] = [values.acts[0], json.dumps(values.acts[1])]
        self.api.setSceneValues(ffi.to_js(parts))
        return True

    def on_trace(self, **_: Any) -> None:
        if self.renderer is None:
            return
        # the letters over idx and the vocabulary beside logits and probs
        self.renderer.setTokens(json.dumps({"vocab": list(self.app.vocab), "tokens": list(self.app.ids)}))
        self.push_values()   # without numpy the trace cannot change: the bundled values are on screen

    def on_live(self, **_: Any) -> None:
        # the model worker's values of the shown trace (the bundled values, computed again):
        # a new token's patch is written into them
        self.push_values()

    def encode_scene(self, **_: Any) -> None:
        """The new scene as JSON, for on_model: 20-30 ms of a big model's 486 KB in the page,
        a task before the bridge builds it (40-50 ms), not in the same one."""
        scene = self.app.scene
        self.scene_text = (scene, json.dumps(scene, separators=(",", ":"))) if scene is not None else None

    def on_model(self, **_: Any) -> None:
        self.scale_cache.clear()         # the line-ups show the model beside the real GPTs
        self.api.setModelLabel(self.model_label())
        if self.app.scene is None:
            return
        if self.mode != "model":
            self.mode = "model"
            self.api.showModel()
        if self.scene_text is None or self.scene_text[0] is not self.app.scene:
            self.encode_scene()
        self.api.setModelScene(self.scene_text[1])
        self.scene_text = None
        self.report_overflow()

    def model_label(self) -> str:
        words = getattr(self.app, "words", None)
        name = str((self.app.card or {}).get("name") or (words.get("scene.scales.model") if words else "this model"))
        return name if len(name) <= 28 else name[:27] + "\u2026"

    def report_overflow(self) -> None:
        """Say on the page which blocks have no room for their values (drawn as shape only)."""
        r = self.renderer
        if r is None:
            return
        missing = [str(x) for x in ffi.to_py(r.overflow()) or []]
        if missing:
            shown = ", ".join(missing[:4]) + (f" \u2026 (+{len(missing) - 4})" if len(missing) > 4 else "")
            self.app.emit("notice", text=self.app.say("notice.shape_only", blocks=shown))

    # ---- steps -------------------------------------------------------------------
    def play(self, step: dict | None, *, keep_camera: bool = False) -> asyncio.Future:
        """Show ``step`` (a ``walkthrough.render_step`` dict) in 3D; a Future that resolves once
        the view has settled: True when its animation ran to its end, False when there was
        nothing to play (no 3D view, no scene) or the flight failed. ``keep_camera``: no flight
        to the step's view (the caller puts the camera where a link or the reader had it)."""
        app = self.app
        if self.renderer is None or step is None or app.scene is None:
            return _done(False)
        if self.mode != "model":
            self.back_to_model()
        payload = scene_steps.scene_step(step, app.scene, app.motion)
        if keep_camera:
            payload["keepCamera"] = True
        return asyncio.ensure_future(_settled(self.api.playStep(json.dumps(payload))))

    def on_motion(self, **kw: Any) -> None:
        motion = dict(self.app.motion)
        motion.update({k: v for k, v in kw.items() if k in ("speed", "paused", "reduced", "skip")})
        self.api.motion(ffi.to_js(motion))

    def on_focus(self, ids: list | None = None, **_: Any) -> None:
        if self.app.scene is None:
            return
        names = scene_steps.expand(list(ids or []), self.app.scene)
        self.api.focus(ffi.to_js(names))

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
        if ffi.absent(pick):
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
            self.show_tooltip({"title": block_label(block, self.app.lang, block_id), "value": f"{block.get('rows')} x {block.get('cols')} ({dims})",
                               "where": block_id, "text": self.app.say("scene.scale_tooltip"), "terms": []})
            return
        try:
            info = self.describe(block_id, row, col)
        except Exception as e:  # noqa: BLE001 - a tooltip must never break hovering
            self.show_tooltip({"title": block_id, "value": "?", "where": "", "text": f"({type(e).__name__}: {e})",
                               "terms": []})
            return
        block = next((b for b in self.app.scene.get("blocks", []) if b["id"] == block_id), None)
        self.show_tooltip(scene_steps.tooltip_parts(info, block, self.app.vocab, self.app.lang))
        related = [r for r in info.get("related") or [] if r.get("id")]
        self.api.related(ffi.to_js(related))
        self.app.emit("pick", id=block_id, row=row, col=col)

    def on_click(self, pick) -> None:
        if ffi.absent(pick) or self.mode != "model":
            return
        self.app.emit("select", id=str(pick.id), row=int(pick.row), col=int(pick.col))

    # ---- scale views ------------------------------------------------------------------
    def back_to_model(self) -> None:
        self.mode = "model"
        self.api.showModel()            # draws the model worker's values it keeps
        if self.app.values is None:
            self.api.restoreBundled()

    def on_scale(self, name: str) -> None:
        from llmviz.viz import layout

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
        text = self.app.say("scene.scale_info", model=scene["label"])
        self.mode = name
        self.api.showScale(json.dumps(scene), ffi.to_js({"text": text, "param_count": n_params}))


def mount(app) -> SceneView:
    view = SceneView(app)
    view.mount()
    app.scene_view = view
    return view
