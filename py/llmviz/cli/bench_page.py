"""The page's load times and weight in headless Chromium (``python -m llmviz bench --page``).

dist/ is served by ``static_host.StaticHost``, as a static host serves it (gzip-compressed,
ETags, revalidation), and every response is counted at the server: ``gzip_bytes`` (bytes of
bodies on the wire), ``raw_bytes`` (the same files' sizes), ``requests``. Two cases, three
runs each, the median reported:

- cold: a new browser profile (nothing cached, no service worker), counted until ``ready``
  and the service worker's first install (its precache) are done;
- warm: the same profile after a first visit, so everything comes from the
  service worker's cache: counted until ``ready`` and the network is quiet.

``first_draw_ms`` is the first WebGL draw call (an init script wraps ``drawArrays`` /
``drawElements``), measured the same way in llm-viz's static build when its ``out/`` folder
is given (``--llm-viz DIR``: served by the same host, its ``llm.html`` loaded cold, counted
until its first draw and a quiet network), so the two pages are compared in one run: the
cold loads alternate, after one uncounted load of each page (a new browser's first). The
table puts issue 15's figures and goals beside ours.

For each run: time to the first painted frame (``window.llmvizFirstFrame`` when the
renderer sets it, else the browser's first paint), time until ``llmviz.ready``
resolved (the walkthrough is up on the bundled trace), until ``llmviz.live`` resolved
(``live_ms``: the model worker is up, your own input can run), and the bytes and requests
the page made until then (Resource Timing: ``bytes`` = decoded body sizes, ``network_bytes`` = bytes over the wire, 0 for files
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

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from llmviz.cli.static_host import GZIP_LEVEL, StaticHost

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader"]
RUNS = 3
TIMEOUT_MS = 180_000

_MEASURE = """async () => {
  const info = await window.llmviz.ready;
  const live = window.llmviz.live ? await window.llmviz.live : info;
  const res = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0];
  const paints = Object.fromEntries(performance.getEntriesByType('paint').map(p => [p.name, p.startTime]));
  const sum = (key) => res.reduce((a, e) => a + (e[key] || 0), 0) + (nav ? nav[key] || 0 : 0);
  return {
    first_draw_ms: window.__benchFirstDraw ?? null,
    first_frame_ms: typeof window.llmvizFirstFrame === 'number' ? window.llmvizFirstFrame : null,
    first_paint_ms: paints['first-paint'] ?? paints['first-contentful-paint'] ?? null,
    ready_ms: window.llmvizReadyAt,
    live_ms: typeof window.llmvizLiveAt === 'number' && live.live ? window.llmvizLiveAt : null,
    requests: res.length + 1,
    bytes: sum('decodedBodySize'),
    network_bytes: sum('transferSize'),
    live: live.live,
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
    at("/pyodide/pyodide.asm.wasm.gz", "responseEnd", "pyodide.asm.wasm.gz downloaded");
    at("/pyodide/python_stdlib.zip", "responseEnd", "python_stdlib.zip downloaded");
    at("/app.py", "startTime", "python up (app.py requested)");
    for (const m of performance.getEntriesByType("mark")) {
      if (m.name.startsWith("llmviz:")) out.push([m.name.slice(7), m.startTime]);
    }
    if (typeof window.llmvizFirstFrame === "number") out.push(["(first frame)", window.llmvizFirstFrame]);
    out.push(["ready", window.llmvizReadyAt]);
    if (typeof window.llmvizLiveAt === "number") out.push(["live inference on", window.llmvizLiveAt]);
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

METRICS = ("gzip_bytes", "raw_bytes", "requests", "first_draw_ms", "first_frame_ms", "first_paint_ms", "ready_ms",
           "live_ms", "bytes", "network_bytes")
# issue 15 (before: measured with headless Chromium, SwiftShader, 3 runs each) and its goals
ISSUE = {"gzip_bytes": ("16.5 MB", "<= 8 MB"), "raw_bytes": ("25.7 MB", "<= 12 MB"), "requests": ("56", ""),
         "first_draw_ms": ("1.26 s", "<= 0.25x llm-viz"), "ready_ms": ("~3.5 s", "<= 2.5 s")}
LLM_VIZ_ISSUE = {"gzip_bytes": "", "raw_bytes": "1.8 MB", "requests": "28", "first_draw_ms": "3.14 s"}
GOAL_GZIP, GOAL_RAW, GOAL_RATIO, GOAL_READY_MS = 8e6, 12e6, 0.25, 2500
QUIET_MS = 700    # "the network is quiet": no response for this long

# wraps WebGL's draw calls: window.__benchFirstDraw is the time of the first one (any page)
FIRST_DRAW = """(() => {
  const mark = () => { if (window.__benchFirstDraw === undefined) window.__benchFirstDraw = performance.now(); };
  for (const C of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    if (!C) continue;
    for (const name of ["drawArrays", "drawElements", "drawArraysInstanced", "drawElementsInstanced", "drawRangeElements"]) {
      const f = C.prototype[name];
      if (f) C.prototype[name] = function (...args) { mark(); return f.apply(this, args); };
    }
  }
})();"""


def _repo_build_module():
    path = Path(__file__).resolve().parents[3] / "build.py"
    if not path.is_file():
        raise RuntimeError("no build.py beside this package: pass the URL of a served llmviz page")
    spec = importlib.util.spec_from_file_location("llmviz_site_build", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


class _Served:
    """dist/ (a given folder, or built into a temp folder) served by a StaticHost until closed."""

    def __init__(self, dist: Path | None = None):
        self._tmp = None
        if dist is None:
            _build, path = _repo_build_module()
            self._tmp = tempfile.TemporaryDirectory(prefix="llmviz-bench-")
            dist = Path(self._tmp.name) / "dist"
            cmd = [sys.executable, str(path), "--out", str(dist), "--quiet", "--no-download"]
            wheelhouse = os.environ.get("LLMVIZ_PYODIDE_WHEELHOUSE")
            if wheelhouse:
                cmd += ["--wheelhouse", wheelhouse]
            nanogpt = os.environ.get("LLMVIZ_NANOGPT")
            if nanogpt:
                cmd += ["--nanogpt", nanogpt]
            subprocess.run(cmd, check=True)
        self.host = StaticHost(dist)
        self.host.warm_up()
        self.url = self.host.url

    def close(self):
        self.host.close()
        if self._tmp is not None:
            self._tmp.cleanup()


def _counted(sent: list) -> dict:
    return {"gzip_bytes": sum(s.wire for s in sent), "raw_bytes": sum(s.raw for s in sent),
            "requests": len(sent), "revalidated": sum(1 for s in sent if s.status == 304),
            "bodies": sorted({s.path for s in sent if s.status == 200})}


def _quiet(page, host, sent: list, quiet_ms: int = QUIET_MS, limit_ms: int = 60_000) -> None:
    """Wait until the host has answered nothing for ``quiet_ms`` (collecting into ``sent``)."""
    waited = idle = 0
    while idle < quiet_ms and waited < limit_ms:
        page.wait_for_timeout(100)
        waited += 100
        got = host.take()
        sent.extend(got)
        idle = 0 if got else idle + 100


def _load(page, url: str, host=None, cold: bool = False) -> dict:
    if host is not None:
        host.take()
    page.goto(url)
    out = page.evaluate(_MEASURE)
    if host is not None:
        sent = host.take()
        if cold:   # the first visit ends once the service worker has stored the build
            page.evaluate("() => window.llmviz.offline")
            page.evaluate("() => navigator.serviceWorker && navigator.serviceWorker.ready")
        _quiet(page, host, sent)
        out.update(_counted(sent))
    return out


def _load_llm_viz(page, url: str, host) -> dict:
    host.take()
    page.goto(url)
    page.wait_for_function("() => window.__benchFirstDraw !== undefined", timeout=TIMEOUT_MS)
    sent = host.take()
    _quiet(page, host, sent)
    out = {"first_draw_ms": page.evaluate("() => window.__benchFirstDraw")}
    out.update(_counted(sent))
    return out


def _median(runs: list[dict]) -> dict:
    out = {}
    for key in METRICS:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["live"] = all(r.get("live") for r in runs)
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


def measure(url: str, runs: int = RUNS, frames: bool = True, host=None, llm_viz: str | None = None,
            llm_viz_host=None, models: bool = True) -> dict:
    from llmviz.cli import bench_models
    from llmviz.cli.chromium_log import crash_report, crashed, playwright_logged

    result = {"url": url, "runs": runs, "cold": [], "warm": [], "llm_viz": []}
    log = Path(tempfile.gettempdir()) / f"llmviz-bench-chromium-{os.getpid()}.log"
    started = time.time()
    with playwright_logged(log) as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        def context():
            ctx = browser.new_context()
            ctx.add_init_script(FIRST_DRAW)
            page = ctx.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            return ctx, page

        try:
            # a load of each page first, not counted: a new browser's first page pays for starting
            # its GPU process and software GL (the first load here drew 0.3-0.5 s later than the
            # next ones), and that was always ours
            ctx, page = context()
            _load(page, url, host, cold=True)
            ctx.close()
            if llm_viz:
                ctx, page = context()
                _load_llm_viz(page, llm_viz, llm_viz_host)
                ctx.close()
            for _ in range(runs):   # alternating, so both pages see the same machine
                ctx, page = context()
                result["cold"].append(_load(page, url, host, cold=True))
                ctx.close()
                if llm_viz:
                    ctx, page = context()
                    result["llm_viz"].append(_load_llm_viz(page, llm_viz, llm_viz_host))
                    ctx.close()
            ctx, page = context()
            _load(page, url, host, cold=True)
            if not page.evaluate("() => window.llmviz.offline"):
                raise RuntimeError("the service worker did not take over; warm loads would not be warm")
            for _ in range(runs):
                result["warm"].append(_load(page, url, host))
            ctx.close()
            if frames:
                result["frames"] = frame_benchmarks(browser, url)
            if models:
                result["models"] = bench_models.measure(browser, url)
        except Exception as e:
            if crashed(e):   # Playwright knows no more: Chromium's log may say why
                raise RuntimeError(f"{e}\n{crash_report(log, since=started)}") from e
            raise
        finally:
            browser.close()
    result["cold_median"] = _median(result["cold"])
    result["warm_median"] = _median(result["warm"])
    if result["llm_viz"]:
        result["llm_viz_median"] = _median(result["llm_viz"])
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
    if key == "requests":
        return f"{value:g}"
    if key.endswith("_ms"):
        return f"{value / 1000:.2f} s"
    return f"{value:g}"


def _goal_met(key: str, result: dict) -> str:
    cold = result["cold_median"].get(key)
    other = (result.get("llm_viz_median") or {}).get("first_draw_ms")
    if cold is None:
        return ""
    if key == "gzip_bytes":
        return "met" if cold <= GOAL_GZIP else "NOT met"
    if key == "raw_bytes":
        return "met" if cold <= GOAL_RAW else "NOT met"
    if key == "ready_ms":
        return "met" if cold <= GOAL_READY_MS else "NOT met"
    if key == "first_draw_ms" and other:
        return f"{cold / other:.2f}x: " + ("met" if cold <= GOAL_RATIO * other else "NOT met")
    return ""


def report(result: dict) -> str:
    llm = result.get("llm_viz_median") or {}
    lines = [f"page load at {result['url']} (median of {result['runs']} runs each; served gzip-compressed, "
             f"level {GZIP_LEVEL}, with ETags; bytes counted at the server)",
             f"  {'':16}{'cold':>10}{'warm':>10}{'llm-viz':>10}   {'issue 15: before':>17}"
             f"{'llm-viz':>9}{'goal':>18}   "]
    for key in METRICS:
        before, goal = ISSUE.get(key, ("", ""))
        lines.append(f"  {key:16}{_fmt(result['cold_median'][key], key):>10}{_fmt(result['warm_median'][key], key):>10}"
                     f"{_fmt(llm.get(key), key) if llm else '':>10}   {before:>17}{LLM_VIZ_ISSUE.get(key, ''):>9}"
                     f"{goal:>18}   {_goal_met(key, result)}")
    warm = result["warm"][-1] if result["warm"] else {}
    lines.append(f"  warm visit: {warm.get('revalidated', 0)} revalidation(s), bodies sent: "
                 f"{', '.join(warm.get('bodies') or []) or 'none'}")
    lines.append(f"  live inference: {'yes' if result['cold_median']['live'] else 'no (bundled trace)'} "
                 "(ready: the walkthrough is up on the bundled trace; live: the model worker too, your input runs)")
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
        dist: Path | None = None, llm_viz: Path | None = None, models: bool = True) -> dict:
    """Measure the page at ``url``, or ``dist`` (a built folder; a fresh local build when None)
    served by a StaticHost, beside llm-viz's static build ``llm_viz`` (its out/ folder) when
    given; print and return the numbers."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing (apt-get install chromium)")
    if llm_viz is not None and not (Path(llm_viz) / "llm.html").is_file():
        raise RuntimeError(f"{llm_viz} has no llm.html: give the out/ folder of llm-viz's static build")
    served = _Served(dist) if url is None else None
    other = StaticHost(Path(llm_viz)) if llm_viz is not None else None
    try:
        if other is not None:
            other.warm_up()
        result = measure(url or served.url, runs, frames, host=served.host if served else None,
                         llm_viz=other.url + "llm.html" if other else None, llm_viz_host=other,
                         models=models)
    finally:
        if served is not None:
            served.close()
        if other is not None:
            other.close()
    if not quiet:
        print(report(result), flush=True)
    return result


if __name__ == "__main__":
    # python -m llmviz.cli.bench_page [URL | --dist DIR] [--llm-viz DIR] [--runs N] [--no-frames]
    args = sys.argv[1:]
    opt = lambda name: args[args.index(name) + 1] if name in args else None  # noqa: E731
    url = next((a for a in args if a.startswith("http")), None)
    run(url, int(opt("--runs") or RUNS), frames="--no-frames" not in args,
        dist=Path(opt("--dist")) if opt("--dist") else None,
        llm_viz=Path(opt("--llm-viz")) if opt("--llm-viz") else None, models="--no-models" not in args)
