"""The live view: your input, token-by-token generation, your own model, and what the page remembers.

It fills ``#live`` (the bar above the scene); ``live_inspector`` fills ``#inspector``.
The rules (what may be typed, what sequence is shown, how a token is chosen, what a
model upload must satisfy) are in ``llmviz.page.live``; this module is the page glue:

* the model runs in the page's model worker (``llmviz.page.worker``, through
  ``app.model``, a ``llmviz.page.model_client.ModelClient``): this thread only asks and
  shows. Work that takes more than a second shows its progress and a Cancel button
  (``#live-work``); a cancelled run changes nothing.
* typing: each keystroke is checked (``live.typed``): lower case for a vocabulary of
  capitals is read as capitals; a text that does not fit stays in the field (to be
  fixed) and the message says why (which tokens, the real length limit); an empty
  field says the view keeps the last input. A valid input runs the model (in the model
  worker): for the sort task the input plus the model's own greedy answer, then
  ``app.set_trace`` or, when the text needs another layout (``live.scene_length``: the scene
  is laid out for more positions than the text has, so it keeps its layout while the text
  grows), ``app.set_model`` with a new ``layout.scene(config, T)``, so every view redraws.
  The field is multi-line: Enter runs the text, unless the vocabulary has a newline
  (then Enter types one, Ctrl/Cmd+Enter runs); Tab types a tab when the vocabulary has one.
* the token strip shows the input and what was written after it (for the sort task the
  model's whole answer, written when the input is set). "Next token" writes exactly one
  more token (greedy, or sampled with temperature and top-k) and shows its probability
  and the runner-up; the worker computes only the new position (its KV cache), and the
  views get the few new values (a patch), not a new picture. Once the text is complete it
  is disabled and says why. "Reset" goes back to the input alone, to write the answer
  again one token at a time.
  ``llmviz.generate(n)`` writes up to n tokens, starting again from the input when the
  text is complete. The status line under the controls (``live.answer_line``, then the
  last message) is never empty and always one line, so the bar keeps its height.
* your model: an ``.npz`` + ``.json`` pair from ``python -m llmviz convert``, by file
  picker or drag and drop; every problem is a message, and the model in use stays. A new
  model starts on a prompt from its own card (``live.default_prompt``).
* JS: ``llmviz.setInput(text)``, ``llmviz.generate(n, {temperature, top_k, seed})``,
  ``llmviz.loadModel(npzArrayBuffer, card)``.
* memory (localStorage, through ``stored``: JSON within limits, checked by type, a damaged
  value dropped with a notice): the last input, the model choice (your model's files are
  kept in IndexedDB by ``js/live.js``), the walkthrough's URL hash; "start over" forgets
  every ``llmviz.*`` key and the kept model.

Every word the bar shows is the catalogue's (``live.*`` in ``llmviz.locales``), in the page's
language: this module's through ``app.say``, ``llmviz.page.live``'s rules and refusals through
their ``lang`` (the model worker gets it with each "load" and "default" job).

Strings from a card (name, vocabulary) reach the page as text only (textContent or
escaped), never as HTML.
"""
from __future__ import annotations

import asyncio
from typing import Any

from llmviz.page import live
from llmviz.page.live import WeightsError
from llmviz.page.model_client import JobError
from llmviz.page.ui import ffi, stored, walk_nav
from llmviz.page.ui.core import timed
from llmviz.page.ui.dom import clone
from llmviz.core.vocab import InputError, Vocab

KEY_INPUT = "llmviz.live.input"
KEY_MODEL = "llmviz.live.model"
KEY_HASH = "llmviz.live.hash"
KEPT = {KEY_INPUT: stored.text(), KEY_MODEL: stored.one_of(("custom", "default")),   # what each must be
        KEY_HASH: stored.text(starts="#")}
STEP_DELAY_S = 0.12        # between tokens of llmviz.generate, so each one is drawn
TYPE_DELAY_S = 0.12        # typing pause before the model runs
SHOW_WORK_S = 1.0          # work that takes longer shows its progress and a Cancel button
MAX_CHIPS = 24            # tokens drawn as chips; a longer text shows its end (all of it is in data-text)


class LiveError(Exception):
    """Something the live view cannot do right now; the message is for the user."""


