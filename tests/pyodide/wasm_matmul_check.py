# Run in Pyodide under Node by tests/test_wasm_matmul.py (through tools/pyodide_run.mjs): the
# wasm SIMD kernel (wasm/matmul.wasm) against numpy. Inputs in /job: numpy's wheel, llmviz's
# source as a zip and the compiled kernel; writes /job/out.json.
import json
import sys
import zipfile

zipfile.ZipFile("/job/numpy.whl").extractall("/job/site")
sys.path[:0] = ["/job/site", "/job/llmviz.zip"]

import js  # noqa: E402
import numpy as np  # noqa: E402
from pyodide.ffi import to_js  # noqa: E402

from llmviz.core import model as port  # noqa: E402
from llmviz.page import wasm_matmul  # noqa: E402

with open("/job/matmul.wasm", "rb") as f:
    exports = js.WebAssembly.Instance.new(js.WebAssembly.Module.new(to_js(f.read()))).exports
out = {"installed": wasm_matmul.use_exports(exports)}
kernel = port._matmul
rng = np.random.default_rng(int(job_args["seed"]))  # noqa: F821 - job_args: set by pyodide_run.mjs


def rel(got, want):
    if got.shape != want.shape:
        return float("inf")
    return float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30)) if want.size else 0.0


# Linears: every remainder of the 4 x 8 block, leading dimensions, a weight used twice
linear = []
for _ in range(40):
    lead = tuple(int(d) for d in rng.integers(1, 4, int(rng.integers(0, 3))))
    m, k, n = (int(v) for v in rng.integers(1, 40, 3))
    x = rng.standard_normal((*lead, m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    linear.append(rel(kernel(x, w), np.einsum("...i,oi->...o", x, w)))
    linear.append(rel(kernel(x[..., ::-1, :], w), np.einsum("...i,oi->...o", x[..., ::-1, :], w)))  # not contiguous
out["linear"] = max(linear)

# attention's stacked products
stacked = []
for _ in range(20):
    lead = tuple(int(d) for d in rng.integers(1, 4, 2))
    m, k, n = (int(v) for v in rng.integers(1, 30, 3))
    a = rng.standard_normal((*lead, m, k)).astype(np.float32)
    b = rng.standard_normal((*lead, n, k)).astype(np.float32).swapaxes(-1, -2)   # like k.transpose
    stacked.append(rel(kernel.product(a, b), np.matmul(a, b)))
out["product"] = max(stacked)

# the weight store: a weight is copied in once; when one is gone, the store starts again
w1 = rng.standard_normal((300, 500)).astype(np.float32)     # 600 KB: the memory grows
x = rng.standard_normal((7, 500)).astype(np.float32)
kernel(x, w1)
top = kernel._top
kernel(x, w1)
out["stored_once"] = kernel._top == top
w2 = rng.standard_normal((16, 500)).astype(np.float32)
del w1
y2 = kernel(x, w2)
out["store_restarted"] = kernel._top == 500 * 16 * 4
out["after_restart"] = rel(y2, np.einsum("...i,oi->...o", x, w2))

# a whole GPT: the kernel's logits against numpy's
config = port.GPTConfig(n_layer=2, n_head=3, n_embd=48, block_size=11, vocab_size=5, bias=True)
shapes = port.GPT(config).state_dict()
model = port.GPT.from_state_dict({k: (rng.standard_normal(v.shape) * 0.2).astype(np.float32)
                                  for k, v in shapes.items() if k != "lm_head.weight"}, config)
idx = rng.integers(0, 5, (1, 11))
with_kernel = model(idx)
port.use_matmul(None)
out["gpt"] = float(np.max(np.abs(with_kernel - model(idx))))

with open("/job/out.json", "w") as f:
    json.dump(out, f)
