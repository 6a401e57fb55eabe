// scene.js: the 3D view's first frame, before Python, and the bridge Python drives.
//
// As soon as the page loads it creates the renderer in #scene, fetches the bundled
// scene (data/scene.json) and its values (data/values.bin + the offset table
// data/values.json), draws them and frames the overview, so real numbers are on
// screen while Pyodide is still loading. Then llmviz.ui.scene_view (Python) takes
// over through this module's export `bridge` (imported by PyScript's js_modules, see
// pyscript.toml; the same object is window.llmvizScene, for tests and the console):
//
//   renderer                   the renderer (renderer.js API), or null without WebGL2
//   ready                      a Promise: resolves once the first frame's data is drawn
//   error                      the reason there is no 3D view, or null
//   playStep(step)             fly, highlight, dim and animate one walkthrough step (a JSON
//                              string or object: {focus, cells (half-open), dim, camera:
//                              {center, distance, direction} | {ids, primary?, view?},
//                              animation, speed, reduced}); returns a Promise that resolves
//                              when it settles
//   motion({speed, paused, reduced, skip})   the walk view's playback controls
//   related(cells) / focus(ids)              hover extras on top of the step's highlight
//                                            (null or [] puts the step's highlight back)
//   showScale(sceneJson, info) / showModel() the scale views (framed below their note), and
//                              back to the model at the current step's view
//   framing                    what the last step's camera framed: {mode, ids, primary, minPx}
//   reframe(seconds)           fly back to the current step's view
//   setModelScene(sceneJson)   a new model's scene (its values follow through setValues)
//   restoreBundled()           the bundled values again (the page without numpy)
//   takeOver()                 Python handles hovering from now on (before that, a tooltip
//                              shows the hovered cell's value alone)
//
// window.llmvizSceneSettled is true while no camera flight or animation of a step runs.
//
// Framing a step ({ids}: stepView below): the union of the blocks fills most of the
// part of the view that no overlay covers (the size buttons, the legend), with room
// for the labels above. When that leaves the blocks too small to read (a focus spread
// far apart: the residual stream far above its update, probs far below idx), the blocks
// are grouped into clusters of neighbours and the primary cluster (the one holding the
// block the step's animation ends in, camera.primary, or else the one with the most
// blocks) is framed, with as many nearby clusters as fit while it stays readable.
// Without a clear primary, the union is framed as tightly as the view allows (so is a
// union that is readable only that way). Named views ({ids, view}) frame their groups.
import { createRenderer } from "./renderer.js";
import { Animator } from "./render/anim.js";
import { frameBoxes } from "./render/camera.js";

const container = document.getElementById("scene");
const tooltip = () => document.getElementById("tooltip");
const reducedQuery = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
const STEP_SECONDS = 1.0;      // a camera flight at speed 1

const url = (path) => new URL(path, document.baseURI).href;

function plain(x) {
  if (x && typeof x.toJs === "function") x = x.toJs({ dict_converter: Object.fromEntries });
  if (x instanceof Map) x = Object.fromEntries(x);
  if (typeof x === "string") x = JSON.parse(x);
  return x;
}

const api = {
  renderer: null,
  animator: null,
  error: null,
  modelScene: null,        // the model's scene (to come back from a scale view)
  bundled: null,           // {data: Float32Array, offsets: {id: [offset, count]}}
  mode: "model",           // or the name of a scale view
  step: { focus: [], cells: {}, dim: [] },   // the current step's highlight
  motionState: { speed: 1, paused: false, reduced: false },
  stepSerial: 0,
  pointer: { x: 0, y: 0 },
};
window.llmvizScene = api;       // for tests and the console; Python imports `bridge`
window.llmvizSceneSettled = true;
export { api as bridge };

function reduced() {
  return !!(api.motionState.reduced || (reducedQuery && reducedQuery.matches));
}

// ---- first frame ---------------------------------------------------------

async function fetchOk(path) {
  const resp = await fetch(url(path));
  if (!resp.ok) throw new Error(`could not load ${path} (HTTP ${resp.status})`);
  return resp;
}

function showError(text) {
  api.error = text;
  if (!container) return;
  container.textContent = "";
  const box = document.createElement("div");
  box.className = "scene-message";
  box.setAttribute("role", "note");
  box.textContent = text;
  container.appendChild(box);
  container.classList.add("no-webgl");
}

