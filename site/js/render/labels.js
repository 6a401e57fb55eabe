// Block labels: one small HTML element per block (name, then dims and shape), placed
// next to the block's projected rectangle after each frame.
//
// Placement, every frame:
//  - the labels of focused blocks (highlighted, or holding highlighted cells) go first,
//    then those of plain blocks, then those of faded ones; bigger blocks first within each.
//    Focused labels first look for a spot no wider than their block (wrapped if need be),
//    so one focused label never spills over the next focused block's column;
//  - a text already shown word for word is not shown again (unless focused); one that
//    differs only in its numbers (the same weights of another transformer block) waits
//    until every distinct label had its turn;
//  - each label tries, in order: above its block (one line, then wrapped to the block's
//    width), to its right, below it (only with clear space under it, so it never reads as
//    the label of the block beneath), then to its left. Beside a block: strips (on one line,
//    preferred) and focused blocks only. A spot must not cover another label, another
//    block (however thin), the annotations (render/annotations.js) or the view's own
//    overlays (legend, scale buttons); a label never covers cells: one that finds no free
//    spot is not shown (the framing leaves room above the focus for its labels).
// Labels never move left of their block's start to fit on screen (they would sit over a
// neighbour): they wrap instead. Each has an opaque dark backing, and every text has a
// contrast of at least 4.5:1 against it.
//
// Each element carries data-block (the block id) and data-place (above, right, below,
// left) for tests and tools. Styles: css/render.css.

import { t as tr } from "../i18n.js";

const FONT = "11px system-ui, sans-serif";
const SHAPE_FONT = "10px system-ui, sans-serif";
const MIN_PX = 40;       // narrower blocks get no label
const MIN_FOCUS_PX = 16; // ... unless they are focused
const FULL_PX = 110;     // from this width on, the shape line is shown too
const PAD = 3;           // horizontal padding inside a label
const LINE = 13;         // name line height
const SHAPE_LINE = 12;   // shape line height
const GAP = 2;           // between a block and its label
const CLEAR = 6;         // free space a label below its block keeps above the next block
const WRAP_MIN = 100;    // narrowest wrap width
const NARROW_MIN = 40;   // ... of a focused label squeezed by the next focused block
const BESIDE_WRAP = 150; // wrap width of a label beside its block
const MAX_LINES = 3;
const BIN = 64;          // obstacle grid cell, px
const OVERLAYS = ".llmviz-legend, .scene-scales, .scene-scale-info:not([hidden]), [data-label-obstacle]";

// where a label may go, in order: [place, 0 = one line | 1 = wrapped to the block's width]
const TRIES = ["above", 0, "above", 1, "right", 0, "right", 1, "below", 0, "below", 1, "left", 0, "left", 1];
// strips (blocks about a line tall) prefer a label on one line beside them
const STRIP_TRIES = ["above", 0, "right", 0, "left", 0, "above", 1, "below", 0, "below", 1, "right", 1, "left", 1];
const TIER_CLASS = ["hl", "", "dim"];

export class Labels {
  constructor(parent) {
    const doc = parent.ownerDocument;
    this.parent = parent;
    this.layer = doc.createElement("div");
    this.layer.className = "llmviz-labels";
    parent.appendChild(this.layer);
    this.items = [];
    this._order = [];
    this._deferred = [];
    this._rect = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
    this._box = { x: 0, y: 0, w: 0, h: 0, lines: 1, wrap: 0, cut: false };
    this._overlays = [];
    this._overlaysAt = -1e9;
    this._placedKeys = new Set();
    this._placedTexts = new Set();
    // placed labels and obstacles, in one growing list of boxes, binned on a grid
    this._boxes = new Float32Array(0);      // x, y, w, h per box
    this._owner = new Int32Array(0);        // block index of an obstacle box, -1 for labels/overlays
    this._nBoxes = 0;
    this._bins = [];
    this._binsX = 0;
    this._binsY = 0;
    this._stamp = new Int32Array(0);        // per box: last query that looked at it
    this._query = 0;
    const canvas = doc.createElement("canvas");
    this._measure = canvas.getContext ? canvas.getContext("2d") : null;
    this._font = "";
    this._widths = new Map();     // `${font}|${text}` -> its width in px
  }

