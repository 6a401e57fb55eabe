// The hover read-out over the 3D view (#tooltip): placed next to the pointer, inside the
// stage. Python (llmviz.page.ui.scene_view) fills it once it is up; before that,
// earlyTooltip shows the hovered cell's value alone.

import { t as tr } from "../i18n.js";

export class Tooltip {
  constructor(container) {
    this.container = container;
    this.pointer = { x: 0, y: 0 };
    if (!container) return;
    container.addEventListener("pointermove", (e) => { this.pointer = { x: e.clientX, y: e.clientY }; this.place(); });
    container.addEventListener("pointerleave", () => { const el = this.el(); if (el) el.hidden = true; });
  }

  el() { return document.getElementById("tooltip"); }

  /** Keep the tooltip beside the pointer, inside its stage. */
  place() {
    const el = this.el();
    if (!el || el.hidden) return;
    const pad = 14;
    const stage = el.offsetParent || document.body;
    const box = stage.getBoundingClientRect();
    let x = this.pointer.x - box.left + pad, y = this.pointer.y - box.top + pad;
    const w = el.offsetWidth, h = el.offsetHeight;
    if (x + w > box.width - 4) x = Math.max(4, this.pointer.x - box.left - w - pad);
    if (y + h > box.height - 4) y = Math.max(4, this.pointer.y - box.top - h - pad);
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
  }

  hide() { const el = this.el(); if (el) el.hidden = true; }

  /** A cell's value alone (before Python is up): block is renderer.block(id), pick {row, col, index}. */
  showValue(block, pick) {
    const el = this.el();
    if (!el) return;
    if (!block || !block.values) { el.hidden = true; return; }
    el.textContent = "";
    const line = (cls, text) => { const d = document.createElement("div"); d.className = cls; d.textContent = text; el.appendChild(d); };
    line("tt-title", `${block.label || block.id} [${pick.row}, ${pick.col}]`);
    line("tt-value", block.values[pick.index].toFixed(4));
    line("tt-where", tr("scene.tooltip.before_python", {}, "where it came from: once Python has loaded"));
    el.hidden = false;
    this.place();
  }
}
