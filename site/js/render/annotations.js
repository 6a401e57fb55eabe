// Annotations drawn over the blocks, in HTML and SVG, placed again after every frame so they
// stay on the blocks while the camera moves (styles: css/render.css):
//
//  - operations: for each operation of the scene (llmviz.viz.layout ops) whose output is
//    in the step's focus, arrows from its inputs into a round badge with the operation's
//    sign (+, @, softmax, GELU, norm, ...) just outside the output block;
//  - dimension marks: a bracket along a focused block's columns and one along its rows,
//    named with the config's sizes (T = 11, C = 48, hs = 16, 4C = 192, V = 3);
//  - tokens: the letters of the input above `idx` (their positions above them), the vocabulary above the
//    columns of `wte` and beside the rows of `lm_head`, `logits` and `probs`;
//  - groups (overviews only): the name of each main part of the model (layout groups) in the
//    margin beside it, with a line to it (the framing keeps GROUP_MARGIN px free each side).
//
// Nothing is drawn over a block's cells: every text sits outside the blocks, and a text that
// finds no free spot is left out. update() returns the boxes it used, so the block labels
// (render/labels.js) keep clear of them. Every element carries data-kind (op, dim, token)
// and data-block for tests and tools.

const SVG = "http://www.w3.org/2000/svg";
const MIN_BLOCK_PX = 28;     // blocks smaller than this on screen get no marks
const MIN_TOKEN_PX = 9;      // cells narrower than this get no token letters
const BADGE = 22;            // badge diameter, px
const BADGE_GAP = 16;        // from the output block's edge to the badge's centre
const DIM_GAP = 5;           // from a block's edge to its dimension bracket
const DIM_TICK = 4;
const MAX_DIM_BLOCKS = 6;
const LABEL_BAND = 30;       // kept free above a focused block for its label (two lines)
import { t as tr } from "../i18n.js";


const GROUP_KINDS = new Set(["embedding", "attn", "mlp", "output"]);   // the parts named in overviews
export const GROUP_MARGIN = 180;   // px an overview keeps free on each side for the names

/** A group's name in the margin, in the page's language (layout.py writes the English one). */
function groupName(gid, kind, g) {
  const fallback = g.short || g.label;
  if (gid === kind) return tr(`scene.group.${kind}`, {}, fallback);          // embedding, output
  return tr("scene.group.in_block", { layer: g.layer, part: tr(`scene.group.${kind}`, {}, kind) }, fallback);
}

/** The size a dimension name stands for, from the scene's config and T. */
export function dimValue(name, config, T) {
  const C = config.n_embd, nh = config.n_head;
  const table = { C, T, hs: C / nh, "4C": 4 * C, vocab: config.vocab_size, V: config.vocab_size,
                  block_size: config.block_size, "1": 1, "nh·T": nh * T, nh };
  return table[name];
}

/** How a dimension is written on its mark: "C = 48", "V = 3" (vocab), or null for 1. */
export function dimText(name, config, T) {
  const value = dimValue(name, config, T);
  if (value === undefined || value === 1) return null;
  return `${name === "vocab" ? "V" : name} = ${value}`;
}

