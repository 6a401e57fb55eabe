// Put at the top of dist/pyodide/pyodide.mjs by build.py (wasm_gz_loader), for the page and
// the model worker alike. Pyodide's wasm ships gzip-compressed as pyodide.asm.wasm.gz (3.5 MB
// instead of 9.6 MB: what a host that does not compress sends), and Pyodide's browser loader
// fetches its binaries through this function: the wasm comes from the .gz, gunzipped while it
// streams (DecompressionStream), so WebAssembly.instantiateStreaming still compiles it as it
// arrives. A host that decodes .gz files itself (Content-Encoding: gzip) hands over the wasm
// as it is: its first two bytes are not gzip's, and it passes through. A browser without
// DecompressionStream (before 2023) fetches pyodide.asm.wasm itself, which dist/ also holds (the
// service worker does not store it). Every other file is a plain fetch.
const llmvizFetchBinary = (url, init) => {
  if (!String(url).endsWith("/pyodide.asm.wasm") || typeof DecompressionStream !== "function") return fetch(url, init);
  return fetch(`${url}.gz`, init).then(async (response) => {
    if (!response.ok || !response.body) return response;   // Pyodide reports the failure
    const reader = response.body.getReader();
    const first = await reader.read();
    const head = first.done ? new Uint8Array(0) : first.value;
    let body = new ReadableStream({
      start(controller) {
        if (first.done) controller.close();
        else controller.enqueue(head);
      },
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    if (head[0] === 0x1f && head[1] === 0x8b) body = body.pipeThrough(new DecompressionStream("gzip"));
    return new Response(body, { status: 200, headers: { "Content-Type": "application/wasm" } });
  });
};
