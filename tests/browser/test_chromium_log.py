"""Chromium's stderr is kept for the tests' browser (llmviz.cli.chromium_log), so that a page that
crashes ("Target crashed", all Playwright says) can be reported with Chromium's reason."""
from __future__ import annotations

import pytest
from conftest import CHROMIUM_LOG

from llmviz.cli.chromium_log import crash_report

pytestmark = pytest.mark.browser


def test_a_crashed_pages_reason_is_in_chromiums_log(browser):
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
    report = crash_report(CHROMIUM_LOG)
    assert "Intentionally crashing" in report, report
