// The parameter blocks' values of the first frame, read from the model's own weights file
// (weights/NAME.npz, which Python reads too: one download for both, see `shared` below)
// instead of a second copy of them in data/values.bin.
//
//   readNpz(buffer)            {name: {shape, data: Float32Array}} of an .npz (numpy's savez:
//                              a zip of stored .npy entries, zip64 or not) whose arrays are little-endian
//                              float32 ('<f4', C order); throws on anything else
//   paramValues(block, arrays) a scene block's values (llmviz.viz.scene_values.source_array for
//                              a "param" block: rows [r0, r1) of "slice", the last two axes
//                              swapped by "transpose"), flat in row-major cell order
//   shared(path)               the file as a Promise<ArrayBuffer>, fetched once: Python's boot
//                              (app.py) takes it from window.llmvizFetched instead of fetching
//                              (where index.html's first script put the first frame's files)
//   fetchOk(path)              fetch a file of the site (relative to the page): the Response,
//                              or an Error naming the file and the HTTP status

const LOCAL_HEADER = 0x04034b50;
const NPY_MAGIC = "\x93NUMPY";

export function readNpz(buffer) {
  const view = new DataView(buffer);
  const arrays = {};
  let at = 0;
  while (at + 30 <= buffer.byteLength && view.getUint32(at, true) === LOCAL_HEADER) {
    const method = view.getUint16(at + 8, true);
    const nameLength = view.getUint16(at + 26, true);
    const extraLength = view.getUint16(at + 28, true);
    const name = new TextDecoder().decode(new Uint8Array(buffer, at + 30, nameLength));
    const start = at + 30 + nameLength + extraLength;
    let size = view.getUint32(at + 18, true);
    if (size === 0xffffffff) size = zip64Size(view, at + 30 + nameLength, extraLength, name);
    if (method !== 0 || (view.getUint16(at + 6, true) & 0x8)) throw new Error(`${name}: not a stored entry`);
    arrays[name.replace(/\.npy$/, "")] = readNpy(buffer, start, size, name);
    at = start + size;
  }
  return arrays;
}

/** The entry's size from its zip64 extra field (numpy writes every entry as zip64). */
function zip64Size(view, at, length, name) {
  for (let end = at + length; at + 4 <= end; at += 4 + view.getUint16(at + 2, true)) {
    if (view.getUint16(at, true) === 0x0001) return Number(view.getBigUint64(at + 4, true));
  }
  throw new Error(`${name}: no size`);
}

function readNpy(buffer, start, size, name) {
  const bytes = new Uint8Array(buffer, start, size);
  if (String.fromCharCode(...bytes.subarray(0, 6)) !== NPY_MAGIC) throw new Error(`${name}: not an .npy`);
  const view = new DataView(buffer, start, size);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  if (!/'descr':\s*'<f4'/.test(header) || !/'fortran_order':\s*False/.test(header)) {
    throw new Error(`${name}: not little-endian float32 in C order (${header.trim()})`);
  }
  const shape = (header.match(/'shape':\s*\(([^)]*)\)/)[1].match(/\d+/g) || []).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerStart + headerLength;
  // a copy: the .npy's data need not be 4-byte aligned inside the zip
  const data = new Float32Array(buffer.slice(offset, offset + 4 * count));
  return { shape, data };
}

export function paramValues(block, arrays) {
  const array = arrays[block.param];
  if (!array) throw new Error(`the weights have no ${block.param}`);
  const [rows0, ...rest] = array.shape;
  const width = rest.reduce((a, b) => a * b, 1);
  const [r0, r1] = block.slice || [0, rows0];
  const part = array.data.subarray(r0 * width, r1 * width);
  if (!block.transpose || array.shape.length < 2) return part;
  const n = r1 - r0, out = new Float32Array(part.length);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[j * n + i] = part[i * width + j];
  return out;
}

window.llmvizFetched = window.llmvizFetched || {};

export async function fetchOk(path) {
  const resp = await fetch(new URL(path, document.baseURI).href);
  if (!resp.ok) throw new Error(`could not load ${path} (HTTP ${resp.status})`);
  return resp;
}

export function shared(path) {
  if (!window.llmvizFetched[path]) window.llmvizFetched[path] = fetchOk(path).then((r) => r.arrayBuffer());
  return window.llmvizFetched[path];
}
