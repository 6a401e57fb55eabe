// The model scene's values, kept here so the 3D view can draw them again (back from a scale
// view, a new layout) and a new token can change a few: the parameters' packed values (once
// per model) and the activations' (each new text), each {data: Float32Array, offsets: {id:
// [offset, count]}} as llmviz.viz.scene_values.pack makes them (the model worker sends them).
//
// apply() hands them to the renderer a slice at a time (BUDGET_MS of copying per task of its
// own, then a turn of the event loop), so a model of tens of millions of values never blocks the page for
// long; a newer apply() stops an older one. patch() writes a new token's cells into the
// activations kept here and into the renderer. `pending` is the running apply (a Promise).
import { nextTask } from "../next_task.js";
import { giveBack } from "../worker_mail.js";
import { parsed } from "../render/pyvalue.js";

const BUDGET_MS = 25;

function asFloats(values) {
  if (values instanceof Float32Array) return values;
  if (values instanceof ArrayBuffer) return new Float32Array(values);
  if (ArrayBuffer.isView(values)) return new Float32Array(values.buffer, values.byteOffset, values.byteLength >> 2);
  throw new Error("scene values must be a Float32Array or float32 bytes");
}

export class SceneValues {
  constructor(renderer) {
    this.renderer = renderer;
    this.params = null;
    this.acts = null;
    this.serial = 0;
    this.pending = Promise.resolve(true);
  }

  /** Keep new values: {params?: [data, offsets], acts?: [data, offsets]}; params: null drops them.
   * The values they replace go back to the model worker (its letters: their memory is its next
   * letter's; an older apply() stops before it reads them again). */
  set(arg) {
    const { params, acts } = arg || {};
    const old = [];
    if (params !== undefined) {
      old.push(this.params);
      this.params = params ? { data: asFloats(params[0]), offsets: parsed(params[1]) } : null;
    }
    if (acts !== undefined) {
      old.push(this.acts);
      this.acts = acts ? { data: asFloats(acts[0]), offsets: parsed(acts[1]) } : null;
    }
    this.serial += 1;
    for (const part of old) {
      if (!part || part.data === this.params?.data || part.data === this.acts?.data) continue;
      try {
        giveBack(new Uint8Array(part.data.buffer));
      } catch (e) {
        /* no model worker (values that came another way): nothing to give back */
      }
    }
  }

  clear() {
    this.params = this.acts = null;
    this.serial += 1;
  }

  /** Draw every kept value (parameters, then activations); resolves true when done, false if superseded. */
  apply() {
    const serial = ++this.serial;
    const jobs = [];
    for (const part of [this.params, this.acts]) {
      if (!part) continue;
      for (const [id, [offset, count]] of Object.entries(part.offsets)) jobs.push([id, part.data, offset, count]);
    }
    const run = async () => {
      await nextTask();      // not in the caller's task (a view's update, already tens of ms)
      let t0 = performance.now();
      for (const [id, data, offset, count] of jobs) {
        if (serial !== this.serial) return false;
        try {
          this.renderer.setValues(id, data.subarray(offset, offset + count));
        } catch (e) {
          console.warn(`llmviz scene: values for ${id}: ${e.message}`);
        }
        if (performance.now() - t0 > BUDGET_MS) {
          await nextTask();
          t0 = performance.now();
        }
      }
      return serial === this.serial;
    };
    this.pending = run();
    return this.pending;
  }

  /** A new token's cells: the renderer's patch format (renderer.patchValues) and their float32
   * values; kept here, and drawn unless `draw` is false (a scale view is on screen). */
  async patch(patchArg, values, draw = true) {
    await this.pending;      // a layout's values still being drawn come first
    const patch = parsed(patchArg);
    const data = asFloats(values);
    if (this.acts) {
      const { offsets } = this.acts, store = this.acts.data;
      let at = 0;
      for (let k = 0; k < patch.starts.length; k++) {
        const where = offsets[patch.ids[patch.block[k]]];
        const count = patch.counts[k], stride = patch.strides[k];
        if (!where) { at += count; continue; }
        for (let j = 0, c = where[0] + patch.starts[k]; j < count; j++, c += stride) store[c] = data[at++];
      }
    }
    return draw ? this.renderer.patchValues(patch, data) : 0;
  }
}
