// The blocks: all blocks of the scene are one mesh (one draw call for the whole
// model): three faces per block, turned by the vertex shader towards the camera. A
// fragment shader finds the cell under each fragment from its position inside the
// block, reads the cell's value from a float texture (four cells per RGBA texel) and
// colours it; cell borders, the lines every 16 cells and the block outline are drawn in
// the same shader from screen-space derivatives, so they stay about one pixel wide at
// any zoom.
//
// Value storage: every block's values live in one Float32Array (what block(id).values
// views) and, for the GPU, in up to MAX_PAGES float textures ("pages", each at most the
// GPU's maxTextureSize rows of ATLAS_WIDTH texels); a block lies within one page. So a
// model of tens of millions of cells (a 16M-parameter model at 256 positions: ~45M) is
// drawn with all its values; only beyond MAX_PAGES full pages is a block drawn as shape
// only, and `overflow` names it (the page says so). A new token changes a few cells of
// many blocks: patchValues() writes them and uploads only the texture rows they are in.
import * as THREE from "three";
import { GAMMA, PALETTE, ROLE_INDEX, rgb } from "./colors.js";

const ATLAS_WIDTH = 1024;            // texels per texture row (4 cells each)
export const MAX_PAGES = 8;          // value textures, each with its mask texture: 16 samplers, all
                                     // that WebGL2 promises a fragment shader
const PAGE_ROWS = 2048;              // rows per page at most (32 MB of float32): the GPU allocates a
                                     // page in the frame that first uploads to it, and a software GL
                                     // took 100-120 ms of the page's thread for a 64 MB one
const UPLOAD_BUDGET = 4 << 20;       // bytes of texture uploaded per frame, at most (at least one row):
                                     // a software GL copies ~4 ms a MB on the page's thread
const MAX_RANGES = 256;              // more changed rows than this: the whole texture, row chunk by row chunk
export const MODE = { EMPTY: 0, VALUES: 1, NEUTRAL: 2 };

const VERTEX = /* glsl */ `
in vec4 iPos;    // top-left corner of the front face (x, y, z), cell size
in vec4 iDims;   // cols, rows, first cell in the atlas, role
in vec4 iState;  // 1 / max|value|, highlighted, dimmed, mode
in vec4 iRect;   // highlighted cells: r0, c0, r1, c1 (half-open), or r1 <= r0 for none
in float iMask;  // 1 when the mask texture holds this block's highlighted cells
in float iPage;  // the value texture (page) the block's cells are in
out vec3 vCell;  // position inside the block in cells: col, row, depth
out vec3 vNormal;
flat out vec4 vDims;
flat out vec4 vState;
flat out vec4 vRect;
flat out float vMask;
flat out float vPage;
void main() {
  // The unit box spans x 0..1, y -1..0, z -1..0. The geometry holds only three faces
  // (front, top, right); each is mirrored to the side of the box that faces the camera,
  // which is all a box ever shows, for half the vertices of a full box.
  vec3 size = vec3(iDims.x, iDims.y, 1.0) * iPos.w;
  vec3 center = iPos.xyz + vec3(0.5, -0.5, -0.5) * size;
  vec3 side = vec3(cameraPosition.x >= center.x ? 1.0 : -1.0,
                   cameraPosition.y >= center.y ? 1.0 : -1.0,
                   cameraPosition.z >= center.z ? 1.0 : -1.0);
  vec3 unitCenter = vec3(0.5, -0.5, -0.5);
  vec3 p = unitCenter + (position - unitCenter) * side;
  vCell = vec3(p.x * iDims.x, -p.y * iDims.y, -p.z);
  vNormal = normal * side;
  vDims = iDims;
  vState = iState;
  vRect = iRect;
  vMask = iMask;
  vPage = iPage;
  vec3 world = iPos.xyz + vec3(p.x * iDims.x, p.y * iDims.y, p.z) * iPos.w;
  gl_Position = projectionMatrix * viewMatrix * vec4(world, 1.0);
}`;

/** The fragment shader's pages for a scene with `pages` value pages: one (the sort model and
 *  the like), else all MAX_PAGES. GLSL ES 3.00 indexes samplers by constants only, so each page is
 *  a branch, written out for every read: the one-page program is a fraction of the other, and a
 *  software GL compiles it in a fraction of the time, which the first frame waits for. Two
 *  programs, not one per page count: renderer.js compiles both ahead (the second once the first
 *  frame is drawn), so no scene waits for a compile in a frame of its own. */
