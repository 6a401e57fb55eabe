// Animations of the walkthrough: declarative specs (llmviz.walkthrough.ANIMATION_KINDS)
// played on the renderer with a few temporary meshes of cells.
//
//   const player = new Animator(renderer);
//   await player.play(spec, {base: {focus, cells}, speed: 1});   // resolves when done
//   player.setSpeed(2); player.pause(true); player.skip();          // while it plays
//
// Every animation is a list of stages, each a duration (seconds at speed 1) and an
// update(u) for u in 0..1. Cells that move are drawn as a Patch: a small mesh of
// quads, one per cell, each with a start and an end position and colour, coloured
// like the blocks (the block's hue for positive values, orange for negative values,
// brighter for larger |value|). When the animation ends (or is skipped) its patches
// are removed and the step's own highlight (`base`) is put back. Nothing runs, and
// nothing is redrawn, between animations.
import * as THREE from "three";
import { PALETTE, cellColor, rgb } from "./colors.js";

const ZERO = rgb(PALETTE.zero), MARK = rgb(PALETTE.highlight);

const ease = (t) => (t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2);
const lerp = (a, b, u) => a + (b - a) * u;

const PATCH_VERTEX = /* glsl */ `
in vec3 color;
out vec3 vColor;
void main() {
  vColor = color;
  gl_Position = projectionMatrix * modelViewMatrix * vec4(position, 1.0);
}`;
const PATCH_FRAGMENT = /* glsl */ `
precision highp float;
uniform float uOpacity;
in vec3 vColor;
out vec4 fragColor;
void main() { fragColor = vec4(vColor, uOpacity); }`;

/**
 * Moving cells. `cells`: [{from: [x, y, z], to: [x, y, z], c0: [r, g, b], c1: [r, g, b]}]
 * (cell centres in world space); `size`: the world size of a cell. update(u) places
 * each cell at its eased position (lifted towards the camera on the way, `arc` cells
 * at mid-flight) with the mixed colour.
 */
export class Patch {
  constructor(cells, size, { arc = 2, fromSize = null, toSize = null } = {}) {
    this.cells = cells;
    this.size = size;
    this.fromSize = fromSize || size;
    this.toSize = toSize || size;
    this.arc = arc;
    const n = cells.length;
    this.positions = new Float32Array(n * 4 * 3);
    this.colors = new Float32Array(n * 4 * 3);
    const index = new Uint32Array(n * 6);
    for (let i = 0; i < n; i++) index.set([i * 4, i * 4 + 1, i * 4 + 2, i * 4, i * 4 + 2, i * 4 + 3], i * 6);
    this.geometry = new THREE.BufferGeometry();
    this.geometry.setIndex(new THREE.BufferAttribute(index, 1));
    this.posAttr = new THREE.BufferAttribute(this.positions, 3).setUsage(THREE.DynamicDrawUsage);
    this.colAttr = new THREE.BufferAttribute(this.colors, 3).setUsage(THREE.DynamicDrawUsage);
    this.geometry.setAttribute("position", this.posAttr);
    this.geometry.setAttribute("color", this.colAttr);
    this.material = new THREE.ShaderMaterial({
      glslVersion: THREE.GLSL3, vertexShader: PATCH_VERTEX, fragmentShader: PATCH_FRAGMENT,
      uniforms: { uOpacity: { value: 1 } }, transparent: true, depthTest: false, side: THREE.DoubleSide,
    });
    this.mesh = new THREE.Mesh(this.geometry, this.material);
    this.mesh.frustumCulled = false;
    this.mesh.renderOrder = 10;           // over the blocks
    this.update(0);
  }

  set opacity(value) { this.material.uniforms.uOpacity.value = value; }

