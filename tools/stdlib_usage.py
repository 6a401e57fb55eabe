"""Measure which standard library and numpy modules the page imports and write
tools/stdlib_modules.txt and tools/numpy_modules.txt.

    python tools/stdlib_usage.py [--wheelhouse DIR]

Builds the site with Pyodide's whole standard library (``--stdlib-sources``) and the whole
numpy wheel (``--numpy-whole``) into a temp folder, serves it, runs the page through everything
it does (``llmviz.cli.page_tour``) in headless Chromium, and writes the modules its Python
imported from the zip and of numpy (the lists' headers stay). Run it after the page starts
using a module the trimmed zip or the slim numpy lacks (the tests say so).
"""
from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "py")]

import build  # noqa: E402
from llmviz.cli import page_tour  # noqa: E402
from llmviz.cli.bench_page import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def main(argv: list[str]) -> int:
    wheelhouse = argv[argv.index("--wheelhouse") + 1] if "--wheelhouse" in argv else os.environ.get(
        "LLMVIZ_PYODIDE_WHEELHOUSE")
    with tempfile.TemporaryDirectory(prefix="llmviz-stdlib-") as tmp:
        out = Path(tmp) / "dist"
        cmd = [sys.executable, str(ROOT / "build.py"), "--out", str(out), "--quiet", "--stdlib-sources", "--numpy-whole"]
        subprocess.run(cmd + (["--wheelhouse", wheelhouse] if wheelhouse else []), check=True)
        httpd = build.QuietServer(("127.0.0.1", 0), functools.partial(build.SiteHandler, directory=str(out)))
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        from playwright.sync_api import sync_playwright
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(180_000)
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/?debug=1")
            if not page.evaluate("() => window.llmviz.ready").get("live"):
                raise SystemExit("the page runs without numpy: pass --wheelhouse DIR to measure everything")
            page_tour.exercise(page)
            measured = {build.STDLIB_MODULES: page_tour.stdlib_modules(page),
                        build.NUMPY_MODULES: page_tour.numpy_modules(page)}
            browser.close()
        httpd.shutdown()
    for path, modules in measured.items():
        write_list(path, modules)
    return 0


def write_list(path: Path, modules: list[str]) -> None:
    """Replace the module names of a measured list, keeping its header (its ``#`` lines)."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    header = [line for line in lines if line.startswith("#")]
    path.write_text("\n".join(header + sorted(modules)) + "\n", encoding="utf-8")
    print(f"{len(modules)} modules written to {path}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
