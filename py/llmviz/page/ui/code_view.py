"""The code panel beside every step: nanoGPT's lines and this page's numpy lines.

On each "step" event the panel shows the code references the step names
(``step["code"]``, keys of ``llmviz.codepanel.code_refs.CATALOGUE``) in two tabs, "nanoGPT
(PyTorch)" and "this page (numpy)". Per tab: the step's lines in the step's order
(a granular step's one-line form is folded into a full function shown in the same
step, as marked lines), then the class's ``__init__`` collapsed below for reference.
Each snippet has a header (file, symbol, lines; for nanoGPT at the pinned commit a
link to those lines on GitHub) that collapses or expands it; the choice sticks per
snippet (also across reloads, in localStorage), as does the tab.

The lines a step is about are marked (``panel_items``: a short snippet's own lines, the
lines of a granular key inside the whole function, a config's fields, the ``def forward``
lines of a class outline), and the pane scrolls so that the first of them is in view
(``reveal``) whenever a step opens or the tab changes. A class outline (role
``"outline"``) shows only the class's ``class`` and ``def`` lines, each run of folded
lines as one ``span.fold``.

Each line's code is wrapped in a ``span.src`` (``wrap_lines``): CSS wraps long lines
with a hanging indent and puts the shape note after the code, or under it when both do
not fit on one row, so a note never covers code.

Shapes beside the lines come from ``code_refs.step_code`` for the current model and
input length, so a new input or a new model ("model"/"trace" events) redraws them.
Hovering a code variable emits ``focus`` with its scene blocks; ``focus`` and
``pick`` from elsewhere light up the variables that hold those blocks. Weights work
the same way: ``self.c_fc``, ``self.ln_1``, ``wte=`` ... (``code_refs.WEIGHTS``) are
``span.var.param`` tokens whose blocks are that module's parameter blocks in the
layer the step is about (its ``vars["L"]``).

The snippets come from ``data/code.json`` (``code_refs.to_json``, written by
build.py). When the build has no nanoGPT source, the panel opens on the numpy tab
and the nanoGPT tab says how to add it. ``app.code_refs`` is set on every step: the snippets shown, as
``[{source, file, symbol, lines: [first, last], text}]``.

The top half of this module is pure Python (tested in CPython); ``CodeView`` is the
DOM glue and imports ``js`` only when it runs in the page.
"""
from __future__ import annotations

import asyncio
import html
import json
import re
from typing import Any, Mapping, Sequence

from llmviz.codepanel import code_refs
from llmviz.core.shape import ModelShape
from llmviz.locales import catalogue, fill
from llmviz.page.ui import ffi, stored

__all__ = ["TABS", "BUILD_HINT", "norm_for", "step_keys", "panel_items", "render_panes",
           "nanogpt_available", "default_tab", "published_refs", "dims_line", "wrap_lines",
           "CodeView", "mount"]

TABS = (("nanogpt", "nanoGPT (PyTorch)"), ("port", "this page (numpy)"))
BUILD_HINT = "python build.py --nanogpt PATH/TO/nanoGPT"
CODE_JSON = "data/code.json"
STORE_TAB = "llmviz.code.tab"
STORE_COLLAPSED = "llmviz.code.collapsed"

# the __init__ shown (collapsed) below a step's lines, by the family of its keys
_INIT_BY_FAMILY = {"layernorm": "layernorm.init", "attention": "attention.init", "mlp": "mlp.init",
                   "block": "block.init", "embedding": "embedding.init"}
_INIT_BY_KEY = {"gpt.forward": "gpt.init", "gpt.blocks_loop": "gpt.init", "gpt.lm_head": "gpt.init",
                "gpt.ln_f": "layernorm.init"}
_ROLE_ORDER = {"forward": 0, "compact": 0, "init": 1}
# roles whose lines are marked inside the whole function when the step shows that too
_FOLDED = ("compact", "excerpt")


# ----------------------------------------------------------------------------
# pure Python: which snippets a step shows, and their HTML