  update(u) {
    const e = ease(Math.min(1, Math.max(0, u)));
    const lift = Math.sin(Math.PI * e) * this.arc * this.size;
    const half = lerp(this.fromSize, this.toSize, e) * 0.45;
    const P = this.positions, C = this.colors;
    this.cells.forEach((c, i) => {
      const x = lerp(c.from[0], c.to[0], e), y = lerp(c.from[1], c.to[1], e), z = lerp(c.from[2], c.to[2], e) + lift;
      const o = i * 12;
      P[o] = x - half; P[o + 1] = y - half; P[o + 2] = z;
      P[o + 3] = x + half; P[o + 4] = y - half; P[o + 5] = z;
      P[o + 6] = x + half; P[o + 7] = y + half; P[o + 8] = z;
      P[o + 9] = x - half; P[o + 10] = y + half; P[o + 11] = z;
      const c1 = c.c1 || c.c0;
      const r = lerp(c.c0[0], c1[0], e), g = lerp(c.c0[1], c1[1], e), b = lerp(c.c0[2], c1[2], e);
      for (let k = 0; k < 4; k++) { C[o + k * 3] = r; C[o + k * 3 + 1] = g; C[o + k * 3 + 2] = b; }
    });
    this.posAttr.needsUpdate = true;
    this.colAttr.needsUpdate = true;
  }

  dispose() {
    this.geometry.dispose();
    this.material.dispose();
  }
}

/** The world centre of cell (row, col) of a block (a renderer.block() record), just in front of it. */
export function cellCenter(b, row, col) {
  return [b.pos[0] + (col + 0.5) * b.cell, b.pos[1] - (row + 0.5) * b.cell, b.pos[2] + 0.05 * b.cell];
}

function value(b, row, col) {
  return b && b.values && row >= 0 && row < b.rows && col >= 0 && col < b.cols ? b.values[row * b.cols + col] : 0;
}

/** The cells of a half-open range [r0, c0, r1, c1] of a block, row by row: [[row, col], ...]. */
function rangeCells(b, [r0, c0, r1, c1]) {
  const out = [];
  for (let r = Math.max(0, r0); r < Math.min(b.rows, r1); r++) {
    for (let c = Math.max(0, c0); c < Math.min(b.cols, c1); c++) out.push([r, c]);
  }
  return out;
}

function scaleOf(values) {
  let m = 0;
  for (const v of values) if (Math.abs(v) > m && Number.isFinite(v)) m = Math.abs(v);
  return m > 0 ? 1 / m : 0;
}

/** Which axis of a block runs over positions (T): "cols" (most blocks) or "rows" (blocks drawn on their side). */
function tAxis(b) {
  const d = b.dims || [];
  if (d[1] === "T") return "cols";
  if (d[0] === "T") return "rows";
  return "cols";
}

/** The cells of one position `t` of a block: its column, or its row for blocks drawn on their side. */
function positionRange(b, t) {
  return tAxis(b) === "rows" ? [t, 0, t + 1, b.cols] : [0, t, b.rows, t + 1];
}

export class Animator {
  constructor(renderer, { label } = {}) {
    this.r = renderer;
    this.speed = 1;
    this.paused = false;
    this.current = null;
    this.labelEl = label || null;
  }

  setSpeed(speed) { this.speed = speed > 0 ? speed : 1; }
  pause(paused) { this.paused = !!paused; if (!paused) this.r.requestRender(); }
  /** Jump to the end of the running animation. */
  skip() { if (this.current) this.current.skip = true; this.r.requestRender(); }
  get playing() { return !!this.current; }

  /** Stop the running animation at once (its end state is restored). */
  stop() { if (this.current) this.current.stop = true; this.r.requestRender(); }