export class Annotations {
  constructor(parent) {
    const doc = parent.ownerDocument;
    this.doc = doc;
    this.root = doc.createElement("div");
    this.root.className = "llmviz-annotations";
    this.svg = doc.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "llmviz-annotation-lines");
    this.svg.innerHTML = `<defs><marker id="llmviz-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"
      markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>`;
    this.lines = doc.createElementNS(SVG, "g");
    this.svg.appendChild(this.lines);
    this.root.appendChild(this.svg);
    parent.appendChild(this.root);
    this.texts = new Map();     // key -> element, reused frame to frame
    this.paths = new Map();
    this.scene = null;
    this.byId = new Map();
    this.focus = new Set();
    this.tokens = null;         // {vocab: [...], tokens: [...]}
    this.enabled = { ops: true, dims: true, tokens: true, groups: false };
    this._rect = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
  }

  /** The scene (blocks, ops, config, T) of the renderer; clears the focus. */
  setScene(scene, blockScene) {
    this.scene = scene;
    this.blockScene = blockScene;
    this.byId = blockScene ? blockScene.byId : new Map();
    this.focus = new Set();
    this.clear();
  }

  /** The vocabulary and the input's tokens, for the token letters: {vocab: [...], tokens: [...]}. */
  setTokens(tokens) { this.tokens = tokens && Array.isArray(tokens.vocab) ? tokens : null; }

  /** The step's focus (block ids) and which kinds to draw ({ops, dims, tokens, groups}:
   * booleans; groups, off unless asked: the name of each part of the model over it). */
  setFocus(ids, enabled = {}) {
    this.focus = new Set(ids || []);
    this.enabled = { ops: true, dims: true, tokens: true, groups: false, ...enabled };
  }

  clear() {
    for (const el of this.texts.values()) el.remove();
    for (const el of this.paths.values()) el.remove();
    this.texts.clear();
    this.paths.clear();
  }

  // ---- placement helpers
  _text(key, cls, text, kind, block) {
    let el = this.texts.get(key);
    if (!el) {
      el = this.doc.createElement("div");
      el.className = `llmviz-annotation ${cls}`;
      el.dataset.kind = kind;
      if (block) el.dataset.block = block;
      this.root.appendChild(el);
      this.texts.set(key, el);
    }
    if (el.textContent !== text) el.textContent = text;
    el._used = true;
    return el;
  }

  _path(key, cls, d, arrow) {
    let el = this.paths.get(key);
    if (!el) {
      el = this.doc.createElementNS(SVG, "path");
      el.setAttribute("class", cls);
      if (arrow) el.setAttribute("marker-end", "url(#llmviz-arrow)");
      this.lines.appendChild(el);
      this.paths.set(key, el);
    }
    if (el.getAttribute("d") !== d) el.setAttribute("d", d);
    el._used = true;
    return el;
  }

  _rectOf(id, picker, width, height) {
    const i = this.byId.get(id);
    if (i === undefined) return null;
    const r = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
    if (!picker.rect(i, width, height, r)) return null;
    if (r.x > width || r.y > height || r.x + r.w < 0 || r.y + r.h < 0) return null;
    return r;
  }

  /** Whether a box is free of blocks' rects (except `own`) and of the boxes placed so far. */
  _free(box, own, blockRects, placed, width, height) {
    if (box.x < 0 || box.y < 0 || box.x + box.w > width || box.y + box.h > height) return false;
    const hit = (r) => box.x < r.x + r.w && box.x + box.w > r.x && box.y < r.y + r.h && box.y + box.h > r.y;
    for (const [id, r] of blockRects) if (id !== own && hit(r)) return false;
    for (const r of placed) if (hit(r)) return false;
    return true;
  }

  _place(el, box) {
    el.style.transform = `translate(${Math.round(box.x)}px, ${Math.round(box.y)}px)`;
    el.style.display = "block";
  }

  /**
   * Place every annotation for the current camera. `picker` projects blocks (render/picking.js),
   * `obstacles`: boxes {x, y, w, h} already taken (overlays). Returns the boxes this used.
   */
  update(picker, width, height, obstacles = []) {
    this._picker = picker;
    for (const el of this.texts.values()) el._used = false;
    for (const el of this.paths.values()) el._used = false;
    const placed = [...obstacles];
    const used = [];
    if (this.scene && this.blockScene) {
      // the rects of every visible block at least a few px big: texts keep off them
      const blockRects = new Map();
      const blocks = this.blockScene.blocks;
      const r = this._rect;
      for (let i = 0; i < blocks.length; i++) {
        if (!picker.rect(i, width, height, r)) continue;
        if (r.w < 2 || r.h < 2 || r.x > width || r.y > height || r.x + r.w < 0 || r.y + r.h < 0) continue;
        blockRects.set(blocks[i].id, { x: r.x, y: r.y, w: r.w, h: r.h });
      }
      const take = (box) => { placed.push(box); used.push(box); };
      // the band above each focused block stays free for its label (render/labels.js)
      for (const id of this.focus) {
        const q = blockRects.get(id);
        if (q) placed.push({ x: q.x, y: q.y - LABEL_BAND, w: Math.max(q.w, 90), h: LABEL_BAND });
      }
      if (this.enabled.groups) this._groups(take, placed, width, height);
      if (this.scene.models) this._models(picker, take, placed, width, height);
      if (this.enabled.ops) this._ops(blockRects, take, placed, width, height);
      if (this.enabled.tokens) this._tokens(blockRects, take, placed, width, height);
      if (this.enabled.dims) this._dims(blockRects, take, placed, width, height);
    }
    for (const [key, el] of this.texts) if (!el._used) { el.remove(); this.texts.delete(key); }
    for (const [key, el] of this.paths) if (!el._used) { el.remove(); this.paths.delete(key); }
    return used;
  }

  // ---- the parts of the model (groups), named in the margins beside them, for overviews:
  // attention and the output on the left, the embedding tables and the MLPs on the right
  _groups(take, placed, width, height) {
    const groups = this.scene.groups || {};
    const r = this._rect;
    const rects = [];
    let left = Infinity, right = -Infinity;
    for (const [gid, g] of Object.entries(groups)) {
      const kind = gid.split(".").pop();
      if (!(g.short || g.label) || !GROUP_KINDS.has(kind)) continue;
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const id of g.blocks || []) {
        const i = this.byId.get(id);
        if (i === undefined || !this._picker.rect(i, width, height, r)) continue;
        x0 = Math.min(x0, r.x); y0 = Math.min(y0, r.y); x1 = Math.max(x1, r.x + r.w); y1 = Math.max(y1, r.y + r.h);
      }
      if (!(x1 > x0)) continue;
      rects.push({ gid, kind, label: groupName(gid, kind, g), x0, y0, x1, y1 });
    }
    for (const q of rects) { left = Math.min(left, q.x0); right = Math.max(right, q.x1); }
    for (const q of rects) {
      const side = q.kind === "mlp" || q.kind === "embedding" ? "right" : "left";
      const w = Math.min(q.label.length * 7.6 + 14, GROUP_MARGIN - 20);
      const y = (q.y0 + q.y1) / 2 - 10;
      const box = side === "left" ? { x: left - w - 14, y, w, h: 20 } : { x: right + 14, y, w, h: 20 };
      if (box.x < 0 || box.y < 0 || box.x + box.w > width || box.y + box.h > height) continue;
      if (placed.some((o) => box.x < o.x + o.w && box.x + box.w > o.x && box.y < o.y + o.h && box.y + box.h > o.y)) continue;
      const el = this._text(`group:${q.gid}`, "group", q.label, "group", null);
      el.dataset.group = q.gid;
      el.style.width = `${w.toFixed(0)}px`;
      this._place(el, box);
      take(box);
      const from = side === "left" ? box.x + box.w : box.x, to = side === "left" ? q.x0 : q.x1;
      this._path(`group:${q.gid}`, "group-line", `M${from.toFixed(1)},${(y + 10).toFixed(1)} L${to.toFixed(1)},${(y + 10).toFixed(1)}`, false);
    }
  }

  // ---- a line-up of models for scale (layout.scale_lineup): each named above itself, with a
  // line down to it (the smallest are specks next to GPT-3)
  _models(picker, take, placed, width, height) {
    const cam = picker.camera;
    let lastRight = -Infinity, lift = 0;
    for (const m of this.scene.models) {
      const { min, max } = m.bounds;
      const project = (x, y) => {
        const v = this._v || (this._v = new (cam.position.constructor)());
        v.set(x, y, max[2]).project(cam);
        return { x: (v.x + 1) * 0.5 * width, y: (1 - v.y) * 0.5 * height };
      };
      const a = project(min[0], max[1]), b = project(max[0], max[1]);
      const cx = (a.x + b.x) / 2, top = Math.min(a.y, b.y);
      const text = tr("scene.model_badge", { model: m.label, n: Number(m.param_count).toLocaleString("en") },
                     `${m.label} · ${Number(m.param_count).toLocaleString("en")} parameters`);
      const w = text.length * 7.1 + 14;
      let x = Math.max(4, Math.min(width - w - 4, cx - w / 2));
      lift = x < lastRight + 6 ? lift + 26 : 0;         // overlapping the one before: one line higher
      const box = { x, y: top - 30 - lift, w, h: 20 };
      if (box.y < 0) box.y = 4 + lift;
      lastRight = x + w;
      const el = this._text(`model:${m.key}`, "group model", text, "model", null);
      el.dataset.model = m.key;
      el.style.width = `${w.toFixed(0)}px`;
      this._place(el, box);
      take(box);
      this._path(`model:${m.key}`, "group-line", `M${(box.x + Math.min(w / 2, Math.max(6, cx - box.x))).toFixed(1)},${(box.y + 20).toFixed(1)} ` +
        `L${cx.toFixed(1)},${top.toFixed(1)}`, false);
    }
  }

  // ---- operations: arrows from the inputs into a badge outside the output
  _ops(blockRects, take, placed, width, height) {
    for (const [n, op] of (this.scene.ops || []).entries()) {
      if (!this.focus.has(op.output)) continue;
      const out = blockRects.get(op.output);
      if (!out || out.w < MIN_BLOCK_PX / 2) continue;
      const ins = op.inputs.filter((id) => this.focus.has(id) && blockRects.has(id)).map((id) => [id, blockRects.get(id)]);
      if (!ins.length) continue;
      // the badge: outside the output, on the side that faces the inputs
      const cx = (r) => r.x + r.w / 2, cy = (r) => r.y + r.h / 2;
      const ix = ins.reduce((s, [, r]) => s + cx(r), 0) / ins.length, iy = ins.reduce((s, [, r]) => s + cy(r), 0) / ins.length;
      const dx = ix - cx(out), dy = iy - cy(out);
      let bx, by, ex, ey;
      const aspect = out.w / Math.max(out.h, 1);
      const beside = Math.abs(dx) * (1 / Math.max(aspect, 0.2)) > Math.abs(dy);     // inputs left or right
      if (beside) {
        bx = dx < 0 ? out.x - BADGE_GAP : out.x + out.w + BADGE_GAP;
        by = Math.min(Math.max(iy, out.y + BADGE / 2), out.y + out.h - BADGE / 2);
        ex = dx < 0 ? out.x : out.x + out.w; ey = by;
      } else {                                                              // above or below
        by = dy < 0 ? out.y - BADGE_GAP : out.y + out.h + BADGE_GAP;
        bx = Math.min(Math.max(ix, out.x + BADGE / 2), out.x + out.w - BADGE / 2);
        ex = bx; ey = dy < 0 ? out.y : out.y + out.h;
      }
      // keep the badge off the labels' bands and the texts placed so far: slide it along the
      // output's side (down a side, or right along the top or bottom)
      const hits = (q) => placed.some((o) => q.x < o.x + o.w && q.x + q.w > o.x && q.y < o.y + o.h && q.y + q.h > o.y);
      for (let k = 0; k < 12 && hits({ x: bx - BADGE / 2, y: by - BADGE / 2, w: BADGE, h: BADGE }); k++) {
        if (beside) { by = Math.min(by + BADGE, out.y + out.h - BADGE / 2); ey = by; }
        else { bx = Math.min(bx + BADGE, out.x + out.w - BADGE / 2); ex = bx; }
      }
      const badge = { x: bx - BADGE / 2, y: by - BADGE / 2, w: BADGE, h: BADGE };
      const wide = op.sign.length > 2;
      const el = this._text(`op${n}`, wide ? "op-badge wide" : "op-badge", op.sign, "op", op.output);
      if (wide) {                        // as wide as its text (measured once per text)
        if (el._measured !== op.sign) { el.style.display = "block"; el._width = el.offsetWidth; el._measured = op.sign; }
        badge.w = el._width; badge.h = 20; badge.x = bx - badge.w / 2; badge.y = by - badge.h / 2;
      }
      el.dataset.op = op.kind;
      this._place(el, badge);
      take(badge);
      this._path(`op${n}>`, "op-arrow", `M${bx.toFixed(1)},${by.toFixed(1)} L${ex.toFixed(1)},${ey.toFixed(1)}`, true);
      for (const [id, r] of ins) {
        // from the input's edge that faces the badge
        const sx = bx < r.x ? r.x : bx > r.x + r.w ? r.x + r.w : Math.min(Math.max(bx, r.x), r.x + r.w);
        const sy = by < r.y ? r.y : by > r.y + r.h ? r.y + r.h : Math.min(Math.max(by, r.y), r.y + r.h);
        const inside = sx > r.x && sx < r.x + r.w && sy > r.y && sy < r.y + r.h;
        if (inside) continue;
        const len = Math.hypot(bx - sx, by - sy);
        if (len < BADGE) continue;
        const k = (len - BADGE / 2 - 2) / len;
        const tx = sx + (bx - sx) * k, ty = sy + (by - sy) * k;
        // a gentle curve: leave the input straight out of its edge
        const mx = sx === r.x || sx === r.x + r.w ? (sx + tx) / 2 : sx, my = sy === r.y || sy === r.y + r.h ? (sy + ty) / 2 : sy;
        this._path(`op${n}<${id}`, "op-arrow", `M${sx.toFixed(1)},${sy.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${tx.toFixed(1)},${ty.toFixed(1)}`, true);
      }
    }
  }

  // ---- tokens: the input's letters over idx, the vocabulary on wte, lm_head, logits and probs
  _tokens(blockRects, take, placed, width, height) {
    const t = this.tokens;
    if (!t) return;
    const vocabLabel = (k) => (t.vocab[k] === undefined ? String(k) : JSON.stringify(t.vocab[k]).slice(1, -1) || "␣");
    // row 0: just above the block; row 1: above row 0 (the positions over the letters)
    const columns = (id, labelOf, row, cls = "token") => {
      const r = blockRects.get(id), b = this._block(id);
      if (!r || !b) return;
      const cw = r.w / b.cols;
      if (cw < MIN_TOKEN_PX) return;
      const font = Math.max(9, Math.min(15, cw * 0.6));
      for (let c = 0; c < b.cols; c++) {
        const text = labelOf(c);
        if (text === null) continue;
        const h = font + 4;
        const box = { x: r.x + c * cw, y: r.y - (h + 1) * (row + 1) - 1, w: cw, h };
        if (!this._free(box, id, blockRects, placed, width, height)) continue;
        const el = this._text(`tok:${id}:${c}:${row}`, cls, text, "token", id);
        el.style.fontSize = `${font.toFixed(1)}px`;
        el.style.width = `${cw.toFixed(1)}px`;
        this._place(el, box);
        take(box);
      }
    };
    const rows = (id, labelOf) => {
      const r = blockRects.get(id), b = this._block(id);
      if (!r || !b) return;
      const ch = r.h / b.rows;
      if (ch < MIN_TOKEN_PX) return;
      const font = Math.max(9, Math.min(15, ch * 0.6));
      for (let k = 0; k < b.rows; k++) {
        const text = labelOf(k);
        const w = Math.max(font * 0.7 * text.length + 6, font + 4);
        const box = { x: r.x - w - 3, y: r.y + k * ch + (ch - font - 2) / 2, w, h: font + 2 };
        if (!this._free(box, id, blockRects, placed, width, height)) continue;
        const el = this._text(`tok:${id}:r${k}`, "token", text, "token", id);
        el.style.fontSize = `${font.toFixed(1)}px`;
        el.style.width = "";
        this._place(el, box);
        take(box);
      }
    };
    const tokens = t.tokens || [];
    columns("idx", (c) => (c < tokens.length ? vocabLabel(tokens[c]) : null), 0);
    columns("idx", (c) => String(c), 1, tr("scene.token_position", {}, "token position"));
    columns("wte.weight", (c) => vocabLabel(c), 0);
    for (const id of ["lm_head.weight", "logits", "probs"]) rows(id, vocabLabel);
  }

  _block(id) {
    const i = this.byId.get(id);
    return i === undefined ? null : this.blockScene.blocks[i];
  }

  // ---- dimension marks along the focused blocks' columns and rows
  _dims(blockRects, take, placed, width, height) {
    const config = this.scene.config || {};
    const T = this.scene.T;
    let count = 0;
    const ids = [...this.focus].filter((id) => blockRects.has(id))
      .sort((a, b) => { const ra = blockRects.get(a), rb = blockRects.get(b); return rb.w * rb.h - ra.w * ra.h; });
    for (const id of ids) {
      if (count >= MAX_DIM_BLOCKS) break;
      const b = this._block(id), r = blockRects.get(id);
      if (!b || !b.dims || b.dims.length !== 2 || r.w < MIN_BLOCK_PX || r.h < MIN_BLOCK_PX) continue;
      const [rowsName, colsName] = b.dims;
      let drew = false;
      const colsText = dimText(colsName, config, T);
      if (colsText) {
        for (const below of [true]) {          // never above: that is where the block's label goes
          const y = below ? r.y + r.h + DIM_GAP : r.y - DIM_GAP - 16;
          const w = colsText.length * 6.6 + 8;
          const box = { x: r.x + r.w / 2 - w / 2, y: below ? y + DIM_TICK : y - 1, w, h: 15 };
          if (!this._free(box, id, blockRects, placed, width, height)) continue;
          const ly = below ? y : y + 16;
          const tick = below ? DIM_TICK : -DIM_TICK;
          this._path(`dim:${id}:c`, "dim-line", `M${r.x.toFixed(1)},${(ly + tick).toFixed(1)} L${r.x.toFixed(1)},${ly.toFixed(1)} ` +
            `L${(r.x + r.w).toFixed(1)},${ly.toFixed(1)} L${(r.x + r.w).toFixed(1)},${(ly + tick).toFixed(1)}`, false);
          const el = this._text(`dim:${id}:c`, "dim", colsText, "dim", id);
          el.dataset.axis = "cols";
          this._place(el, box);
          take(box);
          drew = true;
          break;
        }
      }
      const rowsText = dimText(rowsName, config, T);
      if (rowsText) {
        const w = rowsText.length * 6.6 + 8;
        for (const left of [true, false]) {
          const x = left ? r.x - DIM_GAP : r.x + r.w + DIM_GAP;
          const box = { x: left ? x - DIM_TICK - w - 2 : x + DIM_TICK + 2, y: r.y + r.h / 2 - 8, w, h: 15 };
          if (!this._free(box, id, blockRects, placed, width, height)) continue;
          const tick = left ? DIM_TICK : -DIM_TICK;
          this._path(`dim:${id}:r`, "dim-line", `M${(x + tick).toFixed(1)},${r.y.toFixed(1)} L${x.toFixed(1)},${r.y.toFixed(1)} ` +
            `L${x.toFixed(1)},${(r.y + r.h).toFixed(1)} L${(x + tick).toFixed(1)},${(r.y + r.h).toFixed(1)}`, false);
          const el = this._text(`dim:${id}:r`, "dim", rowsText, "dim", id);
          el.dataset.axis = "rows";
          this._place(el, box);
          take(box);
          drew = true;
          break;
        }
      }
      if (drew) count += 1;
    }
  }

  dispose() {
    this.clear();
    this.root.remove();
  }
}
