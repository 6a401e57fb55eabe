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
