// frame_storage.js: a frame whose storage the browser blocks. boot.js imports it first: it must
// run before PyScript's core.js defines its Worker class (from window.Worker, below), and it
// waits for nothing (boot.js itself waits for its catalogue, i18n.js, which core.js does not).
import { llmviz as api } from "./api.js";

// In a frame of another site with third-party storage blocked (Chromium's incognito windows,
// fresh Playwright contexts, strict privacy settings) localStorage throws and indexedDB.open
// fails ("The user denied permission to access the database"). PyScript 0.7.31 opens two
// IndexedDB databases whatever its configuration says:
//  - "IDBMap/@pyscript.fs", when core.js loads: `export const idb = new IDBMap(NAMESPACE)`
//    (@pyscript/core/src/fs.js:16, bundled in dist/core-*.js), the store of pyscript.fs.mount;
//    refused, it throws twice (an unhandled rejection, and idb-map's onerror re-dispatching
//    the event being dispatched);
//  - "IDBMap/<pyodide folder>@<version>", PyScript's package cache, opened and awaited before
//    Pyodide loads (polyscript/esm/interpreter/pyodide.js:111-116, `new IDBMapSync(...)` then
//    `await storage.sync()`; packages_cache = "never" only clears it afterwards): refused,
//    Python never starts.
// No option of pyscript.toml avoids either, and no later release changes it. So in such a
// frame, and only for PyScript's own "IDBMap/..." databases, indexedDB.open is answered by an
// empty database in memory with the few calls IDBMap makes, in the page and in the model
// worker (which opens the package cache too). Nothing the page needs is lost: no packages are
// listed (nothing to cache) and pyscript.fs is unused. Every other database (js/live.js
// keeping your model) goes to the browser and is refused as it should be.
export function safeStorage(name) {
  // sessionStorage / localStorage, or null where reading the property throws
  try { const store = window[name]; store.getItem("llmviz-probe"); return store; } catch (e) { return null; }
}

// llmviz.storage.blocked: this page may keep nothing (no offline support, no kept model)
api.storage = { blocked: !safeStorage("localStorage"), memoryDatabases: [] };

function memoryIDBMap() {
  // what @webreflection/idb-map uses: transaction().objectStore(), requests with onsuccess
  const data = new Map();
  const answer = (fn) => {
    const req = {};
    queueMicrotask(() => { req.result = fn(); if (req.onsuccess) req.onsuccess({ target: req }); });
    return req;
  };
  const store = {
    count: () => answer(() => data.size),
    clear: () => answer(() => { data.clear(); }),
    delete: (key) => answer(() => { data.delete(key); }),
    get: (key) => answer(() => data.get(key)),
    getKey: (key) => answer(() => (data.has(key) ? key : undefined)),
    getAllKeys: () => answer(() => [...data.keys()]),
    put: (value, key) => answer(() => { data.set(key, value); return key; }),
  };
  return { transaction: () => ({ objectStore: () => store }), close() {} };
}

// indexedDB.open of `scope` answers PyScript's own databases ("IDBMap/...") from memory; the
// others go to the browser. Runs in the page and, as source, in PyScript's workers (below).
function answerIDBMapFromMemory(scope, memory, opened) {
  const factory = scope.indexedDB;
  const browserOpen = factory.open.bind(factory);
  factory.open = (name, ...rest) => {
    if (!String(name).startsWith("IDBMap/")) return browserOpen(name, ...rest);
    if (opened) opened(String(name));
    const req = { result: memory() };
    setTimeout(() => { if (req.onsuccess) req.onsuccess({ target: req }); });
    return req;
  };
}

if (api.storage.blocked) {
  console.info("llmviz: this frame may not store anything (third-party storage is blocked); nothing is kept after a reload");
  answerIDBMapFromMemory(window, memoryIDBMap, (name) => api.storage.memoryDatabases.push(name));
  // PyScript's model worker (app.py's <script type="py" worker>) opens the same package
  // cache in its own global, where the browser refuses it too: a module worker started from a
  // blob (polyscript's) first imports a module that gives its indexedDB the same answer
  const shim = `(${answerIDBMapFromMemory})(self, ${memoryIDBMap});`;
  const shimUrl = URL.createObjectURL(new Blob([shim], { type: "text/javascript" }));
  const NativeWorker = window.Worker;
  window.Worker = class extends NativeWorker {
    constructor(url, options) {
      const href = String(url);
      if (options && options.type === "module" && href.startsWith("blob:")) {
        const code = `import ${JSON.stringify(shimUrl)};\nimport ${JSON.stringify(href)};\n`;
        url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
      }
      super(url, options);
    }
  };
}
