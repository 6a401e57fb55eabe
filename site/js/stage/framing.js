// Framing a walkthrough step: which camera view shows the step's blocks, for the real
// size of the 3D view less the overlays that cover it (the size buttons, the legend).
//
// stepView(renderer, container, cam) with cam = {ids, direction?, view?, primary?}
// (llmviz.page.ui.scene_steps) or {center, distance, direction}: the union of the blocks
// fills most of the free area, with room for their labels above. When that leaves the
// blocks too small to read (a focus spread far apart: the residual stream far above its
// update, probs far below idx), the blocks are grouped into clusters of neighbours and
// the primary cluster (the one holding the block the step's animation ends in,
// cam.primary, or else the one with the most blocks) is framed, with as many nearby
// clusters as fit while it stays readable. Without a clear primary the union is framed
// as tightly as the view allows (so is a union that is readable only that way). Named
// views ({ids, view}) frame their groups.
import { frameBoxes } from "../render/camera.js";

const FILL = 0.85;          // the share of the free area a step's blocks take
const FILL_TIGHT = 0.96;    // ... when they are spread out and all of them matter
const FILL_VIEW = 0.94;     // a named view (a part of the model)
const LABEL_PX = 18;        // room above the blocks for their labels
const MAX_CELL_PX = 56;     // zoom no further than this many px per cell
const MIN_SHARE = 0.25;     // a focus block is readable when its longest side takes this share of the free area
const MIN_CELL_PX = 4.5;    // ... or when its cells are this many px wide
const LINK = 1.0;           // blocks closer than LINK x the larger one's longest side are one cluster

/** The CSS px of the view that overlays cover: {top, right, bottom, left}. */
export function freeInsets(container) {
  const ins = { top: 8, right: 8, bottom: 8, left: 8 };
  if (!container) return ins;
  const box = container.getBoundingClientRect();
  for (const el of container.querySelectorAll(".scene-scales, .scene-scale-info")) {
    const r = el.hidden ? null : el.getBoundingClientRect();
    if (r && r.height > 0 && r.bottom - box.top < box.height / 3) ins.top = Math.max(ins.top, r.bottom - box.top + 6);
  }
  const legend = container.querySelector(".llmviz-legend");
  const r = legend && legend.getBoundingClientRect();
  if (r && r.height > 0 && r.height < box.height / 4) ins.bottom = Math.max(ins.bottom, box.bottom - r.top + 6);
  return ins;
}

/** The size of the view in CSS px. */
export function viewport(renderer, container) {
  const canvas = renderer && renderer.canvas;
  const el = canvas && canvas.clientWidth ? canvas : container;
  return { width: el.clientWidth || 1, height: el.clientHeight || 1 };
}

/** Single-linkage clusters of blocks (neighbours closer than LINK x the larger one's size). */
function clusters(blocks, rect) {
  const rs = blocks.map(rect);
  const side = (q) => Math.max(q.w, q.h);
  const parent = blocks.map((_, i) => i);
  const root = (i) => (parent[i] === i ? i : (parent[i] = root(parent[i])));
  for (let i = 0; i < blocks.length; i++) {
    for (let j = i + 1; j < blocks.length; j++) {
      const a = rs[i], b = rs[j];
      const gap = Math.max(0, b.x - (a.x + a.w), a.x - (b.x + b.w), b.y - (a.y + a.h), a.y - (b.y + b.h));
      if (gap <= LINK * Math.max(side(a), side(b))) parent[root(i)] = root(j);
    }
  }
  const groups = new Map();
  blocks.forEach((b, i) => { const k = root(i); if (!groups.has(k)) groups.set(k, []); groups.get(k).push(b); });
  return [...groups.values()];
}

/** The world box around a set of blocks (as renderer.boxes() gives them). */
function unionBox(set) {
  return { min: [0, 1, 2].map((k) => Math.min(...set.map((b) => b.box.min[k]))),
           max: [0, 1, 2].map((k) => Math.max(...set.map((b) => b.box.max[k]))) };
}

