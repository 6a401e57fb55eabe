"""The model at work in the page's worker: one model, the text it shows, its trace, its scene's values.

``llmviz.page.worker`` (the PyScript worker) runs a ``Session``; everything here is plain
numpy, so the tests run it in CPython. The page's main thread never computes: it asks the
worker for a text and gets back what it draws and reads, in the formats it reads without
numpy:

* the trace of the text's window (``live.window``), laid out for the positions the scene
  shows (``live.scene_length``, a ``llmviz.core.grow.GrowingTrace``): the tracefile index
  + one bytes buffer;
* the scene's values (``llmviz.viz.scene_values.pack``): the parameters once per model,
  the activations for every new text;
* for one more token, only what changed: the trace's patch (``GrowingTrace.extend``) and
  the scene's (``scene_values.block_patch``).

The text: ``run(ids, complete)`` computes the trace of a prompt (for the sort task with
``complete``, followed by the model's greedy answer), ``step(temperature, top_k)`` appends
the model's next token. Both are generators: they yield ``(done, total)`` between pieces
of work (chunks of positions through the KV cache, one token), so the worker can report
progress and stop at a cancel; their return value is the result (``StopIteration.value``).
A run that is stopped changes nothing: the session keeps the text it had.

Each forward pass goes through the model's KV cache: a prompt in chunks of positions
(``chunk_size``), each new token as one position. Past block_size the window slides: every
position moves, and the text is computed again from scratch (chunked), as nanoGPT's generate
does with its cropped context.
"""
from __future__ import annotations

import random
import time
from typing import Generator, Mapping

import numpy as np

from llmviz.core import tracefile
from llmviz.core.grow import GrowingTrace
from llmviz.core.model import GPT, KVCache
from llmviz.core.trace import Trace
from llmviz.page import live
from llmviz.viz import layout, scene_values

CHUNK_WORK = 400_000_000   # parameters x positions per chunk of a prompt (~0.1-0.2 s in the page)
ACTIVATIONS = ("activation", "aggregate")

Progress = Generator[tuple[int, int], None, dict]


