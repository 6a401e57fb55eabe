// boot.js: the first script of the page. Runs before Python and owns three things:
//  1. window.llmviz, the page's public API. `ready` is a Promise that resolves with
//     {python, numpy, model, live, ...} once app.py is up, or rejects with a readable
//     reason. app.py settles it through llmviz._boot.resolve/reject; other modules
//     add state()/goto()/setInput() to the same object later.
//  2. the progress line in the header: bytes of the big downloads (sizes from
//     build-info.json, completions from the Resource Timing API) and the stage text
//     that app.py sets with llmviz.progress(text).
//  3. the service worker (sw.js): registered once Python is up, so it never competes
//     with the first boot; when a new build takes over, the page reloads so that the
//     HTML and every asset come from the same build.
//  4. storage the browser refuses (a cross-site iframe with third-party storage blocked,
//     a sandboxed frame): PyScript opens an IndexedDB database while it starts and waits
//     forever when the browser denies it, so a refused indexedDB.open is answered from
//     memory instead (see "storage" below); sessionStorage and the service worker are
//     optional. llmviz.storage says what this page may keep.

const meta = document.querySelector('meta[name="llmviz-build"]');
const BUILD_ID = meta ? meta.content : "";
const statusEl = () => document.getElementById("status");
const barEl = () => document.getElementById("progress-bar");

// ?embed=1 (read as walk_nav.parse_query reads it): the page is a frame, so the narrow-screen
// layout of app.css (a page that scrolls) stays off and the frame keeps its drawer layout
{
  const embed = new URLSearchParams(location.search).get("embed");
  if (embed !== null && ["1", "true", "yes", "on", ""].includes(embed.toLowerCase())) {
    document.documentElement.classList.add("embed");
  }
}

let settle;
const ready = new Promise((resolve, reject) => { settle = { resolve, reject }; });
ready.catch(() => {}); // a rejection is shown in the page; no "unhandled" noise

const api = window.llmviz = Object.assign(window.llmviz || {}, {
  build: BUILD_ID,
  ready,
  info: null,          // the object `ready` resolved with
  error: null,         // the reason `ready` rejected with
  progress(text, fraction) { setStatus(text, fraction); },
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
      setStatus(plain.live ? "Ready: live inference in your browser" : "Ready: showing the bundled trace", 1);
      document.body.classList.add("ready");
      settle.resolve(plain);
      registerServiceWorker();
    },
    reject(reason) {
      const text = String(reason && reason.message ? reason.message : reason);
      api.error = text;
      window.llmvizReadyDone = "error";
      doneLoading = true;
      setStatus("Could not start: " + text);
      document.body.classList.add("failed");
      settle.reject(new Error(text));
    },
  },
});

// ---- storage: refusals must not stop the page ---------------------------------
// In a frame of another site, with third-party storage blocked (Chromium's incognito
// windows, fresh Playwright contexts, strict privacy settings), indexedDB.open fails
// with "The user denied permission to access the database". PyScript 0.7 opens two
// ("IDBMap/@pyscript.fs" as it loads, and "IDBMap/<pyodide URL>@<version>", its package
// cache, even when no packages are listed), and awaits the second before Python starts:
// a failed open leaves that promise rejected and the page stuck at "Loading Python". So indexedDB.open is wrapped: while the browser allows it, the real request
// is returned untouched; when it fails for want of permission (or IndexedDB is missing
// altogether), the same request succeeds with a database that lives in memory for this
// page only. Such a database has `llmvizInMemory = true`; js/live.js refuses to keep
// your model in one (it would be gone after a reload) and says so. Nothing the page
// shows is lost: PyScript's cache is unused here (no packages in pyscript.toml), and
// offline support (the service worker) is off in such frames.
api.storage = { indexedDB: "unknown", memoryDatabases: [] };

function safeStorage(name) {
  // sessionStorage / localStorage, or null where reading the property throws
  try { const store = window[name]; store.getItem("llmviz-probe"); return store; } catch (e) { return null; }
}

function memoryFallback(reason) {
  if (api.storage.indexedDB !== "memory") {
    api.storage.indexedDB = "memory";
    api.storage.reason = reason;
    console.info(`llmviz: IndexedDB is not allowed here (${reason}); this page keeps nothing after a reload`);
  }
}

// a request/transaction/database in memory: an EventTarget whose on<type> properties are
// called like the browser's own
class MemoryTarget extends EventTarget {
  constructor(types) {
    super();
    for (const type of types) {
      this["on" + type] = null;
      this.addEventListener(type, (event) => { const fn = this["on" + type]; if (fn) fn.call(this, event); });
    }
  }
}

const clone = (value) => (typeof structuredClone === "function" ? structuredClone(value) : value);
const keyOrder = (a, b) => (typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a === "number" ? -1 : 1);

