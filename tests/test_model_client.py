"""The main thread's side of the model worker, the parts that run without a page (CPython)."""
from llmviz.page import model_client


def _run(coro):
    """Run a coroutine that never really waits (its turns of the event loop are counted, not
    taken) without an event loop: the browser tests' Playwright keeps one running here."""
    try:
        while True:
            coro.send(None)
    except StopIteration as stop:
        return stop.value


def test_a_fresh_buffer_is_zeros_of_its_size_claimed_with_turns_of_the_event_loop(monkeypatch):
    turns = []

    async def counted(delay):
        turns.append(delay)

    monkeypatch.setattr(model_client.asyncio, "sleep", counted)
    monkeypatch.setattr(model_client, "TOUCH_MS", 0)    # a turn after every MB
    size = 3 * 2**20 + 5
    out = _run(model_client._fresh_bytearray(size))
    assert isinstance(out, bytearray) and len(out) == size and not any(out)
    assert len(turns) == 4        # one per MB claimed first (4 for 3 MB and 5 bytes)

    turns.clear()
    monkeypatch.setattr(model_client, "TOUCH_MS", 10_000)
    assert len(_run(model_client._fresh_bytearray(size))) == size and turns == []


class _Letter:
    """The JS Uint8Array a letter arrives as, over bytes (what _pull_bytes uses of it)."""

    def __init__(self, data: bytes):
        self.data = bytes(data)

    def subarray(self, a, b):
        return _Letter(self.data[a:b])

    def to_bytes(self):
        return self.data

    def assign_to(self, to):
        """Pyodide's TypedArray.assign_to: into a Python buffer of the same byte length."""
        assert len(to) == len(self.data)
        to[:] = self.data


def test_a_full_trace_of_the_same_size_is_copied_into_the_bytes_of_the_one_before(monkeypatch):
    """Three full results of one sort session (the worker's messages, made by worker.py's own
    _header): the third trace is read from the first one's bytearray, reused (no new buffer
    to zero-fill), and every trace read is the session's."""
    import numpy as np

    from llmviz.core import sort_task, tracefile
    from llmviz.core.model import GPT, GPTConfig
    from llmviz.core.vocab import Vocab
    from llmviz.core.weights import make_card
    from llmviz.page import worker
    from llmviz.page.session import Session, drive

    config = GPTConfig(block_size=11, vocab_size=3, n_layer=2, n_head=3, n_embd=24)
    rng = np.random.default_rng(0)
    model = GPT.from_state_dict({k: (rng.standard_normal(v.shape) * 0.3).astype(np.float32)
                                 for k, v in GPT(config).state_dict().items() if k != "lm_head.weight"}, config)
    session = Session(model, make_card(config, Vocab(list(sort_task.LETTERS)), "sort-test", sort_task.TASK))

    async def letter(self, name, size):
        data = worker.state["outbox"][name]
        assert len(data) == size
        return _Letter(data)

    async def floats(self, name, size):
        return None

    async def no_wait(delay):
        return None

    given_back = []

    class Mail:    # js/worker_mail.js: the letters read are given back to the worker
        @staticmethod
        def giveBack(letter):
            given_back.append(letter)

    warming = []    # the background work _result starts: run at once here, as when the reader waits

    def at_once(coro):
        warming.append(coro.__qualname__)
        _run(coro)

    monkeypatch.setattr(model_client.ModelClient, "_letter", letter)
    monkeypatch.setattr(model_client.ModelClient, "_pull_floats", floats)
    monkeypatch.setattr(model_client.asyncio, "sleep", no_wait)
    monkeypatch.setattr(model_client.asyncio, "ensure_future", at_once)
    monkeypatch.setattr(model_client, "_mail", lambda: Mail)
    client = model_client.ModelClient(worker=None)
    buffers = []
    for text in ("ABCABC", "CCBBAA", "BACABA"):
        ids = Vocab(list(sort_task.LETTERS)).encode(text, config.block_size)
        result = drive(session.run(ids))
        worker.state["outbox"].clear()
        got = _run(client._result(worker._header(result)))
        buffers.append(client.data)
        want = tracefile.read(result["index"], bytearray(result["trace"]))
        for name in ("logits", "h.1.attn.att", "ln_f"):
            assert got.trace[name].tolist() == want[name].tolist(), (text, name)
        if text == "ABCABC":    # the first text of its size: the next one's buffer is made ahead
            assert warming == ["ModelClient._warm_spare"]
            assert isinstance(client.spare, bytearray) and len(client.spare) == len(client.data)
            assert client.spare is not client.data
    assert warming == ["ModelClient._warm_spare"]    # after that, the two buffers take turns
    assert buffers[2] is buffers[0] and buffers[1] is not buffers[0]
    assert client.spare is buffers[1]
    assert len(given_back) == 3 and all(isinstance(letter, _Letter) for letter in given_back)


