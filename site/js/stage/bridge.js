// The 3D view of the page: its first frame before Python, and the bridge Python drives.
//
// As soon as the page loads this creates the renderer in #scene, takes the bundled scene
// (data/scene.json) and its values (the activations: data/values.bin + the offset table
// data/values.json; the parameters: the model's weights file the scene names, read by
// stage/npz.js and handed on to the model worker, which needs it too: worker_mail.js's
// sendShared), which index.html's first script asked for while these modules downloaded
// (window.llmvizFetched, stage/npz.js's shared), draws them and frames the
// overview, so real numbers are on screen while Pyodide is still loading. Then llmviz.page.ui.scene_view (Python) takes over
// through this module's export `bridge` (imported by PyScript's js_modules, see
// pyscript.toml; the same object is window.llmvizScene, for tests and the console):
//
//   renderer                   the renderer (renderer.js API), or null without WebGL2
//   ready                      a Promise: resolves once the first frame's data is drawn
//   error                      the reason there is no 3D view, or null
//   playStep(step)             fly, highlight, dim and animate one walkthrough step (a JSON
//                              string or object: {focus, cells (half-open), dim, camera:
//                              {center, distance, direction} | {ids, primary?, view?},
//                              animation, speed, reduced, keepCamera}); returns a Promise that
//                              resolves when it settles (keepCamera: no flight, the camera stays)
//   motion({speed, paused, reduced, skip})   the walk view's playback controls
//   related(cells) / focus(ids)              hover extras on top of the step's highlight
//                                            (null or [] puts the step's highlight back)
//   showScale(sceneJson, info) / showModel() the scale views (framed below their note), and
//                              back to the model at the current step's view
//   onScale(fn)                Python's handler for the size buttons (fn(name)); enables them
//   framing                    what the last step's camera framed: {mode, ids, primary, minPx}
//   reframe(seconds)           fly back to the current step's view
//   setModelScene(sceneJson)   a new model's scene (its values follow through setSceneValues)
//   setSceneValues({params?, acts?})  the scene's values from the model worker ([Float32Array,
//                              offsets] each; stage/values.js keeps them and draws them in slices);
//                              resolves once drawn
//   patchValues(patch, values) a new token's cells (render/blocks.js patchValues)
//   setModelLabel(text)        the size toolbar's first button: the model's name
//   restoreBundled()           the bundled values again (the page without numpy)
//   takeOver()                 Python handles hovering from now on (before that, a tooltip
//                              shows the hovered cell's value alone)
//   placeTooltip()             keep #tooltip beside the pointer
//
// window.llmvizSceneSettled is true while no camera flight or animation of a step runs.
// The parts: stage/framing.js (which view shows a step), stage/scales.js (the size
// buttons), stage/tooltip.js (the hover read-out), render/anim.js (the step animations).
import { t as tr } from "../i18n.js";
import { createRenderer } from "../renderer.js";
import { Animator } from "../render/anim.js";
import { parsed } from "../render/pyvalue.js";
import { stepView, wholeView } from "./framing.js";
import { buildScaleToolbar } from "./scales.js";
import { Card } from "./card.js";
import { Tooltip } from "./tooltip.js";
import { paramValues, readNpz, shared } from "./npz.js";
import { SceneValues } from "./values.js";

const container = document.getElementById("scene");
const reducedQuery = window.matchMedia ? window.matchMedia("(prefers-reduced-motion: reduce)") : null;
const STEP_SECONDS = 1.0;      // a camera flight at speed 1

const api = {
  renderer: null,
  animator: null,
  error: null,
  modelScene: null,        // the model's scene (to come back from a scale view)
  bundled: null,           // {data: Float32Array, offsets: {id: [offset, count]}, params: readNpz's or null}
  mode: "model",           // or the name of a scale view
  step: { focus: [], cells: {}, dim: [] },   // the current step's highlight
  motionState: { speed: 1, paused: false, reduced: false },
  stepSerial: 0,
  framing: null,
  stepCamera: null,        // the camera the current step settled at (for reframing after a resize)
};
window.llmvizScene = api;       // for tests and the console; Python imports `bridge`
window.llmvizSceneSettled = true;
export { api as bridge };