  /** The width of `text` in `font` (system fonts: no web font arrives later to change it),
   * measured once: a big model's labels repeat the same words hundreds of times, and setting
   * the canvas font and measuring each took most of a new scene's 40-70 ms. */
  _textWidth(text, font) {
    const m = this._measure;
    if (!m) return text.length * 6.2;
    const key = `${font}|${text}`;
    let width = this._widths.get(key);
    if (width === undefined) {
      if (this._font !== font) m.font = this._font = font;
      width = m.measureText(text).width;
      this._widths.set(key, width);
    }
    return width;
  }

  setBlocks(blocks) {
    // a new layer, filled before it replaces the old one: one added node for the page's
    // mutation observers (PyScript's looks for py-* attributes under every element added: a big
    // model's hundreds of labels added one by one cost it tens of ms). Not the old layer taken
    // out and refilled: observers still see a node removed in the same task.
    const old = this.layer;
    this.layer = old.cloneNode(false);
    const doc = this.layer.ownerDocument;
    const spaceW = this._textWidth(" ", FONT);
    this.items = blocks.map((b) => {
      const el = doc.createElement("div");
      const neutral = b.pattern === "neutral";
      el.className = neutral ? "llmviz-label neutral" : "llmviz-label";
      el.dataset.block = b.id;
      const name = doc.createElement("div");
      name.textContent = b.label || b.id;
      const shape = doc.createElement("div");
      shape.className = "shape";
      const dimsText = Array.isArray(b.dims) && b.dims.length === 2 ? `${b.dims[0]}\u00d7${b.dims[1]}` : "";
      const dims = dimsText && !name.textContent.includes(dimsText) ? `${dimsText} = ` : "";
      shape.textContent = `${dims}${b.rows}\u00d7${b.cols}` + (neutral ? ` \u00b7 ${tr("scene.label.shape_only", {}, "shape only, no values")}` : "");
      el.append(name, shape);
      el.title = name.textContent;
      this.layer.appendChild(el);
      const words = name.textContent.split(" ").map((w) => this._textWidth(w, FONT));
      return {
        el, nameEl: name, shown: false, compact: null, cls: "", place: "", wrapW: -1, cutW: -1,
        x: NaN, y: NaN, neutral,
        text: name.textContent, key: name.textContent.replace(/\d+/g, "#"),
        nameWidth: this._textWidth(name.textContent, FONT) + 2 * PAD + 1,
        shapeWidth: this._textWidth(shape.textContent, SHAPE_FONT) + 2 * PAD + 1,
        words, spaceW,
      };
    });
    const n = blocks.length;
    this._order = blocks.map((_, i) => i);
    this._size = new Float32Array(n);
    this._tier = new Uint8Array(n);
    this._rects = new Float32Array(n * 4);
    this._room = new Float32Array(n);
    this._sortKey = (a, b) => (this._tier[a] - this._tier[b]) || (this._size[b] - this._size[a]);
    this._ensureBoxes(n + 64);
    old.replaceWith(this.layer);
  }

  _ensureBoxes(count) {
    if (this._owner.length >= count) return;
    const size = Math.max(count, this._owner.length * 2);
    const boxes = new Float32Array(size * 4);
    boxes.set(this._boxes.subarray(0, this._nBoxes * 4));
    const owner = new Int32Array(size);
    owner.set(this._owner.subarray(0, this._nBoxes));
    this._boxes = boxes;
    this._owner = owner;
    this._stamp = new Int32Array(size);
    this._query = 0;
  }

  /** Mark labels of highlighted and dimmed blocks (update() adds blocks with highlighted cells). */
  setStates(highlighted, dimmed) {
    this._highlighted = highlighted;
    this._dimmed = dimmed;
  }