export function shaderPages(pages) {
  return pages <= 1 ? 1 : MAX_PAGES;
}

/** The samplers of `pages` value pages and their masks, and the functions that read a cell of
 *  a page. */
function pageGlsl(pages) {
  const list = Array.from({ length: pages }, (_, p) => p);
  const chain = (name) => list.map((p) => (p < pages - 1 ? `  if (page == ${p}) ` : "  ") +
                                   `return texelFetch(${name}${p}, at, 0);`).join("\n");
  return [
    ...list.map((p) => `uniform highp sampler2D uValues${p};  // RGBA32F, 4 cells per texel`),
    ...list.map((p) => `uniform sampler2D uMask${p};          // RGBA8, same packing`),
    "vec4 pageTexel(int page, ivec2 at) {", chain("uValues"), "}",
    "vec4 maskTexel(int page, ivec2 at) {", chain("uMask"), "}",
  ].join("\n");
}

const fragmentShader = (pages) => /* glsl */ `
precision highp float;
precision highp int;
${pageGlsl(pages)}
uniform int uAtlasWidth;
uniform vec3 uRole[3];
uniform vec3 uNegative;
uniform vec3 uZero;
uniform vec3 uBackground;
uniform vec3 uHighlight;
uniform vec3 uGrid;
uniform float uGamma;
in vec3 vCell;
in vec3 vNormal;
flat in vec4 vDims;
flat in vec4 vState;
flat in vec4 vRect;
flat in float vMask;
flat in float vPage;
out vec4 fragColor;

float cellValue(int index) {
  int texel = index >> 2;
  vec4 v = pageTexel(int(vPage + 0.5), ivec2(texel % uAtlasWidth, texel / uAtlasWidth));
  int c = index & 3;
  return c == 0 ? v.r : c == 1 ? v.g : c == 2 ? v.b : v.a;
}
float maskValue(int index) {
  int texel = index >> 2;
  vec4 v = maskTexel(int(vPage + 0.5), ivec2(texel % uAtlasWidth, texel / uAtlasWidth));
  int c = index & 3;
  return c == 0 ? v.r : c == 1 ? v.g : c == 2 ? v.b : v.a;
}

// true when cell (row, col) is inside the block and among its highlighted cells
bool cellIn(float row, float col) {
  if (row < 0.0 || col < 0.0 || row >= vDims.y || col >= vDims.x) return false;
  if (!(row >= vRect.x && row < vRect.z && col >= vRect.y && col < vRect.w)) return false;
  if (vMask < 0.5 || int(vState.w + 0.5) != 1) return true;
  return maskValue(int(vDims.z + 0.5) + int(row) * int(vDims.x) + int(col)) > 0.5;
}

void main() {
  float cols = vDims.x, rows = vDims.y;
  int role = int(vDims.w + 0.5);
  int mode = int(vState.w + 0.5);
  float col = clamp(floor(vCell.x), 0.0, cols - 1.0);
  float row = clamp(floor(vCell.y), 0.0, rows - 1.0);
  vec3 hue = uRole[role];

  // the two coordinates that vary across this face (the third is constant)
  vec3 an = abs(vNormal);
  vec2 uv, extent;
  if (an.z > 0.5) { uv = vCell.xy; extent = vec2(cols, rows); }
  else if (an.y > 0.5) { uv = vCell.xz; extent = vec2(cols, 1.0); }
  else { uv = vCell.zy; extent = vec2(1.0, rows); }
  vec2 fw = max(fwidth(uv), vec2(1e-6));
  vec2 cellPx = 1.0 / fw;                       // pixels per cell along each axis
  float minCellPx = min(cellPx.x, cellPx.y);

  vec3 color;
  float inCells = 0.0;    // 1 inside a highlighted cell range
  bool hasCells = vRect.z > vRect.x;
  if (hasCells) {
    bool inRect = row >= vRect.x && row < vRect.z && col >= vRect.y && col < vRect.w;
    inCells = inRect ? 1.0 : 0.0;
  }
  if (mode == 1) {
    int index = int(vDims.z + 0.5) + int(row) * int(cols) + int(col);
    float v = cellValue(index) * vState.x;
    float m = pow(clamp(abs(v), 0.0, 1.0), uGamma);   // colors.js cellColor, in GLSL
    color = mix(uZero, v < 0.0 ? uNegative : hue, m);
    if (hasCells && vMask > 0.5 && inCells > 0.5) inCells = maskValue(index) > 0.5 ? 1.0 : 0.0;
  } else if (mode == 2) {
    // scale view: shape only; a checker of 16x16-cell tiles, faded out when tiny
    vec2 tile = floor(vCell.xy / 16.0);
    float checker = mod(tile.x + tile.y, 2.0);
    float show = smoothstep(2.0, 6.0, minCellPx * 16.0);
    color = mix(uZero, hue, 0.22 + 0.10 * checker * show);
  } else {
    color = mix(uZero, hue, 0.08);
  }

  // light from the front: the front face is brightest, sides darker
  float shade = an.z > 0.5 ? 1.0 : (an.y > 0.5 ? (vNormal.y > 0.0 ? 0.82 : 0.55) : 0.68);
  color *= shade;

  // cell borders (fade out when cells get smaller than a few pixels)
  vec2 dCell = abs(fract(uv + 0.5) - 0.5) * cellPx;          // pixels to the nearest cell line
  float cellLine = 1.0 - smoothstep(0.35, 1.1, min(dCell.x, dCell.y));
  float cellFade = smoothstep(3.0, 9.0, minCellPx);
  color = mix(color, uBackground, cellLine * cellFade * 0.6);

  // a brighter line every 16 cells, on blocks longer than 16 cells along that axis
  vec2 d16 = abs(fract(uv / 16.0 + 0.5) - 0.5) * 16.0 * cellPx;
  vec2 on16 = vec2(extent.x > 16.5 ? 1.0 : 0.0, extent.y > 16.5 ? 1.0 : 0.0);
  vec2 line16 = (1.0 - smoothstep(0.45, 1.3, d16)) * on16 * smoothstep(8.0, 20.0, cellPx * 16.0);
  color = mix(color, uGrid, max(line16.x, line16.y) * 0.35);

  // block outline
  vec2 dEdge = min(uv, extent - uv) * cellPx;
  float edgePx = min(dEdge.x, dEdge.y);
  float highlighted = vState.y;
  color = mix(color, hue, (1.0 - smoothstep(0.5, 1.4, edgePx)) * 0.7);

  // highlighted cells keep their colours (a little brighter) and get one outline around
  // the whole highlighted region, not a ring per cell (which would bury small cells in
  // yellow); the rest of the block recedes
  if (hasCells) {
    if (inCells > 0.5) {
      color = color * 1.1 + 0.03;
      if (an.z > 0.5) {
        vec2 f = clamp(vCell.xy - vec2(col, row), 0.0, 1.0);          // position inside the cell
        float edge = 1e6;                                             // px to the region's border
        if (!cellIn(row, col - 1.0)) edge = min(edge, f.x * cellPx.x);
        if (!cellIn(row, col + 1.0)) edge = min(edge, (1.0 - f.x) * cellPx.x);
        if (!cellIn(row - 1.0, col)) edge = min(edge, f.y * cellPx.y);
        if (!cellIn(row + 1.0, col)) edge = min(edge, (1.0 - f.y) * cellPx.y);
        float ringPx = clamp(minCellPx * 0.3, 1.6, 2.2);
        color = mix(color, uHighlight, 1.0 - smoothstep(ringPx - 0.4, ringPx + 0.6, edge));
      }
    } else {
      color = mix(color, uBackground, 0.55);
    }
  }
  // highlighted block: brighter, with a thick outline
  if (highlighted > 0.5) {
    color = color * 1.2 + 0.05;
    color = mix(color, uHighlight, 1.0 - smoothstep(1.5, 3.0, edgePx));
  }
  // dimmed block (a highlighted block or highlighted cells are never faded)
  if (vState.z > 0.5 && highlighted < 0.5 && inCells < 0.5) color = mix(color, uBackground, 0.8);
  fragColor = vec4(min(color, vec3(1.0)), 1.0);
}`;

