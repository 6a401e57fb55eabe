"""Chromium's stderr is kept for the tests' browser (llmviz.cli.chromium_log), so that a page that
crashes ("Target crashed", all Playwright says) can be reported with Chromium's reason, and with a
line for the crash dump Chromium wrote (llmviz.cli.minidump: the signal, where, the registers)."""
from __future__ import annotations

import time

import pytest
from conftest import CHROMIUM_LOG

from llmviz.cli import minidump
from llmviz.cli.chromium_log import crash_report

pytestmark = pytest.mark.browser


def test_a_crashed_pages_reason_is_in_chromiums_log_and_its_crash_dump(browser):
    started = time.time()
    context = browser.new_context()
    page = context.new_page()
    crashed = []
    page.on("crash", lambda _page: crashed.append(True))
    with pytest.raises(Exception):   # noqa: B017 - Playwright's error for a navigation the crash cut short
        page.goto("chrome://crash", timeout=30_000)
    with pytest.raises(Exception, match="Target crashed"):
        page.evaluate("1")
    context.close()
    assert crashed
    assert "Intentionally crashing" in crash_report(CHROMIUM_LOG), crash_report(CHROMIUM_LOG)
    # chrome://crash writes through a null pointer: the dump says so (crashpad writes it a moment
    # after the process has gone)
    deadline = time.time() + 30
    while not minidump.dumps_since(started) and time.time() < deadline:
        time.sleep(0.5)
    dumps = minidump.dumps_since(started)
    assert dumps, f"no crash dump in {minidump.DUMP_DIRS} since the crash"
    assert any(minidump.summary(p).startswith("renderer SIGSEGV (address not mapped) at 0x0") for p in dumps), \
        [minidump.summary(p) for p in dumps]
    report = crash_report(CHROMIUM_LOG, since=started)
    assert "Chromium's crash dumps since then:" in report and "renderer SIGSEGV" in report, report