function frameOverview(seconds = 0) {
  const r = api.renderer;
  const scene = api.mode === "model" ? api.modelScene : null;
  const view = scene && scene.views && scene.views.overview;
  if (view) return r.flyTo({ center: view.center, distance: view.distance, direction: [0, 0, 1] }, seconds);
  return r.flyTo("*", seconds);
}

function applyBundled() {
  const { data, offsets } = api.bundled;
  const r = api.renderer;
  for (const [id, [offset, count]] of Object.entries(offsets)) {
    try {
      r.setValues(id, data.subarray(offset, offset + count));
    } catch (e) {
      console.warn(`llmviz scene: bundled values for ${id}: ${e.message}`);
    }
  }
}

async function boot() {
  if (!container) throw new Error("the page has no #scene element");
  try {
    api.renderer = createRenderer(container);
  } catch (e) {
    showError(e.message);
    return false;
  }
  const label = document.createElement("div");
  label.className = "scene-anim-label";
  label.hidden = true;
  container.appendChild(label);
  api.animator = new Animator(api.renderer, { label });
  buildScaleSwitcher();
  const [scene, offsets, bin] = await Promise.all([
    fetchOk("data/scene.json").then((r) => r.json()),
    fetchOk("data/values.json").then((r) => r.json()),
    fetchOk("data/values.bin").then((r) => r.arrayBuffer()),
  ]);
  api.modelScene = scene;
  api.bundled = { data: new Float32Array(bin), offsets };
  api.renderer.setScene(scene);
  applyBundled();
  frameOverview(0);
  api.renderer.onPick(earlyTooltip);
  return true;
}

// Until Python takes over (api.takeOver()), hovering shows the cell's value alone.
let pythonTooltips = false;
function earlyTooltip(pick) {
  const el = tooltip();
  if (pythonTooltips || !el) return;
  const b = pick && api.mode === "model" ? api.renderer.block(pick.id) : null;
  if (!b || !b.values) { el.hidden = true; return; }
  el.textContent = "";
  const line = (cls, text) => { const d = document.createElement("div"); d.className = cls; d.textContent = text; el.appendChild(d); };
  line("tt-title", `${b.label || b.id} [${pick.row}, ${pick.col}]`);
  line("tt-value", b.values[pick.index].toFixed(4));
  line("tt-where", "where it came from: once Python has loaded");
  el.hidden = false;
  placeTooltip();
}
/** Python's scene view calls this when it handles hovering itself. */
api.takeOver = () => { pythonTooltips = true; };

api.ready = boot().catch((e) => {
  console.error("llmviz scene:", e);
  if (!api.error) showError(`The 3D view could not load its data: ${e.message}. The walkthrough text and code still work.`);
  return false;
});

// ---- pointer: keeps the tooltip next to the pointer ------------------------

function placeTooltip() {
  const el = tooltip();
  if (!el || el.hidden) return;
  const pad = 14;
  const stage = el.offsetParent || document.body;
  const box = stage.getBoundingClientRect();
  let x = api.pointer.x - box.left + pad, y = api.pointer.y - box.top + pad;
  const w = el.offsetWidth, h = el.offsetHeight;
  if (x + w > box.width - 4) x = Math.max(4, api.pointer.x - box.left - w - pad);
  if (y + h > box.height - 4) y = Math.max(4, api.pointer.y - box.top - h - pad);
  el.style.left = `${x}px`;
  el.style.top = `${y}px`;
}
api.placeTooltip = placeTooltip;
if (container) {
  container.addEventListener("pointermove", (e) => { api.pointer = { x: e.clientX, y: e.clientY }; placeTooltip(); });
  container.addEventListener("pointerleave", () => { const el = tooltip(); if (el) el.hidden = true; });
}

// ---- steps ----------------------------------------------------------------

function applyHighlight(extraCells, extraIds) {
  const r = api.renderer;
  const cells = { ...(api.step.cells || {}) };
  for (const [id, ranges] of Object.entries(extraCells || {})) cells[id] = [...(cells[id] || []), ...ranges];
  r.highlight([...(api.step.focus || []), ...(extraIds || [])], cells);
}

// ---- framing -----------------------------------------------------------------

