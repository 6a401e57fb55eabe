// The llmviz 3D view: the public API that the page (Python, through Pyodide) calls.
//
//   const r = createRenderer(element);      // throws an Error when WebGL2 is missing
//   r.setScene(sceneJson);                   // blocks from llmviz.viz.layout.scene(config)
//   r.setValues("h.0.attn.q[1]", float32);   // row-major rows*cols values of one block
//   r.patchValues(patch, float32);            // some cells of many blocks (a new token)
//   r.overflow();                             // blocks drawn as shape only (no room for values)
//   r.highlight(["h.0.attn"], {"x": [[0, 2, 48, 3]]});  // blocks, and cell ranges
//   r.dim(["*"]);                             // fade blocks
//   r.annotate(["x", "h.0.ln_1"]);            // operation arrows and dimension marks for these
//   r.setTokens({vocab: ["A", "B", "C"], tokens: [2, 1, 0]});   // letters over idx, logits...
//   await r.flyTo("h.0.attn.q[1]", 1.0);      // eased camera flight; 0 seconds jumps
//   r.onPick(({id, row, col, index}) => ...); // hover; called with null off the blocks
//   r.onClick(...)                            // the same on click (null off the blocks)
//
// Names in highlight / dim / flyTo / boxes: a block id; a per-head stem ("h.0.attn.q" =
// every "h.0.attn.q[h]"); a group ("h.0.attn") or a group prefix ("h.0" = the whole
// layer); "*" = every block. Cell ranges are [r0, c0, r1, c1], half-open like Python
// slices (rows r0..r1-1, cols c0..c1-1). highlight() and dim() replace the previous set;
// pass [] to clear. A highlighted block, and highlighted cells, are never faded, so
// dim(["*"]) + highlight(focus) puts the focus forward. Python values can be passed
// as they come through Pyodide: typed arrays, lists, dicts (Maps or proxies), numpy
// arrays as proxies (copied through the buffer protocol).
//
// For animations (render/anim.js), framing and tools: addObject/removeObject (temporary
// three.js objects), addTicker(fn) (fn(now) runs before each frame while it returns
// true), onFrame(fn) (after each frame is drawn), block(id) (geometry, role and a view of
// the values), boxes(names) (world boxes), project([x, y, z]) (CSS pixels in the
// container), screenRect(id), blockIds(), state() (what is highlighted/dimmed, whether new
// values are still on their way to the GPU), whenSized()
// (resolves once the drawing buffer has the view's size: see resize() below).
//
// The renderer only draws what it is told: it knows nothing of the walkthrough. It
// renders on demand (camera motion, new values, highlight changes, flights), so an idle
// page costs nothing. The parts: render/blocks.js (every block in one mesh),
// render/camera.js (controls and flights), render/picking.js, render/pointer.js,
// render/labels.js, render/annotations.js (operations, dimension marks, token letters),
// render/legend.js, render/bench.js; styles in css/render.css. Keys act
// only while the canvas has focus, and Space is never used.
import * as THREE from "three";
import { t as tr, say } from "./i18n.js";
import { BlockScene, MAX_PAGES } from "./render/blocks.js";
import { CameraRig } from "./render/camera.js";
import { Picker } from "./render/picking.js";
import { PointerInput } from "./render/pointer.js";
import { Labels } from "./render/labels.js";
import { Annotations } from "./render/annotations.js";
import { PALETTE } from "./render/colors.js";
import { buildLegend, fitLegend } from "./render/legend.js";
import { timeFrames } from "./render/bench.js";
import { parsed, plain } from "./render/pyvalue.js";

const RESIZE_WAIT_MS = 600;     // a new canvas size waits this long at most for the GPU to catch up
const QUIET_FRAMES = 3;         // ... which it has after this many frames without texture uploads

function webgl2Context(canvas, antialias) {
  let gl = null;
  try {
    gl = canvas.getContext("webgl2", { antialias, alpha: false, powerPreference: "high-performance" });
  } catch (e) {
    gl = null;
  }
  if (!gl) {
    throw new Error(tr("notice.no_webgl", {}, "The 3D view needs WebGL2, which this browser does not provide (or has turned off). " +
                    "The text and code panels still work; to see the model in 3D, try an up-to-date " +
                    "Chrome, Firefox or Safari with hardware acceleration enabled."));
  }
  return gl;
}