class _Buffer:
    """A JS ArrayBuffer, as the worker sees one (its byteLength)."""

    def __init__(self, size):
        self.byteLength = size


def test_the_worker_writes_a_letter_into_a_spare_of_its_size(monkeypatch):
    from llmviz.page import worker

    trace, other, values = _Buffer(100), _Buffer(100), _Buffer(90)
    monkeypatch.setitem(worker.state, "spares", [trace, values, other])
    assert worker.take_spare(95) is None           # no spare of that size: a new buffer then
    assert worker.take_spare(100) is trace         # the first of the size
    assert worker.state["spares"] == [values, other]
    assert worker.take_spare(90) is values and worker.take_spare(100) is other
    assert worker.state["spares"] == [] and worker.take_spare(100) is None


def test_the_worker_keeps_one_spare_per_size_of_the_sizes_seen_last(monkeypatch):
    """A trace made ahead and the same trace given back: one is kept, so the values' spare stays
    (two of one size pushed it out, and every token wrote its values into new memory)."""
    from llmviz.page import worker

    monkeypatch.setitem(worker.state, "spares", [])
    monkeypatch.setitem(worker.state, "posted", {100, 90})    # the last job's trace and values
    trace_ahead, values_ahead, trace_back, old_values = _Buffer(100), _Buffer(90), _Buffer(100), _Buffer(70)
    for buffer in (trace_ahead, values_ahead, trace_back, old_values):
        worker.keep_spare(buffer)
    # one per size; the values of an older text (given back when the page replaced them) are dropped
    assert worker.state["spares"] == [values_ahead, trace_back]
    assert worker.take_spare(90) is values_ahead and worker.take_spare(100) is trace_back


def test_the_worker_makes_a_spare_of_a_new_size_while_idle(monkeypatch):
    """A letter of a new size had no spare: once the job is done, the worker makes one and touches
    its pages, unless one of that size came back meanwhile."""
    import sys
    import types

    from llmviz.page import worker

    touched = []

    class _Bytes:
        def __init__(self, buffer):
            self.buffer = buffer

        def fill(self, value):
            touched.append((self.buffer.byteLength, value))

    fake_js = types.SimpleNamespace(ArrayBuffer=types.SimpleNamespace(new=_Buffer),
                                    Uint8Array=types.SimpleNamespace(new=_Bytes))
    monkeypatch.setitem(sys.modules, "js", fake_js)
    waits = []

    async def sleep(delay):
        waits.append(delay)
        if len(waits) == 2:
            worker.state["busy"] = None     # the job that posted the letter ends

    monkeypatch.setattr(worker.asyncio, "sleep", sleep)
    monkeypatch.setitem(worker.state, "spares", [])
    monkeypatch.setitem(worker.state, "posted", {64})
    monkeypatch.setitem(worker.state, "busy", "step")
    _run(worker._warm_spare(64))
    assert [b.byteLength for b in worker.state["spares"]] == [64] and touched == [(64, 1)]
    assert waits[:2] == [0.05, 0.05]      # not while the job ran
    _run(worker._warm_spare(64))          # one of its size is there already
    assert len(worker.state["spares"]) == 1 and touched == [(64, 1)]
