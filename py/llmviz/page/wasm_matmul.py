"""The model's matrix products by a wasm SIMD kernel, for the model worker (Pyodide only):
a Linear's ``x @ W.T`` and attention's ``q @ k^T`` and ``att @ v``.

Pyodide's numpy has no BLAS: its fastest product for a Linear (einsum) runs at ~6 GFLOP/s
on this project's 2-core test machine, and the Linears are most of a forward pass. The
kernel in ``site/wasm/matmul.wat`` (compiled by build.py to ``wasm/matmul.wasm``) computes
the same sums with 128-bit SIMD at ~30 GFLOP/s. It lives in a WebAssembly instance of its
own (Pyodide does not share its memory), so ``WasmMatmul`` copies each weight in once,
transposed, padded to the kernel's block and cut into its panels of columns (``_panels``;
stays until the weight is gone), and each
input in and each product out per call: memcpy speed, a few ms for the biggest models.

``install(download)`` (the worker calls it at boot) hands a ``WasmMatmul`` to
``llmviz.core.model.use_matmul`` once it has checked the kernel's products against numpy's;
without wasm SIMD (or the file) the model stays on numpy, and the result says why.
"""
from __future__ import annotations

import weakref

import numpy as np

ROWS, COLS = 4, 8   # the kernel's block: M a multiple of ROWS, N of COLS
PAGE = 65536        # bytes in a page of wasm memory
TOLERANCE = 1e-5    # check(): float32 sums of up to 64 terms, in another order than einsum's


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