// three faces of the unit box (x 0..1, y -1..0, z -1..0): front (z = 0), top (y = 0), right (x = 1)
const FACE_VERTS = 12;
const UNIT_FACES = [
  0, 0, 0, 0, -1, 0, 1, -1, 0, 1, 0, 0,
  0, 0, 0, 1, 0, 0, 1, 0, -1, 0, 0, -1,
  1, 0, 0, 1, -1, 0, 1, -1, -1, 1, 0, -1,
];
const UNIT_NORMALS = [
  0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1,
  0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0,
  1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0,
];
const FACE_INDEX = [0, 1, 2, 0, 2, 3, 4, 5, 6, 4, 6, 7, 8, 9, 10, 8, 10, 11];

/** A per-block vertex attribute: one value per block, repeated on the block's vertices. */
class BlockAttribute {
  constructor(n, size) {
    this.size = size;
    this.attribute = new THREE.BufferAttribute(new Float32Array(Math.max(n, 1) * FACE_VERTS * size), size);
    this.attribute.setUsage(THREE.DynamicDrawUsage);
  }

  set(i, values) {
    for (let k = 0; k < values.length; k++) this.setOne(i, k, values[k]);
  }

  setOne(i, k, value) {
    const a = this.attribute.array, stride = this.size;
    for (let v = i * FACE_VERTS, end = v + FACE_VERTS; v < end; v++) a[v * stride + k] = value;
    this.attribute.needsUpdate = true;
  }