const tooltip = new Tooltip(container);
let toolbar = null;
let card = null;
let scaleHandler = null;
let modelLabel = "";

function reduced() {
  return !!(api.motionState.reduced || (reducedQuery && reducedQuery.matches));
}

// ---- first frame ---------------------------------------------------------

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
  const view = api.mode === "model" && api.modelScene && api.modelScene.views && api.modelScene.views.overview;
  if (view) return r.flyTo({ center: view.center, distance: view.distance, direction: [0, 0, 1] }, seconds);
  return r.flyTo("*", seconds);
}

function applyBundled() {
  const { data, offsets, params } = api.bundled;
  const values = Object.entries(offsets).map(([id, [offset, count]]) => [id, () => data.subarray(offset, offset + count)]);
  for (const block of params ? api.modelScene.blocks.filter((b) => b.param && !(b.id in offsets)) : []) {
    values.push([block.id, () => paramValues(block, params)]);
  }
  for (const [id, get] of values) {
    try {
      api.renderer.setValues(id, get());
    } catch (e) {
      console.warn(`llmviz scene: bundled values for ${id}: ${e.message}`);
    }
  }
}

/** The parameters of the first frame, from the weights file the scene names (null without). */
async function bundledParams(scene) {
  if (!scene.weights) return null;
  try {
    return readNpz(await shared(scene.weights));
  } catch (e) {
    console.warn(`llmviz scene: the parameters' values (${scene.weights}): ${e.message}`);
    return null;
  }
}

async function boot() {
  if (!container) throw new Error("the page has no #scene element");
  // the scene and the weights: Python reads them too (the page's Python the scene, the model
  // worker the weights), and takes them from here (npz.js's shared). index.html's first script
  // has asked for all four and read them as they came (on a two-core machine they were in ~0.1 s
  // earlier than when asked for here: the bodies waited for this thread, busy with the modules).
  const sharedJson = (path) => shared(path).then((buffer) => JSON.parse(new TextDecoder().decode(buffer)));
  const sceneDone = sharedJson("data/scene.json");
  const loaded = Promise.all([
    sceneDone,
    sharedJson("data/values.json"),
    shared("data/values.bin"),
    sceneDone.then(bundledParams),
  ]);
  loaded.catch(() => {});   // without WebGL nobody waits for them (the weights still reach the worker)
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
  card = new Card(container, api.renderer, () => { if (api.mode === "model") flyToStep(0.3); });
  api.values = new SceneValues(api.renderer);
  const [scene, offsets, bin, params] = await loaded;
  toolbar = buildScaleToolbar(container, [{ name: "model", label: modelLabel || tr("scene.scales.model", {}, "this model") }, ...(scene.scale_views || [])],
                              (name) => { if (scaleHandler) scaleHandler(name); });
  if (scaleHandler) toolbar.enable();
  api.modelScene = scene;
  api.bundled = { data: new Float32Array(bin), offsets, params };
  api.renderer.setScene(scene);
  if (scene.tokens) api.renderer.setTokens(scene.tokens);
  applyBundled();
  frameOverview(0);
  api.renderer.onPick(earlyTooltip);
  return true;
}

// Until Python takes over (api.takeOver()), hovering shows the cell's value alone.
let pythonTooltips = false;
function earlyTooltip(pick) {
  if (pythonTooltips) return;
  tooltip.showValue(pick && api.mode === "model" ? api.renderer.block(pick.id) : null, pick);
}
/** Python's scene view calls this when it handles hovering itself. */
api.takeOver = () => { pythonTooltips = true; };
api.placeTooltip = () => tooltip.place();

api.ready = boot().catch((e) => {
  console.error("llmviz scene:", e);
  if (!api.error) showError(tr("notice.scene_data", { error: e.message },
                              `The 3D view could not load its data: ${e.message}. The walkthrough text and code still work.`));
  return false;
});

