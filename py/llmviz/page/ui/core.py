"""The state of the page and the events between its views. Pure Python (no numpy).

Views talk to each other only through ``App``: they read its state and listen to,
or emit, these events (keyword payloads):

  "ready"        every view is mounted
  "model"        a new model (config, vocab, card) or a new layout (scene); "trace" follows
  "trace"        a new trace (new input or new model): redraw values, numbers, shapes
  "step"         step=<dict from walkthrough.render_step>: the walkthrough moved
  "focus"        ids=[block ids] or []: hovering a text reference or a code variable
  "pick"         id=, row=, col= or id=None: the pointer is over a scene cell (or left it)
  "select"       id=, row=, col=: a scene cell was clicked
  "notice"       text=: something the user should read (errors from loading etc.)
  "follow"       the layer and head the walkthrough zooms into changed (``app.follow``)
  "live"         the model worker joined (``app.model``: live inference is on) or could not
                 start (``app.model_error``); the page shows the bundled trace until then

Every field the views share is declared in ``App.__init__``; a view sets only those
(its own ``app.<name>_view`` once mounted, ``motion``, ``code_refs``, ``link_input``).

``App.command(name, fn)`` publishes ``fn`` as ``window.llmviz.<name>`` (and so by
postMessage); ``boot.js`` owns the JS side of that.
"""
from __future__ import annotations

import asyncio
import contextlib

from collections import defaultdict
from typing import Any, Callable


SLOW_MS = 20.0      # a listener that takes longer leaves a performance.measure (llmviz bench --page)


def _now() -> float | None:
    try:
        import js
        return float(js.performance.now())
    except ImportError:
        return None


def _measure(name: str, t0: float | None) -> None:
    """``performance.measure("llmviz:<name>")`` for a slow listener (the long tasks' breakdown)."""
    if t0 is None:
        return
    import js
    if float(js.performance.now()) - t0 >= SLOW_MS:
        try:
            from pyscript.ffi import to_js
            js.performance.measure(f"llmviz:{name}", to_js({"start": t0}, dict_converter=js.Object.fromEntries))
        except Exception:  # noqa: BLE001 - timing is never worth an error
            pass


