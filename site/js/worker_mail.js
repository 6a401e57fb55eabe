// worker_mail.js: big buffers between the page and its model worker, as transferred ArrayBuffers.
//
// PyScript's calls to a worker (pyscript.workers[...].fn(...)) serialise their arguments and
// answers: fine for a header, but megabytes of weights or values took seconds per 8 MB on
// this path (a 43 MB model: over a minute). A Worker's own postMessage hands an ArrayBuffer
// over without a copy (the transfer list), so the bytes travel here instead, each letter
// under a ticket the call names:
//   send(ticket, bytes)   the page -> the worker (page/worker.py's inbox): a copy of `bytes`,
//                         made a piece per task (a Promise of its size)
//   receive(ticket)       a Promise of the Uint8Array the worker posted under `ticket`
//   giveBack(bytes)       the page -> the worker: a letter it has read (transferred, no copy),
//                         whose memory the worker writes its next letter of that size into
//   sendShared(path, ticket)  the page -> the worker: a file of the site that the page reads
//                         too (the weights: the 3D view's first frame; the card and the bundled
//                         trace: app.py), downloaded once (stage/npz.js's shared); an empty
//                         letter when it cannot be had
//   download(path)        the page's own read of such a file (the same one download)
// page/model_client.py and page/app.py call these; page/worker.py is the other end.

import { nextTask } from "./next_task.js";
import { shared } from "./stage/npz.js";

const WORKER_SCRIPT = 'script[type="py"][worker][name="llmviz-model"]';
const waiting = new Map();   // ticket -> {resolve, reject} of a receive() not yet answered
const arrived = new Map();   // ticket -> Uint8Array that came before its receive()
let listening = null;

function worker() {
  const el = document.querySelector(WORKER_SCRIPT);
  if (!el || !el.xworker) throw new Error("the model worker is not running");
  return el.xworker;
}

function listen() {
  if (listening) return listening;
  listening = worker();
  listening.addEventListener("message", (event) => {
    const data = event.data;
    if (!data || typeof data !== "object" || typeof data.llmvizMail !== "string") return;
    event.stopImmediatePropagation();
    const bytes = data.bytes instanceof Uint8Array ? data.bytes : new Uint8Array(0);
    const wait = waiting.get(data.llmvizMail);
    if (wait) {
      waiting.delete(data.llmvizMail);
      wait.resolve(bytes);
    } else {
      arrived.set(data.llmvizMail, bytes);
    }
  });
  return listening;
}

const COPY_PIECE = 8 << 20;   // bytes copied per task: a model of 57 MB took 70-90 ms in one

/** The page -> the worker: a copy of `bytes` (a typed array) under `ticket`, COPY_PIECE bytes
 * per task (the caller keeps its bytes: your model is stored for the next visit after it ran).
 * A Promise of the size sent. */
export async function send(ticket, bytes) {
  const source = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const copy = new Uint8Array(source.length);
  for (let at = 0; at < source.length; at += COPY_PIECE) {
    if (at) await nextTask();
    copy.set(source.subarray(at, at + COPY_PIECE), at);
  }
  worker().postMessage({ llmvizMail: String(ticket), bytes: copy }, [copy.buffer]);
  return copy.byteLength;
}

/** The page -> the worker: the file at `path` under `ticket`, from the download the page shares
 * (window.llmvizFetched: the first frame's, or one made now that the first frame then takes);
 * empty when it could not be had (the worker then fetches it itself and says why it failed). */
export async function sendShared(path, ticket) {
  let bytes;
  try {
    bytes = new Uint8Array(await shared(path));
  } catch (e) {
    console.warn(`llmviz: ${path} for the model worker: ${e.message}`);
    bytes = new Uint8Array(0);
  }
  return send(ticket, bytes);
}

/** A file of the site that the page reads and hands to the worker too: one download, kept in
 * window.llmvizFetched (stage/npz.js's shared) for sendShared; a Promise of its ArrayBuffer. */
export function download(path) {
  return shared(path);
}

/** The Uint8Array the worker posts (or posted) under `ticket`. */
export function receive(ticket) {
  listen();
  ticket = String(ticket);
  if (arrived.has(ticket)) {
    const bytes = arrived.get(ticket);
    arrived.delete(ticket);
    return Promise.resolve(bytes);
  }
  return new Promise((resolve, reject) => waiting.set(ticket, { resolve, reject }));
}

const SPARE_MIN = 1 << 20;   // smaller letters are not worth giving back

/** The page -> the worker: the buffer of a letter the page has read and will not touch again
 * (its bytes are the worker's to write its next letter into). True when it was given. */
export function giveBack(bytes) {
  if (!(bytes instanceof Uint8Array) || bytes.buffer.byteLength < SPARE_MIN) return false;
  worker().postMessage({ llmvizSpare: true, bytes }, [bytes.buffer]);
  return true;
}

/** Start listening now (a letter may come before its receive() is asked for). */
export function start() {
  listen();
  return true;
}
