"""Shared fixtures: a built dist/ (built once per session), a static server, Chromium.

- ``site_weights``: weights/sort.npz when the repo has it, else a small random model
  made in a temp folder (never written into weights/).
- ``built_dist`` / ``second_dist``: ``python build.py --out TMP --quiet`` once per session
  (``--wheelhouse $LLMVIZ_PYODIDE_WHEELHOUSE`` when that is set); the second build has
  another label, never numpy and its JavaScript unbundled (``--no-bundle``), for the update,
  no-numpy and unbundled-page tests.
- ``serve_dist``: a threaded static server on 127.0.0.1 that serves a folder both at
  ``/`` and under ``/some/sub/path/``; its ``root`` can be switched between requests.
- ``browser``: Debian's Chromium via Playwright. Missing Chromium skips the browser
  tests with a reason, except under CI=true, where it fails them. Its stderr goes to
  CHROMIUM_LOG; a test that fails because its page crashed shows the log's last lines and
  the crash dumps Chromium wrote this session (one line each: llmviz.cli.minidump).

Skips: a test may skip only when something genuinely optional and outside the repository is
absent on a developer's machine (numpy for Pyodide, nanoGPT's source, Chromium, torch, the
npm packages), never because the feature it tests failed. Under ``CI=true`` all of those are
present (``.ci/run`` installs them and points ``LLMVIZ_PYODIDE_WHEELHOUSE`` and
``LLMVIZ_NANOGPT`` at ``../shared/fixtures``), so there ``pytest_runtest_makereport`` turns
every skip into a failure that says what was missing.
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # build.py

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]
# Chromium's stderr for the session's browser (llmviz.cli.chromium_log): a test that fails
# because its page crashed shows the log's last lines, and the crash dumps written this session
CHROMIUM_LOG = Path(tempfile.gettempdir()) / f"llmviz-tests-chromium-{os.getpid()}.log"
SESSION_START = time.time()
SUB_PATH = "/some/sub/path/"
WHEELHOUSE_ENV = "LLMVIZ_PYODIDE_WHEELHOUSE"


def make_random_weights(folder: Path) -> Path:
    """A throwaway model with the shipped model's shape (3 letters, 11 positions)."""
    import numpy as np

    from llmviz.core import sort_task
    from llmviz.core.model import GPT, GPTConfig
    from llmviz.core.vocab import Vocab
    from llmviz.core.weights import make_card, save

    config = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
    rng = np.random.default_rng(0)
    state = {k: (rng.standard_normal(v.shape) * 0.2).astype(np.float32)
             for k, v in GPT(config).state_dict().items()}
    model = GPT.from_state_dict(state, config)
    card = make_card(config, Vocab(list(sort_task.LETTERS)), "sort-abc", sort_task.TASK,
                     {"note": "random weights made by the tests"})
    npz, _ = save(model, folder / "sort", card)
    return npz


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test whose page crashed gets the last lines of Chromium's log in its report. Under
    CI=true a skip is a failure: CI has every optional file, so a skip there means a feature
    went untested (numpy for Pyodide or nanoGPT's source not found, for one)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        from llmviz.cli.chromium_log import crash_report, crashed
        if crashed(report.longreprtext):
            report.sections.append(("Chromium's log", crash_report(CHROMIUM_LOG, since=SESSION_START) or "(empty)"))
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true: {reason}\n(CI has numpy for Pyodide and nanoGPT's source in "
                           f"../shared/fixtures, Chromium and the test extras: no test may skip there)")


@pytest.fixture(scope="session")
def site_weights(tmp_path_factory) -> Path:
    shipped = ROOT / "weights" / "sort.npz"
    if shipped.exists() and shipped.with_suffix(".json").exists():
        return shipped
    return make_random_weights(tmp_path_factory.mktemp("weights"))


def run_build(out: Path, weights: Path, *extra: str) -> None:
    cmd = [sys.executable, str(ROOT / "build.py"), "--out", str(out), "--quiet", "--no-download",
           "--weights", str(weights), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def wheelhouse() -> Path | None:
    value = os.environ.get(WHEELHOUSE_ENV)
    return Path(value) if value else None


@pytest.fixture(scope="session")
def built_dist(tmp_path_factory, site_weights, wheelhouse) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run_build(out, site_weights, *(["--wheelhouse", str(wheelhouse)] if wheelhouse else []))
    return out


@pytest.fixture(scope="session")
def second_dist(tmp_path_factory, site_weights) -> Path:
    out = tmp_path_factory.mktemp("dist2")
    run_build(out, site_weights, "--label", "second build", "--no-bundle")
    return out


def _make_handler():
    import build

    class Handler(build.SiteHandler):
        def translate_path(self, path):
            if path.startswith(SUB_PATH):
                path = "/" + path[len(SUB_PATH):]
            self.directory = str(self.server.root)
            return super().translate_path(path)

    return Handler


class StaticServer:
    def __init__(self, root: Path):
        import build

        self.httpd = build.QuietServer(("127.0.0.1", 0), functools.partial(_make_handler(), directory=str(root)))
        self.httpd.root = root
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = self.origin + "/"
        self.sub_url = self.origin + SUB_PATH
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def root(self) -> Path:
        return self.httpd.root

    @root.setter
    def root(self, value: Path) -> None:
        self.httpd.root = value

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve_dist():
    """serve_dist(folder) -> StaticServer (closed after the test)."""
    servers = []

    def start(root: Path) -> StaticServer:
        server = StaticServer(root)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if in_ci():
            pytest.fail(reason + " and CI=true: browser tests must run in CI")
        pytest.skip(reason)
    from llmviz.cli.chromium_log import playwright_logged

    with playwright_logged(CHROMIUM_LOG) as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
