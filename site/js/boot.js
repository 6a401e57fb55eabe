// boot.js: the first script of the page. Runs before Python and owns these things:
//  1. window.llmviz, the page's public API (made by js/api.js, which nothing delays: its
//     `ready` and `live` are there once the document has loaded). `ready` resolves with
//     {python, numpy, model, live: false, ...} once the views are up on the bundled trace,
//     or rejects with a readable reason. `live` resolves once the model worker has started
//     ({live: true, numpy_version, max_abs_diff, ...}, also merged into `info`) or is known
//     not to ({live: false, error?}: no numpy, or the reason it failed). app.py settles them
//     through llmviz._boot.resolve/reject/live; other modules add state()/goto()/setInput()
//     to the same object later (setInput, generate and loadModel wait for the model).
//  2. the progress line in the header: bytes of the big downloads (sizes from
//     build-info.json, completions from the Resource Timing API) and the stage text
//     that app.py sets with llmviz.progress(text).
//  3. the service worker (sw.js): registered once the model worker has started (`live`), so
//     it never competes with the first boot; when a new build takes over, the page reloads so that the
//     HTML and every asset come from the same build.
//  4. storage the browser blocks (a frame of another site with third-party storage
//     blocked): PyScript waits forever for an IndexedDB database it cannot open, so there
//     its own databases live in memory (js/frame_storage.js); sessionStorage and the
//     service worker are optional. llmviz.storage.blocked says the page may keep nothing.
//  5. the page's static markup: index.html's <template data-into> put in place (below),
//     in the reader's language (i18n.js: ?lang=, else the browser's languages), and the
//     language menu in the header, which reloads the page with &lang= (the hash, i.e. the
//     step, kept).
import { safeStorage } from "./frame_storage.js";   // first: before PyScript's core.js takes window.Worker
import { llmviz as early, settleLive, settleReady } from "./api.js";
import { lang, languages, t as tr, translate, urlFor } from "./i18n.js";

const meta = document.querySelector('meta[name="llmviz-build"]');
const BUILD_ID = meta ? meta.content : "";
const statusEl = () => document.getElementById("status");
const barEl = () => document.getElementById("progress-bar");

// ?embed=1 (read as walk_nav.parse_query reads it): the page is a frame, so the narrow-screen
// layout of app.css (a page that scrolls) stays off and the frame keeps its drawer layout, and
// only the step, its notes and code and prev/next show (walk.css), unless &controls=1 brings back
// the input bar, the scale buttons and the animation controls. Set now, before the first layout.
{
  const query = new URLSearchParams(location.search);
  const flag = (key) => query.get(key) !== null && ["1", "true", "yes", "on", ""].includes(query.get(key).toLowerCase());
  if (flag("embed")) {
    document.documentElement.classList.add("embed");
    if (flag("controls")) document.documentElement.classList.add("embed-controls");
  }
}

// the page's static markup (index.html's <template data-into="ID">) goes into #ID at once,
// so the controls are laid out, disabled, while Python loads; the views switch them on.
// Every text marked data-i18n is in the page's language first (the <template>s too, so the
// views' clones are).
translate(document);
for (const tpl of document.querySelectorAll("template[data-into]")) {
  const slot = document.getElementById(tpl.dataset.into);
  if (slot) slot.replaceChildren(tpl.content.cloneNode(true));
}

// the language menu: every catalogue of this build, each named in its own language
{
  const menu = document.getElementById("lang-menu");
  if (menu) {
    for (const [code, name] of Object.entries(languages)) {
      const option = document.createElement("option");
      option.value = code;
      option.lang = code;
      option.textContent = name;
      option.selected = code === lang;
      menu.appendChild(option);
    }
    menu.closest(".lang-choice").hidden = Object.keys(languages).length < 2;
    menu.addEventListener("change", () => location.assign(urlFor(menu.value)));
  }
}