// ---- steps ----------------------------------------------------------------

function applyHighlight(extraCells, extraIds) {
  const cells = { ...(api.step.cells || {}) };
  for (const [id, ranges] of Object.entries(extraCells || {})) cells[id] = [...(cells[id] || []), ...ranges];
  api.renderer.highlight([...(api.step.focus || []), ...(extraIds || [])], cells);
}

/** Where a step's worked example should go: under blocks much wider than tall (the MLP's hidden
 * layers), beside the others. */
function cardWish(camera) {
  const boxes = camera && camera.ids ? api.renderer.boxes(camera.ids) : [];
  if (!boxes.length) return null;
  const w = Math.max(...boxes.map((b) => b.box.max[0])) - Math.min(...boxes.map((b) => b.box.min[0]));
  const h = Math.max(...boxes.map((b) => b.box.max[1])) - Math.min(...boxes.map((b) => b.box.min[1]));
  return w > 2.2 * h ? "bottom" : null;
}

/** Fly to the current step's view (seconds 0: jump); resolves like renderer.flyTo. With `keep`,
 *  only note what that view frames: the camera stays where a link or the reader put it. */
function flyToStep(seconds, keep = false) {
  try {
    const framed = stepView(api.renderer, container, api.step.camera);
    if (framed) {
      api.framing = framed.framing;
      if (!keep) return api.renderer.flyTo(framed.view, seconds);
    }
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
    resizeTimer = setTimeout(async () => {
      const r = api.renderer, before = api.stepCamera;
      if (card && card.spec && card.box.dataset.place !== card.placement()) card.show(card.spec);   // side <-> bottom
      if (!r || api.mode !== "model" || !before || !sameCamera(r.getCamera(), before)) return;
      await r.whenSized();     // framed for the camera's new aspect
      flyToStep(0).then(() => { api.stepCamera = r.getCamera(); });
    }, 150);
  }).observe(container);
}

/**
 * Where things are on screen now, in CSS px of the page: {scene: {x, y, w, h} (the 3D view),
 * blocks: {id: {x, y, w, h}} (each block of the step's focus that is in front of the camera),
 * card: {x, y, w, h} or null (the worked example), framing: what the camera framed}. For tests.
 */
