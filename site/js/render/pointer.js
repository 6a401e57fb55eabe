// Pointer input on the canvas: hover picks (a block and cell under the pointer, or null),
// clicks (a short press that did not drag the camera) and double clicks (fly to a block).
// The camera's own dragging is OrbitControls' (render/camera.js).

export class PointerInput {
  /**
   * @param canvas   the renderer's canvas
   * @param pickAt   (clientX, clientY) -> pick {id, row, col, index} or null
   * @param onDouble (pick) -> void, for a double click on a block
   */
  constructor(canvas, pickAt, onDouble) {
    this.canvas = canvas;
    this.pickAt = pickAt;
    this.pickCallbacks = new Set();
    this.clickCallbacks = new Set();
    this.last = null;
    this.down = null;
    const win = canvas.ownerDocument.defaultView;
    this.handlers = {
      pointermove: (e) => { if (!e.buttons) this.hover(pickAt(e.clientX, e.clientY)); },  // not while dragging
      pointerleave: () => this.hover(null),
      pointerdown: (e) => {
        this.down = { x: e.clientX, y: e.clientY, t: win.performance.now() };
        canvas.focus({ preventScroll: true });
      },
      pointerup: (e) => {
        if (!this.down) return;
        const moved = Math.hypot(e.clientX - this.down.x, e.clientY - this.down.y);
        const quick = win.performance.now() - this.down.t < 600;
        this.down = null;
        if (moved < 5 && quick) this.emit(this.clickCallbacks, pickAt(e.clientX, e.clientY));
      },
      dblclick: (e) => { const p = pickAt(e.clientX, e.clientY); if (p) onDouble(p); },
    };
    for (const [name, fn] of Object.entries(this.handlers)) canvas.addEventListener(name, fn);
  }

  onPick(cb) { this.pickCallbacks.add(cb); return () => this.pickCallbacks.delete(cb); }
  onClick(cb) { this.clickCallbacks.add(cb); return () => this.clickCallbacks.delete(cb); }

  /** Forget the last hover (a new scene: the same id may be another block). */
  reset() { this.last = null; }

  hover(value) {
    const a = value, b = this.last;
    if (a === b || (a && b && a.id === b.id && a.index === b.index)) return;
    this.last = value;
    this.emit(this.pickCallbacks, value);
  }

  emit(callbacks, value) {
    for (const cb of callbacks) {
      try { cb(value); } catch (e) { console.error("llmviz renderer: a pick/click callback failed:", e); }
    }
  }

  dispose() {
    for (const [name, fn] of Object.entries(this.handlers)) this.canvas.removeEventListener(name, fn);
    this.pickCallbacks.clear();
    this.clickCallbacks.clear();
  }
}