  clear() {
    this.attribute.array.fill(0);
    this.attribute.needsUpdate = true;
  }
}

/** {name0: {value: textures[0]}, ...} for the shader's `pages` samplers (one the scene does not
 *  use repeats the first). */
function pageUniforms(name, textures, pages) {
  return Object.fromEntries(Array.from({ length: pages }, (_, p) => [name + p, { value: textures[p] || textures[0] }]));
}

/** Check one block of a Scene JSON and return it with its numbers parsed. */
function checkBlock(b, i) {
  const where = `scene.blocks[${i}]${b && b.id ? ` ("${b.id}")` : ""}`;
  if (!b || typeof b.id !== "string") throw new Error(`${where}: every block needs a string "id"`);
  for (const key of ["rows", "cols"]) {
    if (!Number.isInteger(b[key]) || b[key] < 1) throw new Error(`${where}: "${key}" must be a positive integer`);
  }
  if (!Array.isArray(b.pos) || b.pos.length !== 3 || !b.pos.every(Number.isFinite)) {
    throw new Error(`${where}: "pos" must be [x, y, z]`);
  }
  if (!(b.role in ROLE_INDEX)) throw new Error(`${where}: "role" must be parameter, activation or aggregate`);
  return { ...b, cell: Number.isFinite(b.cell) && b.cell > 0 ? b.cell : 1 };
}