class timed:
    """``with timed("name"):`` leaves a ``performance.measure("llmviz:name")`` when the block
    took SLOW_MS or more (in the page; nothing elsewhere)."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.t0 = _now()
        return self

    def __exit__(self, *exc) -> None:
        _measure(self.name, self.t0)


class App:
    def __init__(self, *, build: dict, config: Any, vocab: list[str], card: dict, trace: Any,
                 params: Any, text: str, ids: list[int], scene: dict | None = None,
                 model: Any = None, live: bool = False, numpy: bool = False, lang: str = "en", values: Any = None):
        from llmviz.locales import catalogue
        self.words = catalogue(lang)  # the page's words (llmviz.locales): self.say(key, **values)
        self.lang = self.words.lang   # the language they are in (a code of locales.languages())
        self.build = build          # build-info.json
        self.config = config        # GPTConfig, or the bundled trace's config view
        self.vocab = vocab          # token strings by index
        self.card = card            # the model card (name, task, provenance)
        self.trace = trace          # Trace: numpy arrays (live) or FlatTensors (bundled)
        self.params = params        # state-dict name -> tensor (with the "transformer." prefix)
        self.text = text            # the token sequence shown, as text
        self.ids = ids              # ... and as indices
        self.scene = scene          # llmviz.viz.layout.scene(config, T) for the sequence shown
        self.model = model          # the model worker's client (llmviz.page.model_client) when live, else None
        self.live = live            # the trace was computed in this browser
        self.numpy = numpy          # numpy is available (in the model worker)
        self.values = values        # the 3D view's values for this trace (model_client.SceneValues), or None
        # while the model worker starts (app.py's boot starts it, go_live hands it over): done once
        # it joined (join_model) or failed (model_failed); None when no worker is coming (no numpy)
        self.model_starting: asyncio.Future | None = None
        self.model_error: str | None = None     # why live inference could not start
        self.code_snippets: dict | None = None   # the code panel's snippets, if the boot read them
        self.step: dict | None = None           # the step shown (walkthrough.render_step), or None yet
        self.follow = {"layer": 0, "head": 0}   # what the walkthrough zooms into (set_follow)
        # the animation settings the scene plays steps by; the walk view's controls set it and
        # emit "motion" (walk_nav.motion makes one)
        self.motion = {"speed": 1.0, "paused": False, "reduced": False}
        self.link_input: str | None = None      # the input a shared link must carry (live_view sets it)
        self.code_refs: list[dict] = []         # the code panel's snippets for the step (code_view sets it)
        # the views' first loads still on their way (code_view: data/code.json): a step counts as
        # settled (walk_view.finish) once these are done too, so its state names its code
        self.loading: list[asyncio.Future] = []
        # the views, each set by its own mount() (None: not mounted, or failed to)
        self.scene_view: Any = None             # scene_view.SceneView: play(step) -> settle Future, camera()
        self.walk_view: Any = None              # walk_view.WalkView
        self.code_view: Any = None              # code_view.CodeView
        self.live_view: Any = None              # live_view.LiveView (its .inspector: the tensor inspector)
        self._listeners: dict[str, list[Callable]] = defaultdict(list)
        self._pieces: asyncio.Lock | None = None    # piece(): one piece of the views' work at a time

    @contextlib.asynccontextmanager
    async def piece(self):
        """``async with app.piece():`` runs a piece of the views' work in a browser task of its
        own. ``await asyncio.sleep(0)`` is not enough for that: Pyodide's event loop runs every
        callback that is ready at once in one task, so the pieces of two views (a new text: the
        walkthrough's step, the code panel, the step titles) that each waited a turn ran back to
        back, 100 ms and more of a big model's work in one task. One piece at a time, each after
        a turn of the loop: the next one's turn comes in the task after."""
        if self._pieces is None:
            self._pieces = asyncio.Lock()
        async with self._pieces:
            await asyncio.sleep(0)
            yield

    # ---- events -----------------------------------------------------------
    def on(self, event: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        self._listeners[event].append(fn)
        return fn

    def emit(self, event: str, **payload: Any) -> None:
        for fn in list(self._listeners[event]):
            self._call(event, fn, payload)

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        """The listeners of ``event`` now (to call them one at a time: ``call_listener``)."""
        return list(self._listeners[event])

    def call_listener(self, event: str, fn: Callable[..., Any], payload: dict) -> None:
        """One listener of ``event``, as ``emit`` calls it (a failure reported, timed)."""
        self._call(event, fn, payload)

    async def emit_apart(self, event: str, **payload: Any) -> None:
        """``emit``, with a turn of the event loop after each listener: each view's update is
        a task of its own on the page's main thread (a new text of a big model: one long
        task of every view's work would freeze the page as long as all of them together)."""
        for fn in list(self._listeners[event]):
            async with self.piece():
                self._call(event, fn, payload)

    def _call(self, event: str, fn: Callable[..., Any], payload: dict) -> None:
        t0 = _now()
        try:
            fn(**payload)
        except Exception as e:  # noqa: BLE001 - a broken listener is reported, the rest still run
            self.report(f"{getattr(fn, '__qualname__', fn)} failed on {event!r}: {type(e).__name__}: {e}")
        _measure(f"{event}:{getattr(fn, '__qualname__', fn)}", t0)

    def report(self, text: str, *, level: str = "error") -> None:
        """Tell the console (``level`` "error", or "warn" for a note such as a slow machine)."""
        try:
            import js
            getattr(js.console, level)(f"llmviz: {text}")
        except ImportError:
            print(f"llmviz: {text}")

    # ---- state changes ----------------------------------------------------
    def set_trace(self, trace: Any, *, text: str, ids: list[int], live: bool | None = None,
                  values: Any = None) -> None:
        """A new trace of the current model (e.g. the user typed a new input), with the 3D
        view's values for it."""
        self._take_trace(trace, text, ids, live, values)
        self.emit("trace")

    async def update_trace(self, trace: Any, *, text: str, ids: list[int], live: bool | None = None,
                           values: Any = None) -> None:
        """``set_trace``, each view's update a task of its own (``emit_apart``)."""
        self._take_trace(trace, text, ids, live, values)
        await self.emit_apart("trace")

    def _take_trace(self, trace: Any, text: str, ids: list[int], live: bool | None, values: Any) -> None:
        self.trace, self.text, self.ids, self.values = trace, text, list(ids), values
        if live is not None:
            self.live = live

    def set_model(self, *, model: Any, config: Any, vocab: list[str], card: dict, params: Any,
                  scene: dict, trace: Any, text: str, ids: list[int], values: Any = None) -> None:
        """A new model (or a new layout: another ``scene``) with its first trace; views rebuild
        their layout, then redraw."""
        self._take_model(model, config, vocab, card, params, scene, trace, text, ids, values)
        self.emit("model")
        self.emit("trace")

    async def update_model(self, *, model: Any, config: Any, vocab: list[str], card: dict, params: Any,
                           scene: dict, trace: Any, text: str, ids: list[int], values: Any = None) -> None:
        """``set_model``, each view's update a task of its own (``emit_apart``)."""
        self._take_model(model, config, vocab, card, params, scene, trace, text, ids, values)
        await self.emit_apart("model")
        await self.emit_apart("trace")

    def _take_model(self, model, config, vocab, card, params, scene, trace, text, ids, values) -> None:
        self.model, self.config, self.vocab, self.card, self.params, self.scene = (
            model, config, vocab, card, params, scene)
        self.trace, self.text, self.ids, self.values = trace, text, list(ids), values
        from llmviz.walkthrough import follow_of
        try:
            follow_of(self.follow, config)
        except ValueError:   # a smaller model: back to the first layer and head
            self.follow = {"layer": 0, "head": 0}

    async def wait_model(self) -> Any:
        """The model worker's client: at once when it is there, else once it has started; None
        when there is none (no numpy, or it could not start: ``model_error`` says why)."""
        if self.model is None and self.model_starting is not None:
            await asyncio.shield(self.model_starting)
        return self.model

    def join_model(self, model: Any, values: Any) -> None:
        """The model worker is up, on the trace shown (the bundled one, which it checked): live
        inference is on. ``values``: its values of that trace for the 3D view (a new token
        patches them)."""
        self.model, self.values, self.live = model, values, True
        self._model_settled()
        self.emit("live")

    def model_failed(self, reason: str) -> None:
        """The model worker could not start: the page stays on the bundled trace."""
        self.model_error = reason
        self._model_settled()
        self.emit("live")

    def _model_settled(self) -> None:
        if self.model_starting is not None and not self.model_starting.done():
            self.model_starting.set_result(self.model)

    def set_follow(self, layer: Any = None, head: Any = None) -> dict:
        """Zoom the walkthrough into another layer and/or head (None keeps the current one).
        Raises ValueError, saying what the model has, for one it does not have."""
        from llmviz.walkthrough import follow_of
        wanted = dict(self.follow)
        if layer is not None:
            wanted["layer"] = layer
        if head is not None:
            wanted["head"] = head
        follow = follow_of(wanted, self.config)
        if follow != self.follow:
            self.follow = follow
            self.emit("follow")
        return follow

    # ---- what the walkthrough needs --------------------------------------
    def walk_ctx(self) -> dict:
        task = (self.card or {}).get("task") or None
        nanogpt = ((self.build or {}).get("nanogpt") or {}).get("status", "missing") != "missing"
        return {"trace": self.trace, "params": self.params, "config": self.config, "vocab": self.vocab,
                "task": task, "follow": dict(self.follow), "nanogpt": nanogpt, "lang": self.lang}

    def say(self, key: str, **values: Any) -> str:
        """The catalogue's text ``key`` in the page's language, its ``{{names}}`` filled in."""
        return self.words.text(key, **values)

    # ---- JS API -------------------------------------------------------------
    def command(self, name: str, fn: Callable[..., Any]) -> None:
        """Publish ``fn`` as window.llmviz.<name> (boot.js routes postMessage to it too)."""
        from pyscript.js_modules import boot
        from llmviz.page.ui import ffi
        boot.llmviz.register(name, ffi.proxy(fn))