const FILL = 0.85;          // the share of the free area a step's blocks take
const FILL_TIGHT = 0.96;    // ... when they are spread out and all of them matter
const FILL_VIEW = 0.94;     // a named view (a part of the model)
const LABEL_PX = 18;        // room above the blocks for their labels
const MAX_CELL_PX = 56;     // zoom no further than this many px per cell
const MIN_SHARE = 0.25;     // a focus block is readable when its longest side takes this share of the free area
const MIN_CELL_PX = 4.5;    // ... or when its cells are this many px wide
const LINK = 1.0;           // blocks closer than LINK x the larger one's longest side are one cluster

let boxCache = null;
/** The model scene's blocks with their world boxes (as render/scene.js computes them). */
function sceneBoxes(scene) {
  if (!boxCache || boxCache.scene !== scene) {
    const list = (scene.blocks || []).map((b) => {
      const c = b.cell > 0 ? b.cell : 1;
      const [x, y, z] = b.pos;
      return { id: b.id, group: b.group || "", cell: c, rows: b.rows, cols: b.cols,
               box: { min: [x, y - b.rows * c, z - c], max: [x + b.cols * c, y, z] } };
    });
    boxCache = { scene, list };
  }
  return boxCache.list;
}

/** Names to blocks, by the renderer's rules (id, per-head stem, group, group prefix, "*"). */
function resolveBlocks(list, names) {
  const out = new Set();
  for (const name of names || []) {
    for (const b of list) {
      if (name === "*" || b.id === name || b.id.startsWith(name + "[") || b.group === name || b.group.startsWith(name + ".")) out.add(b);
    }
  }
  return [...out];
}

/** The CSS px of the view that overlays cover: {top, right, bottom, left}. */
function freeInsets() {
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

function viewport() {
  const canvas = api.renderer && api.renderer.canvas;
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

/**
 * The view of a step's camera: {center, distance, direction} or null, and what it
 * framed (api.framing: {ids, primary, mode, minPx}). cam: {ids, direction?, view?,
 * primary?} (from llmviz.ui.scene_steps) or {center, distance, direction}. A block is
 * readable when its longest side takes MIN_SHARE of the free area or its cells are
 * MIN_CELL_PX wide.
 */
function stepView(cam) {
  const r = api.renderer, scene = api.modelScene;
  if (!cam || !r || !scene) return null;
  const direction = cam.direction || [0, 0, 1];
  if (!(cam.ids && cam.ids.length)) {
    if (!cam.center) return null;
    api.framing = { mode: "fixed", ids: [], primary: [] };
    return { center: cam.center, distance: cam.distance, direction };
  }
  const list = sceneBoxes(scene);
  const blocks = resolveBlocks(list, cam.ids);
  if (!blocks.length) return null;
  const { width, height } = viewport();
  const insets = freeInsets();
  const cell = Math.max(...blocks.map((b) => b.cell));
  const base = { direction, fov: r.getCamera().fov || 45, width, height, insets, labelPx: LABEL_PX,
                 maxScale: MAX_CELL_PX / cell };
  const frame = (set, fill) => frameBoxes(set.map((b) => b.box), { ...base, fill });
  const done = (view, set, primary, mode) => {
    api.framing = { mode, ids: set.map((b) => b.id), primary: primary.map((b) => b.id), minPx };
    return { center: view.center, distance: view.distance, direction: view.direction };
  };
  const freeW = width - insets.left - insets.right, freeH = height - insets.top - insets.bottom;
  const minPx = MIN_SHARE * Math.min(freeW, freeH);
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
  const hinted = new Set(resolveBlocks(list, cam.primary || []).map((b) => b.id));
  let primary = groups.find((g) => g.some((b) => hinted.has(b.id)));
  if (!primary) {
    const most = Math.max(...groups.map((g) => g.length));
    const top = groups.filter((g) => g.length === most);
    if (top.length === 1) primary = top[0];
  }
  if (!primary || groups.length === 1) return done(tight, blocks, blocks, "tight");
  // the primary cluster, and the clusters nearest to it while it stays readable
  const centre = (set) => { const q = union.project({ min: [Math.min(...set.map((b) => b.box.min[0])), Math.min(...set.map((b) => b.box.min[1])), 0],
                                                          max: [Math.max(...set.map((b) => b.box.max[0])), Math.max(...set.map((b) => b.box.max[1])), 0] });
                            return [q.x + q.w / 2, q.y + q.h / 2]; };
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

/** Fly to the current step's view (seconds 0: jump); resolves like renderer.flyTo. */
function flyToStep(seconds) {
  let view = null;
  try {
    view = stepView(api.step.camera);
    if (view) return api.renderer.flyTo(view, seconds);
  } catch (e) {
    console.warn("llmviz scene: camera:", e.message);
  }
  return Promise.resolve(true);
}
// A resized view (a rotated phone, a narrower window, the embed's drawer) frames the step again,
// unless the reader has moved the camera away from the step's view since it settled.
const sameCamera = (a, b) => ["position", "target"].every((k) =>
  a[k].every((v, i) => Math.abs(v - b[k][i]) <= 1e-4 * Math.max(1, Math.abs(b[k][i]))));
let resizeTimer = 0;
if (container && window.ResizeObserver) {
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      const r = api.renderer, before = api.stepCamera;
      if (!r || api.mode !== "model" || !before || !sameCamera(r.getCamera(), before)) return;
      flyToStep(0).then(() => { api.stepCamera = r.getCamera(); });
    }, 150);
  }).observe(container);
}

