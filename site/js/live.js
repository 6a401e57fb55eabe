// live.js: browser plumbing for the live view (py/llmviz/page/ui/live_view.py decides, this draws
// and stores). Python imports this module once and calls:
//   saveModel(bytes, cardText) / loadSaved() / clearSaved()   your model in IndexedDB
//   heatmap(canvas, values, rows, cols, role, selected)        the inspector's picture
//   cellAt(canvas, clientX, clientY) -> [row, col] | null      which cell a click hit
//   copyText(text) -> Promise<boolean>                          the clipboard, with a fallback
// Nothing here knows about models or the walkthrough.

import { PALETTE, cellCss, css } from "./render/colors.js";

const DB_NAME = "llmviz-live";
const STORE = "models";
const KEY = "custom";

function openDb() {
  return new Promise((resolve, reject) => {
    if (!("indexedDB" in window)) { reject(new Error("IndexedDB is not available")); return; }
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error || new Error("IndexedDB could not be opened"));
  });
}

function run(mode, action) {
  return openDb().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = action(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req ? req.result : undefined); };
    tx.onabort = tx.onerror = () => { db.close(); reject(tx.error || new Error("IndexedDB failed")); };
  }));
}

const PIECE = 4 << 20;     // bytes of your model copied into the kept Blob per task

/** Keep your model (the npz bytes and the card's JSON text) for the next visit: the bytes as a
 *  Blob made a piece per task (a copy of a 40 MB model at once, and IndexedDB's own copy of an
 *  ArrayBuffer, blocked the page for 70-100 ms; IndexedDB keeps a Blob without copying it). */
export async function saveModel(bytes, cardText) {
  const view = bytes instanceof ArrayBuffer ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts = [];
  for (let at = 0; at < view.length; at += PIECE) {
    parts.push(new Blob([view.subarray(at, at + PIECE)]));
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const npz = new Blob(parts);
  await run("readwrite", (store) => store.put({ npz, card: String(cardText), saved: Date.now() }, KEY));
  return true;
}

/** The kept model as {npz: Uint8Array, card: string}, or null (nothing kept, or a record that is not
 *  what saveModel writes: the database is the browser's, anything may be in it). */
export async function loadSaved() {
  try {
    const rec = await run("readonly", (store) => store.get(KEY));
    if (!rec || typeof rec !== "object" || typeof rec.card !== "string") return null;
    if (rec.npz instanceof Blob) {
      return rec.npz.size ? { npz: new Uint8Array(await rec.npz.arrayBuffer()), card: rec.card } : null;
    }
    // an older page kept the bytes themselves
    if (!(rec.npz instanceof ArrayBuffer || ArrayBuffer.isView(rec.npz)) || !rec.npz.byteLength) return null;
    const npz = rec.npz instanceof ArrayBuffer ? new Uint8Array(rec.npz)
      : new Uint8Array(rec.npz.buffer, rec.npz.byteOffset, rec.npz.byteLength);
    return { npz, card: rec.card };
  } catch (e) {
    return null;
  }
}

export async function clearSaved() {
  try { await run("readwrite", (store) => store.delete(KEY)); } catch (e) { /* nothing kept */ }
  return true;
}

// ---- the inspector's heatmap: the renderer's colours, scaled to the block's largest |value|

const MAX_W = 640;
const MAX_H = 420;

/** Draw rows x cols values (row-major; null/NaN cells hatched) into canvas. */
export function heatmap(canvas, values, rows, cols, role, selected) {
  const vals = Array.from(values, (v) => (v === null || v === undefined ? NaN : Number(v)));
  const px = Math.max(1, Math.min(24, Math.floor(MAX_W / cols), Math.floor(MAX_H / rows) || 1));
  canvas.width = cols * px;
  canvas.height = rows * px;
  canvas.dataset.cell = String(px);
  canvas.dataset.rows = String(rows);
  canvas.dataset.cols = String(cols);
  const ctx = canvas.getContext("2d");
  let peak = 0;
  for (const v of vals) if (Number.isFinite(v)) peak = Math.max(peak, Math.abs(v));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = vals[r * cols + c];
      if (!Number.isFinite(v)) {
        ctx.fillStyle = "#1a1d24";
      } else {
        ctx.fillStyle = cellCss(v, peak > 0 ? 1 / peak : 0, role);
      }
      ctx.fillRect(c * px, r * px, px, px);
    }
  }
  if (px >= 6) {
    ctx.strokeStyle = "rgba(0,0,0,0.35)";
    ctx.lineWidth = 1;
    for (let c = 1; c < cols; c++) { ctx.beginPath(); ctx.moveTo(c * px + 0.5, 0); ctx.lineTo(c * px + 0.5, rows * px); ctx.stroke(); }
    for (let r = 1; r < rows; r++) { ctx.beginPath(); ctx.moveTo(0, r * px + 0.5); ctx.lineTo(cols * px, r * px + 0.5); ctx.stroke(); }
  }
  if (selected && selected.length === 2) {
    const [r, c] = selected;
    ctx.strokeStyle = css(PALETTE.highlight);
    ctx.lineWidth = 2;
    ctx.strokeRect(c * px + 1, r * px + 1, Math.max(px - 2, 2), Math.max(px - 2, 2));
  }
  return px;
}

/** The [row, col] of the heatmap cell under a pointer position, or null. */
export function cellAt(canvas, clientX, clientY) {
  const rect = canvas.getBoundingClientRect();
  const rows = Number(canvas.dataset.rows), cols = Number(canvas.dataset.cols);
  if (!rows || !cols || rect.width <= 0 || rect.height <= 0) return null;
  const c = Math.floor(((clientX - rect.left) / rect.width) * cols);
  const r = Math.floor(((clientY - rect.top) / rect.height) * rows);
  return r >= 0 && r < rows && c >= 0 && c < cols ? [r, c] : null;
}

/** Put text on the clipboard; falls back to a selected textarea and execCommand. */
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
    area.remove();
    return ok;
  }
}

/** Whether a drag carries files (not text or a link dragged inside the page). */
export function hasFiles(event) {
  const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
  return types.includes("Files");
}
