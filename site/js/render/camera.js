// The camera: orbit, pan and zoom (mouse and touch through three's OrbitControls,
// keyboard handled here), and eased camera flights.
//
// Mouse: left drag orbits, right drag (or Shift + left drag) pans, the wheel zooms
// towards the pointer, double click flies to the block under the pointer.
// Touch: one finger orbits, two fingers pan and pinch-zoom.
// Keyboard, only while the canvas has focus (click it or Tab to it): arrows / WASD
// pan, Shift + arrows / WASD orbit, + and - zoom, Home or 0 shows the whole model,
// Escape gives the focus (and the keys) back to the page. Space and every other key
// are left to the page; the keys used here do not reach the page while the canvas
// has focus (so they don't also step the walkthrough).
//
// frameBoxes(boxes, {...}) is the pure framing maths the page uses for walkthrough
// steps and scale views (the view of boxes inside the part of the canvas no overlay covers).
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const DEFAULT_DIRECTION = new THREE.Vector3(0.38, 0.22, 1).normalize();

function easeInOutCubic(t) {
  return t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2;
}

/**
 * A view {center, distance, direction} (what the renderer's flyTo takes) that frames
 * world boxes inside part of a width x height viewport: the boxes' union fills at
 * most `fill` of the free area (the viewport less `insets` {top, right, bottom,
 * left} in CSS px, kept for overlays) and `labelPx` stay free above it for the
 * blocks' labels. `maxScale` caps the zoom (CSS px per world unit at the boxes).
 * Pure: no camera is touched. Also returns `scale` and `project(box)` -> the box's
 * screen rect {x, y, w, h} in that view (front face, CSS px in the viewport).
 */
export function frameBoxes(boxes, { direction = [0, 0, 1], fov = 45, width, height, insets = {},
                                    fill = 0.85, labelPx = 0, maxScale = Infinity } = {}) {
  const dir = new THREE.Vector3().fromArray(direction).normalize();
  const right = new THREE.Vector3().crossVectors(new THREE.Vector3(0, 1, 0), dir);
  if (right.lengthSq() < 1e-8) right.set(1, 0, 0);
  right.normalize();
  const up = new THREE.Vector3().crossVectors(dir, right).normalize();
  const rect = (box) => {       // the box in camera-plane coordinates: [u0, u1, v0, v1, w1]
    const r = [Infinity, -Infinity, Infinity, -Infinity, -Infinity];
    const p = new THREE.Vector3();
    for (let k = 0; k < 8; k++) {
      p.set(k & 1 ? box.max[0] : box.min[0], k & 2 ? box.max[1] : box.min[1], k & 4 ? box.max[2] : box.min[2]);
      const u = p.dot(right), v = p.dot(up), w = p.dot(dir);
      r[0] = Math.min(r[0], u); r[1] = Math.max(r[1], u);
      r[2] = Math.min(r[2], v); r[3] = Math.max(r[3], v);
      r[4] = Math.max(r[4], w);
    }
    return r;
  };
  const all = [Infinity, -Infinity, Infinity, -Infinity, -Infinity];
  for (const box of boxes) {
    const r = rect(box);
    all[0] = Math.min(all[0], r[0]); all[1] = Math.max(all[1], r[1]);
    all[2] = Math.min(all[2], r[2]); all[3] = Math.max(all[3], r[3]);
    all[4] = Math.max(all[4], r[4]);
  }
  const ins = { top: 0, right: 0, bottom: 0, left: 0, ...insets };
  const freeW = Math.max(width - ins.left - ins.right, width * 0.3);
  const freeH = Math.max(height - ins.top - ins.bottom, height * 0.3);
  const uw = Math.max(all[1] - all[0], 1e-6), vh = Math.max(all[3] - all[2], 1e-6);
  const scale = Math.min(fill * freeW / uw, Math.max(fill * freeH - labelPx, freeH * 0.2) / vh, maxScale);
  // the union's centre goes to the free area's centre (below the label room)
  const ox = (ins.left - ins.right) / 2, oy = (ins.top - ins.bottom) / 2 + labelPx / 2;
  const uc = (all[0] + all[1]) / 2 - ox / scale, vc = (all[2] + all[3]) / 2 + oy / scale;
  const target = right.clone().multiplyScalar(uc).addScaledVector(up, vc).addScaledVector(dir, all[4]);
  const f = (height / 2) / Math.tan(THREE.MathUtils.degToRad(fov / 2));   // px per unit at distance 1
  const project = (box) => {
    const r = rect(box);
    return { x: width / 2 + (r[0] - uc) * scale, y: height / 2 - (r[3] - vc) * scale,
             w: (r[1] - r[0]) * scale, h: (r[3] - r[2]) * scale };
  };
  return { center: target.toArray(), distance: f / scale, direction: dir.toArray(), scale, project };
}

