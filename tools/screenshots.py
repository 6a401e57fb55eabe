"""Screenshots of every step of the tour, to look at: one PNG per step.

    python tools/screenshots.py URL OUTDIR [--size 1400x900] [--phases attention,softmax] [--motion]

URL is a served build (``python build.py --serve``, or any static server on dist/). Uses
Python Playwright with Debian's /usr/bin/chromium (CHROMIUM=path to change it). Each step
is reached with ``llmviz.goto`` and shot once the 3D view has settled; without --motion the
page runs with reduced motion (no flights or animations: the settled picture of each step).
Files are named NN_phase_step.png in tour order. Prints page errors and console errors.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("out", type=Path)
    ap.add_argument("--size", default="1400x900")
    ap.add_argument("--phases", help="only these phases (comma-separated ids)")
    ap.add_argument("--motion", action="store_true", help="play the flights and animations")
    a = ap.parse_args()
    width, height = (int(v) for v in a.size.split("x"))
    a.out.mkdir(parents=True, exist_ok=True)
    only = set(a.phases.split(",")) if a.phases else None
    n = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        context = browser.new_context(viewport={"width": width, "height": height},
                                      reduced_motion="no-preference" if a.motion else "reduce")
        page = context.new_page()
        page.on("pageerror", lambda e: print("pageerror:", e))
        page.on("console", lambda m: m.type == "error" and print("console error:", m.text[:300]))
        page.goto(a.url)
        page.wait_for_function("() => window.llmviz && window.llmviz.state && window.llmviz.state().ready === true",
                               timeout=120_000)
        for phase in page.evaluate("() => window.llmviz.phases()"):
            for step in phase["step_ids"]:
                index = n
                n += 1
                if only and phase["id"] not in only:
                    continue
                page.evaluate("(t) => window.llmviz.goto(t)", {"phase": phase["id"], "step": step})
                page.wait_for_function("() => window.llmvizSceneSettled === true", timeout=60_000)
                page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
                page.screenshot(path=str(a.out / f"{index:02d}_{phase['id']}_{step}.png"))
        browser.close()
    print(f"{n} steps, screenshots in {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
