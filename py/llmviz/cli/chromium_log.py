"""Chromium's own log for a Playwright session, kept in a file, for pages that crash.

When a page's process dies, Playwright says only "Target crashed"; the reason (a failed check, a
null dereference, running out of memory) is what Chromium printed on its stderr, which Playwright's
driver writes to a file when started with DEBUG=pw:browser and DEBUG_FILE (read once, as the driver
starts). The tests' browser and ``python -m llmviz bench --page`` start Playwright this way and show
the log's last lines with a crash, and a line for each crash dump Chromium wrote meanwhile
(``llmviz.cli.minidump``: the signal, where, the registers; the log often says nothing).

    with playwright_logged(path) as pw:       # sync_playwright's Playwright; the file is
        ...                                   # deleted when the session ends
        crashed(error)                        # whether a Playwright error says the page died
        crash_report(path, since=t)           # the log's last lines and the dumps since t, titled
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

LINES = 60


@contextlib.contextmanager
def playwright_logged(path: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = {key: os.environ.get(key) for key in ("DEBUG", "DEBUG_FILE")}
    os.environ.update(DEBUG="pw:browser", DEBUG_FILE=str(path))
    try:
        pw = sync_playwright().start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        yield pw
    finally:
        pw.stop()
        path.unlink(missing_ok=True)   # read while the session ran (crash_report), if ever


def crashed(error: BaseException | str) -> bool:
    """Whether a Playwright error (or its text) says the page's process died."""
    return "Target crashed" in str(error)


def crash_report(path: Path, lines: int = LINES, since: float | None = None) -> str:
    """The last ``lines`` lines of Chromium's log, then (with ``since``, seconds since the epoch)
    a summary of each crash dump written since then; empty when there is neither."""
    from llmviz.cli import minidump

    try:
        tail = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        tail = []
    parts = [f"Chromium's log, last {len(tail)} lines:\n" + "\n".join(tail)] if tail else []
    dumps = minidump.dumps_since(since) if since is not None else []
    if dumps:
        parts.append("Chromium's crash dumps since then:\n" + "\n".join(
            f"  {p.name}: {minidump.summary(p)}" for p in dumps))
    return "\n".join(parts)