api.viewState = () => {
  const r = api.renderer;
  if (!r || !container) return null;
  const c = container.getBoundingClientRect();
  const blocks = {};
  if (api.mode === "model") {
    for (const b of r.boxes(api.step.focus || [])) {
      const q = r.screenRect(b.id);
      if (q) blocks[b.id] = q;
    }
  }
  const cr = card && card.rect();
  return { scene: { x: c.left, y: c.top, w: c.width, h: c.height }, blocks, mode: api.mode,
           card: cr ? { x: cr.x + c.left, y: cr.y + c.top, w: cr.w, h: cr.h } : null,
           framing: api.framing };
};

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
  const step = parsed(stepArg);
  const serial = ++api.stepSerial;
  if (serial === 1) {          // the walkthrough has started: fold the legend away (a click opens it)
    const legend = container.querySelector(".llmviz-legend");
    if (legend) legend.open = false;
  }
  window.llmvizSceneSettled = false;
  const cut = reduced() || step.reduced;
  const speed = step.speed > 0 ? step.speed : api.motionState.speed || 1;
  api.step = { focus: step.focus || [], cells: step.cells || {}, dim: step.dim || [], camera: step.camera || null,
               figure: step.figure || null };
  if (api.animator.playing) api.animator.stop();
  r.dim(api.step.dim);
  applyHighlight();
  // overviews (a named view) name the parts of the model, unless the step says otherwise; the
  // framing then keeps the margins free for the names
  const kinds = { groups: !!(api.step.camera && api.step.camera.view), ...(step.annotate || {}) };
  r.annotate(api.step.focus, kinds);
  if (api.step.camera) api.step.camera = { ...api.step.camera, names: kinds.groups };
  card.show(api.step.figure, cardWish(api.step.camera));   // before framing: the step is framed beside it
  const seconds = cut ? 0 : (step.seconds ?? STEP_SECONDS) / speed;
  const flight = flyToStep(seconds, !!step.keepCamera);
  api.stepCamera = null;
  return flight.then(() => {
    if (serial !== api.stepSerial) return false;
    // the step's own view, for reframing after a resize (not a kept camera: that stays put)
    if (!step.keepCamera) api.stepCamera = r.getCamera();
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
};

/** Playback controls: {speed, paused, reduced, skip}. */
api.motion = (arg) => {
  const m = parsed(arg) || {};
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
  const cells = {};
  for (const item of parsed(arg) || []) cells[item.id] = [...(cells[item.id] || []), ...item.cells];
  applyHighlight(cells);
};

/** Blocks to bring forward while a text reference or code variable is hovered ([]: the step's own). */
api.focus = (arg) => {
  if (!api.renderer || api.mode !== "model" || api.animator.playing) return;
  applyHighlight({}, parsed(arg) || []);
};

// ---- scale views -----------------------------------------------------------

/** Python registers fn(name) to switch views ("model" or a scale view name). */
api.onScale = (fn) => {
  scaleHandler = fn;
  if (toolbar) toolbar.enable();
};

api.showScale = (sceneJson, infoArg) => {
  const r = api.renderer;
  if (!r) return false;
  const scene = parsed(sceneJson);
  const info = parsed(infoArg) || {};
  api.animator.stop();
  r.setScene(scene);
  api.mode = scene.name || "scale";
  card.show(null);
  r.annotate([], { ops: false, dims: false, tokens: false, groups: false });   // the line-up names its models
  toolbar.mark(api.mode);
  toolbar.info.textContent = info.text || tr("scene.scales.info", { model: scene.label }, `${scene.label}: shape only, no weights`);
  toolbar.info.hidden = false;
  try {   // framed below the note, in the renderer's viewing direction
    const cam = r.getCamera();
    const names = 26 * ((scene.models || []).length + 1);      // room above for the models' names
    r.flyTo(wholeView(r, container, cam.position.map((v, k) => v - cam.target[k]), 0.94, names), 0);
  } catch (e) {
    console.warn("llmviz scene: scale view:", e.message);
    r.flyTo("*", 0);
  }
  tooltip.hide();
  return true;
};

api.showModel = () => {
  const r = api.renderer;
  if (!r || !api.modelScene || api.mode === "model") return false;
  r.setScene(api.modelScene);
  api.mode = "model";
  toolbar.mark("model");
  toolbar.info.hidden = true;
  r.dim(api.step.dim || []);
  applyHighlight();
  r.annotate(api.step.focus || []);
  card.show(api.step.figure);
  if (api.step.camera) flyToStep(0);      // the current step's view again
  else frameOverview(0);
  if (api.values.params || api.values.acts) api.values.apply();   // the model worker's values again
  return true;
};

/** The scene's values from the model worker (see stage/values.js); resolves once drawn. */
api.setSceneValues = (arg) => {
  if (!api.values) return Promise.resolve(false);
  api.values.set(parsed(arg));
  return api.mode === "model" ? api.values.apply() : Promise.resolve(true);
};

/** A new token's cells; drawn at once in the model view, kept for it otherwise. */
api.patchValues = (patch, values) => {
  if (!api.values) return Promise.resolve(0);
  return api.values.patch(patch, values, api.mode === "model");
};

/** The size toolbar's first button names the model the page runs. */
api.setModelLabel = (text) => {
  modelLabel = String(text || "");
  if (toolbar) toolbar.setModelLabel(modelLabel);
};

api.setModelScene = (sceneJson) => {
  api.modelScene = parsed(sceneJson);
  api.bundled = null;           // the bundled values belong to the old model
  api.step = { focus: [], cells: {}, dim: [] };
  if (api.renderer && api.mode === "model") {
    api.renderer.setScene(api.modelScene);
    frameOverview(0);
  }
};

api.restoreBundled = () => {
  if (api.renderer && api.bundled && api.mode === "model") applyBundled();
};