  /**
   * Play an animation spec; `base` = {focus, cells} is the step's highlight (put back at
   * the end). Resolves true when it ran to its end (or was skipped), false when stopped.
   */
  play(spec, { base = { focus: [], cells: {} }, speed, reduced = false } = {}) {
    if (this.current) this.current.stop = true;
    if (speed !== undefined) this.setSpeed(speed);
    const stages = spec ? this.build(spec, base) : [];
    const restore = () => { this.r.highlight(base.focus || [], base.cells || {}); this.hideLabel(); };
    if (reduced || !stages.length) {
      restore();
      return Promise.resolve(true);
    }
    const patches = new Set();
    const run = { stop: false, skip: false, patches };
    this.current = run;
    let stageIndex = 0, elapsed = 0, last = null;
    const cleanup = () => {
      for (const p of patches) { this.r.removeObject(p.mesh); p.dispose(); }
      patches.clear();
      if (this.current === run) this.current = null;
    };
    const ctx = {
      add: (patch) => { patches.add(patch); this.r.addObject(patch.mesh); return patch; },
      remove: (patch) => { if (patches.delete(patch)) { this.r.removeObject(patch.mesh); patch.dispose(); } },
    };
    return new Promise((resolve) => {
      this.r.addTicker((now) => {
        if (run.stop) { cleanup(); restore(); resolve(false); return false; }
        if (run.skip) {
          for (; stageIndex < stages.length; stageIndex++) {
            const s = stages[stageIndex];
            if (!s.started) { s.started = true; s.start && s.start(ctx); }
            s.update && s.update(1, ctx);
            s.end && s.end(ctx);
          }
        }
        const dt = last === null || this.paused ? 0 : Math.min(now - last, 100) / 1000;
        last = now;
        elapsed += dt * this.speed;
        while (stageIndex < stages.length) {
          const s = stages[stageIndex];
          if (!s.started) { s.started = true; s.start && s.start(ctx); }
          const u = s.duration > 0 ? Math.min(1, elapsed / s.duration) : 1;
          s.update && s.update(u, ctx);
          if (u < 1) break;
          elapsed -= s.duration;
          s.end && s.end(ctx);
          stageIndex += 1;
        }
        if (stageIndex >= stages.length) {
          cleanup();
          restore();
          resolve(true);
          return false;
        }
        return true;
      });
    });
  }

  // ---- labels (a number floating over the scene, e.g. a dot product's sum)
  showLabel(text, world) {
    if (!this.labelEl) return;
    const p = this.r.project(world);
    if (!p) return;
    this.labelEl.textContent = text;
    this.labelEl.style.left = `${p.x}px`;
    this.labelEl.style.top = `${p.y}px`;
    this.labelEl.hidden = false;
  }
  hideLabel() { if (this.labelEl) this.labelEl.hidden = true; }

  // ---- building blocks
  blk(id) {
    const b = id ? this.r.block(id) : null;
    if (!b) throw new Error(`animation: no block ${JSON.stringify(id)} with values in the scene`);
    return b;
  }

  /** Cells of `range` of block b as patch cells from b to `to(row, col, i)` (world point). */
  cellsOf(b, range, to, color1) {
    return rangeCells(b, range).map(([r, c], i) => {
      const v = value(b, r, c);
      return { from: cellCenter(b, r, c), to: to ? to(r, c, i) : cellCenter(b, r, c),
               c0: cellColor(v, b.scale, b.role), c1: color1 ? color1(r, c, i, v) : null };
    });
  }

  /** A stage: highlight what `fn(u)` returns ({focus, cells}) while it changes. */
  highlightStage(duration, fn) {
    let lastKey = null;
    return { duration, update: (u) => {
      const h = fn(u);
      const key = JSON.stringify(h);
      if (key !== lastKey) { lastKey = key; this.r.highlight(h.focus, h.cells); }
    } };
  }

  /** A stage that flies a patch (made at its start by make()) and removes it at the end unless keep. */
  flyStage(duration, make, { keep = false, onUpdate } = {}) {
    let patch = null;
    return {
      duration,
      start: (ctx) => { patch = ctx.add(make()); },
      update: (u, ctx) => { if (patch) patch.update(u); onUpdate && onUpdate(u, ctx); },
      end: (ctx) => { if (patch && !keep) ctx.remove(patch); },
    };
  }

  build(spec, base) {
    const kind = spec.kind;
    const fn = this[`_${kind}`];
    if (!fn) { console.warn(`llmviz: no animation for kind ${JSON.stringify(kind)}`); return []; }
    return fn.call(this, spec, base);
  }

  // ---- the kinds --------------------------------------------------------

  /** Each block of `path` lights up in turn. */
  _flow(spec, base) {
    const path = spec.path || [];
    const per = Math.max(0.12, Math.min(0.4, 4 / Math.max(path.length, 1)));
    return [this.highlightStage(per * path.length, (u) => {
      const k = Math.min(path.length - 1, Math.floor(u * path.length));
      return { focus: [...(base.focus || []), ...path.slice(0, k + 1)], cells: {} };
    })];
  }