class WasmMatmul:
    """``matmul(x, weight) == x @ weight.T`` (float32), on the kernel's instance."""

    def __init__(self, exports):
        self._kernel = exports.matmul
        self._memory = exports.memory
        self._weights: dict[int, tuple] = {}   # id(weight) -> (weakref, address, padded N)
        self._top = 0                          # bytes the stored weights use, from address 0

    def __call__(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        n_out, k = weight.shape
        w_at, n_pad = self._stored(weight)
        x2 = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, k)
        y = self._rows(x2, w_at, n_pad, self._top)
        return _unpadded(y, n_out).reshape(*x.shape[:-1], n_out)

    def product(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for stacks of matrices, (..., M, K) @ (..., K, N) with the same leading
        dimensions (attention's q @ k^T and att @ v): both copied in, one kernel call each."""
        *lead, m, k = a.shape
        n = b.shape[-1]
        a3 = np.ascontiguousarray(a, dtype=np.float32).reshape(-1, m, k)
        n_pad = _round_up(max(n, 1), COLS)
        b3 = np.zeros((a3.shape[0], k, n_pad), np.float32)
        b3[:, :, :n] = b.reshape(-1, k, n)
        b3 = _panels(b3)
        b_at = self._top
        self._reserve(b_at + b3[0].nbytes)
        y = np.empty((a3.shape[0], m, n_pad), np.float32)
        for i in range(a3.shape[0]):
            self._view(b_at, b3[i].size).assign(b3[i])
            self._rows(a3[i], b_at, n_pad, b_at + b3[i].nbytes, out=y[i])
        return _unpadded(y, n).reshape(*lead, m, n)

    def _rows(self, x2: np.ndarray, w_at: int, n_pad: int, scratch: int, out: np.ndarray | None = None) -> np.ndarray:
        """``x2`` (M, K, contiguous) times the (K, ``n_pad``) matrix at ``w_at``, with the kernel's
        memory from ``scratch`` on for the input and the product: (M, ``n_pad``), written into
        ``out`` (contiguous) when given."""
        m, k = x2.shape
        m_pad = _round_up(max(m, 1), ROWS)
        x_at, y_at = scratch, scratch + 4 * m_pad * k
        self._reserve(y_at + 4 * m_pad * n_pad)
        self._view(x_at, m * k).assign(x2)   # the padding rows keep old numbers: their products are dropped
        self._kernel(x_at, w_at, y_at, m_pad, k, n_pad)
        y = np.empty((m, n_pad), np.float32) if out is None else out
        self._view(y_at, m * n_pad).assign_to(y)
        return y

    def _stored(self, weight: np.ndarray) -> tuple[int, int]:
        """Where W.T lies in the kernel's memory (copied in on first use)."""
        entry = self._weights.get(id(weight))
        if entry is not None and entry[0]() is weight:
            return entry[1], entry[2]
        if any(ref() is None for ref, _, _ in self._weights.values()):
            self._weights.clear()   # a model went away: start the store again (the live ones come back on use)
            self._top = 0
        n_out, k = weight.shape
        n_pad = _round_up(n_out, COLS)
        wt = np.zeros((k, n_pad), np.float32)
        wt[:, :n_out] = weight.T
        wt = _panels(wt)
        address = self._top
        self._reserve(address + wt.nbytes)
        self._view(address, wt.size).assign(wt)
        self._top = address + wt.nbytes
        self._weights[id(weight)] = (weakref.ref(weight), address, n_pad)
        return address, n_pad

    def _reserve(self, end: int) -> None:
        have = int(self._memory.buffer.byteLength)
        if end > have:
            self._memory.grow(-(-(end - have) // PAGE))

    def _view(self, address: int, count: int):
        import js
        return js.Float32Array.new(self._memory.buffer, address, count)


def _panels(wt: np.ndarray) -> np.ndarray:
    """(..., K, N) as the kernel reads it: N / COLS panels of K rows of COLS numbers, each panel
    contiguous: (..., N / COLS, K, COLS), a copy."""
    *lead, k, n = wt.shape
    return np.ascontiguousarray(np.swapaxes(wt.reshape(*lead, k, n // COLS, COLS), -3, -2))


def _unpadded(y: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` columns of a product the kernel computed ``COLS`` wide."""
    return y if y.shape[-1] == n else np.ascontiguousarray(y[..., :n])


def check(kernel: "WasmMatmul") -> float:
    """The largest relative difference between the kernel and numpy, on a few awkward shapes
    (rows and columns that are no multiple of the kernel's block; values from sin and cos,
    as the page's numpy has no numpy.random): a Linear's x @ W.T and a stack's a @ b."""
    def numbers(shape, step):
        return np.sin(np.arange(int(np.prod(shape)), dtype=np.float32) * step).reshape(shape)

    from llmviz.core import model

    pairs = []
    for m, k, n in ((1, 3, 3), (5, 7, 9), (11, 48, 144), (13, 64, 17)):
        x, w = numbers((m, k), 0.7), numbers((n, k), 1.3)
        pairs.append((kernel(x, w), model.numpy_matmul(x, w)))
    for lead, m, k, n in (((1, 3), 11, 16, 11), ((2, 1), 1, 9, 16)):
        a, b = numbers((*lead, m, k), 0.9), numbers((*lead, k, n), 1.1)
        pairs.append((kernel.product(a, b), np.matmul(a, b)))
    worst = 0.0
    for got, want in pairs:
        if got.shape != want.shape:
            return float("inf")
        worst = max(worst, float(np.max(np.abs(got - want)) / (np.max(np.abs(want)) + 1e-30)))
    return worst


async def instantiate(data: bytes):
    """The kernel's exports (a browser without wasm SIMD refuses to compile it: raises)."""
    import js
    from pyodide.ffi import to_js
    result = await js.WebAssembly.instantiate(to_js(data))
    return result.instance.exports


def use_exports(exports) -> dict:
    """Linear and attention compute with the kernel of ``exports`` if it agrees with numpy:
    what they use now."""
    from llmviz.core import model
    kernel = WasmMatmul(exports)
    error = check(kernel)
    if not error <= TOLERANCE:
        model.use_matmul(None)
        return {"kind": "numpy", "why": f"the wasm kernel differs from numpy by {error:.1e}"}
    model.use_matmul(kernel, kernel.product)
    return {"kind": "wasm-simd", "check": error}


async def install(download) -> dict:
    """``use_exports`` of the kernel whose bytes ``download`` (an awaitable, or None when the
    build has no kernel) gives: the site's ``wasm/matmul.wasm``. Never raises: numpy stays,
    and the result says why."""
    from llmviz.core import model
    exports, why = None, "this build has no wasm kernel"
    try:
        data = await download if download is not None else None
        if data:
            exports = await instantiate(bytes(data))
    except Exception as e:  # noqa: BLE001 - e.g. a browser without wasm SIMD: numpy computes
        why = f"{type(e).__name__}: {e}".strip().splitlines()[0]
    if exports is None:
        model.use_matmul(None)
        return {"kind": "numpy", "why": why}
    return use_exports(exports)
