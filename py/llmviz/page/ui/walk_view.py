"""The walkthrough in the page: commentary, navigation, deep links, embedding.

Renders the current step of ``llmviz.walkthrough`` into ``#commentary`` and tells the
scene with ``app.scene_view.play(step)`` (whose Future says when the view has settled),
then the other views with ``app.step = step; app.emit("step", step=step)``. Builds the
navigation in ``nav#walk-nav``: previous / next, a timeline of every step (click or
drag), the contents (a schematic of the model whose parts jump to their phases, and
the list of steps) and the animation controls (speed, pause, skip to the end; the
settings live in ``app.motion`` and every change emits ``"motion"`` with ``skip=``).

Keys: Space, → and ↓ go forward; Shift+Space, ← and ↑ go back (not while typing,
and arrows not while the 3D canvas has focus: the camera uses them there).

Every step is an entry in the browser's history (``#phase=attention&step=scaling``: the
ids of the phase and the step; a step's number as the page shows it, from 1, is read too), so back / forward step
through the tour and a copied URL opens the same view; a camera the reader moved is
kept as ``&cam=``, and stays where it is when new numbers come (a new input, the link's
own). "Follow block … head …" picks which transformer block and attention
head the zoomed-in phases show (``app.follow``; ``&layer=&head=`` in the URL). JS API
(through boot.js): ``llmviz.phases()``, ``llmviz.goto({phase, step, layer, head})``
(``step``: a step id, or its index in the phase, from 0; resolves once the view has settled: it
awaits the Future of ``scene_view.play``), ``llmviz.state()`` (``step``: the step's id;
``step_index``: its index).

Embedded (``?embed=1``): no header, the panel becomes a drawer beside the scene with a
link to the full page; ``&lock=1`` pins the step given by ``?phase=&step=``. A parent
page drives the frame by postMessage (boot.js), obeyed only from the origins in
``llmviz.embedOrigins`` (``?origin=``, the build's ``embed_origins``, our own).
"""
from __future__ import annotations

import asyncio
import html

import js

from llmviz import walkthrough
from llmviz.core.shape import ModelShape
from llmviz.page.ui import ffi, walk_nav
from llmviz.page.ui.core import timed
from llmviz.page.ui.dom import clone, element, options
from llmviz.page.ui.walk_nav import Where
from llmviz.page.ui.walk_svg import gelu_plot, schematic

SETTLE_TIMEOUT_S = 15.0
REDUCED_MOTION = "(prefers-reduced-motion: reduce)"


def _js_obj(value):
    """``value``, or None for JS null/undefined."""
    return None if ffi.absent(value) else value


def _closest(target, selector: str):
    """``target.closest(selector)`` or None (also for targets that are not elements)."""
    target = _js_obj(target)
    if target is None or not hasattr(target, "closest"):
        return None
    return _js_obj(target.closest(selector))