  /** A highlight runs across `block` one column (or row) at a time, from the step's own cells. */
  _sweep(spec, base) {
    const b = this.blk(spec.block);
    const rows = spec.axis === "rows";
    const n = rows ? b.rows : b.cols;
    const duration = Math.max(1, Math.min(3, n * 0.12));
    const others = { ...(base.cells || {}) };
    delete others[spec.block];
    return [
      { duration: 0.5 },                      // first: the focused column alone (the step's highlight)
      this.highlightStage(duration, (u) => {
        const k = Math.min(n - 1, Math.floor(u * n));
        const done = rows ? [0, 0, k + 1, b.cols] : [0, 0, b.rows, k + 1];
        const now = rows ? [k, 0, k + 1, b.cols] : [0, k, b.rows, k + 1];
        return { focus: base.focus || [], cells: { ...others, [spec.block]: [done, now] } };
      }),
      { duration: 0.3 },
    ];
  }

  /** A column of the table is copied into the destination (a lookup, or a column that moves). */
  _lookup(spec) {
    const src = this.blk(spec.table), dst = this.blk(spec.to);
    const srcRange = positionRange(src, spec.col);
    const dstRange = positionRange(dst, spec.at);
    const targets = rangeCells(dst, dstRange);
    return [
      this.flyStage(1.4, () => new Patch(this.cellsOf(src, srcRange, (r, c, i) =>
        targets[i] ? cellCenter(dst, ...targets[i]) : cellCenter(dst, 0, 0)), src.cell, { arc: 6 })),
      { duration: 0.2 },
    ];
  }

  /** Column `col` of two blocks fly together and add, cell by cell, into `to`. */
  _add(spec) {
    const [a, b] = spec.from.map((id) => this.blk(id));
    const dst = this.blk(spec.to);
    const col = spec.col;
    const ra = positionRange(a, col), rb = positionRange(b, col), rd = positionRange(dst, col);
    const targets = rangeCells(dst, rd);
    // meet halfway between the two sources, side by side, then merge into the sum and land
    const mid = (i, side) => {
      const pa = cellCenter(a, ...rangeCells(a, ra)[i]), pb = cellCenter(b, ...rangeCells(b, rb)[i]);
      const x = (pa[0] + pb[0]) / 2 + side * a.cell * 0.6, y = (pa[1] + pb[1]) / 2 + a.cell * 4;
      return [x, y, pa[2] + a.cell * 3];
    };
    const sumColor = (r, c, i) => {
      const t = targets[i];
      return t ? cellColor(value(dst, ...t), dst.scale, dst.role) : ZERO;
    };
    let pa = null, pb = null;
    return [
      { duration: 1.2,
        start: (ctx) => {
          pa = ctx.add(new Patch(this.cellsOf(a, ra, (r, c, i) => mid(i, -1)), a.cell, { arc: 2 }));
          pb = ctx.add(new Patch(this.cellsOf(b, rb, (r, c, i) => mid(i, 1)), b.cell, { arc: 2 }));
        },
        update: (u) => { pa.update(u); pb.update(u); },
        end: (ctx) => { ctx.remove(pa); ctx.remove(pb); } },
      this.flyStage(1.2, () => {
        const cells = rangeCells(a, ra).map((_, i) => {
          const ca = cellColor(value(a, ...rangeCells(a, ra)[i]), a.scale, a.role);
          return { from: mid(i, 0), to: targets[i] ? cellCenter(dst, ...targets[i]) : mid(i, 0), c0: ca, c1: sumColor(0, 0, i) };
        });
        return new Patch(cells, a.cell, { arc: 1 });
      }),
      { duration: 0.2 },
    ];
  }