class MemoryTransaction extends MemoryTarget {
  constructor(db, stores, mode, manual = false) {
    super(["complete", "error", "abort"]);
    this.db = db;
    this.mode = mode || "readonly";
    this.error = null;
    this._stores = stores;
    this._pending = 0;
    this._done = false;
    if (!manual) this._settle();    // a transaction without requests completes too
  }
  objectStore(name) {
    const data = this._stores.get(name);
    if (!data) throw new DOMException(`No object store named ${name}`, "NotFoundError");
    const op = (fn) => this._request(fn);
    return {
      name,
      transaction: this,
      get: (key) => op(() => clone(data.get(key))),
      getKey: (key) => op(() => (data.has(key) ? key : undefined)),
      getAll: () => op(() => [...data.keys()].sort(keyOrder).map((k) => clone(data.get(k)))),
      getAllKeys: () => op(() => [...data.keys()].sort(keyOrder)),
      count: () => op(() => data.size),
      put: (value, key) => op(() => { data.set(key, clone(value)); return key; }),
      add: (value, key) => op(() => {
        if (data.has(key)) throw new DOMException("Key already exists", "ConstraintError");
        data.set(key, clone(value));
        return key;
      }),
      delete: (key) => op(() => { data.delete(key); }),
      clear: () => op(() => { data.clear(); }),
    };
  }
  _request(fn) {
    const req = new MemoryTarget(["success", "error"]);
    Object.assign(req, { result: undefined, error: null, readyState: "pending", transaction: this, source: null });
    this._pending++;
    setTimeout(() => {
      try {
        req.result = fn();
        req.readyState = "done";
        req.dispatchEvent(new Event("success"));
      } catch (e) {
        req.error = e;
        req.readyState = "done";
        req.dispatchEvent(new Event("error"));
      }
      this._pending--;
      this._settle();
    });
    return req;
  }
  _settle() {
    setTimeout(() => {
      if (this._pending || this._done) return;
      this._done = true;
      this.dispatchEvent(new Event("complete"));
    });
  }
  abort() { this._done = true; this.dispatchEvent(new Event("abort")); }
  commit() {}
}

function memoryDatabase(name, version) {
  const stores = new Map();
  const db = new MemoryTarget(["abort", "close", "error", "versionchange"]);
  Object.defineProperty(db, "_stores", { value: stores });
  // defineProperties, not assign: objectStoreNames must stay a getter
  Object.defineProperties(db, Object.getOwnPropertyDescriptors({
    name: String(name),
    version: version || 1,
    llmvizInMemory: true,
    get objectStoreNames() {
      const names = [...stores.keys()].sort();
      return Object.assign(names, { contains: (n) => stores.has(n), item: (i) => names[i] ?? null });
    },
    createObjectStore(store) {
      if (!stores.has(store)) stores.set(store, new Map());
      return { name: store };
    },
    deleteObjectStore(store) { stores.delete(store); },
    transaction(names, mode) {
      for (const n of [].concat(names)) {
        if (!stores.has(n)) throw new DOMException(`No object store named ${n}`, "NotFoundError");
      }
      return new MemoryTransaction(db, stores, mode);
    },
    close() {},
  }));
  api.storage.memoryDatabases.push(db.name);
  return db;
}

// answer `req` (the browser's failed request, or a stand-in) with a new database in memory:
// "upgradeneeded" (its transaction creates the stores), then "success"
function openInMemory(req, name, version) {
  const db = memoryDatabase(name, version);
  const upgrade = new MemoryTransaction(db, db._stores, "versionchange", true);
  const own = (key, value) => Object.defineProperty(req, key, { value, configurable: true, writable: true });
  own("result", db);
  own("error", null);
  own("readyState", "done");
  own("transaction", upgrade);
  setTimeout(() => {
    const Change = typeof IDBVersionChangeEvent === "function" ? IDBVersionChangeEvent : null;
    const event = Change ? new Change("upgradeneeded", { oldVersion: 0, newVersion: db.version })
      : Object.assign(new Event("upgradeneeded"), { oldVersion: 0, newVersion: db.version });
    req.dispatchEvent(event);              // the caller creates its stores
    upgrade._settle();                     // then "complete" (after any requests it made)
    upgrade.addEventListener("complete", () => {
      req.transaction = null;
      req.dispatchEvent(new Event("success"));
    });
  });
  return req;
}