def norm_for(step: Mapping) -> str:
    """Which layer norm a step is about (for the shapes of ``LayerNorm.forward``)."""
    keys = step.get("code") or []
    layer = (step.get("vars") or {}).get("L", 0)
    focus = set(step.get("focus") or [])
    if "gpt.ln_f" in keys or "ln_f" in focus:
        return "ln_f"
    if f"h.{layer}.ln_2" in focus:
        return "ln_2"
    return "ln_1"


def step_keys(keys: Sequence[str]) -> list[str]:
    """The step's keys, then the ``__init__`` of each class they compute in (for reference)."""
    out = [k for k in keys if k in code_refs.CATALOGUE]
    for key in list(out):
        init = _INIT_BY_KEY.get(key) or _INIT_BY_FAMILY.get(key.split(".")[0])
        if init and init in code_refs.CATALOGUE and init not in out:
            out.append(init)
    return out


def _inside(inner: dict, outer: dict) -> bool:
    return (inner["source"] == outer["source"] and inner["file"] == outer["file"]
            and outer["lines"][0] <= inner["lines"][0] and inner["lines"][1] <= outer["lines"][1])


def panel_items(step: Mapping, config: Any, T: int,
                resolved: Mapping[str, Mapping[str, Any]], lang: str = "en") -> list[dict]:
    """The snippets of a step, as ``step_code`` dicts plus ``id`` (the key that a
    collapse choice sticks to) and ``marks`` (the lines to mark: the snippet's own
    ``focus``, and the lines of the granular snippets folded into it).

    Order per source: the step's own lines in its order, then ``__init__``s. A
    compact (or excerpt) snippet inside a full function of the same step is dropped
    and its lines are marked in that function instead; an ``__init__`` inside another
    ``__init__`` of the step is dropped too. Titles and notes are in ``lang``.
    """
    keys = step_keys(step.get("code") or [])
    layer = int((step.get("vars") or {}).get("L", 0) or 0)
    layer = max(0, min(layer, config.n_layer - 1))
    items = code_refs.step_code(keys, config, T, resolved, layer=layer, norm=norm_for(step), lang=lang)
    kept: list[dict] = []
    for item in items:
        big = [k for k in items if k is not item and k["role"] not in _FOLDED and _inside(item, k)
               and (k["lines"] != item["lines"])]
        item = dict(item, id=f"{item['source']}:{item['key']}", marks=list(item.get("focus") or []))
        if item["role"] in _FOLDED and any(k["role"] == "forward" for k in big):
            continue  # shown as marked lines of the function (below)
        if item["role"] == "init" and any(k["role"] == "init" for k in big):
            continue
        kept.append(item)
    for item in items:
        if item["role"] not in _FOLDED:
            continue
        for host in kept:
            if host["role"] == "forward" and _inside(item, host):
                host["marks"].extend(range(item["lines"][0], item["lines"][1] + 1))
    kept.sort(key=lambda i: _ROLE_ORDER.get(i["role"], 0))  # stable: the step's order otherwise
    return kept