  /** The update (from[1]) flies onto the stream (from[0]); their sum lands in `to`. */
  _residual(spec) {
    const [stream, update] = spec.from.map((id) => this.blk(id));
    const dst = this.blk(spec.to);
    const full = (b) => (spec.col !== undefined && spec.col !== null ? positionRange(b, spec.col) : [0, 0, b.rows, b.cols]);
    const ru = full(update), rs = full(stream), rd = full(dst);
    const sCells = rangeCells(stream, rs), dCells = rangeCells(dst, rd);
    return [
      this.flyStage(1.3, () => new Patch(this.cellsOf(update, ru, (r, c, i) =>
        sCells[i] ? cellCenter(stream, ...sCells[i]) : cellCenter(stream, 0, 0)), update.cell, { arc: 4 })),
      this.flyStage(1.3, () => new Patch(sCells.map(([r, c], i) => ({
        from: cellCenter(stream, r, c), to: dCells[i] ? cellCenter(dst, ...dCells[i]) : cellCenter(stream, r, c),
        c0: cellColor(value(stream, r, c), stream.scale, stream.role),
        c1: dCells[i] ? cellColor(value(dst, ...dCells[i]), dst.scale, dst.role) : null,
      })), stream.cell, { arc: 3 })),
      { duration: 0.2 },
    ];
  }

  /** A column is centred and scaled (its colours turn into the normalised ones) on its way to `to`. */
  _normalize(spec, base) {
    const src = this.blk(spec.block), dst = this.blk(spec.to);
    const col = spec.col;
    const rs = positionRange(src, col), rd = positionRange(dst, col);
    const dCells = rangeCells(dst, rd);
    const stats = spec.stats || [];
    const statCells = {};
    for (const id of stats) { const b = this.r.block(id); if (b) statCells[id] = [positionRange(b, col)]; }
    for (const id of spec.weights || []) { const b = this.r.block(id); if (b) statCells[id] = [[0, 0, b.rows, b.cols]]; }
    return [
      this.highlightStage(0.7, () => ({ focus: base.focus || [], cells: { ...(base.cells || {}), ...statCells } })),
      this.flyStage(1.6, () => new Patch(this.cellsOf(src, rs, (r, c, i) =>
        dCells[i] ? cellCenter(dst, ...dCells[i]) : cellCenter(src, r, c),
        (r, c, i) => (dCells[i] ? cellColor(value(dst, ...dCells[i]), dst.scale, dst.role) : null)), src.cell, { arc: 4 })),
      { duration: 0.2 },
    ];
  }

  /** Pairwise products of two vectors side by side, collapsing into one sum in `out`. */
  _dot(spec) {
    const a = this.blk(spec.a), b = this.blk(spec.b), out = this.blk(spec.out);
    const aCells = rangeCells(a, spec.a_cells), bCells = rangeCells(b, spec.b_cells);   // half-open ranges
    const n = Math.min(aCells.length, bCells.length);
    const [orow, ocol] = spec.cell;
    const target = cellCenter(out, orow, ocol);
    const size = Math.min(a.cell, b.cell);
    // the products line up in a row above the output cell
    const rowAt = (i) => [target[0] + (i - (n - 1) / 2) * size, target[1] + size * 6, target[2] + size * 4];
    const products = [];
    for (let i = 0; i < n; i++) products.push(value(a, ...aCells[i]) * value(b, ...bCells[i]));
    const pScale = scaleOf(products);
    const sum = value(out, orow, ocol);
    let pa = null, pb = null;
    return [
      { duration: 1.2,
        start: (ctx) => {
          pa = ctx.add(new Patch(aCells.slice(0, n).map(([r, c], i) => ({ from: cellCenter(a, r, c), to: rowAt(i),
            c0: cellColor(value(a, r, c), a.scale, a.role) })), a.cell, { arc: 3, toSize: size }));
          pb = ctx.add(new Patch(bCells.slice(0, n).map(([r, c], i) => ({ from: cellCenter(b, r, c), to: rowAt(i),
            c0: cellColor(value(b, r, c), b.scale, b.role) })), b.cell, { arc: 3, toSize: size }));
        },
        update: (u) => { pa.update(u); pb.update(u); },
        end: (ctx) => { ctx.remove(pa); ctx.remove(pb); } },
      // the pairs become their products
      this.flyStage(0.6, () => new Patch(products.map((p, i) => ({ from: rowAt(i), to: rowAt(i),
        c0: cellColor(value(a, ...aCells[i]), a.scale, a.role), c1: cellColor(p, pScale, "aggregate") })), size, { arc: 0 })),
      // ... and collapse into the sum
      this.flyStage(1.2, () => new Patch(products.map((p, i) => ({ from: rowAt(i), to: target,
        c0: cellColor(p, pScale, "aggregate"), c1: cellColor(sum, out.scale, out.role) })), size, { arc: 1 }),
      { onUpdate: (u) => { if (u > 0.6) this.showLabel(`Σ = ${fmt(sum)}`, target); } }),
      { duration: 0.6, update: () => this.showLabel(`Σ = ${fmt(sum)}`, target), end: () => this.hideLabel() },
    ];
  }