/**
 * The view of a step's camera: {view: {center, distance, direction}, framing: {mode, ids,
 * primary, minPx}} or null. A block is readable when its longest side takes MIN_SHARE of
 * the free area or its cells are MIN_CELL_PX wide.
 */
export function stepView(renderer, container, cam) {
  if (!cam || !renderer) return null;
  const direction = cam.direction || [0, 0, 1];
  if (!(cam.ids && cam.ids.length)) {
    if (!cam.center) return null;
    return { view: { center: cam.center, distance: cam.distance, direction },
             framing: { mode: "fixed", ids: [], primary: [] } };
  }
  const blocks = renderer.boxes(cam.ids);
  if (!blocks.length) return null;
  const { width, height } = viewport(renderer, container);
  const insets = freeInsets(container);
  const cell = Math.max(...blocks.map((b) => b.cell));
  const base = { direction, fov: renderer.getCamera().fov || 45, width, height, insets, labelPx: LABEL_PX,
                 maxScale: MAX_CELL_PX / cell };
  const frame = (set, fill) => frameBoxes(set.map((b) => b.box), { ...base, fill });
  const freeW = width - insets.left - insets.right, freeH = height - insets.top - insets.bottom;
  const minPx = MIN_SHARE * Math.min(freeW, freeH);
  const done = (view, set, primary, mode) => ({
    view: { center: view.center, distance: view.distance, direction: view.direction },
    framing: { mode, ids: set.map((b) => b.id), primary: primary.map((b) => b.id), minPx },
  });
  if (cam.view) return done(frame(blocks, FILL_VIEW), blocks, blocks, "view");
  const union = frame(blocks, FILL);
  // how readable the best of `set` is in `view`: >= 1 when big enough on screen, or its cells are
  const readable = (view, set) => Math.max(...set.map((b) => {
    const q = view.project(b.box);
    return Math.max(Math.max(q.w, q.h) / minPx, Math.min(q.w / b.cols, q.h / b.rows) / MIN_CELL_PX);
  }));
  if (readable(union, blocks) >= 1) return done(union, blocks, blocks, "union");
  const tight = frame(blocks, FILL_TIGHT);
  if (readable(tight, blocks) >= 1) return done(tight, blocks, blocks, "tight");
  // too small: find the primary cluster
  const groups = clusters(blocks, (b) => union.project(b.box));
  const hinted = new Set(renderer.boxes(cam.primary || []).map((b) => b.id));
  let primary = groups.find((g) => g.some((b) => hinted.has(b.id)));
  if (!primary) {
    const most = Math.max(...groups.map((g) => g.length));
    const top = groups.filter((g) => g.length === most);
    if (top.length === 1) primary = top[0];
  }
  if (!primary || groups.length === 1) return done(tight, blocks, blocks, "tight");
  // the primary cluster, and the clusters nearest to it while it stays readable
  const centre = (set) => { const q = union.project(unionBox(set)); return [q.x + q.w / 2, q.y + q.h / 2]; };
  const [px, py] = centre(primary);
  const others = groups.filter((g) => g !== primary)
    .map((g) => { const [x, y] = centre(g); return { g, d: Math.hypot(x - px, y - py) }; })
    .sort((a, b) => a.d - b.d);
  let chosen = [...primary];
  for (const { g } of others) {
    const trial = [...chosen, ...g];
    if (readable(frame(trial, FILL), primary) >= 1) chosen = trial;
  }
  return done(frame(chosen, FILL), chosen, primary, "primary");
}

/** A view framing every block of the renderer's scene in the free area, looking along `direction`. */
export function wholeView(renderer, container, direction, fill = 0.94) {
  const blocks = renderer.boxes(["*"]);
  const cam = renderer.getCamera();
  const { width, height } = viewport(renderer, container);
  const view = frameBoxes(blocks.map((b) => b.box), { direction, fov: cam.fov || 45, width, height,
                                                      insets: freeInsets(container), fill });
  return { center: view.center, distance: view.distance, direction: view.direction };
}