class WalkView:
    def __init__(self, app):
        self.app = app
        self.doc = js.document
        self.query = walk_nav.parse_query(str(js.location.search))
        self.embed, self.locked = self.query["embed"], self.query["lock"]
        self.nav = self.doc.getElementById("walk-nav")
        self.commentary = self.doc.getElementById("commentary")
        self.panel = _js_obj(self.doc.getElementById("panel"))
        self.where: Where | None = None
        self.rendered: dict | None = None
        self.settled_cam: dict | None = None
        # the step's camera of the URL's &cam= (a link's, or one the reader moved it to): new
        # numbers show the step again there, not at its own view
        self._kept_cam: dict | None = None
        self.hover: str | None = None
        self.drag: dict | None = None
        self._seq = 0
        self.settled = False
        self._cam_timer = None
        self._cam_proxy = None       # the camera check's timer callback (made once the page is ready)
        self._cam_samples = 0
        self._cam_last: dict | None = None
        self._follow_quiet = False   # set while a link or command picks the block and head
        self.tour = walk_nav.Tour(walkthrough.phases(app.lang))
        self.titles: dict[tuple[str, int], str] = {}
        self._media = js.window.matchMedia(REDUCED_MOTION)
        app.motion = walk_nav.motion(reduced=bool(self._media.matches))
        self.origins = walk_nav.allowed_origins(self.query["origins"], (app.build or {}).get("embed_origins", []),
                                                str(js.location.origin))
        from pyscript.js_modules import boot
        boot.llmviz.embedOrigins = ffi.to_js(self.origins)

    # ---------------------------------------------------------------- wiring
    def _listen(self, target, event: str, fn, options=None) -> None:
        ffi.listen(target, event, fn, options)

    def mount(self) -> None:
        app = self.app
        body = self.doc.body
        if self.embed:
            body.classList.add("embed")
            self._build_embed_bar()
        if self.locked:
            body.classList.add("locked")
        self._step_titles()
        self._build_nav()
        self._listen(self.commentary, "pointerover", self._on_pointer_over)
        self._listen(self.commentary, "pointerleave", lambda e: self._set_hover(None))
        self._listen(self.commentary, "focusin", self._on_pointer_over)
        self._listen(self.doc, "keydown", self._on_key)
        self._listen(self.doc, "pointerdown", self._on_doc_pointer)
        self._listen(js.window, "popstate", self._on_popstate)
        self._listen(self._media, "change", self._on_reduced_change)
        scene_el = _js_obj(self.doc.getElementById("scene"))
        if scene_el is not None:
            for event in ("pointerup", "wheel", "keyup"):
                self._listen(scene_el, event, self._on_camera_touched)
            # while the 3D view has the keyboard, its arrows move the camera: say so, and how to leave
            self._listen(scene_el, "focusin", lambda e: self._key_hint(_closest(e.target, "canvas") is not None))
            self._listen(scene_el, "focusout", lambda e: self._key_hint(False))
        app.on("ready", self._on_ready)
        app.on("trace", self._on_trace)
        app.on("model", self._on_model)
        app.on("follow", self._on_follow)
        app.on("pick", self._on_pick)
        app.command("goto", self.goto_command)
        app.command("state", self.state_command)
        app.command("phases", self.phases_command)

    # ---------------------------------------------------------------- building the nav
    def _step_titles(self) -> None:
        """Plain-text step titles; the few with values in them are rendered for this trace."""
        for _ in self._step_title_parts():
            pass

    def _step_title_parts(self):
        """``_step_titles``, yielding after each title it renders (a render of a big model's
        step takes tens of ms)."""
        ctx = None
        for phase in walkthrough._all_phases():  # noqa: SLF001 - the raw titles, without rendering 62 steps
            for i, step in enumerate(phase.steps):
                title = raw = self.app.words.get(f"{phase.id}.{step.id}.title")
                if "{{" in raw:
                    try:
                        ctx = ctx or self.app.walk_ctx()
                        title = html.unescape(walkthrough.render_step(phase.id, i, ctx)["title"])
                    except Exception:  # noqa: BLE001 - a title is never worth failing for
                        title = title.replace("{{", "").replace("}}", "")
                self.titles[(phase.id, i)] = title
                if "{{" in raw:
                    yield

    def _build_nav(self) -> None:
        """Fill the navigation that index.html laid out (the timeline, the contents) and switch
        its controls on."""
        tour, doc = self.tour, self.doc
        q = self.nav.querySelector
        self.el = {name: q(f".wv-{name}") for name in
                   ("prev", "next", "phase", "count", "timeline", "toc", "toc-toggle", "toc-map", "speed",
                    "pause", "skip", "reduced", "follow", "layer", "head", "layer-choice", "head-choice", "keyhint")}
        self.cells = []
        for n, w in enumerate(tour.order):
            cell = clone(doc, "tpl-wv-step")
            cell.dataset.i = str(n)
            cell.classList.toggle("wv-tl-first", w.step == 0)
            self.cells.append(cell)
        self.el["timeline"].replaceChildren(*self.cells)
        self.el["timeline"].setAttribute("aria-valuemax", str(len(tour)))
        toc = self.el["toc"].querySelector(".wv-toc-list")
        for p in tour.phases:
            entry = clone(doc, "tpl-wv-toc-phase")
            entry.dataset.phase = p["id"]
            self._toc_link(entry.querySelector("a"), tour.where(p["id"], 0), p["title"])
            steps = entry.querySelector("ol")
            for i in range(int(p["steps"])):
                item = clone(doc, "tpl-wv-toc-step")
                self._toc_link(item.querySelector("a"), tour.where(p["id"], i))
                steps.appendChild(item)
            toc.appendChild(entry)
        self._update_titles()
        for control in self.nav.querySelectorAll("[disabled]"):
            control.disabled = False
        self._draw_schematic()
        self._listen(self.el["prev"], "click", lambda e: self.step_by(-1))
        self._listen(self.el["next"], "click", lambda e: self.step_by(1))
        self._listen(self.el["toc-toggle"], "click", lambda e: self._toggle_toc())
        self._listen(self.el["toc"], "click", self._on_toc_click)
        self._listen(self.el["toc"], "keydown", self._on_toc_key)
        self._listen(self.el["timeline"], "pointerdown", self._on_tl_down)
        self._listen(self.el["timeline"], "pointermove", self._on_tl_move)
        self._listen(self.el["timeline"], "pointerup", self._on_tl_up)
        self._listen(self.el["timeline"], "pointercancel", self._on_tl_up)
        self._listen(self.el["speed"], "change", self._on_speed)
        self._listen(self.el["pause"], "click", self._on_pause)
        self._listen(self.el["skip"], "click", lambda e: self.app.emit("motion", skip=True))
        self._listen(self.el["layer"], "change", self._on_follow_select)
        self._listen(self.el["head"], "change", self._on_follow_select)
        self._show_motion()
        self._fill_follow()

    def _toc_link(self, a, where: Where, text: str | None = None) -> None:
        a.href = walk_nav.format_hash(where)
        a.dataset.i = str(self.tour.index(where))
        if text is not None:
            a.textContent = text

    def _draw_schematic(self) -> None:
        n_layer = _follow_limits(self.app.config)["layer"]
        titles = {p["id"]: p["title"] for p in self.tour.phases}
        labels = {k.rsplit(".", 1)[1]: v for k, v in self.app.words.english.items() if k.startswith("ui.map.")}
        labels = {k: self.app.say(f"ui.map.{k}") for k in labels}
        self.el["toc-map"].innerHTML = schematic(n_layer, self.where.phase if self.where else None, titles, labels)

    def _build_embed_bar(self) -> None:
        stage = self.doc.getElementById("stage") or self.doc.body
        bar = clone(self.doc, "tpl-wv-embed-bar")
        stage.appendChild(bar)
        self.drawer_button = bar.querySelector(".wv-drawer")
        self.full_link = bar.querySelector(".wv-full")
        self._listen(self.drawer_button, "click", lambda e: self._toggle_drawer())

    def _key_hint(self, show: bool) -> None:
        self.el["keyhint"].hidden = not show or self.locked

    def _toggle_drawer(self) -> None:
        closed = self.doc.body.classList.toggle("wv-drawer-closed")
        self.drawer_button.textContent = self.app.say("ui.embed.show_notes" if closed else "ui.embed.hide_notes")
        self.drawer_button.setAttribute("aria-expanded", "false" if closed else "true")

    # ---------------------------------------------------------------- showing a step
    def show(self, where: Where, *, history: str | None = "push", cam: dict | None = None):
        """Render ``where`` and tell the other views; returns the scene's settle awaitable (or None)."""
        parts = self._show_parts(where, history, cam)
        for _ in parts:
            pass
        return self._shown

    async def show_apart(self, where: Where, *, history: str | None = "push", seq: int | None = None,
                         cam: dict | None = None):
        """``show``, each part (the step's text, the page's words, the scene, each other view)
        a task of its own: a new text of a big model, or the page's first step, shown without
        one long task. It stops where the reader went elsewhere meanwhile (``seq`` is no longer
        the latest)."""
        parts = self._show_parts(where, history, cam, apart=True)
        while True:
            async with self.app.piece():
                if seq is not None and seq != self._seq:
                    parts.close()
                    return None
                if next(parts, StopIteration) is StopIteration:
                    return self._shown

    def _show_parts(self, where: Where, history: str | None, cam: dict | None, apart: bool = False):
        """``show``'s work, yielding between its parts (``self._shown``: the settle awaitable)."""
        app = self.app
        self._shown = None
        try:
            with timed("walk.render_step"):
                rendered = walkthrough.render_step(where.phase, where.step, app.walk_ctx())
        except Exception as e:
            self.commentary.replaceChildren()
            element(self.doc, self.commentary, "p", "wv-error",
                    app.say("notice.step_failed", error=f"{type(e).__name__}: {e}"))
            raise
        yield
        self.where, self.rendered = where, rendered
        self.settled_cam = None
        if self._cam_timer is not None:   # a camera check of the step before: not this one's
            js.clearTimeout(self._cam_timer)
            self._cam_timer = None
        with timed("walk.commentary"):
            self._render_commentary(rendered)
            self._update_nav()
            self._set_hover(None)
        app.step = rendered
        yield
        settle = None
        if app.scene_view is not None:
            try:
                with timed("walk.play"):
                    # a camera of the link's (or the reader's, kept): no flight to the step's own view
                    settle = app.scene_view.play(rendered, keep_camera=cam is not None)
                    if cam:
                        app.scene_view.set_camera(cam)
            except Exception as e:  # noqa: BLE001 - like a broken listener: reported, the tour goes on
                app.report(f"the scene could not play this step: {type(e).__name__}: {e}")
        self._shown = settle
        yield
        for fn in app.listeners("step"):
            app.call_listener("step", fn, {"step": rendered})
            if apart:
                yield
        if history:
            self._history(where, cam, history)
        self._scroll_to_commentary()

    def begin(self, where: Where, *, history: str | None = "push", cam: dict | None = None):
        """Show ``where`` now; returns what ``finish`` needs to wait for the scene."""
        self._seq += 1
        self.settled = False
        self._kept_cam = cam
        return self._seq, self.show(where, history=history, cam=cam), cam

    async def finish(self, started) -> dict:
        """Wait until the scene has settled, then apply the link's camera (if any)."""
        seq, settle, cam = started
        await self._await(settle)
        pending = [f for f in self.app.loading if not f.done()]
        if pending:     # a view still loading (the code panel's snippets): the step is not all shown yet
            await asyncio.wait(pending, timeout=SETTLE_TIMEOUT_S)
        if seq == self._seq:
            if cam and self.app.scene_view is not None:
                await self._await(self.app.scene_view.set_camera(cam))
            self.settled_cam = self.camera() if not cam else None
            self.settled = True
        return self.state()

    async def go(self, where: Where, *, history: str | None = "push", cam: dict | None = None) -> dict:
        """Show ``where`` and wait until the scene has settled (then apply ``cam``, if any)."""
        return await self.finish(self.begin(where, history=history, cam=cam))

    async def _await(self, awaitable) -> None:
        if awaitable is None:
            return
        try:
            await asyncio.wait_for(awaitable, SETTLE_TIMEOUT_S)
        except asyncio.TimeoutError:
            # a slow machine, not a fault: the tour goes on (a warning, not an error)
            self.app.report(f"the scene did not settle within {SETTLE_TIMEOUT_S:g} s; going on", level="warn")
        except Exception as e:  # noqa: BLE001 - a failed flight must not break navigation
            self.app.report(f"the scene's settle failed: {type(e).__name__}: {e}")

    def navigate(self, where: Where | None, history: str | None = "push") -> None:
        """Go somewhere from a user action (buttons, keys, timeline, contents)."""
        if where is None or self.locked:
            return
        started = self.begin(where, history=history)   # the text changes at once; the scene follows
        asyncio.ensure_future(self.finish(started))

    def step_by(self, delta: int) -> None:
        if self.where is None:
            return
        self.navigate(self.tour.next(self.where) if delta > 0 else self.tour.prev(self.where))

    def _render_commentary(self, r: dict) -> None:
        p = self.tour.phase(r["phase"])
        text = clone(self.doc, "tpl-wv-commentary")
        text.querySelector(".wv-kicker").textContent = self.app.say("ui.nav.kicker", phase=p["title"], n=r["step"] + 1,
                                                                    of=int(p["steps"]))
        text.querySelector(".wv-title").innerHTML = r["title"]   # render_step's title: escaped text, no tags
        text.querySelector(".wv-body").innerHTML = r["html"]      # the walkthrough's markup
        plot = r.get("plot")
        if plot and plot.get("kind") == "gelu":
            figure = clone(self.doc, "tpl-wv-gelu")
            figure.insertAdjacentHTML("afterbegin", gelu_plot(plot))
            text.appendChild(figure)
        self.commentary.replaceChildren(text)
        self.commentary.dataset.phase = r["phase"]
        self.commentary.dataset.step = str(r["step"])

    def _update_nav(self) -> None:
        where, tour = self.where, self.tour
        p = tour.phase(where.phase)
        n = tour.index(where)
        self.el["phase"].textContent = p["title"]
        self.el["count"].textContent = f"{where.step + 1} / {int(p['steps'])}"
        self.el["prev"].disabled = tour.prev(where) is None
        self.el["next"].disabled = tour.next(where) is None
        tl = self.el["timeline"]
        tl.setAttribute("aria-valuenow", str(n + 1))
        tl.setAttribute("aria-valuetext", self.app.say("ui.nav.step_of", phase=p["title"], n=where.step + 1,
                                                       of=int(p["steps"])))
        for i, cell in enumerate(self.cells):
            cls = cell.classList
            cls.toggle("done", i < n)
            cls.toggle("current", i == n)
        for a in self.el["toc"].querySelectorAll("a[data-i]"):
            a.classList.toggle("current", int(a.dataset.i) == n)
        for part in self.el["toc-map"].querySelectorAll(".wv-part"):
            part.classList.toggle("current", part.dataset.phase == where.phase)
        if self.embed:
            self.full_link.href = walk_nav.full_page_url(str(js.location.pathname), where, self.app.follow,
                                                         self.app.link_input, self.query["lang"] and self.app.lang)

    def _scroll_to_commentary(self) -> None:
        """Bring the top of the commentary into view if the panel was scrolled past it (and
        open a new step's text at its top: on a wide screen the commentary scrolls on its own)."""
        self.commentary.scrollTop = 0
        panel = self.panel
        if panel is None:
            return
        top = self.commentary.getBoundingClientRect().top - panel.getBoundingClientRect().top
        nav_h = self.nav.getBoundingClientRect().height
        if top < nav_h:
            panel.scrollTop = max(0, panel.scrollTop + top - nav_h - 4)

    # ---------------------------------------------------------------- history & deep links
    def _history(self, where: Where, cam: dict | None, mode: str) -> None:
        url = walk_nav.format_hash(where, cam, self.app.follow, self.app.link_input)
        if url == str(js.location.hash):
            return
        if mode == "push" and not self.embed:   # an embedded frame never adds to the parent's history
            js.history.pushState(None, "", url)
        else:
            js.history.replaceState(None, "", url)

    def _on_popstate(self, event) -> None:
        if self.locked:
            return
        link = walk_nav.parse_hash(str(js.location.hash))
        try:
            where = (self.tour.resolve(link["phase"], link["step"], base=walk_nav.LINK_BASE) if link["phase"]
                     else self.tour.first())
        except ValueError as e:
            self.app.emit("notice", text=self.app.say("notice.no_such_step", error=str(e)))
            return
        self._apply_follow(link["follow"] or {"layer": 0, "head": 0})
        asyncio.ensure_future(self.go(where, history=None, cam=link["cam"]))

    def _start(self) -> tuple[Where, dict | None]:
        """Where the page opens: the hash, else ?phase=&step=, else the first step."""
        link = walk_nav.parse_hash(str(js.location.hash))
        for source in (link, self.query):
            if source["phase"]:
                where, problem = self.tour.resolve_nearest(source["phase"], source["step"])
                if problem:
                    shown = self.tour.phase(where.phase)["title"]
                    self.app.emit("notice", text=self.app.say("notice.no_such_step_instead", problem=problem,
                                                              phase=shown, n=where.step + 1))
                self._apply_follow(source["follow"])
                return where, None if problem else source.get("cam")
        return self.tour.first(), None

    def _apply_follow(self, follow: dict | None) -> None:
        """Follow the layer and head a link names; a notice (and no change) if this model
        has no such layer or head."""
        if not follow:
            return
        try:
            self._set_follow_for(follow)
        except ValueError as e:
            self.app.emit("notice", text=self.app.say("notice.no_such_follow", error=str(e)))

    def _on_camera_touched(self, event) -> None:
        """The reader may have moved the camera: keep it in the URL (``&cam=``) once it rests."""
        self._cam_samples, self._cam_last = 0, None
        self._schedule_camera_check()

    def _schedule_camera_check(self) -> None:
        if self._cam_timer is not None:
            js.clearTimeout(self._cam_timer)
        self._cam_timer = js.setTimeout(self._cam_proxy, 350)

    def _record_camera(self) -> None:
        self._cam_timer = None
        if self.where is None or self.locked:
            return
        if not self.settled:   # the step's own flight is still on: look again later
            self._cam_samples += 1
            if self._cam_samples < 40:
                self._schedule_camera_check()
            return
        cam = self.camera()
        if cam is None:
            return
        if cam.get("moving") and self._cam_samples < 60:   # the controls still glide: wait
            self._cam_samples += 1
            self._schedule_camera_check()
            return
        cam = {"position": cam["position"], "target": cam["target"]}
        moved = self.settled_cam is None or _differs(cam, self.settled_cam)
        self._kept_cam = cam if moved else None
        self._history(self.where, self._kept_cam, "replace")
        # still gliding (the controls' damping: a number of frames, so longer when frames are
        # slow)? look again a little later, until it rests (for at most ~20 s)
        last, self._cam_last = self._cam_last, cam
        self._cam_samples += 1
        if (last is None or _differs(cam, last, 1e-6)) and self._cam_samples < 60:
            self._schedule_camera_check()

    # ---------------------------------------------------------------- events
    def _on_ready(self) -> None:
        self._cam_proxy = ffi.proxy(self._record_camera)
        self.app.emit("motion", skip=False)   # the scene starts with our settings (reduced motion)
        where, cam = self._start()
        asyncio.ensure_future(self._first(where, cam))

    async def _first(self, where: Where, cam) -> None:
        try:
            await self._go_apart(where, history="replace", cam=cam)
        except Exception as e:  # noqa: BLE001 - reported in the page
            self.app.report(f"walkthrough: {type(e).__name__}: {e}")
            return
        self._announce_ready()

    def _announce_ready(self) -> None:
        """Tell an embedding parent (of an allowed origin) that commands are welcome now."""
        if js.window.parent == js.window:
            return
        parent = None
        ancestors = _js_obj(getattr(js.location, "ancestorOrigins", None))
        if ancestors is not None and ancestors.length:
            parent = str(ancestors.item(0))
        elif js.document.referrer:
            parent = walk_nav.normalize_origin(str(js.document.referrer))
        if parent and walk_nav.is_allowed(parent, self.origins):
            js.window.parent.postMessage(ffi.to_js({"type": "llmviz:ready", **self._state_dict()}), parent)

    def _on_trace(self) -> None:
        if self.where is None:
            return
        try:   # the URL follows the input too (&input=), so a copied link shows these numbers
            # the step again with the new numbers, its camera where the link or the reader put it
            asyncio.ensure_future(self._go_apart(self.where, history=None if self.locked else "replace",
                                                 cam=self._kept_cam))
        except Exception as e:  # noqa: BLE001
            self.app.report(f"walkthrough: {type(e).__name__}: {e}")
        asyncio.ensure_future(self._retitle())

    async def _go_apart(self, where: Where, history: str | None, cam: dict | None = None) -> dict:
        """``go`` in parts (``show_apart``): for a new text, and for the page's first step."""
        self._seq += 1
        self.settled = False
        self._kept_cam = cam
        seq = self._seq
        settle = await self.show_apart(where, history=history, seq=seq, cam=cam)
        return await self.finish((seq, settle, cam))

    async def _retitle(self) -> None:
        """The step titles with values in them, for a new text: after the step shown, each
        part a task of its own (with a big model each takes tens of ms on the main thread)."""
        parts = self._step_title_parts()
        while True:
            async with self.app.piece():
                if next(parts, StopIteration) is StopIteration:
                    break
        async with self.app.piece():
            with timed("walk.update_titles"):
                self._update_titles()

    def _on_model(self) -> None:
        self._kept_cam = None     # another model, another layout: its steps are framed anew
        self._draw_schematic()
        self._fill_follow()

    # the block and head the tour follows
    def _fill_follow(self) -> None:
        """The block and head choices for this model (hidden where the model has only one)."""
        limits, follow = _follow_limits(self.app.config), self.app.follow
        for key, n in limits.items():
            select = self.el[key]
            options(self.doc, select, range(n))
            select.value = str(follow[key])
            self.el[f"{key}-choice"].hidden = n < 2
        self.el["follow"].hidden = bool(self.el["layer-choice"].hidden and self.el["head-choice"].hidden)

    def _set_follow_for(self, follow: dict) -> None:
        """Follow what a link or command names, for the step it is about to show (so the
        step shown now, and its history entry, stay as they are)."""
        self._follow_quiet = True
        try:
            self.app.set_follow(follow.get("layer"), follow.get("head"))
        finally:
            self._follow_quiet = False

    def _on_follow_select(self, event) -> None:
        try:
            self.app.set_follow(int(self.el["layer"].value), int(self.el["head"].value))
        except ValueError as e:
            self.app.emit("notice", text=str(e))
            self._fill_follow()

    def _on_follow(self) -> None:
        """Another block or head: the selects and the step shown follow it (step titles name
        positions and tokens only, so they stay)."""
        follow = self.app.follow
        self.el["layer"].value, self.el["head"].value = str(follow["layer"]), str(follow["head"])
        if self.where is None or self._follow_quiet:
            return
        started = self.begin(self.where, history="replace")   # now, so a goto right after wins
        asyncio.ensure_future(self.finish(started))

    def _update_titles(self) -> None:
        for n, w in enumerate(self.tour.order):
            p = self.tour.phase(w.phase)
            self.cells[n].title = self.app.say("ui.nav.cell_title", phase=p["title"], n=w.step + 1,
                                               title=self.titles[(w.phase, w.step)])
        for a in self.el["toc"].querySelectorAll(".wv-toc-list ol a[data-i]"):
            w = self.tour.at(int(a.dataset.i))
            a.textContent = self.titles[(w.phase, w.step)]

    def _on_pick(self, id=None, row=None, col=None, **_):  # noqa: A002 - the event's field name
        for el in self.commentary.querySelectorAll(".wv-glow"):
            el.classList.remove("wv-glow")
        if id is None:
            return
        for el in self.commentary.querySelectorAll("[data-block]"):
            if el.dataset.block != id:
                continue
            cell = _js_obj(el.getAttribute("data-cell"))
            if cell and (row is None or cell != f"{row},{col}"):
                continue  # a number lights up only for its own cell
            el.classList.add("wv-glow")

    def _on_pointer_over(self, event) -> None:
        ref = _closest(event.target, "[data-block]")
        self._set_hover(str(ref.dataset.block) if ref is not None else None)

    def _set_hover(self, block: str | None) -> None:
        if block == self.hover:
            return
        self.hover = block
        self.app.emit("focus", ids=[block] if block else [])

    def _on_key(self, event) -> None:
        if self.locked or event.defaultPrevented or event.repeat and event.key == " ":
            return
        target = event.target
        tag = str(getattr(target, "tagName", "") or "")
        # only the canvas itself takes the arrows (for the camera); the scale toolbar stops the
        # ones it uses, and the other controls over the 3D view leave them to the tour
        in_canvas = tag == "CANVAS"
        on_button = tag in ("BUTTON", "A", "SUMMARY") or bool(
            hasattr(target, "getAttribute") and target.getAttribute("role") in ("button", "link"))
        if event.key == "Escape" and not self.el["toc"].hidden:
            self._toggle_toc(False)
            return
        action = walk_nav.key_action(str(event.key), shift=bool(event.shiftKey), ctrl=bool(event.ctrlKey),
                                     alt=bool(event.altKey), meta=bool(event.metaKey), target_tag=tag,
                                     editable=bool(getattr(target, "isContentEditable", False)),
                                     in_canvas=in_canvas, on_button=on_button)
        if action is None:
            return
        event.preventDefault()
        self.step_by(1 if action == "next" else -1)

    def _toggle_toc(self, show: bool | None = None) -> None:
        toc = self.el["toc"]
        show = toc.hidden if show is None else show
        toc.hidden = not show
        self.el["toc-toggle"].setAttribute("aria-expanded", "true" if show else "false")
        if show:
            current = _js_obj(toc.querySelector(".wv-toc-list ol a.current"))
            if current is not None:
                current.scrollIntoView(ffi.to_js({"block": "nearest"}))

    def _on_doc_pointer(self, event) -> None:
        """A press outside the navigation closes the contents."""
        if not self.el["toc"].hidden and _closest(event.target, "#walk-nav") is None:
            self._toggle_toc(False)

    def _on_toc_click(self, event) -> None:
        target = event.target
        link = _closest(target, "a[data-i]")
        if link is not None:
            event.preventDefault()
            self._toggle_toc(False)
            self.navigate(self.tour.at(int(link.dataset.i)))
            return
        part = _closest(target, ".wv-part[data-phase]")
        if part is not None:
            self._toggle_toc(False)
            self.navigate(self.tour.resolve(str(part.dataset.phase), 0))

    def _on_toc_key(self, event) -> None:
        if event.key in ("Enter", " "):
            part = _closest(event.target, ".wv-part[data-phase]")
            if part is not None:
                event.preventDefault()
                event.stopPropagation()
                self._toggle_toc(False)
                self.navigate(self.tour.resolve(str(part.dataset.phase), 0))

    # timeline: click or drag
    def _tl_index(self, event) -> int | None:
        tl = self.el["timeline"]
        rect = tl.getBoundingClientRect()
        if not self.cells:
            return None
        x = min(max(event.clientX, rect.left + 1), rect.right - 1)
        el = self.doc.elementFromPoint(x, rect.top + rect.height / 2)
        cell = _closest(el, "[data-i]")
        if cell is not None:
            return int(cell.dataset.i)
        # between cells: the nearest one
        best, best_d = None, None
        for i, c in enumerate(self.cells):
            r = c.getBoundingClientRect()
            d = abs((r.left + r.right) / 2 - x)
            if best_d is None or d < best_d:
                best, best_d = i, d
        return best

    def _on_tl_down(self, event) -> None:
        if self.locked or event.button != 0:
            return
        event.preventDefault()
        self.el["timeline"].setPointerCapture(event.pointerId)
        self.drag = {"start": self.where, "last": None}
        self._tl_goto(event)

    def _on_tl_move(self, event) -> None:
        if self.drag is not None:
            self._tl_goto(event)

    def _tl_goto(self, event) -> None:
        i = self._tl_index(event)
        if i is None or i == self.drag["last"]:
            return
        self.drag["last"] = i
        where = self.tour.at(i)
        if where != self.where:
            self.navigate(where, history=None)

    def _on_tl_up(self, event) -> None:
        if self.drag is None:
            return
        drag, self.drag = self.drag, None
        if self.where is not None and self.where != drag["start"]:
            self._history(self.where, None, "push")

    # animation controls
    def _on_speed(self, event) -> None:
        self.app.motion = walk_nav.motion(float(self.el["speed"].value), self.app.motion["paused"],
                                          self.app.motion["reduced"])
        self.app.emit("motion", skip=False)

    def _on_pause(self, event) -> None:
        m = self.app.motion
        self.app.motion = walk_nav.motion(m["speed"], not m["paused"], m["reduced"])
        self._show_motion()
        self.app.emit("motion", skip=False)

    def _on_reduced_change(self, event) -> None:
        m = self.app.motion
        self.app.motion = walk_nav.motion(m["speed"], m["paused"], bool(self._media.matches))
        self._show_motion()
        self.app.emit("motion", skip=False)

    def _show_motion(self) -> None:
        m = self.app.motion
        self.el["pause"].textContent = self.app.say("ui.nav.play" if m["paused"] else "ui.nav.pause")
        self.el["pause"].setAttribute("aria-pressed", "true" if m["paused"] else "false")
        self.el["reduced"].hidden = not m["reduced"]

    # ---------------------------------------------------------------- state and commands
    def camera(self) -> dict | None:
        """The camera now ({position, target}), or None without a 3D view."""
        try:
            cam = self.app.scene_view.camera() if self.app.scene_view is not None else None
        except Exception:  # noqa: BLE001 - no camera yet
            return None
        if not isinstance(cam, dict) or "position" not in cam:
            return None
        return {"position": [float(v) for v in cam["position"]], "target": [float(v) for v in cam["target"]],
                "moving": bool(cam.get("moving", False))}

    def view(self) -> dict | None:
        """Where the settled step's blocks are on screen (``scene_view.view_state``), or None."""
        try:
            return self.app.scene_view.view_state() if self.app.scene_view is not None else None
        except Exception:  # noqa: BLE001 - no 3D view (no WebGL2), or not drawn yet
            return None

    def _state_dict(self) -> dict:
        r = self.rendered or {}
        return {"phase": r.get("phase"), "step": r.get("id"), "step_index": r.get("step"), "id": r.get("id"),
                "title": r.get("title"),
                "focus": list(r.get("focus", [])), "camera": self.camera(), "view": self.view(),
                "code": ffi.to_py(self.app.code_refs),
                "numbers": ffi.to_py(r.get("numbers", [])), "refs": list(r.get("refs", [])),
                "follow": dict(self.app.follow),
                "motion": dict(self.app.motion), "embed": self.embed, "locked": self.locked,
                "settled": self.settled, "hover": self.hover,
                "ready": True, "build": (self.app.build or {}).get("build_id"),
                "text": self.app.text, "ids": [int(i) for i in (self.app.ids or [])]}

    def state(self):
        return ffi.to_js(self._state_dict())

    def state_command(self, *args):
        return self.state()

    def phases_command(self, *args):
        return ffi.to_js([{"id": p["id"], "title": p["title"], "steps": int(p["steps"]),
                     "step_ids": list(p.get("step_ids", [])),
                     "step_titles": [self.titles[(p["id"], i)] for i in range(int(p["steps"]))]}
                    for p in self.tour.phases])

    async def goto_command(self, target=None):
        target = ffi.to_py(target)
        base = 0   # the API's step numbers are indexes; a link's ("#phase=...&step=4") count from 1
        if isinstance(target, str):
            link = walk_nav.parse_hash(target) if "=" in target else {"phase": target, "step": None,
                                                                       "follow": None, "cam": None}
            base = walk_nav.LINK_BASE
        elif isinstance(target, dict):
            follow = {k: target[k] for k in ("layer", "head") if target.get(k) is not None}
            link = {"phase": target.get("phase"), "step": target.get("step"), "follow": follow or None,
                    "cam": target.get("camera")}
        else:
            raise ValueError("goto takes {phase, step}, e.g. llmviz.goto({phase: 'attention', step: 'scaling'}), "
                             "and optionally layer and head")
        where = self.tour.resolve(link["phase"], link["step"], base=base)
        if link["follow"]:   # ValueError: rejected, nothing changes
            self._set_follow_for(link["follow"])
        return await self.go(where, history="push", cam=link["cam"])


def _follow_limits(config) -> dict[str, int]:
    """How many layers and heads the model has (one of each before a model is loaded)."""
    return ModelShape.from_config(config).follow_limits() if config is not None else {"layer": 1, "head": 1}


def _differs(a: dict, b: dict, tol: float = 1e-3) -> bool:
    return any(abs(x - y) > tol * max(1.0, abs(y)) for key in ("position", "target")
               for x, y in zip(a[key], b[key]))


def mount(app) -> WalkView:
    view = WalkView(app)
    view.mount()
    app.walk_view = view
    return view