  /** The dot product for every output cell: the weight's row and the input's column follow along. */
  _matmul(spec, base) {
    const w = this.blk(spec.weight), x = this.blk(spec.input), out = this.blk(spec.out);
    const tRows = tAxis(out) === "rows";
    const nT = tRows ? out.rows : out.cols, nF = tRows ? out.cols : out.rows;
    const cells = nT * nF;
    const duration = Math.max(1.5, Math.min(4, cells * 0.01));
    // the weight slice for feature f: a row when the weight's rows count the output features
    const wRange = (f) => (w.rows === nF ? [f, 0, f + 1, w.cols] : [0, f, w.rows, f + 1]);
    return [this.highlightStage(duration, (u) => {
      const k = Math.min(cells - 1, Math.floor(u * cells));
      const t = Math.floor(k / nF), f = k % nF;          // position by position, each feature
      const oRange = tRows ? [t, 0, t + 1, f + 1] : [0, t, f + 1, t + 1];
      const cur = tRows ? [t, f, t + 1, f + 1] : [f, t, f + 1, t + 1];
      const done = tRows ? [0, 0, t, out.cols] : [0, 0, out.rows, t];
      return { focus: base.focus || [], cells: {
        [spec.weight]: [wRange(f)], [spec.input]: [positionRange(x, t)],
        [spec.out]: done[2] > done[0] && done[3] > done[1] ? [done, oRange, cur] : [oRange, cur] } };
    }), { duration: 0.3 }];
  }

  /** Every cell (of row `row`) is multiplied by a factor: the cells lift and settle back. */
  _scale(spec) {
    const b = this.blk(spec.block);
    const range = spec.row !== undefined && spec.row !== null ? [spec.row, 0, spec.row + 1, b.cols] : [0, 0, b.rows, b.cols];
    return [this.flyStage(1.2, () => new Patch(this.cellsOf(b, range), b.cell, { arc: 3, toSize: b.cell * 0.6 })), { duration: 0.2 }];
  }

  /** The cells right of the diagonal, row by row, turn to -inf (shown dark). */
  _mask(spec, base) {
    const b = this.blk(spec.block);
    const rows = spec.row !== undefined && spec.row !== null ? [spec.row] : [...Array(b.rows).keys()];
    const masked = (k) => rows.slice(0, k).filter((r) => r + 1 < b.cols).map((r) => [r, r + 1, r + 1, b.cols]);
    let patch = null;
    return [
      this.highlightStage(1.5, (u) => ({ focus: base.focus || [],
        cells: { ...(base.cells || {}), [spec.block]: masked(Math.ceil(u * rows.length)) } })),
      { duration: 0.8,
        start: (ctx) => {
          const cells = [];
          for (const [r0, c0, r1, c1] of masked(rows.length)) {
            for (let c = c0; c < c1; c++) {
              const p = cellCenter(b, r0, c);
              cells.push({ from: p, to: p, c0: [0.05, 0.05, 0.07] });
            }
          }
          if (cells.length) patch = ctx.add(new Patch(cells, b.cell, { arc: 0 }));
        },
        update: (u) => { if (patch) patch.opacity = Math.sin(Math.PI * u) * 0.9; },
        end: (ctx) => { if (patch) ctx.remove(patch); } },
    ];
  }