export class BlockScene {
  /** @param {object} scene  Scene JSON (see the contract in the project docs)
   *  @param {object} options  {shaderPages}: the fragment shader's pages (default: shaderPages of
   *                           the scene's), for renderer.js's warm-up programs */
  constructor(scene, maxTextureSize, options = {}) {
    if (!scene || !Array.isArray(scene.blocks)) throw new Error("setScene: the scene needs a \"blocks\" list");
    this.blocks = scene.blocks.map(checkBlock);
    const n = this.blocks.length;
    this.byId = new Map();
    this.blocks.forEach((b, i) => {
      if (this.byId.has(b.id)) throw new Error(`setScene: block id "${b.id}" appears twice`);
      this.byId.set(b.id, i);
    });

    // world-space boxes, for picking, framing and screen rectangles
    this.boxes = new Float64Array(n * 6);   // minx, miny, minz, maxx, maxy, maxz
    const lo = [Infinity, Infinity, Infinity], hi = [-Infinity, -Infinity, -Infinity];
    this.blocks.forEach((b, i) => {
      const [x, y, z] = b.pos;
      const box = [x, y - b.rows * b.cell, z - b.cell, x + b.cols * b.cell, y, z];
      this.boxes.set(box, i * 6);
      for (let k = 0; k < 3; k++) { lo[k] = Math.min(lo[k], box[k]); hi[k] = Math.max(hi[k], box[k + 3]); }
    });
    if (n === 0) { lo.fill(0); hi.fill(1); }
    this.bounds = { min: lo, max: hi };

    // values: blocks with values get a run of cells (starting at a multiple of 4) in one page;
    // pages fill in order, so each page is one stretch of `values` (padded to whole rows)
    this.base = new Int32Array(n).fill(-1);       // first cell in `values`
    this.page = new Int32Array(n).fill(-1);       // the page (texture) holding the block
    this.pageBase = new Int32Array(n);            // first cell within that page
    this.maxAbs = new Float32Array(n);            // max |value| of each block's values
    const rowCells = ATLAS_WIDTH * 4;
    const pageCells = rowCells * Math.max(1, Math.min(PAGE_ROWS, maxTextureSize || 8192));
    const used = [0];                             // cells used in each page so far
    this.overflow = [];
    this.blocks.forEach((b, i) => {
      if (b.pattern === "neutral") return;
      const size = Math.ceil((b.rows * b.cols) / 4) * 4;
      let p = used.length - 1;
      if (used[p] + size > pageCells) { p += 1; used.push(0); }
      if (p >= MAX_PAGES || size > pageCells) { if (used[used.length - 1] === 0) used.pop(); this.overflow.push(b.id); return; }
      this.page[i] = p;
      this.pageBase[i] = used[p];
      used[p] += size;
    });
    if (!used.length) used.push(0);               // one page at least (the shader reads page 0)
    const rows = used.map((cells) => Math.max(1, Math.ceil(cells / rowCells)));
    const starts = [];
    let total = 0;
    for (const r of rows) { starts.push(total); total += r * rowCells; }
    this.values = new Float32Array(total);
    this.maskBytes = new Uint8Array(total);
    this.blocks.forEach((_, i) => { if (this.page[i] >= 0) this.base[i] = starts[this.page[i]] + this.pageBase[i]; });
    this.valueTextures = [];
    this.maskTextures = [];
    rows.forEach((r, p) => {
      const cells = r * rowCells;
      const value = new THREE.DataTexture(this.values.subarray(starts[p], starts[p] + cells), ATLAS_WIDTH, r,
                                          THREE.RGBAFormat, THREE.FloatType);
      const mask = new THREE.DataTexture(this.maskBytes.subarray(starts[p], starts[p] + cells), ATLAS_WIDTH, r,
                                         THREE.RGBAFormat, THREE.UnsignedByteType);
      for (const t of [value, mask]) {
        t.minFilter = t.magFilter = THREE.NearestFilter;
        t.generateMipmaps = false;
      }
      this.valueTextures.push(value);
      this.maskTextures.push(mask);
    });
    // uploads waiting for a frame: texture -> {from: first row of a whole upload still to do
    // (null: none), rows: Set of changed rows}; rows not uploaded yet draw as zeros
    this._pending = new Map();
    for (const t of [...this.valueTextures, ...this.maskTextures]) this._pending.set(t, { from: 0, rows: new Set() });

    // one mesh for all blocks: three faces of the unit box per block (the vertex shader
    // mirrors them), the block's data repeated on its 12 vertices. (Instancing would
    // save memory but costs a draw per instance in software renderers such as SwiftShader.)
    const positions = new Float32Array(n * FACE_VERTS * 3), normals = new Float32Array(n * FACE_VERTS * 3);
    const index = n * FACE_VERTS > 65535 ? new Uint32Array(n * 18) : new Uint16Array(n * 18);
    for (let i = 0; i < n; i++) {
      positions.set(UNIT_FACES, i * FACE_VERTS * 3);
      normals.set(UNIT_NORMALS, i * FACE_VERTS * 3);
      for (let k = 0; k < 18; k++) index[i * 18 + k] = i * FACE_VERTS + FACE_INDEX[k];
    }
    const geometry = new THREE.BufferGeometry();
    geometry.setIndex(new THREE.BufferAttribute(index, 1));
    geometry.setAttribute("position", new THREE.BufferAttribute(positions, 3));
    geometry.setAttribute("normal", new THREE.BufferAttribute(normals, 3));
    const attr = (name, size) => {
      const a = new BlockAttribute(n, size);
      geometry.setAttribute(name, a.attribute);
      return a;
    };
    this.iPos = attr("iPos", 4);
    this.iDims = attr("iDims", 4);
    this.iState = attr("iState", 4);
    this.iRect = attr("iRect", 4);
    this.iMask = attr("iMask", 1);
    this.iPage = attr("iPage", 1);
    this.blocks.forEach((b, i) => {
      this.iPos.set(i, [b.pos[0], b.pos[1], b.pos[2], b.cell]);
      this.iDims.set(i, [b.cols, b.rows, this.pageBase[i], ROLE_INDEX[b.role]]);
      this.iState.setOne(i, 3, this.base[i] < 0 ? MODE.NEUTRAL : MODE.EMPTY);
      this.iPage.setOne(i, 0, Math.max(this.page[i], 0));
    });
    this.geometry = geometry;

    const uniformColor = (hex) => new THREE.Vector3(...rgb(hex));
    const pages = options.shaderPages || shaderPages(this.valueTextures.length);
    this.material = new THREE.ShaderMaterial({
      glslVersion: THREE.GLSL3,
      side: THREE.DoubleSide,      // mirrored faces flip their winding
      vertexShader: VERTEX,
      fragmentShader: fragmentShader(pages),
      uniforms: {
        ...pageUniforms("uValues", this.valueTextures, pages),
        ...pageUniforms("uMask", this.maskTextures, pages),
        uAtlasWidth: { value: ATLAS_WIDTH },
        uRole: { value: [uniformColor(PALETTE.parameter), uniformColor(PALETTE.activation), uniformColor(PALETTE.aggregate)] },
        uNegative: { value: uniformColor(PALETTE.negative) },
        uZero: { value: uniformColor(PALETTE.zero) },
        uBackground: { value: uniformColor(PALETTE.background) },
        uHighlight: { value: uniformColor(PALETTE.highlight) },
        uGrid: { value: uniformColor(PALETTE.grid16) },
        uGamma: { value: GAMMA },
      },
    });
    this.mesh = new THREE.Mesh(geometry, this.material);
    this.mesh.frustumCulled = false;
    this.highlighted = new Uint8Array(n);
    this.dimmed = new Uint8Array(n);
    this._maskedBlocks = [];
  }