def chunk_size(n_params: int) -> int:
    """How many positions one piece of a long prompt's forward pass takes."""
    return max(4, CHUNK_WORK // max(1, n_params))


def drive(gen: Progress) -> dict:
    """Run a session generator to its end (no progress, no cancel); its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


class Session:
    def __init__(self, model: GPT, card: Mapping):
        self.model = model
        self.card = dict(card)
        self.config = model.config
        self.block_size = int(model.config.block_size)
        self.n_params = int(model.num_params())
        self.ids: list[int] = []            # the text shown (may run past the window)
        self.grow: GrowingTrace | None = None
        self.cache: KVCache | None = None   # the window's keys and values, while it can grow in place
        self.scene: dict | None = None
        self.rng = random.Random()          # sampling's uniform draws (the slim numpy has no numpy.random)
        self.timing: dict = {}

    # ---- what the page gets once per model -------------------------------------------
    def params(self) -> tuple[dict, bytes]:
        """The parameters in the tracefile format (the page quotes and inspects them)."""
        return tracefile.dump(Trace(self.model.state_dict(), self.config), {"model": self.card.get("name")})

    def param_values(self, scene: dict | None = None) -> tuple[bytes, dict]:
        """The scene's parameter blocks, packed (the same for every scene of this model)."""
        scene = scene or layout.scene(self.config, 1)
        values = scene_values.block_values(scene, None, self.model.state_dict(), roles=("parameter",))
        return scene_values.pack(scene, values)

    # ---- the text ------------------------------------------------------------------
    def first_prompt(self, wanted: str | None = None, example: str | None = None,
                     lang: str | None = None) -> str:
        """The prompt a model starts on: ``wanted`` when it fits, else one from its own card
        (``live.default_prompt``; InputError, in ``lang``, when it has none)."""
        limit = live.input_limit(self.card, self.block_size)
        return live.default_prompt(self.card, self.model.vocab, limit, example, wanted=wanted, lang=lang)

    def window(self, ids: list[int]) -> list[int]:
        return live.window(ids, self.card, self.block_size)

    def _prefill(self, win: list[int], capacity: int) -> Generator[tuple[int, int], None, tuple]:
        """The trace of ``win`` from scratch, a chunk of positions at a time; (grow, cache)."""
        grow = GrowingTrace(self.config, capacity)
        cache = KVCache(self.config)
        step = chunk_size(self.n_params)
        for a in range(0, len(win), step):
            part = self.model.trace([win[a:a + step]], cache=cache)
            if a == 0:
                grow.put(part)
            else:
                grow.extend(part, patch=False)
            yield (min(a + step, len(win)), len(win))
        return grow, cache

    def run(self, ids: list[int], complete: bool = True) -> Progress:
        """The text for a prompt: ``ids``, and for the sort task (``complete``) the model's
        greedy answer after it. Returns the full result (``full_result``)."""
        t0 = time.perf_counter()
        ids = [int(i) for i in ids]
        if not ids:
            raise ValueError("the text needs at least one token")
        length = live.full_length(self.card, self.block_size, len(ids)) if complete else len(ids)
        capacity = live.scene_length(self.card, self.block_size, len(self.window(ids + [0] * (length - len(ids)))))
        total = len(self.window(ids)) + (length - len(ids))
        prefill = self._prefill(self.window(ids), capacity)
        while True:
            try:
                done, _ = next(prefill)
            except StopIteration as stop:
                grow, cache = stop.value
                break
            yield (done, total)
        while len(ids) < length:      # the sort task's answer: greedy, a position at a time
            ids.append(live.choose_next(grow.arrays["logits"][0, grow.length - 1])["token"])
            if len(ids) <= self.block_size:
                grow.extend(self.model.trace([ids[-1:]], cache=cache), patch=False)
            yield (grow.length, total)
        self._commit(ids, grow, cache)
        self.timing = {"run_s": time.perf_counter() - t0}
        return self.full_result()

    def _commit(self, ids: list[int], grow: GrowingTrace, cache: KVCache | None) -> None:
        self.ids, self.grow, self.cache = ids, grow, cache
        if self.scene is None or int(self.scene["T"]) != grow.capacity:
            self.scene = layout.scene(self.config, grow.capacity)

    def last_logits(self) -> np.ndarray:
        """The logits that choose the next token: the window's last position."""
        return self.grow.arrays["logits"][0, self.grow.length - 1]

    def step(self, temperature: float = 0.0, top_k: int | None = None) -> Progress:
        """Append the model's next token (greedy at temperature 0, else sampled). Returns a
        result with ``choice`` (``live.choose_next``'s dict), or ``{"kind": "end"}`` when
        the text is as long as it can get."""
        if self.grow is None:
            raise RuntimeError("run a text first")
        t0 = time.perf_counter()
        if len(self.ids) >= live.max_length(self.card, self.block_size):
            return {"kind": "end", "ids": list(self.ids)}
        choice = live.choose_next(self.last_logits(), temperature, top_k, self.rng)
        choice.update(temperature=temperature, top_k=top_k)
        ids = self.ids + [choice["token"]]
        win = self.window(ids)
        grow = self.grow
        if len(ids) <= self.block_size and self.cache is not None:
            # the window grows by one: one position through the KV cache
            part = self.model.trace([ids[-1:]], cache=self.cache)
            if len(win) <= grow.capacity:
                t = grow.length
                patch = grow.extend(part)
                self.ids = ids
                self.timing = {"step_s": time.perf_counter() - t0}
                return {"kind": "patch", "T": grow.length, "ids": list(ids), "choice": choice,
                        "trace": patch.to_dict(), "scene": self._scene_patch(t, grow.length)}
            bigger = GrowingTrace(self.config, live.scene_length(self.card, self.block_size, len(win)))
            bigger.put(grow.trace())
            bigger.extend(part, patch=False)
            self._commit(ids, bigger, self.cache)
        elif live.is_sort(self.card) or win == self.window(self.ids):
            # the sort record's last letter: predicted by the last position, not fed back in
            self.ids = ids
            self.timing = {"step_s": time.perf_counter() - t0}
            return {"kind": "same", "T": grow.length, "ids": list(ids), "choice": choice}
        else:
            # past block_size: the window slides, every position moves
            prefill = self._prefill(win, live.scene_length(self.card, self.block_size, len(win)))
            while True:
                try:
                    yield next(prefill)
                except StopIteration as stop:
                    grow, _ = stop.value
                    break
            self._commit(ids, grow, None)     # a full window cannot grow in place
        self.timing = {"step_s": time.perf_counter() - t0}
        out = self.full_result()
        out["choice"] = choice
        return out

    # ---- results --------------------------------------------------------------------
    def full_result(self) -> dict:
        """Everything the page needs to show the text: the trace and the activations' values,
        for the scene of ``capacity`` positions (a new layout when ``scene_T`` changed)."""
        grow = self.grow
        values, offsets = self.activation_values()
        return {"kind": "full", "T": grow.length, "capacity": grow.capacity, "ids": list(self.ids),
                "index": grow.index(), "trace": grow.data, "values": values, "offsets": offsets}

    def activation_values(self) -> tuple[bytes, dict]:
        values = scene_values.block_values(self.scene, self.grow.padded(), None, roles=ACTIVATIONS)
        return scene_values.pack(self.scene, values)

    def _scene_patch(self, t0: int, t1: int) -> dict:
        out = scene_values.block_patch(self.scene, self.grow.padded(), t0, t1)
        out["values"] = out["values"].astype("<f4").tobytes()
        return out

    def trace(self) -> Trace:
        """The window's trace (numpy views)."""
        return self.grow.trace()


def compare_traces(live_trace: Mapping, bundled: Mapping) -> float:
    """The largest absolute difference between two traces over every tensor of ``bundled``
    (numpy arrays or FlatTensors)."""
    worst = 0.0
    missing = [name for name in bundled if name not in live_trace]
    if missing:
        raise RuntimeError(f"the live trace has no {missing[0]!r}")
    for name in bundled:
        ref = bundled[name]
        got = np.asarray(live_trace[name])
        if isinstance(ref, tracefile.FlatTensor):
            want = np.frombuffer(ref.buffer(), dtype=np.int64 if ref.dtype == "int64" else np.float32)
            want = want.reshape(ref.shape)
        else:
            want = np.asarray(ref)
        if got.shape != want.shape:
            raise RuntimeError(f"{name}: live shape {got.shape}, bundled {want.shape}")
        if want.size:
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))))
    return worst


__all__ = ["Session", "drive", "chunk_size", "compare_traces"]
