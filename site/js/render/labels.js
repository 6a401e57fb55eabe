// Block labels: one small HTML element per block (name, then dims and shape), placed
// above the block's projected rectangle after each frame. A label is hidden when its
// block is too small on screen, off screen, or when a bigger block's label already
// covers that spot, so the view never drowns in text.

const LABEL_CSS = `
.llmviz-labels { position: absolute; inset: 0; overflow: hidden; pointer-events: none; z-index: 1; }
.llmviz-label { position: absolute; left: 0; top: 0; white-space: nowrap; display: none;
  font: 11px/1.2 system-ui, sans-serif; color: #dfe5f0; text-shadow: 0 0 3px #0e1117, 0 0 2px #0e1117;
  will-change: transform; }
.llmviz-label .shape { color: #8f99ab; font-size: 10px; }
.llmviz-label.compact .shape { display: none; }
.llmviz-label.compact.neutral .shape { display: block; }
.llmviz-label.dim { opacity: 0.3; }
.llmviz-label.hl { color: #ffe27a; }
`;

const MIN_PX = 40;       // narrower blocks get no label
const FULL_PX = 110;     // from this width on, the shape line is shown too
const CHAR_PX = 6.2;     // rough width of a character, for the overlap test

export class Labels {
  constructor(parent) {
    const doc = parent.ownerDocument;
    if (!doc.getElementById("llmviz-label-css")) {
      const style = doc.createElement("style");
      style.id = "llmviz-label-css";
      style.textContent = LABEL_CSS;
      doc.head.appendChild(style);
    }
    this.layer = doc.createElement("div");
    this.layer.className = "llmviz-labels";
    parent.appendChild(this.layer);
    this.items = [];
    this._order = [];
    this._placed = [];
    this._rect = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
  }

  setBlocks(blocks) {
    this.layer.textContent = "";
    const doc = this.layer.ownerDocument;
    this.items = blocks.map((b) => {
      const el = doc.createElement("div");
      el.className = b.pattern === "neutral" ? "llmviz-label neutral" : "llmviz-label";
      const name = doc.createElement("div");
      name.textContent = b.label || b.id;
      const shape = doc.createElement("div");
      shape.className = "shape";
      const dimsText = Array.isArray(b.dims) && b.dims.length === 2 ? `${b.dims[0]}\u00d7${b.dims[1]}` : "";
      const dims = dimsText && !name.textContent.includes(dimsText) ? `${dimsText} = ` : "";
      shape.textContent = `${dims}${b.rows}\u00d7${b.cols}` + (b.pattern === "neutral" ? " \u00b7 shape only, no values" : "");
      el.append(name, shape);
      this.layer.appendChild(el);
      const width = Math.max(name.textContent.length, shape.textContent.length) * CHAR_PX;
      return { el, shown: false, compact: null, cls: "", x: NaN, y: NaN, neutral: b.pattern === "neutral",
               nameWidth: name.textContent.length * CHAR_PX, width };
    });
    this._order = blocks.map((_, i) => i);
    this._size = new Float32Array(blocks.length);
    this._rects = new Float32Array(blocks.length * 4);
    this._biggestFirst = (a, b) => this._size[b] - this._size[a];
    this._obstacles = new Int32Array(blocks.length);
  }

  /** Mark labels of highlighted and dimmed blocks. */
  setStates(highlighted, dimmed) {
    this.items.forEach((item, i) => {
      const cls = highlighted[i] ? "hl" : dimmed[i] ? "dim" : "";
      if (cls !== item.cls) {
        if (item.cls) item.el.classList.remove(item.cls);
        if (cls) item.el.classList.add(cls);
        item.cls = cls;
      }
    });
  }

  /** Place the labels for the current camera (picker.rect projects a block). */
  update(picker, width, height) {
    const n = this.items.length;
    const r = this._rect;
    const size = this._size;
    for (let i = 0; i < n; i++) {
      size[i] = -1;                                        // -1: off screen or behind
      if (!picker.rect(i, width, height, r)) continue;
      if (r.x > width || r.y > height || r.x + r.w < 0 || r.y + r.h < 0) continue;
      size[i] = r.w < MIN_PX ? 0 : r.w * r.h;                // 0: on screen, too small for a label
      this._rects[i * 4] = r.x; this._rects[i * 4 + 1] = r.y; this._rects[i * 4 + 2] = r.w; this._rects[i * 4 + 3] = r.h;
    }
    // obstacles: every block at least a few pixels big on screen
    const obstacles = this._obstacles;
    let nObstacles = 0;
    for (let i = 0; i < n; i++) {
      if (size[i] >= 0 && this._rects[i * 4 + 2] >= 4 && this._rects[i * 4 + 3] >= 4) obstacles[nObstacles++] = i;
    }
    // biggest blocks first; a label goes above its block, else below it, else stays hidden
    // (hidden too when it would cover another label or another block)
    this._order.sort(this._biggestFirst);
    const placed = this._placed;
    let nPlaced = 0;
    const rects = this._rects;
    this._nObstacles = nObstacles;
    for (let o = 0; o < n; o++) {
      const i = this._order[o];
      const item = this.items[i];
      let show = size[i] > 0;
      let x = 0, y = 0, compact = true;
      if (show) {
        const rx = rects[i * 4], ry = rects[i * 4 + 1], rw = rects[i * 4 + 2], rh = rects[i * 4 + 3];
        compact = rw < FULL_PX;
        const twoLines = !compact || item.neutral;
        const w = twoLines ? item.width : item.nameWidth;
        const h = twoLines ? 26 : 14;
        x = Math.max(0, Math.min(rx, width - w));
        y = ry - h - 2;
        this._nPlaced = nPlaced;
        if (!this._free(i, x, y, w, h)) {
          y = ry + rh + 2;
          show = this._free(i, x, y, w, h);
        }
        if (show) {
          if (!placed[nPlaced]) placed[nPlaced] = { x: 0, y: 0, w: 0, h: 0 };
          const p = placed[nPlaced++];
          p.x = x; p.y = y; p.w = w; p.h = h;
        }
      }
      if (show !== item.shown) {
        item.el.style.display = show ? "block" : "none";
        item.shown = show;
      }
      if (!show) continue;
      if (compact !== item.compact) {
        item.el.classList.toggle("compact", compact);
        item.compact = compact;
      }
      if (!(Math.abs(x - item.x) <= 0.25 && Math.abs(y - item.y) <= 0.25)) {
        item.el.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
        item.x = x; item.y = y;
      }
    }
  }

  // true when a label box at (x, y, w, h) overlaps no placed label and no other block
  _free(i, x, y, w, h) {
    const placed = this._placed, rects = this._rects, obstacles = this._obstacles;
    for (let k = 0; k < this._nPlaced; k++) {
      const p = placed[k];
      if (x < p.x + p.w && x + w > p.x && y < p.y + p.h && y + h > p.y) return false;
    }
    for (let k = 0; k < this._nObstacles; k++) {
      const j = obstacles[k];
      if (j === i) continue;
      const bx = rects[j * 4], by = rects[j * 4 + 1], bw = rects[j * 4 + 2], bh = rects[j * 4 + 3];
      if (x < bx + bw && x + w > bx && y < by + bh && y + h > by) return false;
    }
    return true;
  }

  dispose() {
    this.layer.remove();
  }
}
