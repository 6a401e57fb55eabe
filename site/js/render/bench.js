// Frame timing for `python -m llmviz bench --page`: render `count` frames (orbiting the
// camera's target when `orbit`), waiting for the GPU after each, and report medians.
import * as THREE from "three";

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * @param win   the window (requestAnimationFrame, performance)
 * @param gl    the WebGL context (readPixels waits for the GPU)
 * @param rig   the CameraRig (saved and restored around the run)
 * @param draw  () -> void, renders one frame
 * `alive`: () -> false stops the run early (the renderer was disposed)
 */
export async function timeFrames(win, gl, rig, draw, { frames: count = 300, orbit = true, alive = () => true } = {}) {
  const saved = rig.get();
  const intervals = [], renders = [];
  const px = new Uint8Array(4);
  const axis = new THREE.Vector3(0, 1, 0);
  const offset = new THREE.Vector3();
  let last = null;
  try {
    await new Promise((resolve) => {
      let i = 0;
      const step = (now) => {
        if (orbit) {
          offset.subVectors(rig.camera.position, rig.controls.target).applyAxisAngle(axis, (2 * Math.PI) / count);
          rig.camera.position.copy(rig.controls.target).add(offset);
          rig.camera.lookAt(rig.controls.target);
        }
        const t0 = win.performance.now();
        draw();
        gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);   // wait for the GPU
        renders.push(win.performance.now() - t0);
        if (last !== null) intervals.push(now - last);
        last = now;
        i += 1;
        if (i <= count && alive()) win.requestAnimationFrame(step);
        else resolve();
      };
      win.requestAnimationFrame(step);
    });
  } finally {
    rig.set(saved);
  }
  const a = intervals.sort((x, y) => x - y), b = renders.sort((x, y) => x - y);
  return { frames: a.length, median_ms: percentile(a, 0.5), p90_ms: percentile(a, 0.9),
           render_median_ms: percentile(b, 0.5), render_p90_ms: percentile(b, 0.9) };
}
