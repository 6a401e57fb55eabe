// sw.js: offline support. build.py fills in the build id and the list of every
// file of the build; this worker stores them all in one cache named for the build.
//
// - install: fetch every file (revalidating, never a stale HTTP-cached copy) into
//   "llmviz-<build id>", then take over at once (skipWaiting).
// - activate: delete the caches of other builds, claim the open pages (boot.js
//   reloads a page of the old build when that happens, so builds never mix).
// - fetch: a file of this build comes from this build's cache; a navigation gets
//   this build's index.html; anything else goes to the network.
//
// PyScript registers no service worker of its own unless a script asks for one
// (its `service-worker` option, unused here), so this one has the scope alone.

const BUILD_ID = "__LLMVIZ_BUILD_ID__";
const CACHE = `llmviz-${BUILD_ID}`;
const PRECACHE = "__LLMVIZ_PRECACHE__";

const scope = new URL("./", self.location).href;
const inBuild = new Set(PRECACHE.map((path) => new URL(path, scope).href));

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await cache.addAll(PRECACHE.map((path) => new Request(new URL(path, scope), { cache: "no-cache" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("llmviz-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  url.hash = "";
  url.search = "";
  let key = url.href;
  if (request.mode === "navigate" && (key === scope || key === scope + "index.html")) {
    // the page itself (hash and query stripped: deep links too) is this build's HTML
    key = scope;
  } else if (!inBuild.has(key)) {
    return; // not ours: the browser handles it
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(key);
    if (hit) return hit;
    return fetch(request);
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "build-id" && event.source) event.source.postMessage({ buildId: BUILD_ID });
});
