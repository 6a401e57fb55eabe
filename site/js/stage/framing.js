// Framing a walkthrough step: which camera view shows the step's blocks, for the real
// size of the 3D view less the overlays that cover it (the size buttons, the legend, the
// worked-example card).
//
// stepView(renderer, container, cam) with cam = {ids, direction?, view?} (from
// llmviz.page.ui.scene_steps) or {center, distance, direction}: every block of the step
// is in the view, and their union fills most of the free area, with room for their labels
// above; when that leaves some block hard to read (a focus spread far apart) the union is
// framed as tightly as the view allows. Named views ({ids, view}) frame their groups.
import { frameBoxes } from "../render/camera.js";
import { GROUP_MARGIN } from "../render/annotations.js";

const FILL = 0.85;          // the share of the free area a step's blocks take
const FILL_TIGHT = 0.96;    // ... when they are spread out and all of them matter
const FILL_VIEW = 0.94;     // a named view (a part of the model)
const LABEL_PX = 18;        // room above the blocks for their labels
const MAX_CELL_PX = 56;     // zoom no further than this many px per cell
const MIN_SHARE = 0.25;     // a focus block is readable when its longest side takes this share of the free area
const MIN_CELL_PX = 4.5;    // ... or when its cells are this many px wide

/** The CSS px of the view that overlays cover: {top, right, bottom, left} (the size buttons and
 * their note above, the folded legend below, the worked-example card beside or below). */
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
  if (r && r.height > 0 && r.height < box.height / 4 && r.top > box.top + box.height / 2) {
    ins.bottom = Math.max(ins.bottom, box.bottom - r.top + 6);
  }
  const card = container.querySelector(".scene-card:not([hidden])");
  const c = card && card.getBoundingClientRect();
  if (c && c.height > 0) {           // the worked example: the step is framed beside or above it
    if (card.dataset.place === "side") ins.right = Math.max(ins.right, box.right - c.left + 24);
    else ins.bottom = Math.max(ins.bottom, box.bottom - c.top + 18);
  }
  return ins;
}

/** The size of the view in CSS px. */
export function viewport(renderer, container) {
  const canvas = renderer && renderer.canvas;
  const el = canvas && canvas.clientWidth ? canvas : container;
  return { width: el.clientWidth || 1, height: el.clientHeight || 1 };
}

/**
 * The view of a step's camera: {view: {center, distance, direction}, framing: {mode, ids,
 * primary, minPx}} or null (mode: "view", "union" or "tight"). A block is readable when its
 * longest side takes MIN_SHARE of the free area or its cells are MIN_CELL_PX wide.
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
  if (cam.view) {            // a named view: room each side for the names of its parts, when shown and there is room
    const margin = cam.names && freeW > 3.2 * GROUP_MARGIN ? GROUP_MARGIN : 0;
    const named = frameBoxes(blocks.map((b) => b.box), { ...base, fill: FILL_VIEW,
      insets: { ...insets, left: insets.left + margin, right: insets.right + margin } });
    return done(named, blocks, blocks, "view");
  }
  const union = frame(blocks, FILL);
  // how readable the best of `set` is in `view`: >= 1 when big enough on screen, or its cells are
  const readable = (view, set) => Math.max(...set.map((b) => {
    const q = view.project(b.box);
    return Math.max(Math.max(q.w, q.h) / minPx, Math.min(q.w / b.cols, q.h / b.rows) / MIN_CELL_PX);
  }));
  if (readable(union, blocks) >= 1) return done(union, blocks, blocks, "union");
  return done(frame(blocks, FILL_TIGHT), blocks, blocks, "tight");
}

/** A view framing every block of the renderer's scene in the free area, looking along `direction`,
 * with `labelPx` free above it. */
export function wholeView(renderer, container, direction, fill = 0.94, labelPx = 0) {
  const blocks = renderer.boxes(["*"]);
  const cam = renderer.getCamera();
  const { width, height } = viewport(renderer, container);
  const view = frameBoxes(blocks.map((b) => b.box), { direction, fov: cam.fov || 45, width, height,
                                                      insets: freeInsets(container), fill, labelPx });
  return { center: view.center, distance: view.distance, direction: view.direction };
}
