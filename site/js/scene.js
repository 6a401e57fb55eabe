// scene.js: the 3D view's first frame, before Python, and the bridge Python drives.
//
// As soon as the page loads it creates the renderer in #scene, fetches the bundled
// scene (data/scene.json) and its values (data/values.bin + the offset table
// data/values.json), draws them and frames the overview, so real numbers are on
// screen while Pyodide is still loading. Then llmviz.ui.scene_view (Python) takes
// over through window.llmvizScene:
//
//   renderer                   the renderer (renderer.js API), or null without WebGL2
//   ready                      a Promise: resolves once the first frame's data is drawn
//   error                      the reason there is no 3D view, or null
//   playStep(step)             fly, highlight, dim and animate one walkthrough step (a JSON
//                              string or object: {focus, cells (half-open), dim, camera:
//                              {center, distance, direction} | {ids}, animation, speed,
//                              reduced}); returns a Promise that resolves when it settles
//   motion({speed, paused, reduced, skip})   the walk view's playback controls
//   related(cells) / focus(ids)              hover extras on top of the step's highlight
//                                            (null or [] puts the step's highlight back)
//   showScale(sceneJson, info) / showModel() the scale views, and back to the model
//   setModelScene(sceneJson)   a new model's scene (its values follow through setValues)
//   restoreBundled()           the bundled values again (the page without numpy)
//   takeOver()                 Python handles hovering from now on (before that, a tooltip
//                              shows the hovered cell's value alone)
//
// window.llmvizSceneSettled is true while no camera flight or animation of a step runs.
import { createRenderer } from "./renderer.js";
import { Animator } from "./render/anim.js";

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
window.llmvizScene = api;
window.llmvizSceneSettled = true;

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
  api.step = { focus: step.focus || [], cells: step.cells || {}, dim: step.dim || [] };
  if (api.animator.playing) api.animator.stop();
  r.dim(api.step.dim);
  applyHighlight();
  const seconds = cut ? 0 : (step.seconds ?? STEP_SECONDS) / speed;
  let flight = Promise.resolve(true);
  const cam = step.camera;
  try {
    if (cam && cam.center) flight = r.flyTo({ center: cam.center, distance: cam.distance, direction: cam.direction || [0, 0, 1] }, seconds);
    else if (cam && cam.ids && cam.ids.length) flight = r.flyTo({ ids: cam.ids, direction: cam.direction || [0, 0, 1], margin: 1.5 }, seconds);
  } catch (e) {
    console.warn("llmviz scene: camera:", e.message);
  }
  const done = flight.then(() => {
    if (serial !== api.stepSerial) return false;
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
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "model size");
  const views = [["model", "sort model"], ["gpt2-small", "GPT-2 small"], ["gpt2-xl", "GPT-2 XL"], ["gpt3", "GPT-3"]];
  for (const [name, text] of views) {
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.scale = name;
    b.textContent = text;
    b.disabled = true;
    b.title = name === "model" ? "the model this page runs, with its real numbers" : `${text} at its real size (shape only)`;
    b.setAttribute("aria-pressed", String(name === "model"));
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
  for (const b of document.querySelectorAll(".scene-scales button")) b.setAttribute("aria-pressed", String(b.dataset.scale === name));
}

api.showScale = (sceneJson, infoArg) => {
  const r = api.renderer;
  if (!r) return false;
  const scene = typeof sceneJson === "string" ? JSON.parse(sceneJson) : plain(sceneJson);
  const info = plain(infoArg) || {};
  api.animator.stop();
  r.setScene(scene);
  api.mode = scene.name || "scale";
  r.flyTo("*", 0);
  markScale(api.mode);
  const el = container.querySelector(".scene-scale-info");
  el.textContent = info.text || `${scene.label}: shape only, no weights`;
  el.hidden = false;
  const tip = tooltip();
  if (tip) tip.hidden = true;
  return true;
};

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
  frameOverview(0);
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