class LiveView:
    def __init__(self, app):
        import js

        self.app = app
        self.js = js
        self.mod = None                  # js/live.js (PyScript's js_modules), once mounted
        self.inspector = None            # live_inspector.Inspector, once mounted
        self.lock = asyncio.Lock()
        self.client = app.model          # the model worker's client, or None (no numpy)
        self.pending: dict = {}          # one half of an npz + json pair, waiting for the other
        self.typing_task = None
        self.tab_leaves = False          # Esc was pressed in the field: the next Tab leaves it
        self.linked = False              # the URL named a view when the page opened (see mount)
        self.asked_input = None          # ... and the input it asked for (&input=)
        example = ((app.build or {}).get("model") or {}).get("example")
        self.default = {"example": example,
                        "name": ((app.build or {}).get("model") or {}).get("name") or (app.card or {}).get("name")}
        self.custom = False
        # the text shown: the prompt and what followed it (ids may run one past the trace)
        vocab = Vocab(app.vocab)
        limit = self.limit()
        self.prompt = example if isinstance(example, str) and _fits(example, vocab, limit) else app.text[:limit]
        self.ids = list(app.ids)
        booted = getattr(self.client, "ids", None)
        predicted = _predicted(app.trace)
        if booted:
            self.ids = list(booted)      # the worker's text (the sort answer's last letter included)
        elif (live.is_sort(app.card) and predicted is not None
                and len(self.ids) < live.full_length(app.card, self.block_size(), len(self.prompt))):
            self.ids.append(predicted)   # the last answer letter: the last position's prediction
        self.steps: list[dict] = []
        self.answered = live.is_sort(app.card) and len(self.ids) > len(self.prompt)

    # ---- small helpers -------------------------------------------------------
    def el(self, id_: str):
        return self.js.document.getElementById(id_)

    def proxy(self, fn):
        return ffi.proxy(fn)

    def block_size(self) -> int:
        return int(self.app.config.block_size)

    def limit(self) -> int:
        return live.input_limit(self.app.card, self.block_size())

    def reason(self) -> str:
        return live.limit_reason(self.app.card, self.block_size(), self.app.lang)

    def vocab(self) -> Vocab:
        return Vocab(self.app.vocab)

    def say(self, text: str, kind: str = "info") -> None:
        """The bar's message line (its full text also in the tooltip: the line may be cut);
        an error goes to the notices too where the bar is hidden (an embed without controls)."""
        msg = self.el("live-msg")
        if msg is not None:
            msg.textContent = text
            msg.title = text
            msg.className = f"live-msg {kind}" if text else "live-msg"
            if text and kind == "error" and ffi.absent(msg.offsetParent):   # hidden: no layout box
                self.app.emit("notice", text=text)

    def storage_get(self, key: str) -> str | None:
        """What the last visit kept under ``key`` (None: nothing, or a damaged value, dropped)."""
        return stored.read(self.app, key, KEPT[key])

    def storage_set(self, key: str, value: str | None) -> None:
        stored.write(key, value)

    def busy(self, on: bool) -> None:
        root = self.el("live")
        if root is not None:
            root.dataset.busy = "1" if on else "0"

    # ---- work in the model worker: progress, Cancel ----------------------------------
    async def work(self, name: str, args: dict | None = None, npz=None, what: str = "live.work.computing"):
        """Run a job in the model worker (a ``model_client.Result``, or None when cancelled);
        after SHOW_WORK_S its progress and a Cancel button show, ``what`` (a catalogue key) saying
        what it is doing."""
        what = self.app.say(what)
        loop = asyncio.get_event_loop()
        started = loop.time()
        shown = [False]

        def progress(done: int, total: int) -> None:
            if not shown[0] and loop.time() - started >= SHOW_WORK_S:
                shown[0] = True
                self.show_work(True)
            if shown[0]:
                self.show_work(True, what, done, total)

        try:
            return await self.client.job(name, args, npz, on_progress=progress)
        except JobError as e:
            if e.kind in ("WeightsError", "InputError"):
                raise (WeightsError if e.kind == "WeightsError" else InputError)(str(e)) from None
            raise LiveError(str(e)) from None
        finally:
            self.show_work(False)

    def show_work(self, on: bool, what: str = "", done: int = 0, total: int = 0) -> None:
        box = self.el("live-work")
        if box is None:
            return
        box.hidden = not on
        if not on:
            return
        bar = box.querySelector("progress")
        label = box.querySelector(".live-work-text")
        if total:
            bar.max, bar.value = total, done
            label.textContent = self.app.say("live.work.positions", what=what, done=done, total=total)
        else:
            bar.removeAttribute("value")
            label.textContent = self.app.say("live.work.busy", what=what)

    def cancel_work(self) -> None:
        if self.client is not None:
            self.spawn(self.client.cancel())

    # ---- the DOM ----------------------------------------------------------------
    def build_dom(self) -> None:
        """Wire the bar that index.html laid out (``sync_controls`` switches it on)."""
        field = self.el("live-input")
        field.addEventListener("input", self.proxy(self.on_typed))
        field.addEventListener("keydown", self.proxy(self.on_field_key))
        self.el("live-next").addEventListener("click", self.proxy(lambda e: self.spawn(self.next_token())))
        self.el("live-reset").addEventListener("click", self.proxy(lambda e: self.spawn(self.reset())))
        self.el("live-sample").addEventListener("change", self.proxy(self.sync_sampling))
        self.el("live-load").addEventListener("click", self.proxy(lambda e: self.el("live-file").click()))
        self.el("live-file").addEventListener("change", self.proxy(self.on_files_picked))
        self.el("live-default").addEventListener("click", self.proxy(lambda e: self.spawn(self.use_default())))
        self.el("live-startover").addEventListener("click", self.proxy(lambda e: self.spawn(self.start_over())))
        cancel = self.el("live-cancel")
        if cancel is not None:
            cancel.addEventListener("click", self.proxy(lambda e: self.cancel_work()))
        doc = self.js.document
        for name, fn in (("dragenter", self.on_drag), ("dragover", self.on_drag),
                         ("dragleave", self.on_drag_leave), ("drop", self.on_drop)):
            doc.addEventListener(name, self.proxy(fn))
        self.js.window.addEventListener("hashchange", self.proxy(lambda e: self.save_hash()))
        self.js.window.addEventListener("pagehide", self.proxy(lambda e: self.save_hash()))
        self.el("live-startover").disabled = False
        self.sync_controls()
        self.render_seq()

    def sync_controls(self) -> None:
        """Field and buttons for the current model and state."""
        field = self.el("live-input")
        if field is None:
            return
        numpy = bool(self.app.numpy and self.client is not None)
        field.dataset.limit = str(self.limit())   # no maxlength: a refused keystroke gets a message
        field.cols = max(6, min(self.limit(), 24)) + 2
        field.rows = 3 if "\n" in self.app.vocab else 1     # a vocabulary with newlines: room for lines
        field.value = self.prompt
        say, n, allowed = self.app.say, self.limit(), live.allowed(self.vocab(), self.app.lang)
        if live.input_len(self.app.card) == n:   # the sort task: its input length
            field.placeholder = say("live.rule.sort_placeholder", n=n)    # the title says which
            rule = say("live.rule.sort_title", n=n, allowed=allowed)
        else:
            field.placeholder = say("live.rule.text_placeholder", n=n, allowed=allowed)[:120]
            rule = say("live.rule.text_title", n=n, allowed=allowed)
        field.disabled = not numpy
        field.title = rule[:400] if numpy else self.why_off()
        for id_ in ("live-sample", "live-load"):
            self.el(id_).disabled = not numpy
        self.sync_buttons()
        self.sync_sampling()
        self.el("live-default").hidden = not self.custom
        self.el("live-default").textContent = self.app.say("live.default_named", name=self.default["name"])
        if not numpy:
            self.say(self.why_off(), "info" if self.starting() else "warn")

    def starting(self) -> bool:
        """The model worker is on its way (the bar switches on when it joins: ``on_live``)."""
        return bool(self.app.numpy and self.client is None and self.app.model_starting is not None
                    and not self.app.model_starting.done())

    def why_off(self) -> str:
        """Why the field and the model's buttons are off: starting, failed, or no numpy."""
        if self.starting():   # a link's input runs once the model is up: say which
            return (self.app.say("live.starting_link", input=_shown(self.asked_input)) if self.asked_input
                    else self.app.say("live.starting"))
        if self.app.model_error:
            return self.app.say("notice.live_failed", error=self.app.model_error)
        return self.app.say("live.no_numpy")

    def sync_sampling(self, event=None) -> None:
        """Temperature and top-k matter only when sampling."""
        sampling = bool(self.el("live-sample").checked) and not self.el("live-sample").disabled
        for id_ in ("live-temp", "live-topk"):
            self.el(id_).disabled = not sampling
        self.el("live-temp").closest(".live-gen").classList.toggle("sampling", sampling)

    def render_seq(self) -> None:
        """The shown text as token chips: input, the model's tokens, tokens outside the trace."""
        box = self.el("live-seq")
        if box is None:
            return
        vocab = self.app.vocab
        n_prompt = len(self.prompt)
        win = live.window(self.ids, self.app.card, self.block_size())
        start = 0
        if len(self.ids) > self.block_size() and not live.is_sort(self.app.card):
            start = len(self.ids) - len(win)
        first = max(0, len(self.ids) - MAX_CHIPS)
        say = self.app.say
        chips = [self.chip("tok more", say("live.strip.earlier", n=first), "\u2026")] if first else []
        for i in range(first, len(self.ids)):
            tok = vocab[self.ids[i]] if 0 <= self.ids[i] < len(vocab) else "?"
            cls = "tok in" if i < n_prompt else "tok gen"
            title = say("live.strip.input") if i < n_prompt else say("live.strip.generated")
            if i < start or i >= start + len(win):
                cls += " out"
                title = say("live.strip.predicted" if i >= start + len(win) else "live.strip.outside", who=title)
            chips.append(self.chip(cls, title, live.token_text(tok)))
        box.replaceChildren(*chips)
        # the sort model's record has a fixed longest length: keep room for all of it, so a
        # short input does not re-wrap the bar (and resize the view) until the answer comes
        most = live.max_length(self.app.card, self.block_size()) if live.is_sort(self.app.card) else 0
        box.style.setProperty("--live-chips", str(min(most, MAX_CHIPS + 1)))
        box.dataset.text = "".join(vocab[i] for i in self.ids if 0 <= i < len(vocab))
        self.render_choice()
        self.sync_buttons()

    def sync_buttons(self) -> None:
        """"Next token" writes one more token until the text is complete, "Reset" goes back to
        the input alone: the strip shows the input and what was written after it, and each
        click changes it by exactly one token (or back to the input)."""
        nxt, reset = self.el("live-next"), self.el("live-reset")
        if nxt is None or reset is None:
            return
        numpy = bool(self.app.numpy and self.client is not None)
        complete = self._complete()
        nxt.disabled = not numpy or complete
        nxt.title = self.app.say("live.strip.next_complete" if complete else "live.strip.next")
        written = len(self.ids) > len(self.prompt)
        reset.disabled = not numpy or not written
        reset.title = self.app.say("live.strip.reset" if written else "live.strip.reset_nothing")

    def chip(self, cls: str, title: str, text: str):
        """A token chip (index.html's template), holding ``text`` as text."""
        chip = clone(self.js.document, "tpl-live-tok")
        chip.className, chip.title, chip.textContent = cls, title, text
        return chip

    def render_choice(self) -> None:
        out = self.el("live-choice")
        if out is None:
            return
        vocab, say = self.app.vocab, self.app.say
        text = ""
        if self.steps:
            s = self.steps[-1]
            if s["greedy"]:
                how = say("live.answer.greedy")
            elif s.get("top_k"):
                how = say("live.answer.sampled_top_k", t=f"{s['temperature']:g}", k=s["top_k"])
            else:
                how = say("live.answer.sampled", t=f"{s['temperature']:g}")
            text = say("live.answer.chose", token=live.token_text(vocab[s["token"]]), p=_p(s["prob"]), how=how)
            if s.get("runner_up") is not None:
                text = say("live.answer.runner_up", choice=text, token=live.token_text(vocab[s["runner_up"]]),
                           p=_p(s["runner_up_prob"]))
        else:
            text = live.answer_line(self.app.card, vocab, self.prompt, self.ids, self.app.lang)
            if self.answered:   # why "Next token" is off, and how to write the answer token by token
                text = say("live.answer.reset_hint", line=text)
        out.textContent = text
        out.title = text
        out.classList.toggle("none", not self.steps and not self.answered)

    # ---- async plumbing ---------------------------------------------------------
    def spawn(self, coro) -> None:
        async def run():
            try:
                await coro
            except (InputError, WeightsError, LiveError) as e:
                self.say(str(e), "error")
            except Exception as e:  # noqa: BLE001 - a failure is shown, the page goes on
                self.say(f"{type(e).__name__}: {e}", "error")
                self.app.report(f"live view: {type(e).__name__}: {e}")
        asyncio.ensure_future(run())

    def promise(self, make_coro, arg=None):
        """A JS Promise for a command: resolves with the value, rejects with an Error(message)."""
        js = self.js

        def executor(resolve, reject):
            async def run():
                try:
                    value = await make_coro(arg)
                except (ValueError, LiveError) as e:   # InputError, WeightsError, ffi.ArgumentError
                    reject(js.Error.new(str(e)))
                except Exception as e:  # noqa: BLE001 - a bug: reported, and a readable line for the caller
                    self.app.report(f"live view: {type(e).__name__}: {e}")
                    reject(js.Error.new(f"this did not work here ({ffi.first_line(e)})"))
                else:
                    resolve(ffi.to_js(value))
            asyncio.ensure_future(run())

        return js.Promise.new(ffi.once(executor))

    # ---- the model at work (in the worker) -------------------------------------------
    async def need_model(self) -> None:
        """Wait for the model worker while it starts; LiveError when there is none (no numpy,
        or it could not start)."""
        await self.wait_model()
        if not self.app.numpy or self.client is None:
            raise LiveError(self.why_off())

    async def wait_model(self) -> None:
        """Wait for the model worker while it starts (the caller says what its absence means)."""
        if self.client is None:
            await self.app.wait_model()
            if self.client is None and self.app.model is not None:   # "live" came before this view listened
                self.on_live()

    def on_live(self, **_: Any) -> None:
        """The model worker joined (or could not start): the bar switches on (or says why not)."""
        if self.client is None and self.app.model is not None:
            self.client = self.app.model
            booted = getattr(self.client, "ids", None)
            if booted and not self.steps:
                self.ids = list(booted)   # the worker's text (the sort answer's last letter included)
            self.say("")
        self.sync_controls()
        self.render_seq()

    async def publish(self, result, model: dict | None = None) -> None:
        """Hand a worker result to every view: a new trace (a token's patch or a whole text),
        or, for a new model or a text that outgrew the layout, a new scene first. Each view's
        update is a task of its own (``App.update_trace``), so none holds the page for long."""
        app = self.app
        self.ids = list(result.ids)
        if result.kind in ("same", "end") and model is None:
            self.render_seq()     # the sort record's last letter: predicted, not fed back in
            return
        card = model["card"] if model else app.card
        vocab = model["vocab"] if model else app.vocab
        config = result.trace.config if model else app.config
        win = live.window(self.ids, card, int(config.block_size))
        text = "".join(vocab[i] for i in win)
        # what a shared link must carry to show these numbers: the input, when it is not the
        # default model's example (a model of the visitor's own cannot travel in a link)
        app.link_input = self.prompt if not self.custom and self.prompt != self.default["example"] else None
        capacity = int(result.capacity or (app.scene or {}).get("T", len(win)))
        if model is None and app.scene is not None and int(app.scene.get("T", -1)) == capacity:
            await app.update_trace(result.trace, text=text, ids=win, live=True, values=result.values)
        else:
            from llmviz.viz import layout
            with timed("layout.scene"):
                scene = layout.scene(config, capacity)
            app.live = True
            await asyncio.sleep(0)
            await app.update_model(model=self.client, config=config, vocab=list(vocab), card=card,
                                   params=result.params if model else app.params, scene=scene,
                                   trace=result.trace, text=text, ids=win, values=result.values)
        with timed("render_seq"):
            self.render_seq()

    async def set_input(self, text: str, *, typed: bool = False) -> str:
        """Run the model on a new input (lower case read as capitals for a vocabulary of
        capitals); InputError (nothing changes) when it does not fit. ``typed``: it comes
        from the field, which is then left as the user has it."""
        app = self.app
        text = live.normalize(text, self.vocab())
        live.check_input(text, self.vocab(), self.limit(), self.reason(), app.lang)   # fail fast, before waiting
        await self.need_model()
        async with self.lock:
            self.busy(True)
            try:
                text = live.normalize(text, self.vocab())   # the model may have changed
                ids = live.check_input(text, self.vocab(), self.limit(), self.reason(), app.lang)
                result = await self.work("run", {"ids": ids, "complete": True}, what="live.work.run")
                if result is None:
                    self.say(app.say("live.work.stopped", prompt=self.prompt), "info")
                    return "".join(app.vocab[i] for i in self.ids)
                self.prompt, self._typed, self.steps = text, text, []
                self.answered = len(result.ids) > len(ids)
                await self.publish(result)
            finally:
                self.busy(False)
        field = self.el("live-input")
        if field is not None and field.value != text and not typed:
            field.value = text
        if not typed:
            self.say("")
        self.storage_set(KEY_INPUT, text)
        return "".join(app.vocab[i] for i in self.ids)

    def _complete(self) -> bool:
        """Nothing more to write: the longest text, or the sort task's whole answer."""
        return len(self.ids) >= live.max_length(self.app.card, self.block_size()) or self.answered

    async def step(self, temperature: float = 0.0, top_k: int | None = None) -> dict | None:
        """Append one token; None when the text is as long as it can get (or the work was cancelled)."""
        result = await self.work("step", {"temperature": temperature, "top_k": top_k}, what="live.work.step")
        if result is None or result.kind == "end":
            return None
        choice = dict(result.choice)
        self.steps.append(choice)
        await self.publish(result)
        return choice

    def options(self) -> tuple[float, int | None]:
        sample = bool(self.el("live-sample").checked)
        temperature = _number(self.el("live-temp").value, 1.0) if sample else 0.0
        top_k = int(_number(self.el("live-topk").value, 0)) if sample else 0
        return max(temperature, 0.0), (top_k if top_k > 0 else None)

    async def next_token(self, temperature: float | None = None, top_k: int | None = None) -> dict | None:
        """The "Next token" button: one more token; None (nothing changes) once the text is complete."""
        await self.need_model()
        if temperature is None:
            temperature, top_k = self.options()
        async with self.lock:
            if self._complete():
                return None
            self.busy(True)
            try:
                return await self.step(temperature, top_k)
            finally:
                self.busy(False)

    async def restart(self) -> None:
        """Back to the prompt alone."""
        result = await self.work("run", {"ids": self.vocab().encode(self.prompt), "complete": False})
        if result is not None:
            self.steps, self.answered = [], False
            await self.publish(result)

    async def reset(self) -> None:
        await self.need_model()
        async with self.lock:
            await self.restart()

    async def generate(self, n: int, temperature: float = 0.0, top_k: int | None = None,
                       seed: int | None = None) -> str:
        """Append up to ``n`` tokens, each drawn before the next; the text when done."""
        await self.need_model()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise LiveError(self.app.say("live.api.n_tokens", value=repr(n)))
        async with self.lock:
            self.busy(True)
            try:
                if seed is not None:
                    await self.client.job("seed", {"seed": int(seed)})
                if self._complete():
                    await self.restart()
                    await asyncio.sleep(STEP_DELAY_S)
                for i in range(n):
                    if await self.step(temperature, top_k) is None:
                        break
                    if i + 1 < n:      # a pause between tokens, none after the last
                        await asyncio.sleep(STEP_DELAY_S)
            finally:
                self.busy(False)
        return "".join(self.app.vocab[i] for i in self.ids)

    # ---- typing -------------------------------------------------------------------
    def on_typed(self, event) -> None:
        field = event.target
        value = str(field.value)
        got = live.typed(value, self.vocab(), self.app.card, self.block_size(), self.prompt, self.app.lang)
        if got.field != value:   # the case changed, letter for letter: the caret stays where it was
            pos = int(field.selectionStart or 0)
            field.value = got.field
            try:
                field.setSelectionRange(pos, pos)
            except Exception:  # noqa: BLE001
                pass
        self._typed = got.run    # None: a run scheduled for an earlier keystroke is dropped
        self.say(got.message, got.kind)
        if got.run:
            self.schedule(got.run)

    def prompt_typed(self) -> str:
        return getattr(self, "_typed", self.prompt)

    def schedule(self, text: str) -> None:
        if self.typing_task is not None and not self.typing_task.done():
            self.typing_task.cancel()

        async def later():
            try:
                await asyncio.sleep(TYPE_DELAY_S)
                if text == self.prompt_typed():
                    await self.set_input(text, typed=True)
            except asyncio.CancelledError:
                pass   # a newer keystroke took over
            except (InputError, WeightsError, LiveError) as e:
                self.say(str(e), "error")

        self.typing_task = asyncio.ensure_future(later())

    def on_field_key(self, event) -> None:
        tokens = set(self.app.vocab)
        leave, self.tab_leaves = self.tab_leaves, False
        if event.key == "Tab" and leave:
            return
        if event.key == "Enter":
            if "\n" in tokens and not (event.ctrlKey or event.metaKey):
                return                 # the vocabulary has a newline: Enter types it
            event.preventDefault()
            if event.target.value:
                self.spawn(self.set_input(str(event.target.value), typed=True))
        elif event.key == "Escape":
            self.tab_leaves = True     # Esc, then Tab, leaves the field even when Tab types a tab
            return
        elif (event.key == "Tab" and "\t" in tokens and not self.tab_leaves
              and not (event.shiftKey or event.ctrlKey or event.altKey or event.metaKey)):
            event.preventDefault()     # a tab is a token of this model: Tab types it
            field = event.target
            start, end = int(field.selectionStart or 0), int(field.selectionEnd or 0)
            field.setRangeText("\t", start, end, "end")
            field.dispatchEvent(self.js.Event.new("input", ffi.to_js({"bubbles": True})))

    # ---- your model -------------------------------------------------------------------
    def on_drag(self, event) -> None:
        if self.mod is None or not self.mod.hasFiles(event):
            return
        event.preventDefault()
        drop = self.el("live-drop")
        if drop is not None and self.app.numpy:
            drop.hidden = False

    def on_drag_leave(self, event) -> None:
        if event.relatedTarget is None:
            drop = self.el("live-drop")
            if drop is not None:
                drop.hidden = True

    def on_drop(self, event) -> None:
        if self.mod is None or not self.mod.hasFiles(event):
            return
        event.preventDefault()
        self.el("live-drop").hidden = True
        files = [event.dataTransfer.files.item(i) for i in range(event.dataTransfer.files.length)]
        self.spawn(self.load_files(files))

    def on_files_picked(self, event) -> None:
        field = event.target
        files = [field.files.item(i) for i in range(field.files.length)]
        field.value = ""   # picking the same files again fires "change" again
        self.spawn(self.load_files(files))

    async def load_files(self, files: list) -> None:
        """The picked or dropped files: sizes checked before reading, then ``load``."""
        await self.need_model()
        named = [(str(f.name), int(f.size)) for f in files]
        npz_i, card_i = live.check_upload_sizes(named, self.app.lang)   # WeightsError: message, nothing read
        if npz_i is not None:   # the bytes stay in JS: the worker and IndexedDB take them as they are
            self.pending["npz"] = (named[npz_i][0], self.js.Uint8Array.new(await files[npz_i].arrayBuffer()))
        if card_i is not None:
            self.pending["card"] = (named[card_i][0], str(await files[card_i].text()))
        if "npz" not in self.pending or "card" not in self.pending:
            have = "npz" if "npz" in self.pending else "card"
            self.say(self.app.say(f"live.model.got_{have}", name=self.pending[have][0]), "info")
            return
        (npz_name, npz), (_, card_text) = self.pending["npz"], self.pending.pop("card")
        del self.pending["npz"]
        self.say(self.app.say("live.model.loading", name=npz_name))
        await self.load(npz, card_text)

    async def load(self, npz, card_text: str, *, remember: bool = True) -> dict:
        """Check and switch to a user's model (``npz``: its bytes as a JS Uint8Array); it starts on
        a prompt from its own card. On any problem the current model stays."""
        await self.need_model()
        say = self.app.say
        card = live.parse_card_text(card_text)   # WeightsError before anything is sent
        async with self.lock:
            self.busy(True)
            try:
                try:
                    result = await self.work("load", {"card": card_text, "complete": True, "lang": self.app.lang},
                                             npz=npz, what="live.work.load")
                except (WeightsError, InputError, LiveError) as e:
                    raise WeightsError(say("live.model.not_used", error=e)) from None
                if result is None:
                    raise LiveError(say("live.work.stopped_model"))
                await self.switched(result, custom=True)
            finally:
                self.busy(False)
        name = str(card.get("name") or say("live.model.unnamed"))
        self.say(say("live.model.running", name=name), "ok")
        if remember:
            self.storage_set(KEY_MODEL, "custom")
            self.storage_set(KEY_INPUT, self.prompt)
            await self.keep(npz, card_text)
        return {"name": name, "config": self.app.config.to_dict(),
                "text": "".join(self.app.vocab[i] for i in self.ids)}

    async def switched(self, result, custom: bool) -> None:
        """Another model runs now (the worker's result of its first text): every view follows."""
        header = result.header
        self.prompt, self.steps = str(header.get("prompt") or ""), []
        self.answered = len(result.ids) > len(self.prompt)
        self.custom = custom
        await self.publish(result, model={"card": header["card"], "vocab": list(header["vocab"])})
        self.after_model_change()

    async def keep(self, npz, card_text: str) -> None:
        if self.mod is None:
            return
        try:
            await self.mod.saveModel(npz, card_text)
        except Exception:  # noqa: BLE001 - no IndexedDB: say it must be loaded again next time
            self.say(self.app.say("live.model.not_kept"), "warn")

    def after_model_change(self) -> None:
        name_el = self.el("model-name")
        if name_el is not None:
            name = str((self.app.card or {}).get("name") or "?")
            name_el.textContent = name
            name_el.title = self.app.say("live.model_title", name=name)
        self._typed = self.prompt
        self.sync_controls()
        self.render_seq()

    async def use_default(self, *, keep_input: bool = True) -> None:
        await self.need_model()
        d = self.default
        async with self.lock:
            self.busy(True)
            try:
                wanted = self.prompt if keep_input else d["example"]
                result = await self.work("default", {"prompt": wanted, "example": d["example"], "complete": True,
                                                     "lang": self.app.lang})
                if result is None:
                    raise LiveError(self.app.say("live.work.stopped_model"))
                await self.switched(result, custom=False)
            finally:
                self.busy(False)
        self.storage_set(KEY_MODEL, "default")
        self.storage_set(KEY_INPUT, self.prompt)
        if self.mod is not None:
            await self.mod.clearSaved()
        self.say(self.app.say("live.model.default", name=d["name"]), "ok")

    # ---- memory -------------------------------------------------------------------------
    def save_hash(self) -> None:
        self.storage_set(KEY_HASH, str(self.js.location.hash) or None)

    def url_names_a_view(self) -> bool:
        """The URL says what to show (a deep link, or an embedded slide): memory must not override it."""
        query = str(self.js.location.search)
        return bool(str(self.js.location.hash)) or any(
            f"{key}=" in query for key in ("phase", "step", "embed", "lock"))

    def reloaded(self) -> bool:
        """Was this page reloaded, or reached by back/forward (not opened from a link)?"""
        try:
            entries = self.js.performance.getEntriesByType("navigation")
            return bool(entries.length) and str(entries[0].type) in ("reload", "back_forward")
        except Exception:  # noqa: BLE001 - no Navigation Timing: treat it as a new visit
            return False

    def restore_hash(self) -> None:
        """A walkthrough position from the last visit, unless the URL names one."""
        saved = self.storage_get(KEY_HASH)
        if saved and saved.startswith("#") and not self.url_names_a_view():
            self.js.location.hash = saved

    async def restore(self) -> None:
        """The input a link asks for (``&input=``), else the model and input of the last visit
        (the hash is restored at mount). A link that names a view (a deep link, an embedded
        slide) is never overridden by memory: it shows the default model on its own input, or
        on the example, whatever this browser ran before."""
        try:
            if self.asked_input is not None:
                await self.use_link_input(self.asked_input)
                return
            if self.linked:
                return
            await self.wait_model()
            if not self.app.numpy or self.client is None:
                if self.storage_get(KEY_MODEL) == "custom":
                    self.say(self.app.say("live.memory.custom_no_numpy"), "warn")
                return
            if self.storage_get(KEY_MODEL) == "custom":
                saved = await self.mod.loadSaved() if self.mod is not None else None
                if not ffi.absent(saved):   # js/live.js answers null (not None) when nothing is kept
                    try:
                        await self.load(saved.npz, str(saved.card), remember=False)
                    except WeightsError as e:
                        self.say(self.app.say("live.memory.custom_failed", error=e), "error")
                else:
                    self.say(self.app.say("live.memory.custom_not_kept"), "warn")
            text = self.storage_get(KEY_INPUT)
            if text and text != self.prompt:
                try:
                    await self.set_input(text)
                except InputError:
                    pass   # an input of another model: keep the shown one
        finally:
            root = self.el("live")
            if root is not None:
                root.dataset.restored = "1"

    async def use_link_input(self, text: str) -> None:
        """Run the default model on the input a link names; say so plainly when it cannot."""
        await self.wait_model()
        if not self.app.numpy or self.client is None:
            self.say(self.app.say("live.memory.link_no_numpy", input=_shown(text)), "warn")
            return
        if text == self.prompt:
            return
        try:
            await self.set_input(text)
        except InputError as e:
            self.say(self.app.say("live.memory.link_misfit", input=_shown(text), error=e, prompt=self.prompt),
                     "error")

    async def start_over(self) -> None:
        """Forget everything kept for the next visit (every ``llmviz.*`` key, the kept model)
        and go back to the beginning."""
        stored.forget_all()
        if self.mod is not None:
            await self.mod.clearSaved()
        self.pending.clear()
        if self.app.numpy and self.client is not None:
            if self.custom:
                await self.use_default(keep_input=False)
            elif self.prompt != self.default["example"] or self.steps:
                await self.set_input(self.default["example"])
        js = self.js
        js.history.replaceState(None, "", str(js.location.pathname) + str(js.location.search))
        try:
            from pyscript.js_modules import boot
            from llmviz import walkthrough
            first = walkthrough.phases()[0]["id"]
            boot.llmviz.goto(ffi.to_js({"phase": first, "step": 0})).catch(self.proxy(lambda e=None: None))
        except Exception:  # noqa: BLE001 - no walkthrough view: nothing to move
            pass
        stored.forget_all()   # what going back to the beginning kept again
        self.say(self.app.say("live.memory.started_over"), "ok")

    # ---- JS commands ------------------------------------------------------------------
    def register(self) -> None:
        app = self.app

        async def cmd_set_input(arg):
            text = ffi.to_py(arg)
            if text is not None and not isinstance(text, str):
                raise InputError(app.say("live.api.set_input"))
            return await self.set_input(text or "")

        async def cmd_generate(arg):
            return await self.generate(*generate_options(ffi.to_py(arg), app.lang))

        async def cmd_load(arg):
            # boot.js hands over {npz: Uint8Array, card: JSON text}; anything else is refused here too
            npz = None if ffi.absent(arg) else getattr(arg, "npz", None)
            card = None if ffi.absent(arg) else getattr(arg, "card", None)
            if ffi.absent(npz) or not isinstance(card, str) or not hasattr(npz, "byteLength"):
                raise WeightsError(app.say("live.api.load_model"))
            size = int(npz.byteLength)
            if size > live.MAX_BYTES:   # checked before the bytes are copied into Python
                raise WeightsError(app.say("live.api.weights_too_big", size=f"{size / 2**20:.1f}",
                                           limit=live.MAX_BYTES // 2**20))
            return await self.load(self.js.Uint8Array.new(npz), card)

        for name, fn in (("setInput", cmd_set_input), ("generate", cmd_generate), ("loadModel", cmd_load)):
            app.command(name, (lambda f: lambda arg=None: self.promise(f, arg))(fn))


def _p(p: float) -> str:
    """A probability with enough digits: 0.999995 is not 1, 3e-06 is not 0."""
    if 0 < p < 1e-3:
        return f"{p:.1e}"
    if 0.999 < p < 1:
        return f"1 - {1 - p:.1e}"
    return f"{p:.3f}"


def generate_options(opts: Any, lang: str | None = None) -> tuple[int, float, int | None, int | None]:
    """``llmviz.generate``'s argument ({n, temperature, top_k, seed}, or a number; None: one
    greedy token) as generate's arguments; LiveError, saying what is wrong (in ``lang``), otherwise."""
    if opts is None:
        opts = {}
    elif not isinstance(opts, dict):
        opts = {"n": opts}
    n, temperature, top_k, seed = (opts.get(k) for k in ("n", "temperature", "top_k", "seed"))
    n = 1 if n is None else _whole(n, live.say(lang, "live.api.number_of_tokens"), lang)
    top_k = None if top_k in (None, 0) else _whole(top_k, "top_k", lang)
    seed = None if seed is None else _whole(seed, "seed", lang)
    if temperature is None:
        temperature = 0.0
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature < float("inf"):
        raise LiveError(live.say(lang, "live.api.temperature", value=_shown(repr(temperature))))
    if top_k is not None and top_k < 1:
        raise LiveError(live.say(lang, "live.api.top_k", value=top_k))
    return n, float(temperature), top_k, seed


def _whole(value: Any, what: str, lang: str | None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise LiveError(live.say(lang, "live.api.whole", what=what, value=_shown(repr(value))))
    return value


def _shown(text: str, n: int = 24) -> str:
    """``text`` for a message, cut short: a link may carry 10,000 letters."""
    return text if len(text) <= n else text[:n] + "…"


def _fits(text: str, vocab: Vocab, limit: int) -> bool:
    try:
        vocab.validate(text, limit)
        return True
    except InputError:
        return False


def _number(value: Any, default: float) -> float:
    try:
        out = float(str(value))
    except ValueError:
        return default
    return out if out == out and abs(out) != float("inf") else default


def _predicted(trace) -> int | None:
    """The most likely next token at the trace's last position (works without numpy)."""
    try:
        probs = trace["probs"]
        T, V = int(probs.shape[1]), int(probs.shape[2])
        row = [float(probs[0, T - 1, v]) for v in range(V)]
    except Exception:  # noqa: BLE001
        return None
    return max(range(len(row)), key=lambda v: row[v])


def mount(app) -> LiveView:
    from pyscript.js_modules import live as live_js   # js/live.js, imported by PyScript (pyscript.toml)
    from llmviz.page.ui import live_inspector

    view = LiveView(app)
    view.mod = live_js
    # opened from a link that names a view (not a reload of this page): memory stays out of it;
    # asked before restore_hash puts the last visit's hash in the URL
    view.linked = view.url_names_a_view() and not view.reloaded()
    # the input the link asks for, read before the walkthrough rewrites the hash (and before the
    # bar is laid out: while the model starts, it says it will run this input)
    view.asked_input = walk_nav.link_input(str(view.js.location.search), str(view.js.location.hash))
    view.build_dom()
    live_inspector.mount(app, view)
    view.register()
    app.on("live", view.on_live)
    view.restore_hash()
    app.live_view = view
    asyncio.ensure_future(view.restore())
    return view