export class CameraRig {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.onChange = onChange;
    this.camera = new THREE.PerspectiveCamera(45, 1, 0.1, 1000)   // 45: the fov llmviz.layout's views assume;
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.enableDamping = true;
    this.controls.dampingFactor = 0.2;
    this.controls.zoomToCursor = true;
    this.controls.screenSpacePanning = true;
    this.radius = 100;
    this.flight = null;
    // scratch objects, reused every frame
    this._v = new THREE.Vector3();
    this._w = new THREE.Vector3();
    this._offset = new THREE.Vector3();
    this._right = new THREE.Vector3();
    this._up = new THREE.Vector3();
    this._q = new THREE.Quaternion();

    this._onControlsChange = () => this.onChange();
    this._onControlsStart = () => this.cancelFlight();
    this.controls.addEventListener("change", this._onControlsChange);
    this.controls.addEventListener("start", this._onControlsStart);
    this._onKey = (e) => this._key(e);
    canvas.addEventListener("keydown", this._onKey);
  }

  /** Tell the rig how big the scene is (zoom limits, clipping planes). */
  setBounds(bounds) {
    const size = new THREE.Vector3().fromArray(bounds.max).sub(new THREE.Vector3().fromArray(bounds.min));
    this.radius = Math.max(size.length() / 2, 1);
    this.controls.minDistance = this.radius * 0.002;
    this.controls.maxDistance = this.radius * 8;
    this.updateClipping();
  }

  setAspect(aspect) {
    this.camera.aspect = aspect;
    this.camera.updateProjectionMatrix();
  }

  /** Near/far planes that follow the distance to the target (no allocation). */
  updateClipping() {
    const d = this.camera.position.distanceTo(this.controls.target);
    const near = Math.max(d * 0.01, this.radius * 1e-5);
    const far = d + this.radius * 4;
    if (Math.abs(near - this.camera.near) > near * 0.05 || Math.abs(far - this.camera.far) > far * 0.05) {
      this.camera.near = near;
      this.camera.far = far;
      this.camera.updateProjectionMatrix();
    }
  }

  /** A camera view {position, target} (Vector3s) that frames the world box. */
  viewOfBox(box, direction, margin = 1.15) {
    const center = new THREE.Vector3().fromArray(box.min).add(new THREE.Vector3().fromArray(box.max)).multiplyScalar(0.5);
    const dir = direction ? new THREE.Vector3().fromArray(direction).normalize() : this.currentDirection();
    // camera axes for that direction
    const up = new THREE.Vector3(0, 1, 0);
    const right = new THREE.Vector3().crossVectors(up, dir);
    if (right.lengthSq() < 1e-8) right.set(1, 0, 0);
    right.normalize();
    const camUp = new THREE.Vector3().crossVectors(dir, right).normalize();
    let halfW = 0, halfH = 0, halfD = 0;
    for (let k = 0; k < 8; k++) {
      const p = new THREE.Vector3(k & 1 ? box.max[0] : box.min[0], k & 2 ? box.max[1] : box.min[1], k & 4 ? box.max[2] : box.min[2]).sub(center);
      halfW = Math.max(halfW, Math.abs(p.dot(right)));
      halfH = Math.max(halfH, Math.abs(p.dot(camUp)));
      halfD = Math.max(halfD, Math.abs(p.dot(dir)));
    }
    const tanHalf = Math.tan(THREE.MathUtils.degToRad(this.camera.fov / 2));
    const distance = Math.max(halfH / tanHalf, halfW / (tanHalf * this.camera.aspect), this.radius * 0.01) * margin + halfD;
    return this.viewAt(center.toArray(), distance, dir.toArray());
  }

  viewAt(center, distance, direction) {
    const dir = direction ? new THREE.Vector3().fromArray(direction).normalize() : this.currentDirection();
    const target = new THREE.Vector3().fromArray(center);
    return { target, position: target.clone().addScaledVector(dir, distance) };
  }

  currentDirection() {
    const d = new THREE.Vector3().subVectors(this.camera.position, this.controls.target);
    return d.lengthSq() > 1e-12 ? d.normalize() : DEFAULT_DIRECTION.clone();
  }

  defaultDirection() {
    return DEFAULT_DIRECTION.toArray();
  }

  /** Fly to a view over `seconds` (eased); resolves when there (or when interrupted). */
  flyTo(view, seconds) {
    this.cancelFlight();
    this._settleControls();
    if (!(seconds > 0)) {
      this.camera.position.copy(view.position);
      this.controls.target.copy(view.target);
      this.controls.update();
      this.updateClipping();
      this.onChange();
      return Promise.resolve(true);
    }
    const fromOffset = new THREE.Vector3().subVectors(this.camera.position, this.controls.target);
    const toOffset = new THREE.Vector3().subVectors(view.position, view.target);
    return new Promise((resolve) => {
      this.flight = {
        start: null, duration: seconds * 1000, resolve,
        fromTarget: this.controls.target.clone(), toTarget: view.target.clone(),
        fromDir: fromOffset.clone().normalize(), toDir: toOffset.clone().normalize(),
        fromDist: Math.max(fromOffset.length(), 1e-6), toDist: Math.max(toOffset.length(), 1e-6),
        rotation: new THREE.Quaternion().setFromUnitVectors(fromOffset.clone().normalize(), toOffset.clone().normalize()),
      };
      this.onChange();
    });
  }

  /** True when the camera is at `view` (position and target within a millionth of the distance):
   *  a step shown again (a new token) flies nowhere and draws no frame (renderer.js flyTo). */
  isAt(view) {
    const tolerance = 1e-6 * Math.max(view.position.distanceTo(view.target), 1e-9);
    return this.camera.position.distanceTo(view.position) <= tolerance &&
           this.controls.target.distanceTo(view.target) <= tolerance;
  }

  cancelFlight() {
    if (this.flight) {
      const f = this.flight;
      this.flight = null;
      f.resolve(false);
    }
  }

  // apply whatever damping motion is left, at once, so a flight starts from rest
  _settleControls() {
    this.controls.enableDamping = false;
    this.controls.update();
    this.controls.enableDamping = true;
  }

  /** Advance flights and damping; true while the camera is still moving (kept in `moving`). */
  update(now) {
    this.moving = this._advance(now);
    return this.moving;
  }

  _advance(now) {
    if (this.flight) {
      const f = this.flight;
      if (f.start === null) f.start = now;
      const t = Math.min(1, (now - f.start) / f.duration);
      const e = easeInOutCubic(t);
      this.controls.target.lerpVectors(f.fromTarget, f.toTarget, e);
      this._q.identity().slerp(f.rotation, e);
      this._offset.copy(f.fromDir).applyQuaternion(this._q);
      const dist = Math.exp(Math.log(f.fromDist) * (1 - e) + Math.log(f.toDist) * e);
      this.camera.position.copy(this.controls.target).addScaledVector(this._offset, dist);
      this.camera.lookAt(this.controls.target);
      this.updateClipping();
      if (t >= 1) {
        this.flight = null;
        this.controls.update();
        f.resolve(true);
        return false;
      }
      return true;
    }
    const moved = this.controls.update();
    this.updateClipping();
    return moved;
  }

  get() {
    return { position: this.camera.position.toArray(), target: this.controls.target.toArray(), fov: this.camera.fov,
             moving: Boolean(this.flight || this.moving) };
  }

  set(cam) {
    this.cancelFlight();
    if (cam.fov) { this.camera.fov = cam.fov; this.camera.updateProjectionMatrix(); }
    const view = {
      position: new THREE.Vector3().fromArray(cam.position || this.camera.position.toArray()),
      target: new THREE.Vector3().fromArray(cam.target || this.controls.target.toArray()),
    };
    return this.flyTo(view, 0);
  }

  // keyboard: only reaches us when the canvas has focus (the listener is on the canvas)
  _key(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const dirs = { ArrowLeft: [-1, 0], a: [-1, 0], ArrowRight: [1, 0], d: [1, 0],
                   ArrowUp: [0, 1], w: [0, 1], ArrowDown: [0, -1], s: [0, -1] };
    let handled = true;
    if (k in dirs) {
      const [dx, dy] = dirs[k];
      if (e.shiftKey) this._orbit(-dx * 0.12, dy * 0.08);
      else this._pan(dx * 0.1, dy * 0.1);
    } else if (k === "+" || k === "=") this._zoom(1 / 1.2);
    else if (k === "-" || k === "_") this._zoom(1.2);
    else if (k === "Home" || k === "0") this.onHome && this.onHome();
    else {
      if (k === "Escape") this.canvas.blur();     // hand the keys back to the page (which sees Escape too)
      handled = false;
    }
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  }

  _pan(fx, fy) {
    this.cancelFlight();
    const dist = this.camera.position.distanceTo(this.controls.target);
    const h = 2 * dist * Math.tan(THREE.MathUtils.degToRad(this.camera.fov / 2));
    this._right.setFromMatrixColumn(this.camera.matrix, 0);
    this._up.setFromMatrixColumn(this.camera.matrix, 1);
    this._v.copy(this._right).multiplyScalar(fx * h).addScaledVector(this._up, fy * h);
    this.camera.position.add(this._v);
    this.controls.target.add(this._v);
    this.controls.update();
    this.onChange();
  }

  _orbit(yaw, pitch) {
    this.cancelFlight();
    this._offset.subVectors(this.camera.position, this.controls.target);
    this._offset.applyAxisAngle(this._w.set(0, 1, 0), yaw);
    this._right.setFromMatrixColumn(this.camera.matrix, 0);
    const rotated = this._v.copy(this._offset).applyAxisAngle(this._right, -pitch);
    if (Math.abs(rotated.clone().normalize().y) < 0.98) this._offset.copy(rotated);
    this.camera.position.copy(this.controls.target).add(this._offset);
    this.controls.update();
    this.onChange();
  }

  _zoom(factor) {
    this.cancelFlight();
    this._offset.subVectors(this.camera.position, this.controls.target);
    const d = THREE.MathUtils.clamp(this._offset.length() * factor, this.controls.minDistance, this.controls.maxDistance);
    this._offset.setLength(d);
    this.camera.position.copy(this.controls.target).add(this._offset);
    this.controls.update();
    this.onChange();
  }

  dispose() {
    this.cancelFlight();
    this.canvas.removeEventListener("keydown", this._onKey);
    this.controls.removeEventListener("change", this._onControlsChange);
    this.controls.removeEventListener("start", this._onControlsStart);
    this.controls.dispose();
  }
}