/** A block's values as a Float32Array: typed arrays, ArrayBuffers, plain arrays, numpy proxies. */
function floatValues(values) {
  if (values instanceof Float32Array) return values;
  if (values instanceof ArrayBuffer) return new Float32Array(values);
  if (values instanceof Uint8Array && values.byteOffset % 4 === 0) {    // float32 bytes from the model worker
    return new Float32Array(values.buffer, values.byteOffset, values.byteLength >> 2);
  }
  if (values && typeof values.getBuffer === "function") {       // a numpy array passed as a PyProxy
    const buffer = values.getBuffer();     // the array's own element type; converted below
    try {
      if (!buffer.c_contiguous) throw new Error("setValues: pass a C-contiguous array (numpy.ascontiguousarray)");
      const data = buffer.data;
      if (data instanceof Float32Array) return data.slice();     // copy: the view dies on release
      return typeof data[0] === "bigint" ? Float32Array.from(data, Number) : Float32Array.from(data);
    } finally {
      buffer.release();
    }
  }
  if (values && typeof values.toJs === "function") values = values.toJs();
  if (ArrayBuffer.isView(values) || Array.isArray(values)) return Float32Array.from(values);
  return values;
}

/**
 * Create the 3D view inside `container` (an element that has a size).
 * Throws an Error with a readable message when WebGL2 is not available.
 * options: {antialias, labels: false, legend: false}.
 */
