"""The main thread's side of the model worker, the parts that run without a page (CPython)."""
import asyncio

from llmviz.page import model_client


def test_a_fresh_buffer_is_zeros_of_its_size_claimed_with_turns_of_the_event_loop(monkeypatch):
    turns = []
    real_sleep = asyncio.sleep

    async def counted(delay):
        turns.append(delay)
        await real_sleep(delay)

    monkeypatch.setattr(model_client.asyncio, "sleep", counted)
    monkeypatch.setattr(model_client, "TOUCH_MS", 0)    # a turn after every MB
    size = 3 * 2**20 + 5
    out = asyncio.run(model_client._fresh_bytearray(size))
    assert isinstance(out, bytearray) and len(out) == size and not any(out)
    assert len(turns) == 4        # one per MB claimed first (4 for 3 MB and 5 bytes)

    turns.clear()
    monkeypatch.setattr(model_client, "TOUCH_MS", 10_000)
    assert len(asyncio.run(model_client._fresh_bytearray(size))) == size and turns == []
