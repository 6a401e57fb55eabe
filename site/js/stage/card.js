// The worked example of a step: the numbers of its operation as a small table beside the
// blocks, for the whole step (llmviz.walkthrough.figures makes the spec; styles in
// css/scene.css). Each column is an operand, a stage of the computation or the result;
// each number has a swatch in the colour of its cell; a curve runs from each column that came
// from a block to those cells, and from the result to its cell, and follows the camera.
//
// The card sits in its own part of the view (right of the blocks in a wide view, under them
// in a narrow one); stage/framing.js frames the step in the rest (freeInsets counts the card).
// Under the blocks it starts compact (the formula lines and the result; a button opens the
// table), so a phone keeps most of its view for the blocks.
import { t as tr } from "../i18n.js";
import { cellCss } from "../render/colors.js";

const SVG = "http://www.w3.org/2000/svg";
const SIDE_MIN_WIDTH = 720;     // narrower views put the card under the blocks

function el(doc, tag, cls, text) {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class Card {
  /** onResize(): the card changed size (opened or closed): the view should frame the step again. */
  constructor(container, renderer, onResize = () => {}) {
    this.container = container;
    this.renderer = renderer;
    this.onResize = onResize;
    this.open = false;          // the table of a compact card, opened by the reader
    const doc = container.ownerDocument;
    this.doc = doc;
    this.box = el(doc, "div", "scene-card");
    this.box.setAttribute("role", "figure");
    this.box.hidden = true;
    this.svg = doc.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "scene-card-links");
    this.svg.setAttribute("aria-hidden", "true");
    container.appendChild(this.svg);
    container.appendChild(this.box);
    this.spec = null;
    this.links = [];          // [{from: element, block, cells: [[r, c]], path}]
    this.unhook = renderer.onFrame(() => this.updateLinks());
  }

  /** Where the card goes for the view's size (and the step's wish): "side" or "bottom". */
  placement() {
    return this.container.clientWidth >= SIDE_MIN_WIDTH && this.wish !== "bottom" ? "side" : "bottom";
  }

  /** Show a figure (or hide the card for null); `wish` "bottom" puts it under the blocks even in a
   * wide view (a step whose blocks are much wider than tall). */
  show(spec, wish = this.wish) {
    this.spec = spec || null;
    this.wish = wish || null;
    this.box.textContent = "";
    this.svg.textContent = "";
    this.links = [];
    if (!spec) { this.box.hidden = true; return; }
    const doc = this.doc, r = this.renderer;
    this.box.dataset.place = this.placement();
    const narrow = this.container.clientWidth < SIDE_MIN_WIDTH;      // a phone: the table on demand
    this.box.classList.toggle("compact", narrow && !this.open);
    this.box.setAttribute("aria-label", spec.title || tr("scene.card.aria", {}, "worked example"));
    const top = el(doc, "div", "card-top");
    if (spec.title) top.appendChild(el(doc, "div", "card-title", spec.title));
    if (narrow) {
      const more = el(doc, "button", "card-more", this.open ? tr("scene.card.hide", {}, "hide the numbers")
                                                      : tr("scene.card.show", {}, "show the numbers"));
      more.type = "button";
      more.setAttribute("aria-expanded", String(this.open));
      more.addEventListener("click", () => { this.open = !this.open; this.show(this.spec); this.onResize(); });
      top.appendChild(more);
    }
    this.box.appendChild(top);
    const table = el(doc, "table", "card-table");
    const head = el(doc, "tr");
    head.appendChild(el(doc, "th", "card-rowhead", ""));
    const scales = spec.columns.map((col) => {
      const b = col.block ? r.block(col.block) : null;
      if (b && b.scale > 0) return b.scale;
      const peak = Math.max(0, ...col.values.filter((v) => v !== null && Number.isFinite(v)).map(Math.abs));
      return peak > 0 ? 1 / peak : 0;
    });
    spec.columns.forEach((col, k) => {
      if (col.sign) head.appendChild(el(doc, "th", "card-sign", col.sign));
      const th = el(doc, "th", `card-col${col.mark ? " mark" : ""}${col.hidden ? " later" : ""}`, col.label);
      th.dataset.col = String(k);
      head.appendChild(th);
      if (col.block && col.cells && !col.hidden) this.links.push({ from: th, block: col.block, cells: col.cells.filter(Boolean) });
    });
    const thead = el(doc, "thead");
    thead.appendChild(head);
    table.appendChild(thead);
    const body = el(doc, "tbody");
    spec.rows.forEach((label, i) => {
      const tr = el(doc, "tr", label === null ? "gap" : "");
      tr.appendChild(el(doc, "th", "card-rowhead", label === null ? "⋮" : label));
      spec.columns.forEach((col, k) => {
        if (col.sign) tr.appendChild(el(doc, "td", "card-sign", label === null ? "" : col.sign));
        const td = el(doc, "td", `card-num${col.mark ? " mark" : ""}${col.hidden ? " later" : ""}`);
        const value = col.values[i];
        if (!col.hidden && label !== null) {
          const sw = el(doc, "span", "swatch");
          sw.style.background = value === null ? "transparent" : cellCss(value, scales[k], col.role);
          td.appendChild(sw);
          td.appendChild(doc.createTextNode(col.texts[i]));
        } else if (label === null) {
          td.textContent = col.hidden ? "" : "⋮";
        }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    this.box.appendChild(table);
    if (spec.lines && spec.lines.length) {
      const lines = el(doc, "div", "card-lines");
      for (const line of spec.lines) lines.appendChild(el(doc, "div", "", line));
      this.box.appendChild(lines);
    }
    if (spec.result) {
      const res = el(doc, "div", "card-result");
      res.appendChild(doc.createTextNode(`${spec.result.label} = `));
      res.appendChild(el(doc, "b", "", spec.result.text));
      this.box.appendChild(res);
      const cells = spec.result.cells;   // figures.render: the result's cells (a range for a ring around several)
      if (spec.result.block && cells.length) this.links.push({ from: res, block: spec.result.block, cells, result: true });
    }
    for (const link of this.links) {
      link.path = doc.createElementNS(SVG, "path");
      link.path.setAttribute("class", link.result ? "card-link result" : "card-link");
      link.ring = doc.createElementNS(SVG, "rect");
      link.ring.setAttribute("class", link.result ? "card-ring result" : "card-ring");
      this.svg.appendChild(link.path);
      this.svg.appendChild(link.ring);
    }
    this.box.hidden = false;
    r.requestRender();
  }

  /** The card's rectangle in the container (CSS px), or null when hidden. */
  rect() {
    if (this.box.hidden) return null;
    const c = this.container.getBoundingClientRect(), b = this.box.getBoundingClientRect();
    return { x: b.left - c.left, y: b.top - c.top, w: b.width, h: b.height };
  }

  /** The projected box around some cells of a block, or null when off screen. */
  cellsRect(blockId, cells) {
    const b = this.renderer.block(blockId);
    if (!b || !cells.length) return null;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [row, col] of cells) {
      for (const [dr, dc] of [[0, 0], [1, 1]]) {
        const p = this.renderer.project([b.pos[0] + (col + dc) * b.cell, b.pos[1] - (row + dr) * b.cell, b.pos[2]]);
        if (!p) return null;
        x0 = Math.min(x0, p.x); y0 = Math.min(y0, p.y); x1 = Math.max(x1, p.x); y1 = Math.max(y1, p.y);
      }
    }
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }

  /** Curves from the card's columns (and result) to their cells; called after every frame. */
  updateLinks() {
    if (!this.spec || this.box.hidden) return;
    const c = this.container.getBoundingClientRect();
    for (const link of this.links) {
      const target = this.cellsRect(link.block, link.cells);
      const from = link.from.getBoundingClientRect();
      if (!target || from.width === 0) {
        link.path.setAttribute("d", "");
        link.ring.setAttribute("width", "0");
        continue;
      }
      const side = this.box.dataset.place === "side";
      const sx = side ? from.left - c.left : from.left - c.left + from.width / 2;
      const sy = side ? from.top - c.top + from.height / 2 : from.top - c.top;
      const tx = Math.min(Math.max(sx, target.x), target.x + target.w);
      const ty = Math.min(Math.max(sy, target.y), target.y + target.h);
      const ex = side ? target.x + target.w + 3 : tx, ey = side ? ty : target.y + target.h + 3;
      const mx = side ? (sx + ex) / 2 : sx, my = side ? sy : (sy + ey) / 2;
      const mx2 = side ? (sx + ex) / 2 : ex, my2 = side ? ey : (sy + ey) / 2;
      link.path.setAttribute("d", `M${sx.toFixed(1)},${sy.toFixed(1)} C${mx.toFixed(1)},${my.toFixed(1)} ` +
        `${mx2.toFixed(1)},${my2.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`);
      link.ring.setAttribute("x", (target.x - 2).toFixed(1));
      link.ring.setAttribute("y", (target.y - 2).toFixed(1));
      link.ring.setAttribute("width", (target.w + 4).toFixed(1));
      link.ring.setAttribute("height", (target.h + 4).toFixed(1));
    }
  }

  dispose() {
    this.unhook();
    this.box.remove();
    this.svg.remove();
  }
}
