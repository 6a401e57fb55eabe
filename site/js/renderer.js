// The llmviz 3D view: the public API that the page (Python, through Pyodide) calls.
//
//   const r = createRenderer(element);      // throws an Error when WebGL2 is missing
//   r.setScene(sceneJson);                   // blocks from llmviz.layout.scene(config)
//   r.setValues("h.0.attn.q[1]", float32);   // row-major rows*cols values of one block
//   r.highlight(["h.0.attn"], {"x": [[0, 2, 48, 3]]});  // blocks, and cell ranges
//   r.dim(["*"]);                             // fade blocks
//   await r.flyTo("h.0.attn.q[1]", 1.0);      // eased camera flight; 0 seconds jumps
//   r.onPick(({id, row, col, index}) => ...); // hover; called with null off the blocks
//   r.onClick(...)                            // the same on click (null off the blocks)
//
// Names in highlight / dim / flyTo: a block id; a per-head stem ("h.0.attn.q" = every
// "h.0.attn.q[h]"); a group ("h.0.attn") or a group prefix ("h.0" = the whole layer);
// "*" = every block. Cell ranges are [r0, c0, r1, c1], half-open like Python slices
// (rows r0..r1-1, cols c0..c1-1). highlight() and dim() replace the previous set;
// pass [] to clear. A highlighted block, and highlighted cells, are never faded, so
// dim(["*"]) + highlight(focus) puts the focus forward. Python values can be passed
// as they come through Pyodide: typed arrays, lists, dicts (Maps or proxies), numpy
// arrays as proxies (copied through the buffer protocol).
//
// For animations (render/anim.js) and tools: addObject/removeObject (temporary three.js
// objects), addTicker(fn) (fn(now) runs before each frame while it returns true),
// block(id) (geometry, role and a view of the values), project([x, y, z]) (CSS pixels in
// the container), blockIds(), state() (what is highlighted/dimmed).
//
// The renderer only draws what it is told: it knows nothing of the walkthrough.
// It renders on demand (camera motion, new values, highlight changes, flights), so an
// idle page costs nothing. Controls are described in render/camera.js; keys act only
// while the canvas has focus, and Space is never used.
import * as THREE from "three";
import { BlockScene } from "./render/scene.js";
import { CameraRig } from "./render/camera.js";
import { Picker } from "./render/picking.js";
import { Labels } from "./render/labels.js";
import { PALETTE, buildLegend, fitLegend } from "./render/colors.js";

const CANVAS_CSS = `
.llmviz-canvas { display: block; width: 100%; height: 100%; outline: none; touch-action: none; }
.llmviz-canvas:focus-visible { box-shadow: inset 0 0 0 2px #4f8ff7; }
`;

function webgl2Context(canvas, antialias) {
  let gl = null;
  try {
    gl = canvas.getContext("webgl2", { antialias, alpha: false, powerPreference: "high-performance" });
  } catch (e) {
    gl = null;
  }
  if (!gl) {
    throw new Error("The 3D view needs WebGL2, which this browser does not provide (or has turned off). " +
                    "The text and code panels still work; to see the model in 3D, try an up-to-date " +
                    "Chrome, Firefox or Safari with hardware acceleration enabled.");
  }
  return gl;
}

/**
 * Python objects arrive from Pyodide either converted (arrays, Maps) or as proxies;
 * turn both into plain JS arrays and objects.
 */
function plain(x) {
  if (x && typeof x.toJs === "function") x = x.toJs({ dict_converter: Object.fromEntries });
  if (x instanceof Map) x = Object.fromEntries(x);
  return x;
}