def nanogpt_available(resolved: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the build resolved any nanoGPT snippet (False: built without its source)."""
    return any(pair.get("nanogpt") is not None for pair in resolved.values())


def default_tab(stored: str | None, nanogpt: bool) -> str:
    """The tab a page opens on: the one chosen last time (kept in localStorage), except
    nanoGPT's when this build has no nanoGPT source; else nanoGPT's, or numpy's without it."""
    if stored in dict(TABS) and (stored != "nanogpt" or nanogpt):
        return stored
    return "nanogpt" if nanogpt else "port"


def published_refs(items: Sequence[dict]) -> list[dict]:
    """What ``app.code_refs`` holds: the snippets shown, exactly as in their files."""
    return [{"source": i["source"], "file": i["file"], "symbol": i["symbol"],
             "lines": [i["lines"][0], i["lines"][1]], "text": i["text"]} for i in items]


def dims_line(config: Any, T: int, B: int = 1, lang: str = "en") -> str:
    """The sizes the shapes are made of, e.g. ``B = 1, T = 11, C = 48, ...``."""
    d = ModelShape.from_config(config).dims(T)
    layers = catalogue(lang).text("code.panel.layers")
    return (f"B = {B}, T = {T}, C = n_embd = {d['C']}, nh = n_head = {d['nh']}, hs = C / nh = {d['hs']}, "
            f"V = vocab_size = {d['V']}, {layers} = {d['n_layer']}")


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _lines_text(lines: Sequence[int], lang: str = "en") -> str:
    a, b = lines
    words = catalogue(lang)
    return words.text("code.panel.line", a=a) if a == b else words.text("code.panel.lines", a=a, b=b)


def _html_text(key: str, lang: str, **markup: str) -> str:
    """The catalogue's text ``key``, escaped, with its ``{{names}}`` filled by trusted markup."""
    return fill(_esc(catalogue(lang).get(key)), markup)


_MODEL_PY = "<code>model.py</code>"


# one line of ``annotate.highlight``'s HTML: number, tokens, then the shape note if any
_LINE = re.compile(r'(<span class="line[^"]*" data-line="\d+"><span class="ln">\d+</span>)(.*?)'
                   r'(<span class="note">[^<]*</span>)?</span>(?=<span class="line[ "]|</pre>)', re.DOTALL)
HANG = 4  # how much further than the line's own indentation its wrapped rest starts (ch)


def _wrap_line(m: re.Match) -> str:
    head, tokens, note = m.group(1), m.group(2), m.group(3) or ""
    text = html.unescape(re.sub(r"<[^>]*>", "", tokens))
    hang = len(text) - len(text.lstrip(" ")) + HANG
    return f'{head}<span class="src" style="--hang:{hang}ch">{tokens}</span>{note}</span>'


def wrap_lines(body: str) -> str:
    """Each line's code tokens in a ``span.src`` (with ``--hang``, where its wrapped rest
    starts), so CSS can lay out the code and its shape note side by side: the code wraps
    with a hanging indent, and the note moves under the code when both do not fit on one
    row; the note never covers any code."""
    return _LINE.sub(_wrap_line, body)


_FOLD_MARKS = re.compile(r'<span class="line[^"]*" data-line="(\d+)">')


def fold_lines(body: str, shown: Sequence[int], lang: str = "en") -> str:
    """``body`` (``wrap_lines``' HTML) with only the lines ``shown``; each run of other
    lines becomes one ``<span class="fold">`` saying how many lines it hides."""
    keep = set(shown)
    parts: list[str] = []
    last, run = 0, 0

    words = catalogue(lang)

    def fold() -> None:
        if run:
            text = words.text("code.panel.folded_many" if run > 1 else "code.panel.folded_one", n=run)
            parts.append(f'<span class="fold" title="{_esc(words.text("code.panel.folded"))}">{_esc(text)}</span>')

    for m in _LINE.finditer(body):
        parts.append(body[last:m.start()])
        last = m.end()
        if int(_FOLD_MARKS.match(m.group(0)).group(1)) in keep:
            fold()
            run = 0
            parts.append(m.group(0))
        else:
            run += 1
    fold()
    parts.append(body[last:])
    return "".join(parts)


def _snippet_html(item: dict, collapsed: bool, lang: str = "en") -> str:
    words = catalogue(lang)
    body = wrap_lines(item["html"])
    if item.get("outline"):
        body = fold_lines(body, item["outline"], lang)
    for line in sorted(set(item["marks"])):
        body = body.replace(f'<span class="line" data-line="{line}">',
                            f'<span class="line marked" data-line="{line}">', 1)
    where = f"{_esc(item['file'])}, {_esc(_lines_text(item['lines'], lang))}"
    if item.get("url"):
        where = (f'<a class="cv-link" href="{_esc(item["url"])}" target="_blank" rel="noopener" '
                 f'title="{_esc(words.text("code.panel.github_title"))}">{where}</a>')
    else:
        where = f'<span class="cv-file">{where}</span>'
    one = item["lines"][0] == item["lines"][1]
    role_key = "one_line" if item["role"] == "compact" and one else \
        "excerpt" if item["role"] == "compact" else item["role"]
    role = words.text(f"code.role.{role_key}") if words.has(f"code.role.{role_key}") else ""
    state = "true" if not collapsed else "false"
    return (f'<div class="cv-snippet{" collapsed" if collapsed else ""}" data-id="{_esc(item["id"])}" '
            f'data-key="{_esc(item["key"])}" data-source="{_esc(item["source"])}" data-role="{_esc(item["role"])}">'
            f'<div class="cv-head" role="button" tabindex="0" aria-expanded="{state}" '
            f'title="{_esc(words.text("code.panel.toggle_title"))}">'
            f'<span class="cv-chev" aria-hidden="true"></span>'
            f'<span class="cv-title">{_esc(item["title"])}</span>'
            f'<span class="cv-role">{_esc(role)}</span>'
            f'<span class="cv-where"><code class="cv-symbol">{_esc(item["symbol"])}</code> {where}</span>'
            f'</div><div class="cv-body">{body}</div></div>')


def _missing_html(lang: str = "en") -> str:
    words = catalogue(lang)
    return (f'<div class="cv-missing"><p><strong>{_esc(words.text("code.panel.missing_lead"))}</strong> '
            f'{_html_text("code.panel.missing_why", lang, file=_MODEL_PY)}</p>'
            f'<p>{_html_text("code.panel.missing_how", lang, file=_MODEL_PY)}</p>'
            f"<pre class=\"cv-cmd\">{_esc(BUILD_HINT)}</pre>"
            f'<p><button type="button" class="cv-show-port">{_esc(words.text("code.panel.show_port"))}</button> '
            f'{_esc(words.text("code.panel.show_port_after"))}</p></div>')


# why a tab has no lines of its own for a step (the catalogue's key)
_NONE_OF_ITS_OWN = {"nanogpt": "code.panel.none_nanogpt", "port": "code.panel.none_port"}


def render_panes(items: Sequence[dict], *, collapsed: Mapping[str, bool] | None = None,
                 nanogpt: bool = True, nanogpt_status: str | None = None, lang: str = "en") -> dict[str, str]:
    """The inside of each tab's pane (``{"nanogpt": html, "port": html}``): its snippets, or
    why there are none, in ``lang``. The tabs and panes themselves are index.html's markup."""
    collapsed = collapsed or {}
    words = catalogue(lang)
    panes = {}
    for source, _label in TABS:
        mine = [i for i in items if i["source"] == source]
        if source == "nanogpt" and not nanogpt:
            parts = [_missing_html(lang)]
        elif not items:
            parts = [f'<p class="cv-empty">{_esc(words.text("code.panel.no_code"))}</p>']
        elif not mine:
            parts = [f'<p class="cv-empty">{_esc(words.text(_NONE_OF_ITS_OWN[source]))}</p>']
        else:
            parts = []
            if source == "nanogpt" and nanogpt_status == "other":
                parts.append(f'<p class="cv-note">{_html_text("code.panel.other_commit", lang, file=_MODEL_PY)}</p>')
            for item in mine:
                default = item["role"] == "init"
                parts.append(_snippet_html(item, bool(collapsed.get(item["id"], default)), lang))
        panes[source] = "".join(parts)
    return panes


# ----------------------------------------------------------------------------
# the page


async def read_snippets(text: str | bytes) -> dict:
    """``data/code.json``'s text as the snippets ``step_code`` uses, with a turn of the event
    loop between its parse and its snippets (0.3 MB: each took 40-80 ms in the page)."""
    data = json.loads(text)
    await asyncio.sleep(0)
    return code_refs.from_json(data)


class CodeView:
    """Owns ``#code``: renders steps, handles tabs, collapsing and variable hover."""

    def __init__(self, app: Any, root: Any):
        import js

        self.app, self.root, self.js = app, root, js
        self.lang = str(getattr(app, "lang", None) or "en")   # the catalogue of titles and notes
        self.resolved: dict | None = None
        self.load_error: str | None = None
        self.step: dict | None = None
        self.items: list[dict] = []
        # the last visit's choices (``stored`` drops a damaged value, with a notice)
        self.stored_tab: str | None = stored.read(app, STORE_TAB, stored.one_of(dict(TABS)))
        self.tab: str | None = None  # chosen on this page (a click on a tab)
        self.shown_tab: str | None = None  # the tab on screen
        self.collapsed: dict[str, bool] = stored.read(app, STORE_COLLAPSED, stored.flags(), {})
        self.hover_var = None
        self.lit: list[str] = []
        self._cache: dict = {}
        self._due: tuple | None = None   # what on_step prepared, drawn in the next task
        self._observer = None   # the MutationObserver that follows the page's theme
        # index.html's markup: the tabs, the sizes line, a pane per tab
        self.panel = root.querySelector(".cv")
        self.dims = root.querySelector(".cv-dims")
        self.panes = {source: root.querySelector(f"#cv-pane-{source}") for source, _label in TABS}

    # ---- wiring -------------------------------------------------------------
    def mount(self) -> None:
        for event, fn in (("click", self._on_click), ("keydown", self._on_key),
                          ("mouseover", self._on_over), ("mouseout", self._on_out)):
            ffi.listen(self.root, event, fn)
        app = self.app
        app.on("step", self.on_step)
        app.on("model", self.on_model)
        app.on("trace", self.on_trace)
        app.on("focus", self.on_focus)
        app.on("pick", self.on_pick)
        self._theme_stylesheet()
        self._watch_theme()
        self._debug_hooks()
        snippets = getattr(app, "code_snippets", None)
        if snippets is not None:     # the boot read them while the model worker started
            self.resolved = snippets
            self.render()
            return
        self._loading = asyncio.ensure_future(self.load())
        app.loading.append(self._loading)

    async def load(self) -> None:
        from pyscript import fetch

        url = self.js.URL.new(CODE_JSON, self.js.document.baseURI).href
        try:
            resp = await fetch(url)
            if not resp.ok:
                raise RuntimeError(f"HTTP {resp.status}")
            self.resolved = await read_snippets(await resp.text())
        except Exception as e:  # noqa: BLE001 - the rest of the page goes on
            self.load_error = f"could not load {CODE_JSON} ({type(e).__name__}: {e})"
            self.app.report(f"code view: {self.load_error}")
        self.render()

    # ---- events from the app --------------------------------------------------
    def on_step(self, step: dict | None = None, **_: Any) -> None:
        """A new step: its snippets now, the panel drawn in a task of its own (each part takes
        tens of ms here; ``app.loading`` holds the drawing, so the step counts as shown once
        the panel is drawn)."""
        self.step = step
        prepared = self._prepare()
        if prepared is None:
            return
        self._due = prepared

        async def draw():
            async with self.app.piece():
                if self._due is prepared:
                    self._draw(*prepared)

        loading = self.app.loading
        loading[:] = [f for f in loading if not f.done()] + [asyncio.ensure_future(draw())]

    def on_model(self, **_: Any) -> None:
        self._cache.clear()

    def on_trace(self, **_: Any) -> None:
        """A new text: the panel is drawn again in a task of its own (the walkthrough usually
        shows its step again for the new text first, and that draws it: then once is enough)."""
        self._cache.clear()
        if getattr(self, "_render_due", False):
            return
        self._render_due = True

        async def later():
            async with self.app.piece():
                if self._render_due:
                    self.render()

        asyncio.ensure_future(later())

    def on_focus(self, ids: Sequence[str] | None = None, **_: Any) -> None:
        self.light(list(ids or []))

    def on_pick(self, id: str | None = None, **_: Any) -> None:  # noqa: A002 - the event's field
        self.light([id] if id else [])

    # ---- rendering --------------------------------------------------------------
    def _nanogpt_info(self) -> dict:
        return (getattr(self.app, "build", None) or {}).get("nanogpt") or {}

    def current_items(self) -> list[dict]:
        step, app = self.step, self.app
        if step is None or self.resolved is None:
            return []
        T = len(app.ids)
        key = (tuple(step.get("code") or []), json.dumps(step.get("vars") or {}, sort_keys=True),
               norm_for(step), T)
        if key not in self._cache:
            self._cache[key] = panel_items(step, app.config, T, self.resolved, self.lang)
        return self._cache[key]

    def say(self, text: str) -> None:
        """A line in every pane instead of code (the panel is not available, or the step failed)."""
        from llmviz.page.ui.dom import element

        for pane in self.panes.values():
            pane.replaceChildren()
            element(self.js.document, pane, "p", "cv-empty", text)

    def render(self) -> None:
        prepared = self._prepare()
        if prepared is not None:
            self._draw(*prepared)

    def _prepare(self) -> tuple | None:
        """The step's snippets (``items``, published as ``app.code_refs``) and the step, for
        ``_draw``; None when there is nothing to draw (said in the panel)."""
        self._render_due = False
        self._due = None
        if self.resolved is None:
            if self.load_error:
                self.say(self.app.say("ui.code.unavailable", error=self.load_error))
            return None
        if self.step is None:
            self.step = getattr(self.app, "step", None)
            if self.step is None:
                return None
        try:
            items = self.current_items()
        except Exception as e:  # noqa: BLE001 - say so in the panel, keep the page going
            self.items, self.app.code_refs = [], []
            self.say(self.app.say("ui.code.no_code", error=f"{type(e).__name__}: {e}"))
            self.app.report(f"code view: step {self.step.get('phase')}/{self.step.get('step')}: "
                            f"{type(e).__name__}: {e}")
            return None
        self.items = items
        self.app.code_refs = published_refs(items)
        return items, self.step

    def _draw(self, items: list[dict], step: dict) -> None:
        """The panes of ``step``'s snippets ``items`` (``_prepare``'s)."""
        available = nanogpt_available(self.resolved)
        tab = self.tab or default_tab(self.stored_tab, available)
        panes = render_panes(items, collapsed=self.collapsed, nanogpt=available,
                             nanogpt_status=self._nanogpt_info().get("status"), lang=self.lang)
        for source, pane in self.panes.items():
            pane.innerHTML = panes[source]
        self.dims.textContent = dims_line(self.app.config, len(self.app.ids), lang=self.lang)
        self.dims.hidden = False
        nanogpt_tab = self.root.querySelector("#cv-tab-nanogpt")
        if available:
            nanogpt_tab.removeAttribute("data-missing")
        else:
            nanogpt_tab.dataset.missing = "true"
        self.show_tab(tab)
        self.reveal()
        self.panel.dataset.step = f"{step.get('phase')}:{step.get('step')}"
        self.hover_var = None
        self.light(self.lit)

    def light(self, ids: list[str]) -> None:
        """Mark the code variables that hold any of these scene blocks."""
        self.lit = ids
        wanted = set(ids)
        for el in self.root.querySelectorAll("span.var[data-blocks]"):
            blocks = set(str(el.dataset.blocks).split())
            el.classList.toggle("lit", bool(wanted & blocks))

    # ---- tabs and collapsing ------------------------------------------------------
    def set_tab(self, tab: str) -> None:
        if tab not in dict(TABS):
            return
        self.tab = tab
        stored.write(STORE_TAB, tab)
        self.show_tab(tab)
        self.reveal()

    def show_tab(self, tab: str) -> None:
        """Select ``tab`` and show its pane."""
        self.shown_tab = tab
        for el in self.root.querySelectorAll(".cv-tab"):
            el.setAttribute("aria-selected", "true" if el.dataset.tab == tab else "false")
        for el in self.root.querySelectorAll(".cv-pane"):
            el.hidden = el.dataset.source != tab

    def reveal(self) -> None:
        """Scroll the open pane so that the step's first marked line is in view: the pane's
        top when the marked lines fit below it, else their snippet's header when they fit
        below that, else the marked lines a third of the way down (with the lines above them
        for context). Without marked lines: the top."""
        pane = self.panes.get(self.shown_tab)
        if pane is None:
            return
        marked = pane.querySelectorAll(".cv-snippet:not(.collapsed) .line.marked")
        if not marked.length:
            pane.scrollTop = 0
            return
        first = marked[0]
        # the run of marked lines that starts there (a granular step's one to four lines)
        last, node = first, first.nextElementSibling
        while node and node.classList.contains("marked"):
            last, node = node, node.nextElementSibling
        box = pane.getBoundingClientRect()
        top = first.getBoundingClientRect().top - box.top + pane.scrollTop
        bottom = last.getBoundingClientRect().bottom - box.top + pane.scrollTop
        view = pane.clientHeight
        head = first.closest(".cv-snippet").getBoundingClientRect().top - box.top + pane.scrollTop
        if view <= 0 or bottom <= view - 8:
            pane.scrollTop = 0
        elif bottom - head <= view - 8:
            pane.scrollTop = max(0, head - 4)
        elif bottom - top > view * 2 / 3:
            pane.scrollTop = max(0, top - 8)
        else:
            pane.scrollTop = max(0, top - view / 3)

    def toggle(self, snippet: Any) -> None:
        collapsed = not snippet.classList.contains("collapsed")
        snippet.classList.toggle("collapsed", collapsed)
        head = snippet.querySelector(".cv-head")
        if head:
            head.setAttribute("aria-expanded", "false" if collapsed else "true")
        self.collapsed[str(snippet.dataset.id)] = collapsed
        stored.write(STORE_COLLAPSED, self.collapsed)

    def _on_click(self, event: Any) -> None:
        target = event.target
        if not getattr(target, "closest", None):
            return
        if target.closest("a"):
            return  # the GitHub link opens in a new tab, nothing else
        tab = target.closest(".cv-tab")
        if tab:
            self.set_tab(str(tab.dataset.tab))
            return
        if target.closest(".cv-show-port"):
            self.set_tab("port")
            return
        head = target.closest(".cv-head")
        if head:
            self.toggle(head.closest(".cv-snippet"))

    def _on_key(self, event: Any) -> None:
        target = event.target
        tab = target.closest(".cv-tab") if getattr(target, "closest", None) else None
        if tab and event.key in ("ArrowLeft", "ArrowRight"):
            names = [name for name, _label in TABS]
            step = 1 if event.key == "ArrowRight" else -1
            name = names[(names.index(str(tab.dataset.tab)) + step) % len(names)]
            self.set_tab(name)
            self.root.querySelector(f"#cv-tab-{name}").focus()
            event.preventDefault()
            return
        if event.key not in ("Enter", " "):
            return
        head = target.closest(".cv-head") if getattr(target, "closest", None) else None
        if head:
            event.preventDefault()
            self.toggle(head.closest(".cv-snippet"))

    # ---- variables <-> scene ----------------------------------------------------------
    def _var_of(self, node: Any) -> Any:
        """The code variable around a node, or None (JS null arrives as a falsy JsNull)."""
        if not node or not getattr(node, "closest", None):
            return None
        return node.closest("span.var[data-blocks]") or None

    def _on_over(self, event: Any) -> None:
        var = self._var_of(event.target)
        if var is None or var == self.hover_var:
            return
        self.hover_var = var
        self.app.emit("focus", ids=str(var.dataset.blocks).split())

    def _on_out(self, event: Any) -> None:
        if self.hover_var is None:
            return
        to = self._var_of(event.relatedTarget)
        if to is not None and to == self.hover_var:
            return  # still inside the same variable (moved between its token's spans)
        self.hover_var = None
        if to is None:  # moving straight onto another variable: its mouseover emits
            self.app.emit("focus", ids=[])

    # ---- theme: follow the page's ------------------------------------------------------
    def _theme_stylesheet(self) -> None:
        """Link css/code-theme.css (pygments' themes, written by build.py) once."""
        doc = self.js.document
        if doc.querySelector('link[data-llmviz="code-theme"]'):
            return
        link = doc.createElement("link")
        link.rel = "stylesheet"
        link.href = "css/code-theme.css"
        link.setAttribute("data-llmviz", "code-theme")
        doc.head.appendChild(link)

    def _watch_theme(self) -> None:
        js = self.js
        proxy = ffi.proxy(lambda *_: self.apply_theme())
        try:
            js.window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", proxy)
        except Exception:  # noqa: BLE001 - old browsers: the theme is set once
            pass
        observer = js.MutationObserver.new(proxy)
        options = ffi.to_js({"attributes": True, "attributeFilter": ["data-theme", "class"]})
        observer.observe(js.document.documentElement, options)
        observer.observe(js.document.body, options)
        self._observer = observer
        self.apply_theme()

    def theme(self) -> str:
        """"light" or "dark": the page's data-theme if it sets one, else the brightness of
        the background the panel sits on (so the code matches whatever the page shows)."""
        js = self.js
        for el in (js.document.documentElement, js.document.body):
            value = el.getAttribute("data-theme")
            if value in ("light", "dark"):
                return value
        el = self.root
        while el and getattr(el, "nodeType", 0) == 1:
            rgba = _rgba(str(js.getComputedStyle(el).backgroundColor))
            if rgba and rgba[3] > 0.5:
                r, g, b = rgba[:3]
                return "light" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else "dark"
            el = el.parentElement
        return "dark" if js.window.matchMedia("(prefers-color-scheme: dark)").matches else "light"

    def apply_theme(self) -> None:
        theme = self.theme()
        self.root.classList.toggle("code-dark", theme == "dark")
        self.root.classList.toggle("code-light", theme == "light")

    # ---- test hooks (only with ?debug=1) -------------------------------------------
    def _debug_hooks(self) -> None:
        js = self.js
        try:
            if js.URLSearchParams.new(js.location.search).get("debug") != "1":
                return
        except Exception:  # noqa: BLE001
            return
        if not getattr(js.window, "llmvizDebug", None):
            js.window.llmvizDebug = js.Object.new()
        dbg = js.window.llmvizDebug
        app = self.app

        def step(phase: str, index: int) -> None:
            from llmviz import walkthrough

            rendered = walkthrough.render_step(str(phase), int(index), app.walk_ctx())
            app.step = rendered
            app.emit("step", step=rendered)

        def record(ids=None, **_):
            dbg.codeLastFocus = ffi.to_js(list(ids or []))

        app.on("focus", record)
        proxy = ffi.proxy(step)
        dbg.codeStep = proxy
        if not getattr(dbg, "step", None):
            dbg.step = proxy
        refs = ffi.proxy(lambda: json.dumps(app.code_refs))
        emit = ffi.proxy(lambda name, payload="{}": app.emit(str(name), **json.loads(str(payload))))
        dbg.codeRefs = refs      # () -> JSON of app.code_refs
        dbg.codeEmit = emit      # (event, JSON payload): as if another view emitted it


def _rgba(text: str) -> tuple[float, float, float, float] | None:
    """``rgb(1, 2, 3)`` / ``rgba(1, 2, 3, 0.5)`` -> (r, g, b, a); None for anything else."""
    text = text.strip()
    if not text.startswith("rgb"):
        return None
    try:
        inner = text[text.index("(") + 1:text.rindex(")")].replace("/", ",").replace(" ", ",")
        nums = [float(p) for p in inner.split(",") if p]
    except ValueError:
        return None
    if len(nums) == 3:
        nums.append(1.0)
    return tuple(nums[:4]) if len(nums) >= 4 else None


def mount(app: Any) -> CodeView:
    import js

    root = js.document.getElementById("code")
    if not root:
        raise RuntimeError("the page has no #code section")
    view = CodeView(app, root)
    view.mount()
    app.code_view = view
    return view