/** Back to the step's own view (after the reader moved the camera, or a scale view). */
api.reframe = (seconds = 0) => (api.renderer && api.mode === "model" ? flyToStep(seconds) : Promise.resolve(false));

/** Fly, highlight, dim and animate one step; resolves (true) when the view has settled. */
api.playStep = (stepArg) => {
  const r = api.renderer;
  if (!r) return Promise.resolve(false);
  if (!api.modelScene) {                     // the first frame's data is still on its way
    window.llmvizSceneSettled = false;
    return api.ready.then(() => api.playStep(stepArg));
  }
  const step = plain(stepArg);
  const serial = ++api.stepSerial;
  if (serial === 1) {          // the walkthrough has started: fold the legend away (a click opens it)
    const legend = container.querySelector(".llmviz-legend");
    if (legend) legend.open = false;
  }
  window.llmvizSceneSettled = false;
  const cut = reduced() || step.reduced;
  const speed = step.speed > 0 ? step.speed : api.motionState.speed || 1;
  api.step = { focus: step.focus || [], cells: step.cells || {}, dim: step.dim || [], camera: step.camera || null };
  if (api.animator.playing) api.animator.stop();
  r.dim(api.step.dim);
  applyHighlight();
  const seconds = cut ? 0 : (step.seconds ?? STEP_SECONDS) / speed;
  let flight = Promise.resolve(true);
  flight = flyToStep(seconds);
  api.stepCamera = null;
  const done = flight.then(() => {
    if (serial !== api.stepSerial) return false;
    api.stepCamera = r.getCamera();   // the step's own view, for reframing after a resize
    if (!step.animation) return true;
    try {
      return api.animator.play(step.animation, { base: { focus: api.step.focus, cells: api.step.cells },
                                                 speed, reduced: cut });
    } catch (e) {
      console.warn("llmviz scene: animation:", e.message);
      applyHighlight();
      return true;
    }
  }).then((ok) => {
    if (serial === api.stepSerial) window.llmvizSceneSettled = true;
    return ok;
  });
  return done;
};

/** Playback controls: {speed, paused, reduced, skip}. */
api.motion = (arg) => {
  const m = plain(arg) || {};
  Object.assign(api.motionState, { speed: m.speed > 0 ? m.speed : api.motionState.speed,
                                   paused: !!m.paused, reduced: !!m.reduced });
  if (!api.animator) return;
  api.animator.setSpeed(api.motionState.speed);
  api.animator.pause(api.motionState.paused);
  if (m.skip || api.motionState.reduced) api.animator.skip();
};

/** Cells that a hovered cell came from, on top of the step's highlight (null: none). */
api.related = (arg) => {
  if (!api.renderer || api.mode !== "model" || api.animator.playing) return;
  const rel = plain(arg);
  const cells = {};
  for (const item of rel || []) cells[item.id] = [...(cells[item.id] || []), ...item.cells];
  applyHighlight(cells);
};

/** Blocks to bring forward while a text reference or code variable is hovered ([]: the step's own). */
api.focus = (arg) => {
  if (!api.renderer || api.mode !== "model" || api.animator.playing) return;
  const ids = plain(arg) || [];
  applyHighlight({}, ids);
};

// ---- scale views -----------------------------------------------------------

let scaleHandler = null;
/** Python registers fn(name) to switch views ("model" or a scale view name). */
api.onScale = (fn) => {
  scaleHandler = fn;
  for (const b of document.querySelectorAll(".scene-scales button")) b.disabled = false;
};