export function createRenderer(container, options = {}) {
  const doc = container.ownerDocument;
  const win = doc.defaultView;
  if (win.getComputedStyle(container).position === "static") container.style.position = "relative";

  const canvas = doc.createElement("canvas");
  canvas.className = "llmviz-canvas";
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", tr("scene.canvas_aria", {}, "3D view of the model. With focus: arrows or WASD pan, " +
    "Shift with arrows orbits, + and - zoom, Home shows the whole model."));
  const antialias = options.antialias !== false;
  const pixelRatio = Math.min(win.devicePixelRatio || 1, 2);
  // the view's size in CSS px (what resize() gives the drawing buffer)
  const viewSize = () => [Math.max(1, container.clientWidth || 300), Math.max(1, container.clientHeight || 150)];
  // The drawing buffer at its size before the context is made: a software GL allocates it (with
  // its antialiasing samples) once, not at the default 300 x 150 and again as setSize sets the
  // width, then the height (~20 ms of the first frame's wait with SwiftShader).
  [canvas.width, canvas.height] = viewSize().map((px) => Math.floor(px * pixelRatio));
  const gl = webgl2Context(canvas, antialias);
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, context: gl, antialias });
  } catch (e) {
    throw new Error(tr("notice.webgl_failed", { error: e.message }, `The 3D view could not start WebGL2: ${e.message}`));
  }
  renderer.setPixelRatio(pixelRatio);
  renderer.setClearColor(PALETTE.background, 1);
  container.appendChild(canvas);

  const scene3d = new THREE.Scene();
  let blocks = null;            // BlockScene
  const retired = [];           // replaced BlockScenes, disposed once the new one has drawn
  let frames = 0;
  let scheduled = 0;            // requestAnimationFrame handle, 0 when none
  let dirty = false;
  let benchmarking = false;
  let disposed = false;
  let width = 1, height = 1;    // the view's size in CSS px (what the overlays and screenRect use)
  const tickers = new Set();    // animation hooks: fn(now) -> true while still moving
  const frameHooks = new Set(); // fn() after each drawn frame (overlays that follow the camera)

  const rig = new CameraRig(canvas, requestRender);
  const picker = new Picker(null, rig.camera);
  // The blocks' shader programs, compiled ahead (a software GL takes 0.1-0.3 s to compile and
  // link one; the GPU process does that while this thread goes on, and three.js only waits for
  // the result at the program's first frame): the one-page program now, for the first frame (the
  // GPU process compiles it while this thread waits for the scene's data and builds it); the
  // MAX_PAGES one (bigger models: render/blocks.js shaderPages) once the first frame is drawn and
  // the page is idle. A warm-up block's material keeps each program: the one-page one until the
  // first scene's material has it (setScene retires it), the other for good.
  const warmUpBlock = (pages) => new BlockScene(
    { blocks: [{ id: "warm-up", rows: 1, cols: 1, pos: [0, 0, 0], role: "activation" }] },
    renderer.capabilities.maxTextureSize, { shaderPages: pages });
  let warmUp = warmUpBlock(1);
  renderer.compile(warmUp.mesh, rig.camera);
  let warmBig = null, warmBigAsked = false;
  function warmBigProgram() {
    if (warmBig || disposed) return;
    warmBig = warmUpBlock(MAX_PAGES);
    renderer.compile(warmBig.mesh, rig.camera);
  }
  const labels = options.labels === false ? null : new Labels(container);
  const annotations = options.annotations === false ? null : new Annotations(container);
  const legend = options.legend === false ? null : buildLegend(container);
  const pointer = new PointerInput(canvas, pickAt, (p) => flyTo(p.id, 0.8));
  rig.onHome = () => flyTo("*", 0.8);

  // A software GL (SwiftShader) can be far behind this thread: a new model's values are
  // megabytes of texture uploads. A new drawing-buffer size waits here for all of it (0.1-0.3 s
  // of a frozen page when the input bar grows as a text model loads), so the buffer follows
  // the view's size once QUIET_FRAMES frames have gone by without uploads (RESIZE_WAIT_MS at
  // most). Meanwhile the old picture is stretched to the view by CSS, no frame is drawn, the
  // camera and animations hold still, and the overlays and screen positions use the new size
  // (a point's place in the stretched picture), so hovering, labels and clicks stay right.
  let quiet = QUIET_FRAMES;     // frames since the last texture upload
  let buffer = [0, 0];          // the drawing buffer's size in CSS px
  let resizeAsked = 0;          // when the view's size changed and the buffer has not followed yet
  const sizedWaiters = [];
  const gpuBehind = () => quiet < QUIET_FRAMES;
  /** Follow the view's size; false while the drawing buffer waits for the GPU. */
  function resize() {
    const [w, h] = viewSize();
    if (w !== width || h !== height) { width = w; height = h; requestRender(); }
    if (buffer[0] === w && buffer[1] === h) { resizeAsked = 0; return true; }
    const now = win.performance.now();
    if (!resizeAsked) resizeAsked = now;
    if (gpuBehind() && now - resizeAsked < RESIZE_WAIT_MS) { requestRender(); return false; }
    resizeAsked = 0;
    buffer = [w, h];
    renderer.setSize(w, h, false);
    rig.setAspect(w / h);
    requestRender();
    while (sizedWaiters.length) sizedWaiters.shift()();
    return true;
  }
  /** A Promise that resolves once the drawing buffer has the view's size. */
  function whenSized() {
    return resizeAsked ? new Promise((resolve) => sizedWaiters.push(resolve)) : Promise.resolve();
  }
  const resizeObserver = new win.ResizeObserver(() => resize());
  resizeObserver.observe(container);

  function requestRender() {
    dirty = true;
    schedule();
  }
  function schedule() {
    if (!scheduled && !benchmarking && !disposed) scheduled = win.requestAnimationFrame(tick);
  }

  // New values reach the GPU a slice per frame (render/blocks.js prepareUploads: a budget of
  // bytes). A software GL draws a big model's frame in 50-90 ms of the GPU process, on the
  // same cores as the model worker: a frame per slice would draw a big model's 40-80 MB of new
  // values 10-20 times over while the worker computes the next token. So only the first slice
  // comes with a frame; the others are uploaded in frames of their own that draw nothing
  // (uploadSlice), and one frame draws them all when the last is in.
  let uploading = false;
  function uploadSlice() {
    const left = blocks.prepareUploads();
    for (const texture of blocks.texturesToUpload()) renderer.initTexture(texture);
    quiet = 0;
    if (left) schedule();
    else { uploading = false; requestRender(); }
  }

  /** A frame: the GL picture (unless `gpu` is false: a resize waits) and the overlays. */
  function draw(gpu = true) {
    if (gpu) {
      const uploadsLeft = blocks ? blocks.prepareUploads() : false;   // a budget of texture uploads per frame
      renderer.render(scene3d, rig.camera);
      quiet = uploadsLeft || (blocks && blocks.uploadedBytes > 0) ? 0 : quiet + 1;
      frames += 1;
      if (uploadsLeft) { uploading = true; schedule(); }
      while (retired.length) retired.pop().dispose();
      if (blocks) blocks.afterRender();
    }
    if (blocks) {
      const taken = annotations ? annotations.update(picker, width, height, labels ? labels.overlayBoxes() : []) : [];
      if (labels) labels.update(picker, width, height, taken);
      if (gpu && blocks.blocks.length && win.llmvizFirstFrame === undefined) win.llmvizFirstFrame = win.performance.now();
      if (gpu && blocks.blocks.length && !warmBigAsked) {
        warmBigAsked = true;
        if (win.requestIdleCallback) win.requestIdleCallback(warmBigProgram, { timeout: 3000 });
        else win.setTimeout(warmBigProgram, 500);
      }
    }
    for (const fn of frameHooks) {
      try { fn(); } catch (e) { frameHooks.delete(fn); console.error("llmviz renderer: a frame hook failed:", e); }
    }
  }

  function tick(now) {
    scheduled = 0;
    if (resizeAsked && !resize()) {   // the buffer waits for the GPU: the view holds still (camera and
      quiet += 1;                     // animations too, so the overlays stay on the held picture), and
      draw(false);                    // looks again next frame
      return;
    }
    let moving = rig.update(now);
    for (const fn of tickers) {
      try { if (fn(now)) moving = true; } catch (e) { tickers.delete(fn); console.error("llmviz renderer: an animation failed:", e); }
    }
    if (!dirty && !moving) {
      if (uploading && blocks) uploadSlice();   // the next slice of new values, no frame drawn
      return;
    }
    dirty = false;
    draw();
    if (moving) requestRender();
  }

  function pickAt(clientX, clientY) {
    if (!blocks) return null;
    rig.camera.updateMatrixWorld();
    const r = canvas.getBoundingClientRect();
    return picker.pickNdc(((clientX - r.left) / r.width) * 2 - 1, -((clientY - r.top) / r.height) * 2 + 1);
  }

  // ---- API
  /** Scene JSON: an object, a JSON string, or a Python dict (proxy). Replaces any previous scene. */
  function setScene(scene) {
    scene = parsed(scene);
    for (const b of scene.blocks || []) if (b.words) b.label = say(b.words, b.label);   // in the page's language
    const next = new BlockScene(scene, renderer.capabilities.maxTextureSize);
    if (blocks) {
      scene3d.remove(blocks.mesh);
      retired.push(blocks);    // disposed after the next frame: its shader program stays for the new scene
    }
    blocks = next;
    if (warmUp) { retired.push(warmUp); warmUp = null; }
    if (blocks.overflow.length) {     // the page names them in a notice (renderer.overflow())
      console.warn(`llmviz renderer: ${blocks.overflow.length} blocks do not fit the value textures ` +
                   `and are drawn as shape only (first: ${blocks.overflow[0]})`);
    }
    scene3d.add(blocks.mesh);
    picker.scene = blocks;
    if (labels) {
      labels.setBlocks(blocks.blocks);
      labels.setStates(blocks.highlighted, blocks.dimmed);
    }
    if (legend) fitLegend(legend, blocks.blocks);
    if (annotations) annotations.setScene(scene, blocks);
    const bounds = scene.bounds && scene.bounds.min && scene.bounds.max ? scene.bounds : blocks.bounds;
    rig.setBounds(bounds);
    resize();
    rig.flyTo(rig.viewOfBox(blocks.bounds, rig.defaultDirection(), 1.05), 0);
    pointer.reset();
    requestRender();
  }

  function need() {
    if (!blocks) throw new Error("call setScene(scene) before this");
    return blocks;
  }

  function setValues(id, values, opts) {
    const changed = need().setValues(id, floatValues(values), plain(opts) || {});
    if (changed) requestRender();
    return changed;
  }

  /**
   * Some cells of many blocks: patch {ids: [block id], block: [index into ids, per run],
   * starts, counts, strides} (run k: counts[k] cells starts[k] + j * strides[k], row-major),
   * values: their float32 values, run after run. Colour scales grow to the new values.
   */
  function patchValues(patch, values) {
    const s = need();
    const p = parsed(patch);
    const data = floatValues(values);
    let at = 0, k = 0;
    const n = p.starts.length;
    while (k < n) {
      const b = p.block[k];
      let z = k;
      while (z < n && p.block[z] === b) z++;
      at += s.patchValues(p.ids[b], p.starts.slice(k, z), p.counts.slice(k, z), p.strides.slice(k, z), data, at);
      k = z;
    }
    if (at !== data.length) throw new Error(`patchValues: the runs take ${at} values, ${data.length} came`);
    requestRender();
    return at;
  }

  function highlight(ids, cells) {
    need().highlight(plain(ids), plain(cells));
    if (labels) labels.setStates(blocks.highlighted, blocks.dimmed);
    requestRender();
  }

  function dim(ids) {
    need().dim(plain(ids));
    if (labels) labels.setStates(blocks.highlighted, blocks.dimmed);
    requestRender();
  }

  /**
   * Fly the camera to `target` over `seconds` (default 1; 0 jumps). target: a block
   * id or group, a list of them ("*" = everything), {ids, direction?, margin?},
   * {center: [x, y, z], distance, direction?}, or {position, target}. The view keeps
   * the current viewing direction unless one is given. Resolves true when arrived,
   * false when interrupted by the user or by another flight.
   */
  function flyTo(target, seconds = 1) {
    const s = need();
    let view = null;
    target = plain(target);
    if (typeof target === "string" || Array.isArray(target)) target = { ids: target };
    if (target && target.ids !== undefined) {
      const indices = s.resolve(target.ids);
      if (!indices.length) return Promise.resolve(false);
      view = rig.viewOfBox(s.boxOf(indices), target.direction, target.margin || 1.15);
    } else if (target && target.center) {
      const distance = target.distance > 0 ? target.distance : rig.camera.position.distanceTo(rig.controls.target);
      view = rig.viewAt(target.center, distance, target.direction);
    } else if (target && target.position && target.target) {
      view = { position: new THREE.Vector3().fromArray(target.position), target: new THREE.Vector3().fromArray(target.target) };
    } else {
      throw new Error("flyTo: target must be a block id, a list of ids, {center, distance} or {position, target}");
    }
    if (rig.isAt(view)) { rig.cancelFlight(); return Promise.resolve(true); }   // already there: nothing to draw
    const done = rig.flyTo(view, seconds);
    requestRender();
    return done;
  }

  /** A block's rectangle on screen in CSS px of the page (viewport coordinates), or null. */
  function screenRect(id) {
    const s = need();
    rig.camera.updateMatrixWorld();
    const out = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
    if (!picker.rect(s.index(id), width, height, out)) return null;
    const r = canvas.getBoundingClientRect();
    return { x: out.x + r.left, y: out.y + r.top, w: out.w, h: out.h };
  }

  /**
   * What the annotations (render/annotations.js) mark: `focus` block ids (their operations,
   * dimension marks) and which kinds to draw ({ops, dims, tokens}: booleans, default all).
   */
  function annotate(focus, kinds) {
    if (!annotations) return;
    annotations.setFocus(plain(focus) || [], plain(kinds) || {});
    requestRender();
  }

  /** The vocabulary and the input's token ids, for the token letters: {vocab: [...], tokens: [...]}. */
  function setTokens(tokens) {
    if (!annotations) return;
    annotations.setTokens(parsed(tokens));
    requestRender();
  }

  /** Render `frames` frames (orbiting the target when `orbit`) and time them (render/bench.js). */
  async function benchmark(opts = {}) {
    need();
    if (benchmarking) throw new Error("a benchmark is already running");
    benchmarking = true;
    try {
      const times = await timeFrames(win, gl, rig, draw, { ...opts, alive: () => !disposed });
      return { ...times, width, height, pixel_ratio: renderer.getPixelRatio(), blocks: blocks.blocks.length };
    } finally {
      benchmarking = false;
    }
  }

  /** Add a three.js object to the scene (an animation's temporary cells); redraws. */
  function addObject(obj) { scene3d.add(obj); requestRender(); }
  function removeObject(obj) { scene3d.remove(obj); requestRender(); }
  /** Call fn(now) before every frame while it returns true (then it is dropped); starts the frame loop. */
  function addTicker(fn) {
    const wrapped = (now) => { const more = fn(now); if (!more) tickers.delete(wrapped); return more; };
    tickers.add(wrapped);
    requestRender();
  }
  /** Call fn() after every drawn frame until the returned function is called. */
  function onFrame(fn) { frameHooks.add(fn); requestRender(); return () => frameHooks.delete(fn); }
  /** One block's geometry, role and values: {id, pos, rows, cols, cell, role, label, dims, values (a view or null), scale (1 / max|value|)}. */
  function block(id) {
    const s = need();
    const i = s.byId.get(id);
    if (i === undefined) return null;
    const b = s.blocks[i];
    return { id: b.id, pos: b.pos, rows: b.rows, cols: b.cols, cell: b.cell, role: b.role, label: b.label,
             dims: b.dims, values: s.valuesOf(i), scale: s.scaleOf(i) };
  }
  /** World boxes of the blocks `names` select: [{id, group, rows, cols, cell, box: {min, max}}]. */
  function boxes(names) { return blocks ? blocks.boxesOf(plain(names)) : []; }
  /** A world point in CSS pixels relative to the container's top-left corner, or null when behind the camera. */
  function project(point) {
    const v = new THREE.Vector3().fromArray(point);
    rig.camera.updateMatrixWorld();
    v.applyMatrix4(rig.camera.matrixWorldInverse);
    if (v.z > -rig.camera.near) return null;
    v.applyMatrix4(rig.camera.projectionMatrix);
    return { x: (v.x + 1) * 0.5 * width, y: (1 - v.y) * 0.5 * height };
  }
  /** The block ids of the current scene (in scene order). */
  function blockIds() { return blocks ? blocks.blocks.map((b) => b.id) : []; }
  /**
   * What is highlighted and dimmed now (for tests and tools): {highlighted: [ids], dimmed: [ids],
   * cells: {id: [r0, c0, r1, c1]}, uploading} (cells: the box around each block's highlighted cell
   * ranges; uploading: new values are still on their way to the GPU, not all drawn yet).
   */
  function state() {
    if (!blocks) return { highlighted: [], dimmed: [], cells: {}, uploading: false };
    const pick = (flags) => blocks.blocks.filter((_, i) => flags[i]).map((b) => b.id);
    const cells = {};
    blocks.blocks.forEach((b, i) => {
      const box = blocks.cellsBox(i);
      if (box) cells[b.id] = box;
    });
    return { highlighted: pick(blocks.highlighted), dimmed: pick(blocks.dimmed), cells,
             uploading: uploading || blocks.uploadsPending() };
  }

  function dispose() {
    if (disposed) return;
    disposed = true;
    if (scheduled) win.cancelAnimationFrame(scheduled);
    resizeObserver.disconnect();
    pointer.dispose();
    rig.dispose();
    if (blocks) blocks.dispose();
    if (warmUp) warmUp.dispose();
    if (warmBig) warmBig.dispose();
    while (retired.length) retired.pop().dispose();
    if (labels) labels.dispose();
    if (annotations) annotations.dispose();
    if (legend) legend.remove();
    renderer.dispose();
    canvas.remove();
    tickers.clear();
    frameHooks.clear();
  }

  resize();
  return {
    canvas,
    setScene,
    setValues,
    patchValues,
    overflow: () => (blocks ? [...blocks.overflow] : []),
    highlight,
    dim,
    annotate,
    setTokens,
    flyTo,
    onPick: (cb) => pointer.onPick(cb),
    onClick: (cb) => pointer.onClick(cb),
    pickAt,
    getCamera: () => rig.get(),
    setCamera: (cam) => { const p = rig.set(plain(cam)); requestRender(); return p; },
    screenRect,
    whenSized,
    frameCount: () => frames,
    requestRender,
    benchmark,
    addObject,
    removeObject,
    addTicker,
    onFrame,
    block,
    boxes,
    blockIds,
    state,
    project,
    dispose,
  };
}
