"""The tensor inspector (``#inspector``): a clicked block's values as a heatmap and a table.

Opens on the scene's "select" event (a block clicked: id, row, col). It shows the
block's label, shape and axes; a heatmap (``js/live.js`` draws it in the renderer's
colours); a number table with labelled rows and columns (token, position, channel,
head), at most ``live.TABLE_ROWS`` x ``live.TABLE_COLS`` around the selected cell; a
"Copy CSV" button for all of it; and, for the selected cell, the same read-out as
the hover tooltip (``llmviz.viz.provenance.describe``). A click on the heatmap or the
table selects another cell. Close with the button or Escape. It follows "trace" and
"model" (new values; closes when the block is gone). Works without numpy.
"""
from __future__ import annotations

from typing import Any

from llmviz.page import live
from llmviz.page.ui import ffi
from llmviz.page.ui.dom import element, terms_table
from llmviz.viz.layout import block_label


class Inspector:
    def __init__(self, app, view):
        import js

        self.app, self.view, self.js = app, view, js
        self.block: dict | None = None
        self.cell: tuple[int, int] | None = None
        self.matrix: list | None = None
        self.labels: dict | None = None

    def el(self, id_: str):
        return self.js.document.getElementById(id_)

    def build_dom(self) -> None:
        """Wire the inspector that index.html laid out (hidden until a block is clicked)."""
        root = self.el("inspector")
        if root is None:
            return
        p = self.view.proxy
        self.el("insp-close").addEventListener("click", p(lambda e: self.close()))
        self.el("insp-copy").addEventListener("click", p(lambda e: self.view.spawn(self.copy())))
        self.el("insp-heat").addEventListener("click", p(self.on_heat_click))
        self.el("insp-table").addEventListener("click", p(self.on_table_click))
        self.js.document.addEventListener("keydown", p(self.on_key))

    # ---- events -------------------------------------------------------------------
    def on_select(self, id: str | None = None, row: int | None = None, col: int | None = None, **_: Any) -> None:
        if id is None:
            return
        self.open(str(id), int(row or 0), int(col or 0))

    def on_values(self, **_: Any) -> None:
        root = self.el("inspector")
        if self.block is None or root is None or root.hidden:
            return
        blocks = {b["id"]: b for b in (self.app.scene or {}).get("blocks", [])}
        block = blocks.get(self.block["id"])
        if block is None:
            self.close()
            return
        r, c = self.cell or (0, 0)
        self.open(block["id"], min(r, block["rows"] - 1), min(c, block["cols"] - 1))

    def on_key(self, event) -> None:
        root = self.el("inspector")
        if event.key == "Escape" and root is not None and not root.hidden:
            self.close()

    def on_heat_click(self, event) -> None:
        if self.view.mod is None or self.block is None:
            return
        hit = self.view.mod.cellAt(event.currentTarget, event.clientX, event.clientY)
        if hit is not None:
            self.select_cell(int(hit[0]), int(hit[1]))

    def on_table_click(self, event) -> None:
        cell = event.target.closest("td[data-r]") if hasattr(event.target, "closest") else None
        if cell is not None and self.block is not None:
            self.select_cell(int(cell.dataset.r), int(cell.dataset.c))

    # ---- showing ----------------------------------------------------------------------
    def open(self, block_id: str, row: int, col: int) -> None:
        app = self.app
        blocks = {b["id"]: b for b in (app.scene or {}).get("blocks", [])}
        block = blocks.get(block_id)
        if block is None:
            return
        self.block = block
        self.matrix = live.block_matrix(block, app.trace, app.params)
        self.labels = live.axis_labels(block, app.vocab, app.ids, app.lang)
        root = self.el("inspector")
        root.hidden = False
        title = block_label(block, self.app.lang, block_id)
        self.el("insp-title").textContent = title
        self.el("insp-shape").textContent = f"{block_id} · {block['rows']} × {block['cols']}"
        lab = self.labels
        axes = self.app.say("ui.inspector.axes", rows=lab['row_title'] or '1', cols=lab['col_title'] or '1')
        if lab.get("head") is not None:
            axes += " · " + self.app.say("ui.inspector.head", h=lab['head'])
        self.el("insp-axes").textContent = axes
        self.select_cell(row, col, redraw_all=True)

    def select_cell(self, row: int, col: int, redraw_all: bool = False) -> None:
        block = self.block
        if block is None or not (0 <= row < block["rows"] and 0 <= col < block["cols"]):
            return
        self.cell = (row, col)
        self.draw_heat()
        self.draw_table()
        self.draw_cell()

    def draw_heat(self) -> None:
        if self.view.mod is None:
            return
        b = self.block
        flat = [v for line in self.matrix for v in line]
        self.view.mod.heatmap(self.el("insp-heat"), ffi.to_js(flat), b["rows"], b["cols"], b.get("role", "activation"),
                              ffi.to_js(list(self.cell)))

    def draw_table(self) -> None:
        b, lab, m = self.block, self.labels, self.matrix
        r0, r1, c0, c1 = live.table_window(b["rows"], b["cols"], *self.cell)
        doc = self.js.document
        table = self.el("insp-table")
        head = table.querySelector("thead tr")
        dims = list(b.get("dims") or ["", ""]) + [""]
        corner = " \\ ".join(d for d in dims[:2] if d and d != "1")
        cells = [element(doc, head, "th", "corner", corner)]
        cells[0].title = self.app.say("ui.inspector.corner_title")
        cells += [element(doc, head, "th", "", lab["cols"][c] or str(c)) for c in range(c0, c1)]
        head.replaceChildren(*cells)
        for th in cells:
            th.setAttribute("scope", "col")
        sr, sc = self.cell
        rows = []
        for r in range(r0, r1):
            row = doc.createElement("tr")
            element(doc, row, "th", "", lab["rows"][r] or str(r)).setAttribute("scope", "row")
            for c in range(c0, c1):
                v = m[r][c]
                td = element(doc, row, "td", "", "" if v is None else f"{v:.4f}")
                td.dataset.r, td.dataset.c = str(r), str(c)
                td.classList.toggle("sel", (r, c) == (sr, sc))
                td.classList.toggle("neg", v is not None and v < 0)
            rows.append(row)
        table.querySelector("tbody").replaceChildren(*rows)
        note = ""
        if (r1 - r0, c1 - c0) != (b["rows"], b["cols"]):
            note = self.app.say("ui.inspector.rows_shown", r0=r0, r1=r1 - 1, c0=c0, c1=c1 - 1,
                                rows=b["rows"], cols=b["cols"])
        self.el("insp-note").textContent = note

    def draw_cell(self) -> None:
        from llmviz.viz import provenance

        app, b = self.app, self.block
        row, col = self.cell
        box = self.el("insp-cell")
        doc = self.js.document
        box.textContent = ""
        try:
            info = provenance.describe(b["id"], row, col, app.trace, app.params, app.config,
                                       T=(app.scene or {}).get("T"))
        except Exception as e:  # noqa: BLE001 - the table still stands
            box.textContent = f"({type(e).__name__}: {e})"
            return
        parts = _parts(info, b, app.vocab, app.lang)
        raw = self.matrix[row][col]

        def add(tag: str, cls: str, text: str):
            return element(doc, box, tag, cls, text)

        add("div", "insp-where", f"[{row}, {col}]  {self.labels['rows'][row]} · {self.labels['cols'][col]}".strip())
        value = add("div", "insp-value", parts["value"])
        value.dataset.raw = "" if raw is None else repr(float(raw))
        if parts.get("where"):
            add("div", "insp-tensor", parts["where"])
        if parts.get("text"):
            add("p", "insp-text", parts["text"])
        if parts.get("terms"):
            terms_table(doc, box, parts["terms"], "insp-terms", "term", "num")

    def csv(self) -> str:
        return live.to_csv(self.block, self.matrix, self.labels) if self.block else ""

    async def copy(self) -> None:
        text = self.csv()
        if not text:
            return
        ok = False
        if self.view.mod is not None:
            ok = bool(await self.view.mod.copyText(text))
        msg = self.el("insp-copied")
        n = self.block["rows"] * self.block["cols"]
        msg.textContent = self.app.say("ui.inspector.copied", n=n) if ok else self.app.say("ui.inspector.copy_refused")
        root = self.el("inspector")
        root.dataset.csv = text if len(text) < 200_000 else ""

    def close(self) -> None:
        root = self.el("inspector")
        if root is not None:
            root.hidden = True
        self.block, self.cell = None, None


def _parts(info: dict, block: dict, vocab: list[str], lang: str = "en") -> dict:
    """The tooltip's read-out (the scene view's helper when it is there, else the same fields)."""
    try:
        from llmviz.page.ui import scene_steps
        return scene_steps.tooltip_parts(info, block, vocab, lang)
    except ImportError:
        value = info.get("value")
        return {"value": "–" if value is None else f"{float(value):.4f}", "where": info.get("tensor") or "",
                "text": info.get("text") or "",
                "terms": [[str(t.get("label", "")), f"{float(t['value']):.4f}"] for t in info.get("terms") or []
                          if t.get("value") is not None][:6]}


def mount(app, view) -> Inspector:
    insp = Inspector(app, view)
    insp.build_dom()
    app.on("select", insp.on_select)
    app.on("trace", insp.on_values)
    view.inspector = insp
    return insp