function buildScaleSwitcher() {
  const bar = document.createElement("div");
  bar.className = "scene-scales";
  // a toolbar: Tab reaches the pressed button, ← → (Home, End) move between the sizes
  // (these keys stay in the toolbar; the walkthrough steps with them elsewhere)
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "model size");
  bar.setAttribute("aria-orientation", "horizontal");
  bar.addEventListener("keydown", scaleKey);
  const views = [["model", "sort model"], ["gpt2-small", "GPT-2 small"], ["gpt2-xl", "GPT-2 XL"], ["gpt3", "GPT-3"]];
  for (const [name, text] of views) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.scale = name;
    b.textContent = text;
    b.disabled = true;
    b.title = name === "model" ? "the model this page runs, with its real numbers" : `${text} at its real size (shape only)`;
    b.setAttribute("aria-pressed", String(name === "model"));
    b.tabIndex = name === "model" ? 0 : -1;
    b.addEventListener("click", () => { if (scaleHandler) scaleHandler(name); });
    bar.appendChild(b);
  }
  const info = document.createElement("div");
  info.className = "scene-scale-info";
  info.hidden = true;
  container.appendChild(bar);
  container.appendChild(info);
}

function markScale(name) {
  for (const b of document.querySelectorAll(".scene-scales button")) {
    b.setAttribute("aria-pressed", String(b.dataset.scale === name));
    b.tabIndex = b.dataset.scale === name ? 0 : -1;
  }
}

function scaleKey(e) {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  const buttons = [...e.currentTarget.querySelectorAll("button")];
  const i = buttons.indexOf(document.activeElement);
  const n = buttons.length;
  const to = { ArrowLeft: i - 1, ArrowRight: i + 1, Home: 0, End: n - 1 }[e.key];
  if (to === undefined || i < 0) return;
  e.preventDefault();
  e.stopPropagation();
  const next = buttons[(to + n) % n];
  for (const b of buttons) b.tabIndex = b === next ? 0 : -1;
  next.focus();
}

api.showScale = (sceneJson, infoArg) => {
  const r = api.renderer;
  if (!r) return false;
  const scene = typeof sceneJson === "string" ? JSON.parse(sceneJson) : plain(sceneJson);
  const info = plain(infoArg) || {};
  api.animator.stop();
  r.setScene(scene);
  api.mode = scene.name || "scale";
  markScale(api.mode);
  const el = container.querySelector(".scene-scale-info");
  el.textContent = info.text || `${scene.label}: shape only, no weights`;
  el.hidden = false;
  frameScale(scene);
  const tip = tooltip();
  if (tip) tip.hidden = true;
  return true;
};

/** A scale view, framed in the part of the view below its note (in the renderer's viewing direction). */
function frameScale(scene) {
  const r = api.renderer;
  try {
    const cam = r.getCamera();
    const direction = cam.position.map((v, k) => v - cam.target[k]);
    const list = sceneBoxes(scene);
    const { width, height } = viewport();
    const view = frameBoxes(list.map((b) => b.box), { direction, fov: cam.fov || 45, width, height,
                                                      insets: freeInsets(), fill: 0.94 });
    r.flyTo({ center: view.center, distance: view.distance, direction: view.direction }, 0);
  } catch (e) {
    console.warn("llmviz scene: scale view:", e.message);
    r.flyTo("*", 0);
  }
}

api.showModel = () => {
  const r = api.renderer;
  if (!r || !api.modelScene) return false;
  if (api.mode === "model") return false;
  r.setScene(api.modelScene);
  api.mode = "model";
  markScale("model");
  container.querySelector(".scene-scale-info").hidden = true;
  r.dim(api.step.dim || []);
  applyHighlight();
  if (api.step.camera) flyToStep(0);      // the current step's view again
  else frameOverview(0);
  return true;
};

api.setModelScene = (sceneJson) => {
  const scene = typeof sceneJson === "string" ? JSON.parse(sceneJson) : plain(sceneJson);
  api.modelScene = scene;
  api.bundled = null;           // the bundled values belong to the old model
  api.step = { focus: [], cells: {}, dim: [] };
  if (api.renderer && api.mode === "model") {
    api.renderer.setScene(scene);
    frameOverview(0);
  }
};

api.restoreBundled = () => {
  if (api.renderer && api.bundled && api.mode === "model") applyBundled();
};
