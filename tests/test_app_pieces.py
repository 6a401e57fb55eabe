"""App.piece(): the views' work a piece per turn of the event loop, never two views' pieces in
one. Pyodide's loop runs every callback that is ready at once in one browser task, as CPython's
runs them in one iteration: the turns are counted here by a callback that schedules itself."""
import asyncio
import contextlib
import threading

from llmviz.page.ui.core import App


def _app() -> App:
    return App(build={}, config=None, vocab=[], card={}, trace=None, params=None, text="", ids=[])


def _pieces_seen(piece) -> list[tuple[str, int, int]]:
    """Three views, three pieces each, all started at once: (view, piece, turn) as they ran."""
    async def main():
        loop = asyncio.get_running_loop()
        turn = [0]

        def tick():
            turn[0] += 1
            if turn[0] < 1000:
                loop.call_soon(tick)

        loop.call_soon(tick)
        seen = []

        async def view(name):
            for part in range(3):
                async with piece():
                    seen.append((name, part, turn[0]))

        await asyncio.gather(view("walk"), view("code"), view("titles"))
        return seen

    # a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    out = []
    runner = threading.Thread(target=lambda: out.append(asyncio.run(main())))
    runner.start()
    runner.join(30)
    return out[0]


def test_every_piece_has_a_turn_of_its_own():
    seen = _pieces_seen(_app().piece)
    turns = [t for _, _, t in seen]
    assert len(turns) == 9 and len(set(turns)) == 9, seen
    for name in ("walk", "code", "titles"):   # each view's pieces in order
        assert [p for n, p, _ in seen if n == name] == [0, 1, 2]


def test_a_turn_of_the_loop_alone_lets_pieces_of_several_views_share_one():
    @contextlib.asynccontextmanager
    async def sleep_only():
        await asyncio.sleep(0)
        yield

    turns = [t for _, _, t in _pieces_seen(sleep_only)]
    assert len(set(turns)) < len(turns)     # what App.piece is for