  /** Indices of the blocks that `names` select: ids, per-head ids by their stem, groups. */
  resolve(names) {
    if (names == null) return [];
    if (typeof names === "string") names = [names];
    const out = new Set();
    for (const name of names) {
      if (name === "*") { this.blocks.forEach((_, i) => out.add(i)); continue; }
      const exact = this.byId.get(name);
      if (exact !== undefined) { out.add(exact); continue; }
      const before = out.size;
      this.blocks.forEach((b, i) => {
        const g = b.group || "";
        if (b.id.startsWith(name + "[") || g === name || g.startsWith(name + ".")) out.add(i);
      });
      if (out.size === before) console.warn(`llmviz renderer: no block or group named "${name}"`);
    }
    return [...out];
  }

  /** Whether block i holds values (not shape only, and set since the scene was made). */
  hasValues(i) {
    return this.base[i] >= 0 && this.iState.attribute.array[i * FACE_VERTS * 4 + 3] === MODE.VALUES;
  }

  /** Block i's colour scale: 1 / max|value| (0 before values arrive). */
  scaleOf(i) {
    return this.iState.attribute.array[i * FACE_VERTS * 4];
  }

  /** Block i's values (a view into the atlas), or null. */
  valuesOf(i) {
    if (!this.hasValues(i)) return null;
    const b = this.blocks[i];
    return this.values.subarray(this.base[i], this.base[i] + b.rows * b.cols);
  }

  /** The box [r0, c0, r1, c1] (half-open) around block i's highlighted cells, or null. */
  cellsBox(i) {
    const a = this.iRect.attribute.array, o = i * FACE_VERTS * 4;
    return a[o + 2] > a[o] ? [a[o], a[o + 1], a[o + 2], a[o + 3]] : null;
  }

  /** World boxes {id, group, rows, cols, cell, box: {min, max}} of the blocks `names` select. */
  boxesOf(names) {
    return this.resolve(names).map((i) => {
      const b = this.blocks[i], o = i * 6;
      return { id: b.id, group: b.group || "", rows: b.rows, cols: b.cols, cell: b.cell,
               box: { min: [this.boxes[o], this.boxes[o + 1], this.boxes[o + 2]],
                      max: [this.boxes[o + 3], this.boxes[o + 4], this.boxes[o + 5]] } };
    });
  }

  index(id) {
    const i = this.byId.get(id);
    if (i === undefined) throw new Error(`no block with id "${id}" in the scene`);
    return i;
  }