// window.llmviz (made by api.js, with `ready` and `live`), completed; also this module's export
// `llmviz`: Python imports it (PyScript's js_modules, pyscript.toml)
export const llmviz = Object.assign(early, {
  build: BUILD_ID,
  info: null,          // the object `ready` resolved with (and then `live`'s)
  error: null,         // the reason `ready` rejected with
  progress(text, fraction) { setStatus(text, fraction); },
  // the page's words in its language (i18n.js), for Python before its own catalogue is loaded
  t(key, values, fallback) { return tr(key, values || {}, fallback); },
  notice(text) {
    // each notice is a line of its own (the numpy notice stays when a later one comes);
    // notice("") clears them all
    const el = document.getElementById("notice");
    if (!el) return;
    if (!text) { el.replaceChildren(); el.hidden = true; return; }
    if ([...el.children].some((p) => p.textContent === text)) return;
    const line = document.createElement("p");
    line.textContent = text;
    el.append(line);
    el.hidden = false;
  },
  _boot: {
    resolve(info) {
      const plain = toPlain(info);
      api.info = plain;
      window.llmvizReadyDone = true;
      window.llmvizReadyAt = performance.now();
      doneLoading = true;
      setStatus(plain.numpy ? tr("ui.top.ready_starting", {}, "Ready: live inference is starting…")
                            : tr("ui.top.ready_bundled", {}, "Ready: showing the bundled trace"), 1);
      document.body.classList.add("ready");
      settleReady.resolve(plain);
      if (!plain.numpy) api._boot.live({ live: false });
    },
    live(info) {
      const plain = toPlain(info);
      Object.assign(api.info || {}, plain);
      window.llmvizLiveAt = performance.now();
      setStatus(plain.live ? tr("ui.top.ready_live", {}, "Ready: live inference in your browser")
                           : tr("ui.top.ready_bundled", {}, "Ready: showing the bundled trace"), 1);
      settleLive(plain);
      registerServiceWorker();   // after the worker's start: the precache would compete with it
    },
    reject(reason) {
      const text = String(reason && reason.message ? reason.message : reason);
      api.error = text;
      window.llmvizReadyDone = "error";
      doneLoading = true;
      setStatus(tr("notice.could_not_start", { error: text }, "Could not start: " + text));
      document.body.classList.add("failed");
      settleReady.reject(new Error(text));
      settleLive({ live: false, error: text });
    },
  },
});
const api = llmviz;   // window.llmviz (api.js made it)
const { ready } = api;   // commands wait for it (below)
api.lang = lang;   // the language the page speaks (i18n.js; ?lang= in links and embeds)

function toPlain(info) {
  // Python hands over a dict (a Map after to_js) or a plain object
  if (info instanceof Map) return Object.fromEntries(info);
  return Object.assign({}, info);
}

// ---- commands: state(), goto(), setInput(), also by postMessage ----------------
// Python registers the implementations once it is up:
//   js.llmviz.register("goto", create_proxy(fn))   (names: state, goto, setInput)
// Until then goto/setInput wait for `ready`; state() reports what is known.

const handlers = new Map();
const COMMANDS = ["state", "goto", "phases", "setInput", "generate", "loadModel"];
api.register = (name, fn) => {
  if (!COMMANDS.includes(name)) throw new Error(`llmviz.register: unknown command ${name}`);
  handlers.set(name, fn);
};
api.state = () => {
  if (handlers.has("state")) return toPlain(handlers.get("state")());
  return { ready: !!api.info, build: BUILD_ID, error: api.error };
};
// Every command's failure is an Error with one readable line (`readable`): a Python error's
// message is its whole traceback, and an exception's name means nothing to a reader.
async function command(name, arg) {
  await ready;
  const fn = handlers.get(name);
  if (!fn) throw new Error(`llmviz.${name} is not available in this build yet`);
  try {
    const value = await fn(name === "loadModel" ? modelArgument(arg) : arg);
    return value && typeof value.toJs === "function" ? value.toJs({ dict_converter: Object.fromEntries }) : value;
  } catch (e) {
    throw new Error(readable(e));
  }
}

/** One line a reader can use, from any error: a traceback's last line, without the exception's name. */
function readable(e) {
  let text;
  try { text = String(e && e.message !== undefined ? e.message : e); } catch (err) { text = ""; }
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  let line = lines.length ? lines[lines.length - 1] : "it did not work";
  for (let i = 0; i < 3; i++) line = line.replace(/^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception): +/, "");
  return line.length > 300 ? line.slice(0, 299) + "…" : line;
}

