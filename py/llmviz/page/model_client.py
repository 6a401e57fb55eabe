"""The main thread's side of the model worker: ask for a text, get what the views read and draw.

``ModelClient(worker)`` wraps the functions the worker exports (``llmviz.page.worker``);
no numpy here. ``job(name, args)`` runs one job there and turns its answer into a ``Result``:

* ``trace``: the window's trace as FlatTensors over one bytearray this client keeps (a
  full result replaces it; a new token's patch is written into it, ``tracefile.apply_patch``);
* ``values``: what the 3D view draws (``SceneValues``): the activations' packed values (a
  JS Float32Array, assembled from pieces) with their offsets, or a new token's scene patch
  (JS buffers, handed to the 3D view untouched); a new model adds its parameters'
  packed values; ``params``: the parameters as FlatTensors (a new model only);
* ``ids``, ``T``, ``capacity``, ``choice``, ``header`` (all the worker said).

Big buffers (your model's npz, traces, values, parameters) never go through the worker's
calls (they serialise: seconds per 8 MB): they travel as the worker's own messages with
their ArrayBuffers transferred (``js/worker_mail.js``); a buffer that becomes Python bytes
here is copied in pieces of ``PIECE`` bytes with a turn of the event loop between them, so
no task of this thread copies more than a few MB. While a job
runs, ``on_progress(done, total)`` gets the worker's progress (polled every ``POLL_S``);
``cancel()`` stops the job at its next piece: ``job`` then returns None, nothing changes.
A job that fails raises ``JobError`` with the worker's one-line message.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

from llmviz.core import tracefile
from llmviz.page.ui.core import timed

PIECE = 4 * 2**20      # bytes copied into Python per turn of the event loop
POLL_S = 0.2           # how often a running job's progress is asked for
TOUCH_MS = 20          # longest task of claiming new memory for a big buffer (_fresh_bytearray)


class JobError(Exception):
    """A job the worker could not do; the message is its one line (for the user)."""

    def __init__(self, text: str, kind: str = ""):
        super().__init__(text)
        self.kind = kind


class SceneValues:
    """What the 3D view draws for a result: ``kind`` "full" (``acts``: (Float32Array, offsets))
    or "patch" (``patch``: the block runs, ``data``: their float32 values as a JS buffer), and
    for a new model ``params`` (Float32Array, offsets)."""

    def __init__(self, kind: str, acts=None, patch: dict | None = None, data=None, params=None):
        self.kind, self.acts, self.patch, self.data, self.params = kind, acts, patch, data, params


class Result:
    def __init__(self, header: dict, trace, values: SceneValues | None, params=None):
        self.header = header
        self.kind = header.get("kind")
        self.ids: list[int] = list(header.get("ids") or [])
        self.T = header.get("T")
        self.capacity = header.get("capacity")
        self.choice = header.get("choice")
        self.trace = trace
        self.values = values
        self.params = params


class ModelClient:
    def __init__(self, worker):
        self.worker = worker
        self.data: bytearray | None = None     # the current trace's bytes (capacity layout)
        # the trace bytes before those: the next full trace of the same size is copied into them
        # (a new 70-100 MB bytearray is zero-filled first: 80 ms in one task for a big model)
        self.spare: bytearray | None = None
        self.index: dict | None = None
        self.trace = None
        self.ids: list[int] = []               # the text of the last result (it may run past the window)
        self.busy = False
        self.config: dict | None = None
        self.card: dict | None = None
        self.vocab: list[str] | None = None

    # ---- answers ------------------------------------------------------------------
    async def accept_boot(self, message) -> Result:
        """The worker's answer to ``boot`` (app.py made the call) as a Result with parameters."""
        return await self._result(message)

    async def job(self, name: str, args: dict | None = None, npz=None,
                  on_progress: Callable[[int, int], None] | None = None) -> Result | None:
        """Run a job in the worker; its Result, or None when it was cancelled."""
        if self.busy:
            raise JobError("the model is still busy with the last request")
        self.busy = True
        try:
            text = json.dumps(args or {})

            async def call():
                if npz is None:
                    return await self.worker.job(name, text)
                return await self.worker.job(name, text, npz)

            if npz is not None:    # the npz as a letter of its own; the job names its ticket
                args = dict(args or {}, npz_ticket=self._ticket())
                await _mail().send(args["npz_ticket"], npz)
                text, npz = json.dumps(args), None
            running = asyncio.ensure_future(call())
            while True:
                done, _ = await asyncio.wait([running], timeout=POLL_S)
                if done:
                    break
                if on_progress is not None:
                    status = await self.worker.status()
                    if not _absent(status) and status.busy:
                        on_progress(int(status.done), int(status.total))
            return await self._result(running.result())
        finally:
            self.busy = False

    async def stdlib_modules(self) -> list[str]:
        """The standard library modules the worker's Python imported (``?debug=1``'s check)."""
        return [str(name) for name in await self.worker.stdlib_modules()]

    async def numpy_modules(self) -> list[str]:
        """The numpy modules the worker's Python imported (``?debug=1``'s check of the slim wheel)."""
        return [str(name) for name in await self.worker.numpy_modules()]

    async def cancel(self) -> bool:
        return bool(await self.worker.cancel())

    async def _result(self, message) -> Result | None:
        if _absent(message):
            raise JobError("the model worker did not answer")
        if _get(message, "cancelled"):
            return None
        error = _get(message, "error")
        if error is not None:
            raise JobError(str(error), str(_get(message, "kind") or ""))
        with timed("header"):
            header = json.loads(str(_get(message, "header")))
        kind = header.get("kind")
        if header.get("ids") is not None:
            self.ids = list(header["ids"])
        sizes = header.get("sizes") or {}
        params = values_params = None
        if "params" in sizes:
            pdata = await self._pull_bytes("params", sizes["params"])
            params = tracefile.read(header["params_index"], pdata)
            values_params = (await self._pull_floats("param_values", sizes["param_values"]),
                             header["param_offsets"])
            self.config, self.card, self.vocab = header.get("config"), header.get("card"), header.get("vocab")
        values = None
        if kind == "full":
            reuse = self.spare if self.spare is not None and len(self.spare) == sizes["trace"] else None
            self.spare, self.data = self.data, await self._pull_bytes("trace", sizes["trace"], into=reuse)
            if self.spare is None or len(self.spare) != sizes["trace"]:
                asyncio.ensure_future(self._warm_spare(sizes["trace"]))
            self.index = header["index"]
            await asyncio.sleep(0)
            with timed("tracefile.read"):
                self.trace = tracefile.read(self.index, self.data)
            acts = (await self._pull_floats("values", sizes["values"]), header["offsets"])
            values = SceneValues("full", acts=acts, params=values_params)
        elif kind == "patch":
            patch = dict(header["trace"])
            patch["values"] = bytes(_get(message, "trace_values").to_bytes())
            with timed("apply_patch"):
                tracefile.apply_patch(self.data, patch)
            self.index["T"] = header["T"]
            self.trace = tracefile.read(self.index, self.data, T=header["T"])
            values = SceneValues("patch", patch=header["scene"], data=_get(message, "scene_values"))
        await asyncio.sleep(0)   # the views' work is a task of its own
        return Result(header, self.trace, values, params)

    async def _warm_spare(self, size: int) -> None:
        """The next full trace's buffer made now, in the background (``_fresh_bytearray``): the
        first text of a model leaves no spare of its size, and the next one (the first token
        after an input) would claim new memory while the reader waits (0.2-0.3 s for a
        Shakespeare-sized model)."""
        spare = await _fresh_bytearray(size)
        if self.spare is None or len(self.spare) != size:
            self.spare = spare

    def _ticket(self) -> str:
        self.tickets = getattr(self, "tickets", 0) + 1
        return f"t{self.tickets}"

    async def _letter(self, name: str, size: int):
        """The worker's outbox buffer ``name`` as a JS Uint8Array (a letter, transferred)."""
        ticket = self._ticket()
        arriving = _mail().receive(ticket)
        sent = int(await self.worker.post(name, ticket))
        if sent != size:
            raise JobError(f"the model worker has no {name} to send")
        return await arriving

    async def _pull_bytes(self, name: str, size: int, into: bytearray | None = None) -> bytearray:
        """The worker's outbox buffer ``name`` copied into ``into`` (a bytearray of ``size``
        nobody reads meanwhile) or a new one, a piece per turn of the event loop."""
        letter = await self._letter(name, size)
        out = into if into is not None else await _fresh_bytearray(size)
        view = memoryview(out)
        for a in range(0, size, PIECE):
            b = min(size, a + PIECE)
            letter.subarray(a, b).assign_to(view[a:b])    # one copy, straight into ``out``
            await asyncio.sleep(0)
        view.release()
        _mail().giveBack(letter)   # read: its memory is the worker's next letter's
        return out

    async def _pull_floats(self, name: str, size: int) -> Any:
        """A JS Float32Array of ``size`` bytes from the worker's outbox (never through Python)."""
        import js

        letter = await self._letter(name, size)
        return js.Float32Array.new(letter.buffer, letter.byteOffset, size // 4)


async def _fresh_bytearray(size: int) -> bytearray:
    """``bytearray(size)`` without a long task. Its zero fill is the first touch of the
    memory the heap grows by, and first touches are slow (0.06-0.7 s for a big model's
    100 MB trace, in one task); claimed first a MB at a time, with a turn of the event loop
    every TOUCH_MS, and freed, the same memory comes back touched (3 ms for 100 MB)."""
    pieces, t0 = [], time.perf_counter()
    for _ in range(0, size, 2**20):
        pieces.append(bytearray(2**20))
        if time.perf_counter() - t0 > TOUCH_MS / 1000:
            await asyncio.sleep(0)
            t0 = time.perf_counter()
    del pieces
    return bytearray(size)


def _mail():
    """js/worker_mail.js (pyscript.toml's js_modules)."""
    from pyscript.js_modules import worker_mail
    return worker_mail


def _absent(value) -> bool:
    from llmviz.page.ui import ffi
    return value is None or ffi.absent(value)


def _get(message, key: str):
    """A field of a JS object (or dict) from the worker; None when it has none."""
    if isinstance(message, dict):
        return message.get(key)
    value = getattr(message, key, None)
    return None if value is None or _absent(value) else value