  /** Copy one block's values (row-major rows*cols) into the value storage. */
  setValues(id, values, options = {}) {
    const i = this.index(id);
    const b = this.blocks[i];
    if (this.base[i] < 0) return false;     // scale view (or no room): shape only
    const n = b.rows * b.cols;
    if (!values || values.length !== n) {
      throw new Error(`setValues("${id}"): expected ${n} values (rows ${b.rows} x cols ${b.cols}), ` +
                      `got ${values ? values.length : values}`);
    }
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    this.values.set(data, this.base[i]);
    let maxAbs = 0;
    for (let k = 0; k < n; k++) {
      const a = Math.abs(data[k]);
      if (a > maxAbs) maxAbs = a;        // NaN compares false and is skipped
    }
    this.maxAbs[i] = maxAbs;
    const scale = Number.isFinite(options.scale) && options.scale > 0 ? options.scale : maxAbs;
    this.iState.setOne(i, 0, scale > 0 && Number.isFinite(scale) ? 1 / scale : 0);
    this.iState.setOne(i, 3, MODE.VALUES);
    this._markRange(this.valueTextures[this.page[i]], this.pageBase[i], Math.ceil(n / 4) * 4);
    return true;
  }

  /**
   * Change some cells of block `id`: run k writes counts[k] values from `values` (starting at
   * `at`, run after run), to cells starts[k] + j * strides[k] (row-major cell index). The
   * block's colour scale grows to the new values' max |value|. Returns the values used.
   */
  patchValues(id, starts, counts, strides, values, at = 0) {
    const i = this.index(id);
    const b = this.blocks[i];
    let used = 0;
    for (let k = 0; k < starts.length; k++) used += counts[k];
    if (this.base[i] < 0) return used;
    const n = b.rows * b.cols, base = this.base[i];
    let maxAbs = this.maxAbs[i], lo = Infinity, hi = -Infinity;
    for (let k = 0; k < starts.length; k++) {
      const start = starts[k], count = counts[k], stride = strides[k];
      const last = start + (count - 1) * stride;
      if (start < 0 || last >= n || count < 0) throw new Error(`patchValues("${id}"): cells ${start}..${last} are outside its ${n}`);
      for (let j = 0, c = start; j < count; j++, c += stride) {
        const v = values[at++];
        this.values[base + c] = v;
        const a = Math.abs(v);
        if (a > maxAbs) maxAbs = a;
      }
      if (count) { lo = Math.min(lo, start); hi = Math.max(hi, last); }
    }
    this.maxAbs[i] = maxAbs;
    this.iState.setOne(i, 0, maxAbs > 0 && Number.isFinite(maxAbs) ? 1 / maxAbs : 0);
    this.iState.setOne(i, 3, MODE.VALUES);
    if (hi >= lo) {          // the texture rows from the first changed cell to the last
      const rowCells = ATLAS_WIDTH * 4;
      const first = Math.floor((this.pageBase[i] + lo) / rowCells) * rowCells;
      const end = Math.ceil((this.pageBase[i] + hi + 1) / rowCells) * rowCells;
      this._markRange(this.valueTextures[this.page[i]], first, end - first);
    }
    return used;
  }

  /** Cells start..start+count-1 of a page texture changed: queue their rows for upload. */
  _markRange(texture, start, count) {
    let pending = this._pending.get(texture);
    if (!pending) this._pending.set(texture, pending = { from: null, rows: new Set() });
    if (pending.from === 0) return;                       // the whole texture waits anyway
    const rowCells = ATLAS_WIDTH * 4;
    const first = Math.floor(start / rowCells), last = Math.floor((start + count - 1) / rowCells);
    if (last - first + 1 + pending.rows.size > MAX_RANGES) {   // many rows: the whole texture again
      pending.from = 0;
      pending.rows.clear();
      return;
    }
    for (let r = first; r <= last; r++) pending.rows.add(r);
  }

  /**
   * Hand three.js this frame's texture uploads, row by row (one texSubImage2D a row; three.js
   * allocates a texture on its first upload and then honours the ranges), until UPLOAD_BUDGET
   * bytes (at least one row): a new scene's pages arrive over several frames, so no frame
   * blocks the page for long. Returns true when some rows still wait (the renderer then draws
   * another frame).
   */
  prepareUploads() {
    let budget = UPLOAD_BUDGET;
    const cells = ATLAS_WIDTH * 4;
    for (const [texture, pending] of this._pending) {
      const rowBytes = cells * (texture.type === THREE.FloatType ? 4 : 1);
      if (budget < rowBytes && budget < UPLOAD_BUDGET) break;
      texture.clearUpdateRanges();
      for (const r of pending.rows) {                      // changed rows first (a new token's)
        if (budget < rowBytes && texture.updateRanges.length) break;
        texture.addUpdateRange(r * cells, cells);
        pending.rows.delete(r);
        budget -= rowBytes;
      }
      if (pending.from !== null) {
        const height = texture.image.height;
        const n = Math.max(texture.updateRanges.length ? 0 : 1, Math.floor(budget / rowBytes));
        const end = Math.min(height, pending.from + n);
        for (let r = pending.from; r < end; r++) texture.addUpdateRange(r * cells, cells);
        budget -= (end - pending.from) * rowBytes;
        pending.from = end < height ? end : null;
      }
      if (texture.updateRanges.length) texture.needsUpdate = true;
      if (pending.from === null && !pending.rows.size) this._pending.delete(texture);
    }
    this.uploadedBytes = UPLOAD_BUDGET - budget;    // what this frame sends the GPU
    return this.uploadsPending();
  }