  /** One row (or column) of scores: its max taken and subtracted, exponentiated, summed, divided. */
  _softmax(spec, base) {
    const dst = this.blk(spec.block);
    // the input: scores for an attention row, logits for probs
    const srcId = spec.block === "probs" ? "logits" : spec.block.replace(".att[", ".scores[");
    const src = this.r.block(srcId) || dst;
    const byCol = spec.col !== undefined && spec.col !== null;
    const rangeIn = (b) => (byCol ? [0, spec.col, b.rows, spec.col + 1] : [spec.row, 0, spec.row + 1, b.cols]);
    const at = byCol ? spec.col : spec.row;
    const maxB = this.r.block(spec.max), sumB = this.r.block(spec.sum);
    const aggRange = (b) => (byCol ? [0, at, 1, at + 1] : [at, 0, at + 1, 1]);
    const statCells = (ids) => Object.fromEntries(ids.filter((b) => b).map((b) => [b.id, [aggRange(b)]]));
    const dCells = rangeCells(dst, rangeIn(dst));
    return [
      this.highlightStage(0.8, () => ({ focus: base.focus || [], cells: { ...(base.cells || {}),
        [src.id]: [rangeIn(src)], ...statCells([maxB]) } })),
      this.highlightStage(0.8, () => ({ focus: base.focus || [], cells: { ...(base.cells || {}),
        [src.id]: [rangeIn(src)], ...statCells([maxB, sumB]) } })),
      this.flyStage(1.6, () => new Patch(this.cellsOf(src, rangeIn(src), (r, c, i) =>
        dCells[i] ? cellCenter(dst, ...dCells[i]) : cellCenter(src, r, c),
        (r, c, i) => (dCells[i] ? cellColor(value(dst, ...dCells[i]), dst.scale, dst.role) : null)), src.cell, { arc: 4 })),
      { duration: 0.3 },
    ];
  }

  /** A function applied cell by cell: the cells travel from `from` to `to`, changing colour. */
  _map(spec) {
    const src = this.blk(spec.from), dst = this.blk(spec.to);
    const has = spec.col !== undefined && spec.col !== null;
    const rs = has ? positionRange(src, spec.col) : [0, 0, src.rows, src.cols];
    const rd = has ? positionRange(dst, spec.col) : [0, 0, dst.rows, dst.cols];
    const dCells = rangeCells(dst, rd);
    return [this.flyStage(1.5, () => new Patch(this.cellsOf(src, rs, (r, c, i) =>
      dCells[i] ? cellCenter(dst, ...dCells[i]) : cellCenter(src, r, c),
      (r, c, i) => (dCells[i] ? cellColor(value(dst, ...dCells[i]), dst.scale, dst.role) : null)), src.cell, { arc: 4 })),
    { duration: 0.2 }];
  }

  /** The heads' outputs slide together, stacked, into `to`. */
  _concat(spec) {
    const dst = this.blk(spec.to);
    const froms = spec.from.map((id) => this.blk(id));
    let patches = [];
    return [{ duration: 1.6,
      start: (ctx) => {
        let row0 = 0;
        patches = froms.map((b) => {
          const offset = row0;
          row0 += b.rows;
          return ctx.add(new Patch(this.cellsOf(b, [0, 0, b.rows, b.cols], (r, c) => cellCenter(dst, offset + r, c)), b.cell, { arc: 3 }));
        });
      },
      update: (u) => patches.forEach((p) => p.update(u)),
      end: (ctx) => patches.forEach((p) => ctx.remove(p)) }, { duration: 0.2 }];
  }

  /** The chosen cell of a column is singled out: it lifts and comes back. */
  _pick(spec) {
    const b = this.blk(spec.from);
    return [this.flyStage(1.2, () => new Patch(this.cellsOf(b, [spec.row, spec.col, spec.row + 1, spec.col + 1]), b.cell,
      { arc: 4, toSize: b.cell * 1.4 })), { duration: 0.2 }];
  }

  /** The chosen token flies from its probability to the end of the input. */
  _append(spec, base) {
    const dst = this.blk(spec.to);
    const probs = this.r.block("probs");
    const col = spec.col;
    const to = cellCenter(dst, 0, col);         // past the last column when the input is full: just beyond it
    const from = probs ? cellCenter(probs, spec.token, Math.min(col - 1, probs.cols - 1)) : to;
    const c0 = probs ? cellColor(value(probs, spec.token, Math.min(col - 1, probs.cols - 1)), probs.scale, probs.role) : MARK;
    return [this.flyStage(1.6, () => new Patch([{ from, to, c0, c1: MARK }], dst.cell, { arc: 8, toSize: dst.cell }), { keep: false }),
      { duration: 0.3 }];
  }
}

function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(3) : v.toFixed(4);
}