  /** The view's own HTML overlays (legend, scale buttons) as boxes {x, y, w, h} in layer
   * coordinates; re-read from the page now and then (at most every 250 ms). */
  overlayBoxes() {
    const now = typeof performance !== "undefined" ? performance.now() : Date.now();
    if (now - this._overlaysAt >= 250) {
      this._overlaysAt = now;
      this._overlays.length = 0;
      const base = this.layer.getBoundingClientRect();
      for (const el of this.parent.querySelectorAll(OVERLAYS)) {
        if (el === this.layer || el.closest(".llmviz-labels")) continue;
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.height > 0) this._overlays.push({ x: r.left - base.left, y: r.top - base.top, w: r.width, h: r.height });
      }
    }
    return this._overlays;
  }

  // ---- the box grid: placed labels, blocks and overlays
  _resetGrid(width, height) {
    this._binsX = Math.max(1, Math.ceil(width / BIN));
    this._binsY = Math.max(1, Math.ceil(height / BIN));
    const count = this._binsX * this._binsY;
    for (let k = 0; k < count; k++) {
      if (this._bins[k]) this._bins[k].length = 0;
      else this._bins[k] = [];
    }
    this._nBoxes = 0;
  }

  _addBox(x, y, w, h, owner) {
    this._ensureBoxes(this._nBoxes + 1);
    const k = this._nBoxes++;
    const b = this._boxes;
    b[k * 4] = x; b[k * 4 + 1] = y; b[k * 4 + 2] = w; b[k * 4 + 3] = h;
    this._owner[k] = owner;
    const bx0 = Math.max(0, Math.floor(x / BIN)), bx1 = Math.min(this._binsX - 1, Math.floor((x + w) / BIN));
    const by0 = Math.max(0, Math.floor(y / BIN)), by1 = Math.min(this._binsY - 1, Math.floor((y + h) / BIN));
    for (let by = by0; by <= by1; by++) {
      for (let bx = bx0; bx <= bx1; bx++) this._bins[by * this._binsX + bx].push(k);
    }
  }

  /** True when (x, y, w, h) overlaps no box (boxes owned by block `self` are ignored; `labelsOnly`: only labels count). */
  _free(x, y, w, h, self, labelsOnly) {
    const q = ++this._query;
    const b = this._boxes, owner = this._owner, stamp = this._stamp;
    const bx0 = Math.max(0, Math.floor(x / BIN)), bx1 = Math.min(this._binsX - 1, Math.floor((x + w) / BIN));
    const by0 = Math.max(0, Math.floor(y / BIN)), by1 = Math.min(this._binsY - 1, Math.floor((y + h) / BIN));
    for (let by = by0; by <= by1; by++) {
      for (let bx = bx0; bx <= bx1; bx++) {
        const bin = this._bins[by * this._binsX + bx];
        for (let m = 0; m < bin.length; m++) {
          const k = bin[m];
          if (stamp[k] === q) continue;
          stamp[k] = q;
          const o = owner[k];
          if (o === self || (labelsOnly && o !== -2)) continue;
          // a pixel of slack: boxes that only touch (a label right above a neighbour's top edge) are free
          if (x < b[k * 4] + b[k * 4 + 2] - 1 && x + w > b[k * 4] + 1 && y < b[k * 4 + 1] + b[k * 4 + 3] - 1 && y + h > b[k * 4 + 1] + 1) {
            return false;
          }
        }
      }
    }
    return true;
  }

  // the label box of item `it` one line (or two with its shape line), or wrapped to `wrapW`
  _layout(it, twoLines, wrapW, out) {
    out.wrap = 0;
    out.cut = false;
    const shapeH = twoLines ? SHAPE_LINE : 0;
    if (!(wrapW > 0) || it.nameWidth <= wrapW) {
      out.w = twoLines ? Math.max(it.nameWidth, it.shapeWidth) : it.nameWidth;
      out.h = LINE + shapeH + 1;
      out.lines = 1;
      return out;
    }
    // greedy word wrap (a little narrower than the element, so the browser never needs more lines)
    const inner = wrapW - 2 * PAD - 2;
    let lines = 1, line = 0, widest = 0;
    for (const w of it.words) {
      const add = line > 0 ? line + it.spaceW + w : w;
      if (line > 0 && add > inner) {
        widest = Math.max(widest, line);
        lines += 1;
        line = w;
      } else {
        line = add;
      }
    }
    widest = Math.max(widest, line);
    out.lines = Math.min(lines, MAX_LINES);
    out.wrap = Math.ceil(Math.min(widest, inner) + 2 * PAD + 2);
    out.w = twoLines ? Math.max(out.wrap, Math.min(it.shapeWidth, wrapW)) : out.wrap;
    out.h = out.lines * LINE + shapeH + 1;
    out.cut = lines > MAX_LINES || widest > inner;
    return out;
  }

  /** Place the labels for the current camera (picker.rect projects a block); `taken`: boxes
   * {x, y, w, h} other overlays use this frame (render/annotations.js), kept clear too. */
  update(picker, width, height, taken = []) {
    const n = this.items.length;
    if (!n) return;
    const scene = picker.scene;
    const hl = (scene && scene.highlighted) || this._highlighted;
    const dimmed = (scene && scene.dimmed) || this._dimmed;
    const cells = scene && scene.iRect ? scene.iRect.attribute.array : null;
    const r = this._rect;
    const size = this._size, rects = this._rects, tier = this._tier;
    this._resetGrid(width, height);
    for (const t of this.overlayBoxes()) this._addBox(t.x, t.y, t.w, t.h, -3);
    for (const t of taken) this._addBox(t.x, t.y, t.w, t.h, -3);
    for (let i = 0; i < n; i++) {
      // focus: highlighted, or holding highlighted cells (iRect r1 > r0); else plain or faded
      const o = i * 12 * 4;
      const focus = (hl && hl[i]) || (cells && cells[o + 2] > cells[o]);
      tier[i] = focus ? 0 : dimmed && dimmed[i] ? 2 : 1;
      const cls = TIER_CLASS[tier[i]];
      const item = this.items[i];
      if (cls !== item.cls) {
        if (item.cls) item.el.classList.remove(item.cls);
        if (cls) item.el.classList.add(cls);
        item.cls = cls;
      }
      size[i] = -1;                                        // -1: off screen or behind
      if (!picker.rect(i, width, height, r)) continue;
      if (r.x > width || r.y > height || r.x + r.w < 0 || r.y + r.h < 0) continue;
      size[i] = r.w < (focus ? MIN_FOCUS_PX : MIN_PX) ? 0 : r.w * r.h;   // 0: on screen, too small for a label
      rects[i * 4] = r.x; rects[i * 4 + 1] = r.y; rects[i * 4 + 2] = r.w; rects[i * 4 + 3] = r.h;
      // every block at least about a pixel big is an obstacle (thin strips too)
      if (r.w >= 1 && r.h >= 1) this._addBox(r.x, r.y, r.w, r.h, i);
    }
    // the room each focused label has before the next focused block to its right, at its height
    for (let i = 0; i < n; i++) {
      if (tier[i] !== 0 || size[i] < 0) continue;
      let room = Infinity;
      for (let j = 0; j < n; j++) {
        if (j === i || tier[j] !== 0 || size[j] < 0) continue;
        const dx = rects[j * 4] - rects[i * 4];
        if (dx > 1 && Math.abs(rects[j * 4 + 1] - rects[i * 4 + 1]) < 2 * LINE + 4) room = Math.min(room, dx - 4);
      }
      this._room[i] = room;
    }
    // focused first, then plain, then faded; bigger first; distinct texts before repeats
    const order = this._order;
    order.sort(this._sortKey);
    const keys = this._placedKeys, texts = this._placedTexts;
    keys.clear();
    texts.clear();
    const deferred = this._deferred;
    deferred.length = 0;
    const place = (i, narrow) => {
      const it = this.items[i];
      if (!this._place(i, width, height, narrow)) return false;
      keys.add(it.key);
      texts.add(it.text);
      return true;
    };
    // focused labels first try spots no wider than their block (wrapped if need be), so that
    // one focused label never spills over the column of the next focused block
    let o = 0;
    for (; o < n && tier[order[o]] === 0; o++) {
      const i = order[o];
      if (!(size[i] > 0 && place(i, true))) deferred.push(i);
    }
    for (const i of deferred) place(i, false);
    deferred.length = 0;
    // the others: a text shown already (word for word) is never shown twice; one that differs
    // only in its numbers (the same weights of another block) waits for the distinct ones
    for (; o < n; o++) {
      const i = order[o];
      const it = this.items[i];
      if (size[i] > 0 && texts.has(it.text)) this._hide(it);
      else if (size[i] > 0 && keys.has(it.key)) deferred.push(i);
      else place(i, false);
    }
    for (const i of deferred) {
      if (texts.has(this.items[i].text)) this._hide(this.items[i]);
      else place(i, false);
    }
  }

  _hide(it) {
    if (it.shown) {
      it.el.style.display = "none";
      it.shown = false;
    }
  }

  // find a spot for block i's label and show it there, or hide it; true when shown.
  // narrow: only spots no wider than the block (or WRAP_MIN), and nothing is hidden yet
  _place(i, width, height, narrow) {
    const it = this.items[i];
    const rects = this._rects;
    const focus = this._tier[i] === 0;
    let show = this._size[i] > 0;
    let place = "", x = 0, y = 0;
    const box = this._box;
    const rx = rects[i * 4], ry = rects[i * 4 + 1], rw = rects[i * 4 + 2], rh = rects[i * 4 + 3];
    const compact = focus || rw < FULL_PX;
    const twoLines = !compact || it.neutral;
    if (show) {
      show = false;
      const left = Math.max(0, rx);
      // a focused label wraps before it reaches the next focused block on its right (its own
      // label's spot), never narrower than NARROW_MIN
      const room = focus ? this._room[i] : Infinity;
      const wrapW = Math.max(NARROW_MIN, Math.min(room, Math.max(WRAP_MIN, Math.min(rw, rx + rw - left))));
      const fits = (bx, by) => bx >= 0 && by >= 0 && bx + box.w <= width && by + box.h <= height &&
        this._free(bx, by, box.w, box.h, i, false);
      const tries = rh < LINE * 2 ? STRIP_TRIES : TRIES;
      for (let t = 0; t < tries.length && !show; t += 2) {
        const where = tries[t], variant = tries[t + 1];
        const beside = where === "right" || where === "left";
        const w = beside ? BESIDE_WRAP : Math.min(wrapW, width - left);
        this._layout(it, twoLines, variant ? w : 0, box);
        if (variant && !box.wrap) continue;                       // already fits on one line
        if (box.cut || (narrow && !beside && box.w > w + 1)) continue;
        if (where === "above") { x = left; y = ry - box.h - GAP; }
        else if (where === "below") { x = left; y = ry + rh + GAP; }
        else if (where === "right" || where === "left") {
          // beside: strips, and focused blocks (their yellow label matches their outline);
          // a plain label beside a tall block would float between blocks
          const strip = rh < box.h * 2;
          if (!strip && !focus) continue;
          x = where === "right" ? rx + rw + GAP + 2 : rx - box.w - GAP - 2;
          y = strip ? ry + rh / 2 - box.h / 2 : Math.max(ry, 0);
        }
        if (!fits(x, y)) continue;
        // below: keep clear of the next block, so the label can't read as its label
        if (where === "below" && !this._free(x, y + box.h, box.w, CLEAR, i, false)) continue;
        show = true;
        place = where;
      }
      if (narrow && !show) return false;
    }
    if (show) this._addBox(x, y, box.w, box.h, -2);
    this._apply(it, show, place, x, y, compact, box);
    return show;
  }

  _apply(it, show, place, x, y, compact, box) {
    if (show !== it.shown) {
      it.el.style.display = show ? "block" : "none";
      it.shown = show;
    }
    if (!show) return;
    if (compact !== it.compact) {
      it.el.classList.toggle("compact", compact);
      it.compact = compact;
    }
    if (place !== it.place) {
      it.el.dataset.place = place;
      it.place = place;
    }
    const wrapW = box.wrap || 0;
    if (wrapW !== it.wrapW) {
      it.el.classList.toggle("wrap", wrapW > 0);
      it.wrapW = wrapW;
    }
    // a wrapped or shortened label gets a fixed width (and as many lines as were counted)
    const cutW = wrapW || box.cut ? Math.round(box.w) * 8 + (wrapW ? box.lines : 0) : 0;
    if (cutW !== it.cutW) {
      it.el.style.width = cutW ? `${Math.round(box.w)}px` : "";
      it.nameEl.style.maxHeight = wrapW ? `${box.lines * LINE}px` : "";
      it.cutW = cutW;
    }
    if (!(Math.abs(x - it.x) <= 0.25 && Math.abs(y - it.y) <= 0.25)) {
      it.el.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px)`;
      it.x = x; it.y = y;
    }
  }

  dispose() {
    this.layer.remove();
  }
}