/** A block's values as a Float32Array: typed arrays, ArrayBuffers, plain arrays, numpy proxies. */
function floatValues(values) {
  if (values instanceof Float32Array) return values;
  if (values instanceof ArrayBuffer) return new Float32Array(values);
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

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Create the 3D view inside `container` (an element that has a size).
 * Throws an Error with a readable message when WebGL2 is not available.
 */
export function createRenderer(container, options = {}) {
  const doc = container.ownerDocument;
  const win = doc.defaultView;
  if (!doc.getElementById("llmviz-canvas-css")) {
    const style = doc.createElement("style");
    style.id = "llmviz-canvas-css";
    style.textContent = CANVAS_CSS;
    doc.head.appendChild(style);
  }
  if (win.getComputedStyle(container).position === "static") container.style.position = "relative";

  const canvas = doc.createElement("canvas");
  canvas.className = "llmviz-canvas";
  canvas.tabIndex = 0;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "3D view of the model. With focus: arrows or WASD pan, " +
    "Shift with arrows orbits, + and - zoom, Home shows the whole model.");
  const antialias = options.antialias !== false;
  const gl = webgl2Context(canvas, antialias);
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, context: gl, antialias });
  } catch (e) {
    throw new Error(`The 3D view could not start WebGL2: ${e.message}`);
  }
  renderer.setPixelRatio(Math.min(win.devicePixelRatio || 1, 2));
  renderer.setClearColor(PALETTE.background, 1);
  container.appendChild(canvas);

  const scene3d = new THREE.Scene();
  let blocks = null;            // BlockScene
  let frames = 0;
  let scheduled = 0;            // requestAnimationFrame handle, 0 when none
  let dirty = false;
  let benchmarking = false;
  let disposed = false;
  let width = 1, height = 1;
  const pickCallbacks = new Set();
  const clickCallbacks = new Set();
  const tickers = new Set();    // animation hooks: fn(now) -> true while still moving
  let lastPick = null;

  const rig = new CameraRig(canvas, requestRender);
  const picker = new Picker(null, rig.camera);
  const labels = options.labels === false ? null : new Labels(container);
  const legend = options.legend === false ? null : buildLegend(container);
  rig.onHome = () => flyTo("*", 0.8);

  function resize() {
    const w = Math.max(1, container.clientWidth || 300), h = Math.max(1, container.clientHeight || 150);
    if (w === width && h === height) return;
    width = w; height = h;
    renderer.setSize(w, h, false);
    rig.setAspect(w / h);
    requestRender();
  }
  const resizeObserver = new win.ResizeObserver(resize);
  resizeObserver.observe(container);

  function requestRender() {
    dirty = true;
    if (!scheduled && !benchmarking && !disposed) scheduled = win.requestAnimationFrame(tick);
  }

  function draw() {
    renderer.render(scene3d, rig.camera);
    frames += 1;
    if (blocks) {
      blocks.afterRender();
      if (labels) labels.update(picker, width, height);
      if (blocks.blocks.length && win.llmvizFirstFrame === undefined) win.llmvizFirstFrame = win.performance.now();
    }
  }

  function tick(now) {
    scheduled = 0;
    let moving = rig.update(now);
    for (const fn of tickers) {
      try { if (fn(now)) moving = true; } catch (e) { tickers.delete(fn); console.error("llmviz renderer: an animation failed:", e); }
    }
    if (!dirty && !moving) return;
    dirty = false;
    draw();
    if (moving) requestRender();
  }

  // ---- pointer: hover picks, clicks, double click flies to a block
  function ndc(clientX, clientY) {
    const r = canvas.getBoundingClientRect();
    return [((clientX - r.left) / r.width) * 2 - 1, -((clientY - r.top) / r.height) * 2 + 1];
  }
  function pickAt(clientX, clientY) {
    if (!blocks) return null;
    rig.camera.updateMatrixWorld();
    const [x, y] = ndc(clientX, clientY);
    return picker.pickNdc(x, y);
  }
  function emit(callbacks, value) {
    for (const cb of callbacks) {
      try { cb(value); } catch (e) { console.error("llmviz renderer: a pick/click callback failed:", e); }
    }
  }
  function samePick(a, b) {
    return a === b || (a && b && a.id === b.id && a.index === b.index);
  }
  function hover(value) {
    if (samePick(value, lastPick)) return;
    lastPick = value;
    emit(pickCallbacks, value);
  }
  let down = null;
  const onPointerMove = (e) => {
    if (e.buttons) return;                       // dragging the camera
    hover(pickAt(e.clientX, e.clientY));
  };
  const onPointerLeave = () => hover(null);
  const onPointerDown = (e) => {
    down = { x: e.clientX, y: e.clientY, t: win.performance.now() };
    canvas.focus({ preventScroll: true });
  };
  const onPointerUp = (e) => {
    if (!down) return;
    const moved = Math.hypot(e.clientX - down.x, e.clientY - down.y);
    const quick = win.performance.now() - down.t < 600;
    down = null;
    if (moved < 5 && quick) emit(clickCallbacks, pickAt(e.clientX, e.clientY));
  };
  const onDoubleClick = (e) => {
    const p = pickAt(e.clientX, e.clientY);
    if (p) flyTo(p.id, 0.8);
  };
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerleave", onPointerLeave);
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("dblclick", onDoubleClick);

  // ---- API
  /** Scene JSON: an object, a JSON string, or a Python dict (proxy). Replaces any previous scene. */
  function setScene(scene) {
    scene = typeof scene === "string" ? JSON.parse(scene) : plain(scene);
    const next = new BlockScene(scene, renderer.capabilities.maxTextureSize);
    if (blocks) {
      scene3d.remove(blocks.mesh);
      blocks.dispose();
    }
    blocks = next;
    if (blocks.overflow.length) {
      console.warn(`llmviz renderer: ${blocks.overflow.length} blocks are too big for the value texture ` +
                   `and are drawn as shape only (first: ${blocks.overflow[0]})`);
    }
    scene3d.add(blocks.mesh);
    picker.scene = blocks;
    if (labels) {
      labels.setBlocks(blocks.blocks);
      labels.setStates(blocks.highlighted, blocks.dimmed);
    }
    if (legend) fitLegend(legend, blocks.blocks);
    const bounds = scene.bounds && scene.bounds.min && scene.bounds.max ? scene.bounds : blocks.bounds;
    rig.setBounds(bounds);
    resize();
    rig.flyTo(rig.viewOfBox(blocks.bounds, rig.defaultDirection(), 1.05), 0);
    lastPick = null;
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
    const done = rig.flyTo(view, seconds);
    requestRender();
    return done;
  }

  function screenRect(id) {
    const s = need();
    rig.camera.updateMatrixWorld();
    const out = { x: 0, y: 0, w: 0, h: 0, depth: 0 };
    if (!picker.rect(s.index(id), width, height, out)) return null;
    const r = canvas.getBoundingClientRect();
    return { x: out.x + r.left, y: out.y + r.top, w: out.w, h: out.h };
  }

  /** Render `frames` frames (orbiting the target when `orbit`) and time them. */
  async function benchmark({ frames: count = 300, orbit = true } = {}) {
    need();
    if (benchmarking) throw new Error("a benchmark is already running");
    benchmarking = true;
    const saved = rig.get();
    const intervals = [], renders = [];
    const px = new Uint8Array(4);
    const axis = new THREE.Vector3(0, 1, 0);
    const offset = new THREE.Vector3();
    let last = null;
    try {
      await new Promise((resolve) => {
        let i = 0;
        const step = (now) => {
          if (orbit) {
            offset.subVectors(rig.camera.position, rig.controls.target).applyAxisAngle(axis, (2 * Math.PI) / count);
            rig.camera.position.copy(rig.controls.target).add(offset);
            rig.camera.lookAt(rig.controls.target);
          }
          const t0 = win.performance.now();
          draw();
          gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);   // wait for the GPU
          renders.push(win.performance.now() - t0);
          if (last !== null) intervals.push(now - last);
          last = now;
          i += 1;
          if (i <= count && !disposed) win.requestAnimationFrame(step);
          else resolve();
        };
        win.requestAnimationFrame(step);
      });
    } finally {
      benchmarking = false;
      rig.set(saved);
    }
    const a = intervals.sort((x, y) => x - y), b = renders.sort((x, y) => x - y);
    return { frames: a.length, median_ms: percentile(a, 0.5), p90_ms: percentile(a, 0.9),
             render_median_ms: percentile(b, 0.5), render_p90_ms: percentile(b, 0.9),
             width, height, pixel_ratio: renderer.getPixelRatio(), blocks: blocks.blocks.length };
  }

  // ---- animation API (used by render/anim.js): temporary objects, per-frame hooks, block data
  /** Add a three.js object to the scene (an animation's temporary cells); redraws. */
  function addObject(obj) { scene3d.add(obj); requestRender(); }
  function removeObject(obj) { scene3d.remove(obj); requestRender(); }
  /** Call fn(now) before every frame while it returns true (then it is dropped); starts the frame loop. */
  function addTicker(fn) {
    const wrapped = (now) => { const more = fn(now); if (!more) tickers.delete(wrapped); return more; };
    tickers.add(wrapped);
    requestRender();
  }
  /** One block's geometry, role and values: {id, pos, rows, cols, cell, role, values (a view or null), scale (1 / max|value|)}. */
  function block(id) {
    const s = need();
    const i = s.byId.get(id);
    if (i === undefined) return null;
    const b = s.blocks[i];
    const n = b.rows * b.cols;
    const hasValues = s.base[i] >= 0 && s.iState.attribute.array[i * 12 * 4 + 3] === 1;
    return { id: b.id, pos: b.pos, rows: b.rows, cols: b.cols, cell: b.cell, role: b.role, label: b.label,
             dims: b.dims, values: hasValues ? s.values.subarray(s.base[i], s.base[i] + n) : null,
             scale: s.iState.attribute.array[i * 12 * 4] };
  }
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
   * cells: {id: [r0, c0, r1, c1]}} (cells: the box around each block's highlighted cell ranges).
   */
  function state() {
    if (!blocks) return { highlighted: [], dimmed: [], cells: {} };
    const pick = (flags) => blocks.blocks.filter((_, i) => flags[i]).map((b) => b.id);
    const cells = {};
    const rect = blocks.iRect.attribute.array;
    blocks.blocks.forEach((b, i) => {
      const o = i * 12 * 4;
      if (rect[o + 2] > rect[o]) cells[b.id] = [rect[o], rect[o + 1], rect[o + 2], rect[o + 3]];
    });
    return { highlighted: pick(blocks.highlighted), dimmed: pick(blocks.dimmed), cells };
  }

  function dispose() {
    if (disposed) return;
    disposed = true;
    if (scheduled) win.cancelAnimationFrame(scheduled);
    resizeObserver.disconnect();
    canvas.removeEventListener("pointermove", onPointerMove);
    canvas.removeEventListener("pointerleave", onPointerLeave);
    canvas.removeEventListener("pointerdown", onPointerDown);
    canvas.removeEventListener("pointerup", onPointerUp);
    canvas.removeEventListener("dblclick", onDoubleClick);
    rig.dispose();
    if (blocks) blocks.dispose();
    if (labels) labels.dispose();
    if (legend) legend.remove();
    renderer.dispose();
    canvas.remove();
    pickCallbacks.clear();
    clickCallbacks.clear();
    tickers.clear();
  }

  resize();
  return {
    canvas,
    setScene,
    setValues,
    highlight,
    dim,
    flyTo,
    onPick(cb) { pickCallbacks.add(cb); return () => pickCallbacks.delete(cb); },
    onClick(cb) { clickCallbacks.add(cb); return () => clickCallbacks.delete(cb); },
    pickAt,
    getCamera: () => rig.get(),
    setCamera: (cam) => { const p = rig.set(plain(cam)); requestRender(); return p; },
    screenRect,
    frameCount: () => frames,
    requestRender,
    benchmark,
    addObject,
    removeObject,
    addTicker,
    block,
    blockIds,
    state,
    project,
    dispose,
  };
}