  /** True while rows of new values or masks wait for their upload. */
  uploadsPending() {
    return this._pending.size > 0;
  }

  /** The value and mask textures prepareUploads gave rows to upload. */
  texturesToUpload() {
    return [...this.valueTextures, ...this.maskTextures].filter((t) => t.updateRanges.length > 0);
  }

  /** Called after each frame (nothing to do: uploads are queued in prepareUploads). */
  afterRender() {}

  /** Highlight blocks (ids/groups) and cell ranges {id: [[r0, c0, r1, c1], ...]} (half-open). */
  highlight(ids, cells) {
    const n = this.blocks.length;
    this.highlighted.fill(0);
    for (const i of this.resolve(ids)) this.highlighted[i] = 1;
    // clear the previous cell ranges
    for (const i of this._maskedBlocks) {
      const b = this.blocks[i];
      this.maskBytes.fill(0, this.base[i], this.base[i] + b.rows * b.cols);
      this._markRange(this.maskTextures[this.page[i]], this.pageBase[i], Math.ceil((b.rows * b.cols) / 4) * 4);
    }
    this._maskedBlocks = [];
    this.iRect.clear();
    this.iMask.clear();
    for (const [id, ranges] of Object.entries(cells || {})) {
      if (!Array.isArray(ranges)) throw new Error(`highlight: cells["${id}"] must be a list of [r0, c0, r1, c1]`);
      const i = this.index(id);
      const b = this.blocks[i];
      let r0 = Infinity, c0 = Infinity, r1 = -Infinity, c1 = -Infinity;
      const useMask = this.base[i] >= 0;
      for (const range of ranges) {
        const [ra, ca, rb, cb] = [Math.max(0, range[0]), Math.max(0, range[1]),
                                  Math.min(b.rows, range[2]), Math.min(b.cols, range[3])];
        if (!(rb > ra && cb > ca)) continue;
        r0 = Math.min(r0, ra); c0 = Math.min(c0, ca); r1 = Math.max(r1, rb); c1 = Math.max(c1, cb);
        if (useMask) {
          for (let r = ra; r < rb; r++) {
            const at = this.base[i] + r * b.cols;
            this.maskBytes.fill(255, at + ca, at + cb);
          }
        }
      }
      if (!(r1 > r0)) continue;
      this.iRect.set(i, [r0, c0, r1, c1]);
      if (useMask) {
        this.iMask.setOne(i, 0, 1);
        this._maskedBlocks.push(i);
        this._markRange(this.maskTextures[this.page[i]], this.pageBase[i], Math.ceil((b.rows * b.cols) / 4) * 4);
      }
    }
    for (let i = 0; i < n; i++) this.iState.setOne(i, 1, this.highlighted[i]);
  }

  dim(ids) {
    this.dimmed.fill(0);
    for (const i of this.resolve(ids)) this.dimmed[i] = 1;
    for (let i = 0; i < this.blocks.length; i++) this.iState.setOne(i, 2, this.dimmed[i]);
  }

  /** The world box around the given block indices: {min, max} arrays. */
  boxOf(indices) {
    const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
    for (const i of indices) {
      for (let k = 0; k < 3; k++) {
        min[k] = Math.min(min[k], this.boxes[i * 6 + k]);
        max[k] = Math.max(max[k], this.boxes[i * 6 + 3 + k]);
      }
    }
    return { min, max };
  }

  dispose() {
    this.geometry.dispose();
    this.material.dispose();
    for (const t of [...this.valueTextures, ...this.maskTextures]) t.dispose();
  }
}