(function guardIndexedDB() {
  let factory = null;
  try { factory = window.indexedDB || null; } catch (e) { factory = null; }   // sandboxed: throws
  if (!factory || typeof factory.open !== "function") {
    memoryFallback("IndexedDB is missing");
    const stand = { open: (name, version) => openInMemory(new MemoryTarget(["success", "error", "upgradeneeded", "blocked"]), name, version),
                    deleteDatabase: () => new MemoryTarget(["success", "error"]) };
    try { Object.defineProperty(window, "indexedDB", { value: stand, configurable: true }); } catch (e) { /* left as is */ }
    return;
  }
  const realOpen = factory.open;
  factory.open = function open(name, version) {
    if (api.storage.indexedDB === "memory") {
      return openInMemory(new MemoryTarget(["success", "error", "upgradeneeded", "blocked"]), name, version);
    }
    let req;
    try {
      req = version === undefined ? realOpen.call(factory, name) : realOpen.call(factory, name, version);
    } catch (e) {
      if (e && (e.name === "TypeError" || e.name === "VersionError")) throw e;   // a caller's mistake
      memoryFallback(e && e.message ? e.message : String(e));
      return openInMemory(new MemoryTarget(["success", "error", "upgradeneeded", "blocked"]), name, version);
    }
    // registered before the caller's onerror, so it runs first and can stop it
    req.addEventListener("error", (event) => {
      const err = req.error;
      if (err && err.name === "VersionError") return;          // a real answer: pass it on
      event.stopImmediatePropagation();
      event.preventDefault();
      memoryFallback(err && err.message ? err.message : "IndexedDB refused");
      openInMemory(req, name, version);
    });
    req.addEventListener("success", () => { if (api.storage.indexedDB === "unknown") api.storage.indexedDB = "persistent"; });
    return req;
  };
})();

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
async function command(name, arg) {
  await ready;
  const fn = handlers.get(name);
  if (!fn) throw new Error(`llmviz.${name} is not available in this build yet`);
  const value = await fn(arg);
  return value && typeof value.toJs === "function" ? value.toJs({ dict_converter: Object.fromEntries }) : value;
}
api.goto = (target) => command("goto", target);         // target: {phase, step, layer?, head?}; step: an id ("scaling") or a number
api.setInput = (text) => command("setInput", text);
api.generate = (n, opts) => command("generate", { n, ...(opts || {}) });      // resolves to the text
api.loadModel = (npz, card) => command("loadModel", { npz, card });           // npz: ArrayBuffer, card: object or JSON text

// phases(): the table of contents, [{id, title, steps, step_ids, step_titles}] (a Promise
// until Python is up)
api.phases = () => (handlers.has("phases") ? handlers.get("phases")() : command("phases"));

// ---- embedding: postMessage from the parent page ---------------------------------
// Messages (from a page embedding this one in an iframe):
//   {type: "llmviz:goto", phase, step, layer?, head?, id?}  goes there (step: the step's id, or its number; following that
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
// a Python error's message is its whole traceback: the last line says what went wrong
const errorText = (e) => String(e && e.message ? e.message : e).trim().split("\n").pop();
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
      answer({ type: "llmviz:error", error: errorText(e) });
    }
    return;
  }
  const reply = { llmviz: "result", ok: true };
  try {
    reply.value = msg.llmviz === "state" ? api.state() : await command(msg.llmviz, msg.arg);
  } catch (e) {
    reply.ok = false;
    reply.error = errorText(e);
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
    line += ` (${mb(loadedBytes)} of ${mb(total)} MB)`;
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

// the downloads worth counting: Python, the wheels, the model and its data
const COUNTED = /^(pyodide|wheels|weights|data)\//;

async function loadSizes() {
  try {
    const resp = await fetch("./build-info.json", { cache: "no-cache" });
    const info = await resp.json();
    // sessionStorage may be refused (a cross-site frame): then no reload guard, no reload
    const session = safeStorage("sessionStorage");
    if (BUILD_ID && info.build_id !== BUILD_ID && session) {
      // this HTML and the assets come from different builds: load the page again, once
      if (!session.getItem("llmviz-reloaded-for")) {
        session.setItem("llmviz-reloaded-for", info.build_id);
        location.reload();
        return;
      }
    }
    if (session) session.removeItem("llmviz-reloaded-for");
    api.buildInfo = info;
    const modelEl = document.getElementById("model-name");
    if (modelEl && info.model && info.model.name) modelEl.textContent = info.model.name;
    for (const [path, meta] of Object.entries(info.files || {})) {
      if (COUNTED.test(path)) expected.set(path, meta.size);
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
setStatus("Loading Python (Pyodide)…");

// a boot that never finishes should say so rather than spin forever
const BOOT_TIMEOUT_S = 300;
setTimeout(() => {
  if (!doneLoading) api._boot.reject(`Python did not start within ${BOOT_TIMEOUT_S} s`);
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
  if (!safeStorage("localStorage") || api.storage.indexedDB === "memory") {
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
