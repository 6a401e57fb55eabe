"""The page's load times in headless Chromium (``python -m llmviz bench --page``).

Two cases, three runs each, the median reported:

- cold: a new browser profile (nothing cached, no service worker);
- warm: the same profile after a first visit, so everything comes from the
  service worker's cache.

For each run: time to the first painted frame (``window.llmvizFirstFrame`` when the
renderer sets it, else the browser's first paint), time until ``llmviz.ready``
resolved, and the bytes and requests the page made until then (Resource Timing:
``bytes`` = decoded body sizes, ``network_bytes`` = bytes over the wire, 0 for files
the service worker served); and the boot's stages: when Pyodide's files arrived, when
Python was up (app.py requested), then app.py's and llmviz.page.ui's ``performance.mark``s
("llmviz:<stage>": wheels, files, numpy-import, model, forward, compare, each view's
mount), medians over the runs. Without a URL it builds dist/ into a temp folder
(``--wheelhouse $LLMVIZ_PYODIDE_WHEELHOUSE`` when set) and serves it on 127.0.0.1.
Then, in one more page (after ``ready``), the renderer's own frame benchmark
(``renderer.benchmark({frames: 300, orbit})``: 300 frames, orbiting the camera around
the model or standing still) for the sort model and for the GPT-2 small scale view:
the median and 90th percentile frame interval and the time one frame takes to draw.
Last, the page at work with models of four sizes (``bench_models``: issue 14's table of
full-context input, next token and the longest main-thread task).
Times come from a software WebGL renderer on this machine: compare them side by
side, not with a real desktop.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]
RUNS = 3
TIMEOUT_MS = 180_000

_MEASURE = """async () => {
  const info = await window.llmviz.ready;
  const res = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  const paints = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
  const sum = (key) => res.reduce((a, e) => a + (e[key] || 0), 0) + (nav ? nav[key] || 0 : 0);
  return {
    first_frame_ms: typeof window.llmvizFirstFrame === 'number' ? window.llmvizFirstFrame : null,
    first_paint_ms: paints['first-paint'] ?? paints['first-contentful-paint'] ?? null,
    ready_ms: window.llmvizReadyAt,
    requests: res.length + 1,
    bytes: sum('decodedBodySize'),
    network_bytes: sum('transferSize'),
    live: info.live,
    numpy: info.numpy,
    points: points(res),
  };
  // when each stage of the boot ended (ms since navigation start): the files that mark
  // Pyodide's start, then app.py's and llmviz.page.ui's performance marks ("llmviz:<stage>")
  function points(res) {
    const out = [];
    const at = (suffix, key, label) => {
      const e = res.find((r) => r.name.split("?")[0].endsWith(suffix));
      if (e) out.push([label, e[key]]);
    };
    at("/pyodide/pyodide.mjs", "startTime", "pyscript: loading pyodide.mjs");
    at("/pyodide/pyodide.asm.wasm", "responseEnd", "pyodide.asm.wasm downloaded");
    at("/pyodide/python_stdlib.zip", "responseEnd", "python_stdlib.zip downloaded");
    at("/app.py", "startTime", "python up (app.py requested)");
    for (const m of performance.getEntriesByType("mark")) {
      if (m.name.startsWith("llmviz:")) out.push([m.name.slice(7), m.startTime]);
    }
    if (typeof window.llmvizFirstFrame === "number") out.push(["(first frame)", window.llmvizFirstFrame]);
    out.push(["ready", window.llmvizReadyAt]);
    return out.sort((a, b) => a[1] - b[1]);
  }
}"""

_FRAMES = """async ({scale, orbit, frames}) => {
  await window.llmviz.ready;
  const s = window.llmvizScene;
  await s.ready;
  if (scale && s.mode !== scale) {
    const button = document.querySelector(`.scene-scales button[data-scale="${scale}"]`);
    button.click();
    const t0 = performance.now();
    while (s.mode !== scale) {
      if (performance.now() - t0 > 60000) throw new Error(`the ${scale} view did not load`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const out = await s.renderer.benchmark({frames, orbit});
  out.view = scale || "model";
  out.orbit = orbit;
  return out;
}"""
FRAME_CASES = ((None, True), (None, False), ("gpt2-small", True), ("gpt2-small", False))
FRAMES = 300

METRICS = ("first_frame_ms", "first_paint_ms", "ready_ms", "requests", "bytes", "network_bytes")


def _repo_build_module():
    path = Path(__file__).resolve().parents[3] / "build.py"
    if not path.is_file():
        raise RuntimeError("no build.py beside this package: pass the URL of a served llmviz page")
    spec = importlib.util.spec_from_file_location("llmviz_site_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


class _Served:
    """dist/ built into a temp folder and served on 127.0.0.1 until closed."""

    def __init__(self):
        build, path = _repo_build_module()
        self._tmp = tempfile.TemporaryDirectory(prefix="llmviz-bench-")
        out = Path(self._tmp.name) / "dist"
        cmd = [sys.executable, str(path), "--out", str(out), "--quiet", "--no-download"]
        wheelhouse = os.environ.get("LLMVIZ_PYODIDE_WHEELHOUSE")
        if wheelhouse:
            cmd += ["--wheelhouse", wheelhouse]
        subprocess.run(cmd, check=True)
        handler = functools.partial(build.SiteHandler, directory=str(out))
        self.httpd = build.QuietServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._tmp.cleanup()


def _load(page, url: str) -> dict:
    page.goto(url)
    return page.evaluate(_MEASURE)


def _median(runs: list[dict]) -> dict:
    out = {}
    for key in METRICS:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = statistics.median(values) if values else None
    out["live"] = all(r["live"] for r in runs)
    out["points"] = _median_points(runs)
    return out


def _median_points(runs: list[dict]) -> list[tuple[str, float]]:
    """The boot's stages (name, median ms since navigation start), in the order of the first run."""
    names = [name for name, _t in runs[0].get("points") or []] if runs else []
    out = []
    for name in names:
        values = [t for r in runs for n, t in (r.get("points") or []) if n == name]
        out.append((name, statistics.median(values)))
    return sorted(out, key=lambda p: p[1])


def breakdown(result: dict) -> list[str]:
    """The boot's stages, cold and warm: when each ended and how long it took after the one before."""
    cold = dict(result["cold_median"].get("points") or [])
    warm = dict(result["warm_median"].get("points") or [])
    names = [name for name, _t in result["cold_median"].get("points") or []]
    names += [name for name in warm if name not in cold]
    if not names:
        return []
    lines = ["boot stages (median ms since navigation; +ms after the stage before)",
             f"  {'stage':34}{'cold':>9}{'+':>7}{'warm':>9}{'+':>7}"]
    prev = {"cold": 0.0, "warm": 0.0}
    for name in names:
        row = f"  {name[:34]:34}"
        for case, points in (("cold", cold), ("warm", warm)):
            t = points.get(name)
            if t is None:
                row += f"{'-':>9}{'':>7}"
                continue
            delta = t - prev[case] if not name.startswith("(") else None
            row += f"{t:>9.0f}" + (f"{delta:>+7.0f}" if delta is not None else f"{'':>7}")
            if not name.startswith("("):
                prev[case] = t
        lines.append(row)
    return lines


def measure(url: str, runs: int = RUNS, frames: bool = True, models: bool = True) -> dict:
    from playwright.sync_api import sync_playwright

    from llmviz.cli import bench_models

    result = {"url": url, "runs": runs, "cold": [], "warm": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(runs):
                context = browser.new_context()
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                result["cold"].append(_load(page, url))
                context.close()
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            _load(page, url)
            if not page.evaluate("() => window.llmviz.offline"):
                raise RuntimeError("the service worker did not take over; warm loads would not be warm")
            for _ in range(runs):
                result["warm"].append(_load(page, url))
            context.close()
            if frames:
                result["frames"] = frame_benchmarks(browser, url)
            if models:
                result["models"] = bench_models.measure(browser, url)
        finally:
            browser.close()
    result["cold_median"] = _median(result["cold"])
    result["warm_median"] = _median(result["warm"])
    return result


def frame_benchmarks(browser, url: str, frames: int = FRAMES) -> list[dict]:
    """The renderer's frame times (sort model, GPT-2 small scale view; orbiting and still)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(url)
        page.evaluate("() => window.llmviz.ready")
        out = []
        for scale, orbit in FRAME_CASES:
            out.append(page.evaluate(_FRAMES, {"scale": scale, "orbit": orbit, "frames": frames}))
        return out
    finally:
        context.close()


def _fmt(value, key: str) -> str:
    if value is None:
        return "-"
    if key.endswith("bytes"):
        return f"{value / 1e6:.2f} MB"
    if key.endswith("_ms"):
        return f"{value / 1000:.2f} s"
    return f"{value:g}"


def report(result: dict) -> str:
    lines = [f"page load at {result['url']} (median of {result['runs']} runs each)",
             f"  {'':16}{'cold':>12}{'warm':>12}"]
    for key in METRICS:
        lines.append(f"  {key:16}{_fmt(result['cold_median'][key], key):>12}{_fmt(result['warm_median'][key], key):>12}")
    lines.append(f"  live inference: {'yes' if result['cold_median']['live'] else 'no (bundled trace)'}")
    lines += breakdown(result)
    frames = result.get("frames") or []
    if frames:
        f0 = frames[0]
        lines.append(f"renderer frames ({f0['frames']} each, {f0['width']}x{f0['height']} css px, "
                     f"pixel ratio {f0['pixel_ratio']:g})")
        lines.append(f"  {'view':24}{'blocks':>8}{'interval p50':>14}{'p90':>9}{'draw p50':>10}{'p90':>9}")
        for f in frames:
            name = f"{f['view']} ({'orbit' if f['orbit'] else 'still'})"
            lines.append(f"  {name:24}{f['blocks']:>8}{f['median_ms']:>11.1f} ms{f['p90_ms']:>6.1f} ms"
                         f"{f['render_median_ms']:>7.1f} ms{f['render_p90_ms']:>6.1f} ms")
    if result.get("models"):
        from llmviz.cli import bench_models
        lines.append(bench_models.report(result["models"]))
    return "\n".join(lines)


def run(url: str | None = None, runs: int = RUNS, quiet: bool = False, frames: bool = True,
        models: bool = True) -> dict:
    """Measure the page at ``url`` (or a fresh local build when None); print and return the numbers."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    served = _Served() if url is None else None
    try:
        result = measure(url or served.url, runs, frames, models)
    finally:
        if served is not None:
            served.close()
    if not quiet:
        print(report(result), flush=True)
    return result


if __name__ == "__main__":
    # python -m llmviz.cli.bench_page [URL] [--runs N] [--no-frames]: the load times alone
    args = sys.argv[1:]
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else RUNS
    url = next((a for a in args if a.startswith("http")), None)
    run(url, runs, frames="--no-frames" not in args, models="--no-models" not in args)