// loadModel's argument as Python wants it, {npz: Uint8Array, card: JSON text}, or a readable refusal
// (the card becomes text here, where an object nested too deeply is a RangeError JS can catch)
const MODEL_USAGE = "loadModel needs the npz bytes and the card: llmviz.loadModel(npzArrayBuffer, card)";
function modelArgument(arg) {
  if (!arg || typeof arg !== "object") throw new Error(MODEL_USAGE);
  let { npz, card } = arg;
  if (npz === null || npz === undefined || card === null || card === undefined) throw new Error(MODEL_USAGE);
  if (!(npz instanceof ArrayBuffer || ArrayBuffer.isView(npz))) {
    throw new Error("loadModel's npz must be the .npz file's bytes (an ArrayBuffer or a typed array)");
  }
  if (typeof card !== "string") {
    try { card = JSON.stringify(card); } catch (e) {
      throw new Error(`loadModel's card could not be written as JSON (${readable(e)})`);
    }
    if (typeof card !== "string") throw new Error(MODEL_USAGE);
  }
  const bytes = npz instanceof ArrayBuffer ? new Uint8Array(npz) : new Uint8Array(npz.buffer, npz.byteOffset, npz.byteLength);
  return { npz: bytes, card };
}

// an API call's arguments, read where a getter or a Proxy that throws is a readable refusal
const call = (name, argument) => async (...args) => {
  let arg;
  try { arg = argument(...args); } catch (e) {
    throw new Error(`llmviz.${name} could not read its arguments (${readable(e)})`);
  }
  return command(name, arg);
};
api.goto = call("goto", (target) => target);          // target: {phase, step, layer?, head?}; step: an id ("scaling") or its index from 0 (state().step_index)
api.setInput = call("setInput", (text) => text);
api.generate = call("generate", (n, opts) => ({ n, ...(opts || {}) }));      // resolves to the text
api.loadModel = call("loadModel", (npz, card) => ({ npz, card }));           // npz: ArrayBuffer, card: object or JSON text

// phases(): the table of contents, [{id, title, steps, step_ids, step_titles}] (a Promise
// until Python is up)
api.phases = () => (handlers.has("phases") ? handlers.get("phases")() : command("phases"));

// ---- embedding: postMessage from the parent page ---------------------------------
// Messages (from a page embedding this one in an iframe):
//   {type: "llmviz:goto", phase, step, layer?, head?, id?}  goes there (step: the step's id, or its index from 0; following that
//        transformer block and attention head, if given); once the view has settled the
//        answer is {type: "llmviz:state", phase, step, focus, camera, code, ..., id}
//   {type: "llmviz:state", id?}             answered with the same {type: "llmviz:state", ...}
//   {llmviz: <command>, arg, id}            any command of COMMANDS; answered with
//        {llmviz: "result", id, ok, value | error}
// A failed goto answers {type: "llmviz:error", error, id}. When it is up, the page sends
// {type: "llmviz:ready", ...state} to an allowed parent (walk_view does that).
// Only messages from the origins in api.embedOrigins are obeyed: walk_view fills it from
// ?origin=<origin> (repeatable or comma-separated), the build's embed_origins and the
// page's own origin; every other message is ignored without an answer. Messages sent
// before Python is up wait for `ready`. A {type: "llmviz:state"} that carries a phase
// is an answer, not a request (so two pages never answer each other forever).
api.embedOrigins = [];
window.addEventListener("message", async (event) => {
  const msg = event.data;
  if (!msg || typeof msg !== "object" || !event.source) return;
  const typed = msg.type === "llmviz:goto" || (msg.type === "llmviz:state" && !("phase" in msg));
  const generic = typeof msg.llmviz === "string" && COMMANDS.includes(msg.llmviz);
  if (!typed && !generic) return;
  try { await ready; } catch (e) { return; }
  if (!event.origin || event.origin === "null" || !api.embedOrigins.includes(event.origin)) return;
  const answer = (reply) => {
    if (msg.id !== undefined) reply.id = msg.id;
    event.source.postMessage(reply, event.origin);
  };
  if (typed) {
    try {
      if (msg.type === "llmviz:goto") {
        await command("goto", { phase: msg.phase, step: msg.step, layer: msg.layer, head: msg.head });
      }
      answer(Object.assign({}, api.state(), { type: "llmviz:state" }));
    } catch (e) {
      answer({ type: "llmviz:error", error: readable(e) });
    }
    return;
  }
  const reply = { llmviz: "result", ok: true };
  try {
    reply.value = msg.llmviz === "state" ? api.state() : await command(msg.llmviz, msg.arg);
  } catch (e) {
    reply.ok = false;
    reply.error = readable(e);
  }
  answer(reply);
});

// ---- progress ---------------------------------------------------------------

let doneLoading = false;
let stageText = "Loading…";
let expected = new Map();   // URL path (relative to the page) -> size in bytes
let loadedBytes = 0;
const seen = new Set();

