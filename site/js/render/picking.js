// Picking and screen rectangles. Every block is an axis-aligned box, so a ray is
// tested against the boxes directly (slab test) instead of against triangles; the
// hit point then gives the cell (row, col) under the pointer.
import * as THREE from "three";

export class Picker {
  constructor(blockScene, camera) {
    this.scene = blockScene;
    this.camera = camera;
    this.raycaster = new THREE.Raycaster();
    this._ndc = new THREE.Vector2();
    this._p = new THREE.Vector3();
    this._hit = new THREE.Vector3();
  }

  /**
   * The block and cell under normalised device coordinates (x, y in -1..1), or null.
   * Returns {id, row, col, index} with index = row * cols + col.
   */
  pickNdc(x, y) {
    const s = this.scene;
    if (!s) return null;
    this.raycaster.setFromCamera(this._ndc.set(x, y), this.camera);
    const { origin, direction } = this.raycaster.ray;
    const o = [origin.x, origin.y, origin.z], d = [direction.x, direction.y, direction.z];
    const boxes = s.boxes;
    let best = -1, bestT = Infinity;
    for (let i = 0, n = s.blocks.length; i < n; i++) {
      let t0 = 0, t1 = bestT;
      for (let k = 0; k < 3 && t0 <= t1; k++) {
        const lo = boxes[i * 6 + k], hi = boxes[i * 6 + 3 + k];
        if (Math.abs(d[k]) < 1e-12) {
          if (o[k] < lo || o[k] > hi) t0 = Infinity;
          continue;
        }
        let ta = (lo - o[k]) / d[k], tb = (hi - o[k]) / d[k];
        if (ta > tb) { const tmp = ta; ta = tb; tb = tmp; }
        if (ta > t0) t0 = ta;
        if (tb < t1) t1 = tb;
      }
      if (t0 <= t1 && t0 < bestT) { bestT = t0; best = i; }
    }
    if (best < 0) return null;
    const b = s.blocks[best];
    this._hit.copy(origin).addScaledVector(direction, bestT);
    const col = Math.min(b.cols - 1, Math.max(0, Math.floor((this._hit.x - b.pos[0]) / b.cell)));
    const row = Math.min(b.rows - 1, Math.max(0, Math.floor((b.pos[1] - this._hit.y) / b.cell)));
    return { id: b.id, row, col, index: row * b.cols + col };
  }

  /**
   * Project block i's box; write {x, y, w, h, depth} (CSS pixels from the canvas'
   * top-left corner, depth = NDC z of the nearest corner) into `out`. Returns false
   * when the block is behind the camera.
   */
  rect(i, width, height, out) {
    const boxes = this.scene.boxes;
    let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity, minZ = Infinity;
    for (let k = 0; k < 8; k++) {
      this._p.set(boxes[i * 6 + (k & 1 ? 3 : 0)], boxes[i * 6 + 1 + (k & 2 ? 3 : 0)], boxes[i * 6 + 2 + (k & 4 ? 3 : 0)]);
      this._p.applyMatrix4(this.camera.matrixWorldInverse);
      if (this._p.z > -this.camera.near) return false;     // a corner behind the camera
      this._p.applyMatrix4(this.camera.projectionMatrix);
      const sx = (this._p.x + 1) * 0.5 * width, sy = (1 - this._p.y) * 0.5 * height;
      if (sx < minX) minX = sx;
      if (sx > maxX) maxX = sx;
      if (sy < minY) minY = sy;
      if (sy > maxY) maxY = sy;
      if (this._p.z < minZ) minZ = this._p.z;
    }
    out.x = minX; out.y = minY; out.w = maxX - minX; out.h = maxY - minY; out.depth = minZ;
    return true;
  }
}