function setStatus(text, fraction) {
  if (text) stageText = text;
  const el = statusEl();
  if (!el) return;
  let line = stageText;
  let frac = fraction;
  if (!doneLoading && expected.size) {
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    const [done, all] = [mb(loadedBytes), mb(total)];
    line += ` (${tr("ui.progress.bytes", { done, total: all }, `${done} of ${all} MB`)})`;
    if (frac === undefined) frac = Math.min(loadedBytes / total, 0.99);
  }
  el.textContent = line;
  if (frac !== undefined && barEl()) barEl().style.width = `${(frac * 100).toFixed(1)}%`;
}

const mb = (n) => (n / 1e6).toFixed(1);
const base = new URL(".", document.baseURI);

function countResource(entry) {
  const rel = entry.name.startsWith(base.href) ? entry.name.slice(base.href.length).split("?")[0] : null;
  if (rel === null || seen.has(rel) || !expected.has(rel)) return;
  seen.add(rel);
  loadedBytes += expected.get(rel);
  setStatus();
}

// sessionStorage: the build this tab reloaded for (only its presence is read); an llmviz.* key,
// so "start over" forgets it with the rest
const RELOADED_FOR = "llmviz.boot.reloaded-for";

async function loadSizes() {
  try {
    const resp = await fetch("./build-info.json", { cache: "no-cache" });
    const info = await resp.json();
    // sessionStorage may be refused (a cross-site frame): then no reload guard, no reload
    const session = safeStorage("sessionStorage");
    if (BUILD_ID && info.build_id !== BUILD_ID && session) {
      // this HTML and the assets come from different builds: load the page again, once
      if (!session.getItem(RELOADED_FOR)) {
        session.setItem(RELOADED_FOR, info.build_id);
        location.reload();
        return;
      }
    }
    if (session) session.removeItem(RELOADED_FOR);
    api.buildInfo = info;
    const modelEl = document.getElementById("model-name");
    if (modelEl && info.model && info.model.name) modelEl.textContent = info.model.name;
    // the downloads worth counting (build.py's boot_files: Python, the wheels, the model and its
    // data); a browser that cannot gunzip as it fetches asks for a .gz file's original instead
    const gunzips = "DecompressionStream" in window;
    for (const listed of info.boot_files || []) {
      const path = listed.endsWith(".gz") && !gunzips ? listed.slice(0, -3) : listed;
      if (info.files && info.files[path]) expected.set(path, info.files[path].size);
    }
    for (const entry of performance.getEntriesByType("resource")) countResource(entry);
    setStatus();
  } catch (e) {
    // no build-info.json (e.g. served from site/ by hand): progress without byte counts
  }
}

if ("PerformanceObserver" in window) {
  new PerformanceObserver((list) => list.getEntries().forEach(countResource))
    .observe({ type: "resource", buffered: true });
}
loadSizes();
setStatus(tr("ui.top.loading_python", {}, "Loading Python (Pyodide)…"));

// a boot that never finishes should say so rather than spin forever
const BOOT_TIMEOUT_S = 300;
setTimeout(() => {
  if (!doneLoading) api._boot.reject(tr("notice.boot_timeout", { s: BOOT_TIMEOUT_S }, `Python did not start within ${BOOT_TIMEOUT_S} s`));
}, BOOT_TIMEOUT_S * 1000);

// ---- service worker ---------------------------------------------------------
// navigator.serviceWorker throws in a sandboxed frame and refuses to register in a frame
// whose storage is blocked: then the page simply runs without offline support.

function swContainer() {
  try { return "serviceWorker" in navigator ? navigator.serviceWorker : null; } catch (e) { return null; }
}
const sw = swContainer();
const hadController = !!(sw && sw.controller);
let offlineResolve;
api.offline = new Promise((resolve) => { offlineResolve = resolve; });

if (sw) {
  sw.addEventListener("controllerchange", () => {
    // a new build took over while this page (of the old build) is open: reload,
    // so that nothing of the two builds is mixed
    if (hadController) location.reload();
    else offlineResolve(true);
  });
  if (hadController) offlineResolve(true);
}

async function registerServiceWorker() {
  if (!sw) { offlineResolve(false); return; }
  if (api.storage.blocked) {
    // storage is blocked here (e.g. a frame of another site): the browser would refuse
    console.info("llmviz: no offline support in this frame (its storage is blocked)");
    offlineResolve(false);
    return;
  }
  try {
    const reg = await sw.register("./sw.js");
    reg.update().catch(() => {});
  } catch (e) {
    console.warn("llmviz: no offline support, the service worker did not register:", e.message);
    offlineResolve(false);
  }
}
