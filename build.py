#!/usr/bin/env python3
"""Build the static site into dist/ (and serve it with --serve).

    python build.py [--out dist] [--serve [--port N]] [--wheelhouse DIR]
                    [--nanogpt PATH] [--weights weights/sort.npz] [--label TEXT] [--quiet]
                    [--stdlib-sources] [--numpy-whole] [--no-bundle]

What ends up in dist/ (every URL in the page is relative, so dist/ works from any
sub-path of any static host, and offline once the service worker has it):

    index.html, css/, icons/, manifest.webmanifest   from site/ (index.html gets the build id)
    js/                    site/js bundled by esbuild (tools/bundle.mjs) with three.js: the modules the
                           page loads itself (bundle_entries) at their own paths, minified, and what they
                           share in chunk-<hash>.js. With --no-bundle, or without Node.js or esbuild:
                           site/js as it is, three.js
                           in vendor/three/ (three.module.js, three.core.js, the addons the renderer
                           imports) and site/dev/ (the renderer's test page)
    sw.js                  site/sw.js with the build id and the list of every file to precache
    app.py, pyscript.toml  the PyScript entry (py/llmviz/page/app.py) and its config
    worker.py, worker.toml the model worker (py/llmviz/page/worker.py) and its config (app.py starts
                           it where the build has numpy; without, it is not precached)
    pyscript/              @pyscript/core's dist/ without source maps and without the chunks of
                           features this page never uses (PYSCRIPT_UNUSED: editor, terminal, ...)
    pyodide/               Pyodide's core files (npm package `pyodide`), except that python_stdlib.zip
                           holds the modules the page imports (tools/stdlib_modules.txt, measured) as
                           bytecode compiled here by that Pyodide in Node, without docstrings or
                           column spans (Python starts 1-2 s sooner; 1.1 MB instead of 4.5);
                           --stdlib-sources ships Pyodide's zip as it is; and pyodide.asm.wasm ships
                           gzip-compressed as pyodide.asm.wasm.gz too (3.5 MB, not 9.6, from a host that
                           does not compress), which the page fetches and gunzips as it streams
                           (tools/pyodide_fetch_gz.js, which build.py puts into pyodide.mjs's browser
                           loader); only a browser without DecompressionStream fetches the .wasm itself;
                           pyodide.asm.mjs never uses JSPI (without_stack_switching: Chromium crashed on
                           its switched stacks)
    wasm/                  the model worker's SIMD kernels (site/wasm/*.wat, compiled here by wabt):
                           matmul.wasm computes the Linears' x @ W.T (Pyodide's numpy has no BLAS)
    wheels/                llmviz (built here) and numpy for Pyodide (when available), both as
                           bytecode of this Pyodide (compiled in Node) without their sources; numpy
                           slim: only the modules the page imports (tools/numpy_modules.txt,
                           measured), its other files left out, none changed (--numpy-whole ships
                           the checked wheel as it is). pycache.zip: the bytecode of a wheel that
                           ships with its sources (--numpy-whole's numpy; app.py puts it under
                           sys.pycache_prefix); without Node the wheels ship with sources only
    weights/               the model the page runs: NAME.npz + NAME.json
    data/                  the bundled trace of the default example (trace.json + trace.bin), the
                           first frame's scene and activations (scene.json, values.bin: the
                           parameters it reads from weights/), the code panel's snippets with
                           their tokens, lexed here by pygments (code.json)
    locales/               <lang>.json: the words the page's JavaScript shows before Python runs, from
                           py/llmviz/locales/<lang>.toml (index.html lists the languages)
    build-info.json        versions, sha256 and size of every file, numpy status, git commit, build id

sw.js precaches every file except the few the page loads only on demand (PRECACHE_SKIP).
Nothing is fetched at runtime from another origin. Downloads happen here, at build
time, from the registries (npm, PyPI) and are cached in .cache/ so a rebuild with
nothing changed only copies what changed.
"""
from __future__ import annotations

import argparse
import base64
import functools
import gzip
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SITE = ROOT / "site"
PY_SRC = ROOT / "py" / "llmviz"
NODE = ROOT / "node_modules"
CACHE = ROOT / ".cache"

PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
NUMPY_TAGS = "cp314-cp314-pyemscripten_2026_0_wasm32"
# the documented fallback when no --wheelhouse holds numpy: Pyodide's own distribution
# of the same release (checked against the sha256 in pyodide-lock.json)
PYODIDE_CDN = "https://cdn.jsdelivr.net/pyodide/v{version}/full/{file_name}"
DEFAULT_EXAMPLE = "CBABBC"
ADDONS_ALWAYS = ("controls/OrbitControls.js",)
# placeholders in site/ files, replaced at build time
BUILD_ID_MARK = "__LLMVIZ_BUILD_ID__"
LABEL_MARK = "__LLMVIZ_LABEL__"
LOCALES_MARK = "__LLMVIZ_LOCALES__"
PRELOADS_MARK = "<!--__LLMVIZ_PRELOADS__-->"
FIRST_DATA_MARK = "__LLMVIZ_FIRST_DATA__"
PRECACHE_MARK = '"__LLMVIZ_PRECACHE__"'


# deflate level of the zips build.py writes (wheels, the standard library): they are fetched at
# every first visit, and a static host sends them as they are (zips are not compressed again)
ZIP_LEVEL = 9


class BuildError(Exception):
    """A build step cannot go on; the message says what to do."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Builder:
    def __init__(self, out: Path, quiet: bool = False):
        self.out = out
        self.quiet = quiet
        self.copied = 0
        self.skipped = 0
        self.written: set[str] = set()  # dist-relative paths this build produced

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)

    # -- writing files into dist/, skipping unchanged ones ---------------------

    def _target(self, rel: str) -> Path:
        self.written.add(rel)
        dst = self.out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        return dst

    def copy(self, src: Path, rel: str) -> None:
        dst = self._target(rel)
        st = src.stat()
        if dst.exists():
            dt = dst.stat()
            if dt.st_size == st.st_size and int(dt.st_mtime) == int(st.st_mtime):
                self.skipped += 1
                return
        shutil.copy2(src, dst)
        self.copied += 1

    def write(self, rel: str, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        dst = self._target(rel)
        if dst.exists() and dst.stat().st_size == len(data) and dst.read_bytes() == data:
            self.skipped += 1
            return
        dst.write_bytes(data)
        self.copied += 1

    def remove_stale(self) -> int:
        """Delete files of an earlier build that this build did not produce."""
        removed = 0
        for path in sorted(self.out.rglob("*"), reverse=True):
            rel = path.relative_to(self.out).as_posix()
            if path.is_file() and rel not in self.written:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed


# ----------------------------------------------------------------------------
# npm packages

def ensure_node_modules(b: Builder) -> None:
    lock = ROOT / "package-lock.json"
    stamp = NODE / ".package-lock.json"  # npm writes it on every install
    fresh = stamp.exists() and stamp.stat().st_mtime >= lock.stat().st_mtime
    if NODE.is_dir() and fresh:
        return
    b.say("npm ci (node_modules is missing or older than package-lock.json)")
    try:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=ROOT, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        raise BuildError(f"npm ci failed ({e}); install Node.js/npm and run 'npm ci' in {ROOT}") from None


def npm_version(package: str) -> str:
    return json.loads((NODE / package / "package.json").read_text())["version"]


# chunks of @pyscript/core for features this page never uses: the code editor (py-editor's
# CodeMirror), the terminal (py-terminal's xterm), MicroPython, zip archives in [files], the
# debugging graph and PyScript's own service worker. core.js imports them only when a page asks
# for the feature (py-editor-*.js and py-terminal-*.js load, these never do), so they are left out.
PYSCRIPT_UNUSED = ("codemirror", "xterm", "mpy-", "zip-", "pyodide_graph-", "service-worker.js")


def copy_pyscript(b: Builder) -> None:
    src = NODE / "@pyscript" / "core" / "dist"
    for path in sorted(src.rglob("*")):
        if path.is_file() and not path.name.endswith(".map") and not path.name.startswith(PYSCRIPT_UNUSED):
            b.copy(path, "pyscript/" + path.relative_to(src).as_posix())


def copy_pyodide(b: Builder, stdlib: Path | None = None) -> dict:
    src = NODE / "pyodide"
    for name in PYODIDE_FILES:
        if not (src / name).exists():
            raise BuildError(f"{src / name} is missing; run 'npm ci'")
        if name == "python_stdlib.zip" and stdlib is not None:
            # the modules the page imports, as bytecode
            b.write(f"pyodide/{name}", trimmed_stdlib(stdlib, stdlib_modules()))
        elif name == "pyodide.asm.wasm":
            b.write(f"pyodide/{name}.gz", gzipped_wasm(src / name))
            b.copy(src / name, f"pyodide/{name}")     # for a browser without DecompressionStream
        elif name == "pyodide.mjs":
            b.write(f"pyodide/{name}", wasm_gz_loader((src / name).read_text()))
        elif name == "pyodide.asm.mjs":
            b.write(f"pyodide/{name}", without_stack_switching((src / name).read_text()))
        else:
            b.copy(src / name, f"pyodide/{name}")
    return json.loads((src / "pyodide-lock.json").read_text())


# Pyodide's browser loader: how it fetches a binary (npm pyodide 314.0.7's minified pyodide.mjs)
PYODIDE_BROWSER_FETCH = "function fe(e,t){let n=new URL(e,location);return{response:fetch(n,t?{integrity:t}:{})}}"


def gzipped_wasm(src: Path) -> bytes:
    """Pyodide's wasm gzip-compressed (9.6 MB -> 3.5 MB), cached in .cache/ by its sha256: it ships
    as pyodide.asm.wasm.gz, so a host that does not compress sends 3.5 MB (see wasm_gz_loader)."""
    raw = src.read_bytes()
    cached = CACHE / "pyodide-wasm" / f"{hashlib.sha256(raw).hexdigest()[:16]}.wasm.gz"
    if cached.exists():
        return cached.read_bytes()
    packed = gzip.compress(raw, 9, mtime=0)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(packed)
    return packed


def wasm_gz_loader(mjs: str) -> str:
    """pyodide.mjs whose browser loader fetches binaries through tools/pyodide_fetch_gz.js's
    llmvizFetchBinary: pyodide.asm.wasm from the .gz, gunzipped as it streams (the raw file where
    the browser has no DecompressionStream). Node's loader (the tests' tools/pyodide_run.mjs uses
    node_modules' own copy) is not touched."""
    if mjs.count(PYODIDE_BROWSER_FETCH) != 1:
        raise BuildError("pyodide.mjs has no browser fetch of the form build.py patches "
                         "(PYODIDE_BROWSER_FETCH): a new Pyodide release; update the patch")
    patched = PYODIDE_BROWSER_FETCH.replace("response:fetch(", "response:llmvizFetchBinary(")
    return (TOOLS / "pyodide_fetch_gz.js").read_text() + mjs.replace(PYODIDE_BROWSER_FETCH, patched)


# How Pyodide's runtime (npm pyodide 314.0.7's pyodide.asm.mjs) decides to use JSPI, WebAssembly's
# stack switching: whenever the browser has it (Chrome since 137).
PYODIDE_JSPI_CHECK = ('var newJspiSupported=canConstructWasm&&"Suspending"in WebAssembly;'
                      'var oldJspiSupported=canConstructWasm&&"Suspender"in WebAssembly;')


def without_stack_switching(asm_mjs: str) -> str:
    """pyodide.asm.mjs that never uses JSPI, for the page and the model worker alike. With it,
    Pyodide runs every call into Python on a stack of its own, and Chromium's renderer crashes
    now and then on those stacks: each of the 37 unintended renderer crashes in this machine's
    Chromium minidumps (bursts of them failed whole CI runs) is a SIGSEGV in the main thread with
    the stack pointer on a switched stack and the fault just above it; Pyodide issues 5702 and 6106
    report crashes in Chrome that go away with JSPI off. Nothing here needs it: it serves
    ``run_sync`` and ``run_until_complete`` from synchronous code, which llmviz never calls."""
    if asm_mjs.count(PYODIDE_JSPI_CHECK) != 1:
        raise BuildError("pyodide.asm.mjs has no JSPI check of the form build.py patches "
                         "(PYODIDE_JSPI_CHECK): a new Pyodide release; update the patch")
    return asm_mjs.replace(PYODIDE_JSPI_CHECK, "var newJspiSupported=false;var oldJspiSupported=false;")


_IMPORT_RE = re.compile(r"""(?:import|from)\s*['"]([^'"]+)['"]|from\s+['"]([^'"]+)['"]""")


def _imports(text: str) -> list[str]:
    return [a or c for a, c in _IMPORT_RE.findall(text)]


def three_files() -> tuple[dict[str, Path], list[str]]:
    """three.module.js + three.core.js, and every addon our JS imports (with the addons they
    import): ({path in dist/ when shipped unbundled: source}, the addons' names)."""
    three = NODE / "three"
    files = {"vendor/three/three.module.js": three / "build" / "three.module.js",
             "vendor/three/three.core.js": three / "build" / "three.core.js"}
    wanted = list(ADDONS_ALWAYS)
    for js in sorted((SITE / "js").rglob("*.js")):
        for spec in _imports(js.read_text(encoding="utf-8")):
            if spec.startswith("three/addons/"):
                wanted.append(spec[len("three/addons/"):])
    done: list[str] = []
    jsm = three / "examples" / "jsm"
    while wanted:
        addon = wanted.pop()
        if addon in done:
            continue
        src = jsm / addon
        if not src.is_file():
            raise BuildError(f"three has no addon {addon!r} (looked for {src})")
        files[f"vendor/three/addons/{addon}"] = src
        done.append(addon)
        for spec in _imports(src.read_text(encoding="utf-8")):
            if spec.startswith("."):
                wanted.append(os.path.normpath(os.path.join(os.path.dirname(addon), spec)).replace(os.sep, "/"))
    return files, sorted(done)


def _last_line(e: BaseException) -> str:
    """What a failed tool run said last (its stderr's last line, or the error itself)."""
    detail = (getattr(e, "stderr", None) or str(e)).strip()
    return detail.splitlines()[-1] if detail else repr(e)


def bundle_entries() -> list[str]:
    """The modules the page loads itself: index.html's <script type="module"> under js/ and the
    js_modules PyScript imports for Python (pyscript.toml), as paths under site/."""
    html = (SITE / "index.html").read_text(encoding="utf-8")
    entries = [src[2:] for src in re.findall(r'<script type="module" src="(\./js/[^"]+)"', html)]
    config = tomllib.loads((SITE / "pyscript.toml").read_text(encoding="utf-8"))
    for table in config.get("js_modules", {}).values():
        entries += [path[2:] for path in table if path.startswith("./js/")]
    return list(dict.fromkeys(entries))


def bundled_js(b: Builder) -> bool:
    """js/: the page's modules bundled by esbuild (tools/bundle.mjs): each entry of
    ``bundle_entries`` at its own path, three.js and our modules inside, minified, what entries
    share in js/chunk-<hash>.js (5 requests for the first frame's code instead of ~35: each
    costs a round trip, and a static host on HTTP/1.1 answers six at a time). Without Node.js or
    esbuild (a warning), False: site/js ships as it is, with vendor/three/ (see unbundled_js)."""
    node = shutil.which("node")
    if node is None or not _esbuild_version():
        print("warning: no Node.js or esbuild here (npm ci), so the page's modules ship unbundled "
              "and unminified (~35 requests for the first frame instead of 5)", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        out = Path(tmp) / "js"
        job.write_text(json.dumps({"entries": [str(SITE / rel) for rel in bundle_entries()],
                                   "outbase": str(SITE / "js"), "outdir": str(out)}), encoding="utf-8")
        try:
            subprocess.run([node, str(TOOLS / "bundle.mjs"), str(job)], check=True, capture_output=True,
                           text=True, timeout=300, cwd=ROOT)
        except (OSError, subprocess.SubprocessError) as e:
            raise BuildError(f"bundling the page's JavaScript failed: {_last_line(e)}") from e
        for path in sorted(out.rglob("*.js")):
            b.write("js/" + path.relative_to(out).as_posix(), path.read_bytes())
    return True


def unbundled_js(b: Builder) -> None:
    """site/js as it is, and three.js under vendor/three/ (index.html's import map names it)."""
    for path in sorted((SITE / "js").rglob("*.js")):
        b.copy(path, path.relative_to(SITE).as_posix())
    for rel, src in three_files()[0].items():
        b.copy(src, rel)


def wasm_kernels(b: Builder) -> dict:
    """site/wasm/*.wat compiled to wasm/*.wasm by wabt (tools/wat2wasm.mjs), cached in .cache/
    by the source's and the tool's sha256: {name: path} for build-info.json ("kernels"). The
    model worker uses them when the browser runs wasm SIMD; a kernel that cannot be compiled
    here is left out with a warning (the worker computes with numpy alone then)."""
    kernels = {}
    tool = TOOLS / "wat2wasm.mjs"
    node = shutil.which("node")
    wabt = NODE / "wabt" / "package.json"
    version = json.loads(wabt.read_text())["version"] if wabt.is_file() else ""
    for src in sorted((SITE / "wasm").glob("*.wat")):
        rel = f"wasm/{src.stem}.wasm"
        key = sha256_bytes(f"{sha256_file(src)} {sha256_file(tool)} {version}".encode())[:24]
        made = CACHE / "wasm" / f"{key}-{src.stem}.wasm"
        if not made.is_file():
            if node is None or not version:
                print(f"warning: no Node.js or wabt here (npm ci), so {rel} is left out", file=sys.stderr)
                continue
            made.parent.mkdir(parents=True, exist_ok=True)
            try:
                subprocess.run([node, str(tool), str(src), str(made) + ".tmp"],
                               check=True, capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.SubprocessError) as e:
                print(f"warning: compiling {src.name} failed ({_last_line(e)}); {rel} is left out", file=sys.stderr)
                continue
            os.replace(str(made) + ".tmp", made)
        b.copy(made, rel)
        kernels[src.stem] = rel
    return kernels


@functools.cache
def _esbuild_version() -> str:
    package = NODE / "esbuild" / "package.json"
    return json.loads(package.read_text())["version"] if package.is_file() else ""


# ----------------------------------------------------------------------------
# wheels

# ----------------------------------------------------------------------------
# precompiled bytecode for the page's wheels (a faster boot)

PYCACHE_FILE = "wheels/pycache.zip"
TOOLS = ROOT / "tools"           # the programs build.py runs: tools/pyodide_run.mjs and its Python scripts


def run_in_pyodide(script: str, inputs: dict, outputs: dict, args: dict | None = None) -> None:
    """Run tools/<script> in this build's Pyodide under Node (tools/pyodide_run.mjs): ``inputs``
    (path inside Pyodide -> host file) copied in first, ``outputs`` (inside -> host) copied out
    after. Raises OSError or subprocess.SubprocessError when Node or the script fails."""
    node = shutil.which("node")
    if node is None:
        raise OSError("no Node.js here")
    work = CACHE / "pyodide-job"
    work.mkdir(parents=True, exist_ok=True)
    job = work / f"{Path(script).stem}.json"
    job.write_text(json.dumps({"inputs": {k: str(v) for k, v in inputs.items()},
                               "outputs": {k: str(v) for k, v in outputs.items()},
                               "args": args or {}}), encoding="utf-8")
    subprocess.run([node, str(TOOLS / "pyodide_run.mjs"), (NODE / "pyodide" / "pyodide.mjs").as_uri(),
                    str(TOOLS / script), str(job)], check=True, capture_output=True, text=True, timeout=600)


def tool_digest(script: str) -> str:
    """A digest of tools/<script> and the runner it runs in (tools/pyodide_run.mjs sets how
    Pyodide compiles), for the cache keys of what they make."""
    return sha256_bytes(f"{sha256_file(TOOLS / script)} {sha256_file(TOOLS / 'pyodide_run.mjs')}".encode())


def pycache_archive(b: Builder, wheels: list[Path], pyodide_version: str) -> bytes | None:
    """wheels/pycache.zip: the wheels' modules compiled by this build's Pyodide (run in Node),
    so the page imports bytecode instead of compiling every module at every load (app.py
    unpacks it under ``sys.pycache_prefix``). Each wheel's part is cached in .cache/ by the
    wheel's sha256 and the Pyodide version. None (the page compiles as before) when Node
    or Pyodide cannot run here."""
    parts = compiled_wheels(b, wheels, pyodide_version)
    if parts is None:
        return None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as merged:
        for part in parts:
            with zipfile.ZipFile(part) as z:
                for info in z.infolist():
                    entry = zipfile.ZipInfo(info.filename)  # a fixed date: the same bytes every build
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    merged.writestr(entry, z.read(info), compresslevel=ZIP_LEVEL)
    return out.getvalue()


def compiled_wheels(b: Builder, wheels: list[Path], pyodide_version: str,
                    sourceless: bool = False) -> list[Path] | None:
    """Each wheel's modules compiled by this build's Pyodide in Node (tools/compile_wheels.py): a
    zip of .pyc per wheel, at their ``sys.pycache_prefix`` names, or with ``sourceless`` beside
    their sources' names in the wheel (``numpy/_core/_methods.pyc``). Cached in .cache/ by the
    wheel's sha256, the Pyodide version and the tool; None (with a warning) when Node or
    Pyodide cannot run here."""
    CACHE.mkdir(exist_ok=True)
    parts, todo = [], []
    tool = tool_digest("compile_wheels.py")
    for wheel in wheels:
        key = sha256_bytes(f"{sha256_file(wheel)} {pyodide_version} {tool} {sourceless}".encode())[:24]
        part = CACHE / f"{'pyc' if sourceless else 'pycache'}-{key}.zip"
        parts.append(part)
        if not part.is_file():
            todo.append({"path": str(wheel), "out": str(part) + ".tmp"})
    if todo:
        if shutil.which("node") is None:
            print("warning: no Node.js here, so the page's modules are not precompiled "
                  "(the page compiles them at every load)", file=sys.stderr)
            return None
        b.say(f"precompiling {len(todo)} wheel(s) with Pyodide {pyodide_version} in Node")
        try:
            run_in_pyodide("compile_wheels.py", {f"/job/{i}.whl": job["path"] for i, job in enumerate(todo)},
                           {f"/job/{i}.zip": job["out"] for i, job in enumerate(todo)},
                           {"n_wheels": len(todo), "sourceless": sourceless})
        except (OSError, subprocess.SubprocessError) as e:
            detail = getattr(e, "stderr", None) or str(e)
            print(f"warning: precompiling the page's modules failed, the page compiles them at every "
                  f"load ({detail.strip().splitlines()[-1] if detail.strip() else e})", file=sys.stderr)
            return None
        for job in todo:
            os.replace(job["out"], job["out"][:-len(".tmp")])
    return parts


# what a wheel's file is for the module lists: numpy/_core/_methods.py and
# numpy/_core/_multiarray_umath.cpython-314-wasm32-emscripten.so are modules, the rest data
_EXTENSION_RE = re.compile(r"\.cpython-[^/]*\.so$")


def wheel_module(name: str) -> str | None:
    """The dotted module a wheel's file holds (``numpy/linalg/__init__.py`` -> ``numpy.linalg``),
    None for anything else (stubs, headers, tests' data, ...)."""
    if name.endswith(".py"):
        stem = name[:-3]
    elif _EXTENSION_RE.search(name):
        stem = _EXTENSION_RE.sub("", name)
    else:
        return None
    return stem.replace("/", ".").removesuffix(".__init__")


def sourceless_wheel(src: Path, compiled: Path, keep: set[str] | None = None) -> bytes:
    """The wheel ``src`` with each module as its sourceless bytecode from ``compiled``
    (tools/compile_wheels.py's sourceless zip) in place of its source, its .dist-info with a
    RECORD of what is there. With ``keep``, only those modules (extension modules as they are)
    and nothing else: no stubs, headers, static libraries, tests, no module the page never
    imports. No file is changed: each is left out, compiled or copied. Raises BuildError when a
    module of ``keep`` is not in the wheel (a misspelt or removed name) or did not compile."""
    files, found = [], set()
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(compiled) as pyc:
        dist_info = next(name.split("/")[0] for name in z.namelist() if name.split("/")[0].endswith(".dist-info"))
        compiled_names = set(pyc.namelist())
        for name in z.namelist():
            if name.endswith("/") or name == f"{dist_info}/RECORD":
                continue
            module = wheel_module(name)
            if name.startswith(dist_info + "/") or (keep is None and module is None):
                files.append((name, z.read(name)))
                continue
            if keep is not None and module not in keep:
                continue
            found.add(module)
            if name.endswith(".py"):
                if name + "c" not in compiled_names:
                    raise BuildError(f"{src.name}: {name} did not compile, so {module} cannot ship as bytecode")
                files.append((name + "c", pyc.read(name + "c")))
            else:
                files.append((name, z.read(name)))
    missing = sorted((keep or set()) - found)
    if missing:
        raise BuildError(f"{src.name} has no module {', '.join(missing)} (named by {NUMPY_MODULES.name})")
    return wheel_bytes(files, dist_info)


def sourceless_llmviz(b: Builder, source: bytes, name: str, pyodide_version: str) -> bytes | None:
    """Our wheel (``source``, from ``llmviz_wheel_bytes``) as bytecode of this Pyodide without its
    sources (tracebacks in the page give file and line, not the line's text; the code panel's
    snippets come from the build): one file instead of the wheel plus its bytecode. None when
    Node cannot compile it (the source wheel ships)."""
    CACHE.mkdir(exist_ok=True)
    wheel = CACHE / name
    if not wheel.is_file() or wheel.read_bytes() != source:
        wheel.write_bytes(source)
    parts = compiled_wheels(b, [wheel], pyodide_version, sourceless=True)
    return None if parts is None else sourceless_wheel(wheel, parts[0])


def slim_numpy(b: Builder, wheel: Path, pyodide_version: str) -> bytes | None:
    """numpy for the page: ``sourceless_wheel`` of ``wheel`` with the modules of tools/numpy_modules.txt
    as bytecode of this Pyodide (2.9 MB become about 1.4). None when Node cannot compile them
    (the whole wheel ships then, with its bytecode in wheels/pycache.zip if that could be made)."""
    parts = compiled_wheels(b, [wheel], pyodide_version, sourceless=True)
    return None if parts is None else sourceless_wheel(wheel, parts[0], numpy_modules())


def precompiled_stdlib(b: Builder, pyodide_version: str) -> Path | None:
    """Pyodide's python_stdlib.zip with every module as bytecode (compiled by that Pyodide in Node),
    shipped by default: Python then starts without compiling the modules it imports (1-2 s of
    a 2.5-4 s start here). Sources are left out, as Pyodide does for the packages of its own
    distribution (the zip grows from 2.5 to 4.5 MB instead of 7): tracebacks into the standard
    library give file and line but no source text. Cached in .cache/ by the zip's sha256; None
    (Pyodide's zip as it is) when Node cannot do it."""
    src = NODE / "pyodide" / "python_stdlib.zip"
    key = sha256_bytes(f"{sha256_file(src)} {pyodide_version} {tool_digest('compile_stdlib.py')}".encode())[:24]
    out = CACHE / f"stdlib-pyc-{key}.zip"
    if out.is_file():
        return out
    if shutil.which("node") is None:
        print("warning: no Node.js here, so Pyodide's python_stdlib.zip ships as it is "
              "(Python compiles the standard library at every load, 1-2 s slower)",
              file=sys.stderr)
        return None
    b.say(f"precompiling Pyodide {pyodide_version}'s standard library in Node")
    try:
        run_in_pyodide("compile_stdlib.py", {"/job/stdlib.zip": src}, {"/job/stdlib-pyc.zip": str(out) + ".tmp"})
    except (OSError, subprocess.SubprocessError) as e:
        print(f"warning: precompiling the standard library failed ({_last_line(e)}); "
              "shipping Pyodide's python_stdlib.zip as it is", file=sys.stderr)
        return None
    os.replace(str(out) + ".tmp", out)
    return out


def _pygments_version() -> str:
    """The pygments that lexed data/code.json here (the page itself ships no pygments)."""
    import pygments
    return pygments.__version__


STDLIB_MODULES = TOOLS / "stdlib_modules.txt"


NUMPY_MODULES = TOOLS / "numpy_modules.txt"


def module_list(path: Path) -> set[str]:
    """The dotted module names of a measured list (one a line, ``#`` lines are its header)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def stdlib_modules() -> set[str]:
    """The standard library modules the page imports (tools/stdlib_modules.txt, measured)."""
    return module_list(STDLIB_MODULES)


def numpy_modules() -> set[str]:
    """The numpy modules the page imports (tools/numpy_modules.txt, measured)."""
    return module_list(NUMPY_MODULES)


def trimmed_stdlib(src: Path, keep: set[str]) -> bytes:
    """``src`` (a python_stdlib.zip of bytecode) with only the modules in ``keep``, their packages'
    folders and the data files inside those packages: 1.7 of 4.5 MB. Raises BuildError when a
    module of ``keep`` is not in the zip (a misspelt or removed name)."""
    out, found = io.BytesIO(), set()
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as kept:
        for info in z.infolist():
            name = info.filename
            if name.endswith((".pyc", ".py")):
                module = name.rsplit(".", 1)[0].replace("/", ".").removesuffix(".__init__")
                wanted = module in keep
                found.add(module) if wanted else None
            else:   # a folder or a data file: kept inside a kept package
                folder = name.rstrip("/") if name.endswith("/") else name.rpartition("/")[0]
                wanted = folder.replace("/", ".") in keep
            if wanted:
                kept.writestr(info, z.read(info), compresslevel=ZIP_LEVEL)
    missing = sorted(keep - found)
    if missing:
        raise BuildError(f"{STDLIB_MODULES.name} names modules Pyodide's standard library does not have: "
                         f"{', '.join(missing)}")
    return out.getvalue()


def llmviz_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    m = re.search(r'^version\s*=\s*"([^"]+)"', text, re.M)
    return m.group(1) if m else "0.0.0"


# parts of the package the page never imports (command line, training, conversion, benchmarks):
# left out of the page's wheel
OFFLINE_ONLY = ("cli",)


def llmviz_wheel_bytes(version: str) -> bytes:
    """A pure-Python wheel of py/llmviz for the page (without ``OFFLINE_ONLY``), byte-for-byte the
    same for the same sources."""
    dist_info = f"llmviz-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for path in sorted(PY_SRC.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        if path.relative_to(PY_SRC).parts[0] in OFFLINE_ONLY:
            continue
        files.append(("llmviz/" + path.relative_to(PY_SRC).as_posix(), path.read_bytes()))
    metadata = (f"Metadata-Version: 2.1\nName: llmviz\nVersion: {version}\n"
                "Summary: A small GPT running in the browser, step by step\n"
                "Requires-Python: >=3.11\n").encode()
    wheel = b"Wheel-Version: 1.0\nGenerator: llmviz build.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel),
              (f"{dist_info}/top_level.txt", b"llmviz\n")]
    return wheel_bytes(files, dist_info)


def wheel_bytes(files: list[tuple[str, bytes]], dist_info: str) -> bytes:
    """A wheel (zip) of ``files`` (name, data) with ``dist_info``/RECORD listing them, with fixed
    dates: the same files give the same bytes."""
    files = list(files)
    record = []
    for name, data in files:
        digest = hashlib.sha256(data).digest()
        record.append(f"{name},sha256={base64.urlsafe_b64encode(digest).rstrip(b'=').decode()},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=ZIP_LEVEL)
    return buf.getvalue()


def _wheel_tags(file_name: str) -> str:
    parts = file_name[:-len(".whl")].split("-")
    return "-".join(parts[-3:]) if len(parts) >= 5 else ""


def find_numpy(b: Builder, lock: dict, wheelhouse: Path | None, download: bool) -> tuple[dict, Path | None]:
    """Decide which numpy wheel (if any) the page gets. Returns (record, wheel path)."""
    entry = lock["packages"]["numpy"]
    want_name, want_sha = entry["file_name"], entry["sha256"]
    record = {"status": "not-vendored", "file": None, "sha256": None, "lock_file": want_name,
              "lock_sha256": want_sha, "source": None}
    version = lock["info"].get("version") or npm_version("pyodide")
    if wheelhouse is not None:
        if not wheelhouse.is_dir():
            raise BuildError(f"--wheelhouse {wheelhouse} is not a directory")
        exact = wheelhouse / want_name
        if exact.is_file():
            got = sha256_file(exact)
            if got == want_sha:
                record.update(status="vendored", file=want_name, sha256=got, source=str(wheelhouse))
                return record, exact
            b.say(f"warning: {exact} has sha256 {got}, pyodide-lock.json says {want_sha}")
        candidates = sorted(p for p in wheelhouse.glob("numpy-*.whl") if p.name != want_name or p.is_file())
        refused = []
        for cand in candidates:
            if _wheel_tags(cand.name) == NUMPY_TAGS:
                got = sha256_file(cand)
                if got == want_sha:
                    record.update(status="vendored", file=cand.name, sha256=got, source=str(wheelhouse))
                    return record, cand
                print(f"warning: using {cand.name} (sha256 {got}) from the wheelhouse: it is not the build "
                      f"pyodide-lock.json names ({want_name}, sha256 {want_sha}), but it has the same ABI tags "
                      f"{NUMPY_TAGS}", file=sys.stderr)
                record.update(status="vendored-other-build", file=cand.name, sha256=got, source=str(wheelhouse))
                return record, cand
            refused.append(cand.name)
        if refused:
            print(f"refusing {', '.join(refused)}: numpy for this Pyodide needs the tags {NUMPY_TAGS}",
                  file=sys.stderr)
    if download:
        CACHE.mkdir(exist_ok=True)
        cached = CACHE / want_name
        if cached.is_file() and sha256_file(cached) == want_sha:
            record.update(status="vendored", file=want_name, sha256=want_sha, source="cache")
            return record, cached
        url = PYODIDE_CDN.format(version=version, file_name=want_name)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                data = resp.read()
        except Exception as e:  # noqa: BLE001 - any network failure means "not available"
            record["download_error"] = f"{type(e).__name__}: {e}"
        else:
            got = sha256_bytes(data)
            if got != want_sha:
                print(f"refusing the numpy download from {url}: sha256 {got}, pyodide-lock.json says {want_sha}",
                      file=sys.stderr)
                record["download_error"] = f"sha256 mismatch ({got})"
            else:
                cached.write_bytes(data)
                record.update(status="vendored", file=want_name, sha256=got, source=url)
                return record, cached
    print("numpy for Pyodide: not vendored (no --wheelhouse with a "
          f"{NUMPY_TAGS} wheel, no download); the page will run on the bundled trace", file=sys.stderr)
    return record, None


# ----------------------------------------------------------------------------
# model, bundled trace, scene

def model_data(b: Builder, weights: Path, example: str) -> dict:
    sys.path.insert(0, str(ROOT / "py"))
    from llmviz.core import weights as weights_mod
    from llmviz.core import tracefile
    from llmviz.core.trace import Trace

    if weights.suffix != ".npz":
        weights = weights.with_suffix(".npz")
    card_path = weights.with_suffix(".json")
    if not weights.is_file() or not card_path.is_file():
        raise BuildError(f"no weights at {weights} (+ {card_path.name}); train them with "
                         "'python -m llmviz train sort' or pass --weights PATH.npz")
    model = weights_mod.load(weights)
    b.copy(weights, "weights/" + weights.name)
    b.copy(card_path, "weights/" + card_path.name)
    card = model.card
    task = card.get("task") or {}
    text = example
    if task.get("name") == "sort":
        from llmviz.core import sort_task
        text = sort_task.sequence(example)
    text = text[:model.config.block_size]
    ids = model.vocab.encode(text, model.config.block_size)
    trace = model.trace([ids])
    index, data = tracefile.dump(trace, {"example": example, "text": text, "ids": ids,
                                         "model": card.get("name"), "weights": weights.name})
    b.write("data/trace.json", json.dumps(index, indent=1, sort_keys=True))
    b.write("data/trace.bin", data)
    # the weights in the same format, so the page can quote them without numpy
    pindex, pdata = tracefile.dump(Trace(model.state_dict(), model.config), {"model": card.get("name")})
    b.write("data/params.json", json.dumps(pindex, indent=1, sort_keys=True))
    b.write("data/params.bin", pdata)
    info = {"name": card.get("name"), "weights": f"weights/{weights.name}", "card": f"weights/{card_path.name}",
            "example": example, "text": text, "config": model.config.to_dict()}
    info["scene"] = scene_data(b, model, trace, len(ids), weights)
    return info


def scene_data(b: Builder, model, trace, T: int, weights: Path) -> str:
    """dist/data/scene.json (``llmviz.viz.layout.scene``) + values.bin and its offset table values.json
    (``llmviz.viz.scene_values``: {block id: [offset in floats, count]}), for a first frame
    with real numbers before Python is up. values.bin leaves out the parameters the weights
    file stores: the scene names that file (shipped as weights/NAME.npz), and the page reads
    them from it (its 3D view, site/js/stage/npz.js, and its Python: one download for both)
    instead of a second copy; a tied lm_head, which the file does not store, stays in."""
    from llmviz.viz import layout, scene_values

    scene = layout.scene(model.config, T=T)
    with zipfile.ZipFile(weights) as z:
        stored = {name.removesuffix(".npy") for name in z.namelist()}
    values = {block_id: data for block_id, data in
              scene_values.block_values(scene, trace, model.state_dict()).items()
              if scene["blocks"][_block_index(scene, block_id)].get("param") not in stored}
    scene["weights"] = f"weights/{weights.name}"
    scene["scale_views"] = layout.scale_views()     # the size buttons over the 3D view
    scene["tokens"] = {"vocab": list(model.vocab.tokens), "tokens": [int(i) for i in trace["idx"][0]]}
    data, offsets = scene_values.pack(scene, values)
    b.write("data/scene.json", json.dumps(scene, separators=(",", ":")))
    b.write("data/values.bin", data)
    b.write("data/values.json", json.dumps(offsets, separators=(",", ":")))
    return "data/scene.json"


def _block_index(scene: dict, block_id: str) -> int:
    return next(i for i, block in enumerate(scene["blocks"]) if block["id"] == block_id)


def code_data(b: Builder, nanogpt: Path | None, download: bool) -> dict:
    """dist/data/code.json: every code reference of the walkthrough resolved against our port
    and nanoGPT's model.py (``llmviz.codepanel.code_refs``).

    nanoGPT's file comes from --nanogpt, $LLMVIZ_NANOGPT, the .cache/ download, or a download
    of the pinned commit (skipped with --no-download); without it the snippets of our port
    are still written and the build says so in one line.
    """
    from llmviz.codepanel import code_refs, nanogpt_source

    if nanogpt is None and not download and not os.environ.get(nanogpt_source.ENV_VAR):
        cached = CACHE / f"nanogpt-{nanogpt_source.PINNED_COMMIT}" / "model.py"
        text, info = (nanogpt_source.get_source(cached) if cached.is_file() else
                      (None, {"status": "missing", "sha256": None, "path": None,
                              "message": "nanoGPT model.py not available (--no-download); nanoGPT "
                                         "snippets left out, pass --nanogpt PATH to use a checkout"}))
    else:
        text, info = nanogpt_source.get_source(nanogpt, cache_dir=CACHE)
    if info["status"] != "pinned":
        print(info["message"], file=sys.stderr)
    try:
        resolved = code_refs.check_all(text)
    except code_refs.SelectorError as e:
        raise BuildError(f"a code reference does not resolve: {e}") from None
    b.write("data/code.json", json.dumps(code_refs.to_json(resolved), separators=(",", ":")))
    # the code panel's highlighting: pygments' light and dark themes, scoped under
    # .code-light / .code-dark (llmviz.page.ui.code_view puts one of them on #code)
    from llmviz.codepanel import annotate
    b.write("css/code-theme.css", "/* generated by build.py: llmviz.codepanel.annotate.css('light') + css('dark') */\n"
            + annotate.css("light") + "\n" + annotate.css("dark") + "\n")
    return info


# ----------------------------------------------------------------------------
# icons (drawn here, no image library needed)

def _png(width: int, height: int, pixel) -> bytes:
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(pixel(x, y))
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")


def icon_png(size: int) -> bytes:
    """A 4x4 grid of cells in blue and orange on a dark tile: a tiny weight matrix."""
    bg, grid = (17, 24, 39), 4
    colours = [(59, 130, 246), (249, 115, 22), (96, 165, 250), (251, 146, 60), (30, 64, 175), (234, 88, 12)]
    margin, gap = size // 8, max(1, size // 48)
    cell = (size - 2 * margin) // grid
    def pixel(x, y):
        cx, cy = (x - margin), (y - margin)
        if 0 <= cx < cell * grid and 0 <= cy < cell * grid:
            i, j = cx // cell, cy // cell
            if cx % cell >= gap and cy % cell >= gap:
                return colours[(i * 3 + j * 5 + i * j) % len(colours)]
        return bg
    return _png(size, size, pixel)


# ----------------------------------------------------------------------------

def git_commit() -> dict:
    def run(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    try:
        commit = run("rev-parse", "HEAD")
        dirty = bool(run("status", "--porcelain", "--untracked-files=no"))
    except OSError:
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": dirty}


def locale_data(b: Builder) -> dict[str, str]:
    """locales/<lang>.json for every catalogue of ``py/llmviz/locales`` (the keys the page's
    JavaScript reads before Python runs, ``llmviz.locales.js_keys``); returns {code: name},
    which index.html gets for the language menu. The page's Python reads the TOML itself."""
    sys.path.insert(0, str(ROOT / "py"))
    from llmviz import locales
    for code in locales.languages():
        b.write(f"locales/{code}.json", json.dumps(locales.js_keys(code), ensure_ascii=False, sort_keys=True))
    return dict(locales.languages())


def build(out: Path, wheelhouse: Path | None = None, weights: Path | None = None,
          nanogpt: Path | None = None, label: str = "", quiet: bool = False, download: bool = True,
          precompile_stdlib: bool = True, whole_numpy: bool = False, bundle: bool = True) -> dict:
    t0 = time.perf_counter()
    b = Builder(out, quiet)
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    ensure_node_modules(b)

    # site/ as it is, except the files that get the build id (written last)
    templated = {"index.html", "sw.js"}
    bundled = bundle and bundled_js(b)
    for path in sorted(SITE.rglob("*")):
        rel = path.relative_to(SITE).as_posix()
        if (path.is_file() and rel not in templated and not path.name.startswith(".") and path.suffix != ".wat"
                and not rel.startswith(("js/", "dev/"))):
            b.copy(path, rel)
    if not bundled:
        unbundled_js(b)
        # the renderer's test page imports js/renderer.js and three by name (unbundled only)
        for path in sorted((SITE / "dev").rglob("*")):
            if path.is_file():
                b.copy(path, path.relative_to(SITE).as_posix())
    b.copy(PY_SRC / "page" / "app.py", "app.py")
    b.copy(PY_SRC / "page" / "worker.py", "worker.py")
    for size in (192, 512):
        b.write(f"icons/icon-{size}.png", icon_png(size))

    copy_pyscript(b)
    stdlib = precompiled_stdlib(b, npm_version("pyodide")) if precompile_stdlib else None
    lock = copy_pyodide(b, stdlib)
    addons = three_files()[1]
    kernels = wasm_kernels(b)

    wheels = {}
    version = llmviz_version()
    lv_name = f"llmviz-{version}-py3-none-any.whl"
    source = llmviz_wheel_bytes(version)
    compiled = sourceless_llmviz(b, source, lv_name, npm_version("pyodide"))
    b.write(f"wheels/{lv_name}", compiled or source)
    wheels["llmviz"] = f"wheels/{lv_name}"
    precompile = [] if compiled else ["llmviz"]     # the wheels whose modules go into wheels/pycache.zip
    numpy, numpy_path = find_numpy(b, lock, wheelhouse, download)
    if numpy_path is not None:
        rel = f"wheels/{numpy_path.name}"
        slim = None if whole_numpy else slim_numpy(b, numpy_path, npm_version("pyodide"))
        if slim is None:
            b.copy(numpy_path, rel)
            precompile.append("numpy")
        else:
            b.write(rel, slim)
        wheels["numpy"] = numpy["file"] = rel
        # sha256 stays the checked original's; the shipped file's is in "files"
        numpy["slim"] = slim is not None
    pycache = (pycache_archive(b, [out / wheels[name] for name in precompile], npm_version("pyodide"))
               if precompile else None)
    if pycache is not None:
        b.write(PYCACHE_FILE, pycache)

    model = model_data(b, weights or ROOT / "weights" / "sort.npz", DEFAULT_EXAMPLE)
    nanogpt_info = code_data(b, nanogpt, download)
    languages = locale_data(b)

    # every file so far, hashed; the build id is a digest of all of them (+ the templates and label)
    files = {}
    for rel in sorted(b.written):
        path = out / rel
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    sw_template = (SITE / "sw.js").read_text(encoding="utf-8")
    html_template = (SITE / "index.html").read_text(encoding="utf-8")
    digest = hashlib.sha256()
    for rel, meta in files.items():
        digest.update(f"{rel}\0{meta['sha256']}\n".encode())
    digest.update(sw_template.encode() + html_template.encode() + label.encode())
    build_id = digest.hexdigest()[:16]

    html = (html_template.replace(BUILD_ID_MARK, build_id).replace(LABEL_MARK, _html_escape(label))
            .replace(LOCALES_MARK, json.dumps(languages, ensure_ascii=False).replace("</", "<\\/")))
    html = (html.replace(PRELOADS_MARK, first_frame_preloads(out, html))
            .replace(FIRST_DATA_MARK, json.dumps(first_frame_data(model["weights"]))))
    b.write("index.html", html)
    files["index.html"] = {"sha256": sha256_bytes(html.encode()), "size": len(html.encode())}

    precache = precache_list(files, has_numpy="numpy" in wheels)
    info = {
        "build_id": build_id,
        "label": label,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": git_commit(),
        "versions": {"pyodide": npm_version("pyodide"), "python": lock["info"].get("python"),
                     "pyscript": npm_version("@pyscript/core"), "three": npm_version("three"),
                     "pygments": _pygments_version(), "llmviz": version},
        "numpy": numpy,
        "wheels": wheels,
        # the wheels' modules as bytecode of this Pyodide's Python (app.py uses it when present)
        "stdlib_precompiled": stdlib is not None,
        "pycache": {"file": PYCACHE_FILE, "python": lock["info"].get("python"),
                    "wheels": sorted(precompile)} if pycache is not None else None,
        "three_addons": addons,
        # wasm kernels (site/wasm/*.wat) the model worker uses when the browser runs them
        "kernels": kernels,
        "model": model,
        "trace": {"json": "data/trace.json", "bin": "data/trace.bin"},
        "params": {"json": "data/params.json", "bin": "data/params.bin"},
        # where the file lay on the builder's machine stays there: the site is public
        "nanogpt": {k: v for k, v in nanogpt_info.items() if k != "path"},
        # build-info.json itself and sw.js are not listed (they hold the id and this list)
        "files": files,
        # what the page's progress line counts (js/boot.js)
        "boot_files": boot_files(precache, wheels),
    }
    b.write("build-info.json", json.dumps(info, indent=1))
    sw = sw_template.replace(BUILD_ID_MARK, build_id).replace(PRECACHE_MARK, json.dumps(precache, indent=1))
    b.write("sw.js", sw)

    removed = b.remove_stale()
    elapsed = time.perf_counter() - t0
    total = sum(m["size"] for m in files.values())
    b.say(f"built {out} in {elapsed:.2f} s: {len(files) + 2} files, {total / 1e6:.1f} MB, "
          f"{b.copied} written, {b.skipped} unchanged, {removed} removed; build id {build_id}; "
          f"numpy: {numpy['status']}")
    return info


# what the 3D view's first frame needs: the modules of boot.js and stage/bridge.js (three.js
# included) and the files bridge.js reads (+ the model's weights file)
FIRST_FRAME_MODULES = ("js/boot.js", "js/stage/bridge.js")
FIRST_FRAME_DATA = ("data/scene.json", "data/values.json", "data/values.bin")


def first_frame_data(weights: str) -> list[str]:
    """The files index.html's first script asks for at once (#llmviz-first-data): the first
    frame's data and the model's weights, which bridge.js and Python take from there."""
    return [*FIRST_FRAME_DATA, weights]


def module_graph(out: Path, entries: tuple[str, ...], import_map: dict[str, str]) -> list[str]:
    """Every module (a path in ``out``) that ``entries`` import statically, directly or not, in
    the order they are found: relative specifiers resolved against the importing file, bare ones
    through ``import_map`` (an exact name, or a prefix ending in "/"). A module that is not
    there is a BuildError (a preload of it would be a 404 on every visit)."""
    found: list[str] = []
    todo = list(entries)
    while todo:
        rel = todo.pop(0)
        for spec in _imports((out / rel).read_text(encoding="utf-8")):
            if spec.startswith("."):
                target = os.path.normpath(os.path.join(os.path.dirname(rel), spec)).replace(os.sep, "/")
            else:
                mapped = import_map.get(spec) or next((url + spec[len(key):] for key, url in import_map.items()
                                                        if key.endswith("/") and spec.startswith(key)), None)
                if mapped is None:
                    raise BuildError(f"{rel} imports {spec!r}, which index.html's import map does not name")
                target = os.path.normpath(mapped).replace(os.sep, "/")
            if not (out / target).is_file():
                raise BuildError(f"{rel} imports {spec!r}: {target} is not in the build")
            if target not in found and target not in entries:
                found.append(target)
                todo.append(target)
    return found


def first_frame_preloads(out: Path, html: str) -> str:
    """``<link>``s that ask for the first frame's modules at once: the browser would find each
    module only once the one importing it had arrived (with ``--no-bundle``, four levels:
    boot.js, renderer.js, three.module.js, three.core.js; bundled, the chunks)."""
    m = re.search(r'<script type="importmap">\s*(\{.*?\})\s*</script>', html, re.S)
    if m is None:
        raise BuildError("index.html has no import map")
    modules = module_graph(out, FIRST_FRAME_MODULES, json.loads(m.group(1))["imports"])
    return "\n  ".join(f'<link rel="modulepreload" href="./{rel}">' for rel in modules)


# files of dist/ the page itself never requests: the renderer's test page, the embedding example,
# PyScript's storage helper (a module for other pages); with numpy, the bundled copy of the
# parameters (the page reads the weights instead); without, the model worker (app.py starts
# it only where there is numpy to run a model)
PRECACHE_SKIP = ("dev/", "embed-example.html", "pyscript/storage.js")
# Pyodide's wasm as it is: only a browser without DecompressionStream asks for it (not the .gz)
RAW_WASM = "pyodide/pyodide.asm.wasm"
PARAMS_FILES = ("data/params.json", "data/params.bin")
WORKER_FILES = ("worker.py", "worker.toml")


def precache_list(files: dict, has_numpy: bool) -> list[str]:
    """What sw.js stores at the first visit: every file the page can request (build-info.json
    and the page itself, "./", included), so that a warm visit needs nothing from the network."""
    skip = PRECACHE_SKIP + (PARAMS_FILES if has_numpy else WORKER_FILES)
    return sorted([rel for rel in files if not rel.startswith(skip) and rel != RAW_WASM] + ["build-info.json", "./"])


# the folders of the downloads the page waits for before it is ready (Python, the wheels, the
# model and its data); its modules, styles and words are small beside them
BOOT_DIRS = ("pyodide/", "wheels/", "weights/", "data/")


def boot_files(precache: list[str], wheels: dict) -> list[str]:
    """The files of BOOT_DIRS the page itself fetches before ``ready``, which its progress line
    counts ("6.6 of 7.5 MB"): those of them the page can request at all (``precache``, from
    precache_list: not Pyodide's raw wasm, which only a browser without DecompressionStream asks
    for instead of the .gz, js/boot.js swapping them; with numpy not the bundled parameters), but
    numpy (the model worker loads it)."""
    return [rel for rel in precache if rel.startswith(BOOT_DIRS) and rel != wheels.get("numpy")]


def _check_out(out: Path) -> None:
    """Refuse an output folder that is not empty and not an earlier build (stale files get deleted)."""
    if out in (ROOT, SITE, ROOT / "py", Path.home(), Path("/")) or ROOT.is_relative_to(out):
        raise BuildError(f"--out {out} would overwrite the sources; pick a new folder such as dist/")
    if out.exists() and any(out.iterdir()) and not (out / "build-info.json").is_file():
        raise BuildError(f"--out {out} is not empty and holds no earlier build (no build-info.json); "
                         "pick an empty or new folder")


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# ----------------------------------------------------------------------------
# serving

class SiteHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm", ".mjs": "text/javascript", ".js": "text/javascript",
        ".json": "application/json", ".webmanifest": "application/manifest+json",
        ".whl": "application/zip", ".npz": "application/octet-stream", ".bin": "application/octet-stream",
        ".py": "text/plain; charset=utf-8", ".toml": "text/plain; charset=utf-8", ".svg": "image/svg+xml",
    }

    def end_headers(self):
        # always revalidate: a rebuild must never be mixed with a stale HTTP-cached file
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a browser that closes a connection mid-download is normal, not an error to print
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(directory: Path, port: int) -> None:
    handler = functools.partial(SiteHandler, directory=str(directory))
    try:
        httpd = QuietServer(("127.0.0.1", port), handler)
    except OSError as e:
        raise BuildError(f"cannot serve on 127.0.0.1:{port} ({e.strerror}); pick another --port, "
                         "or --port 0 for any free one") from None
    with httpd:
        print(f"serving {directory} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the llmviz static site into dist/.")
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist)")
    p.add_argument("--serve", action="store_true", help="serve the output on 127.0.0.1 after building")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default 8000; 0 picks one)")
    p.add_argument("--wheelhouse", type=Path, help="folder holding numpy built for Pyodide "
                   f"(numpy-*-{NUMPY_TAGS}.whl)")
    p.add_argument("--no-download", action="store_true",
                   help="do not try to download numpy for Pyodide when the wheelhouse has none")
    p.add_argument("--nanogpt", type=Path, help="nanoGPT's model.py (a local checkout) for the code panel")
    p.add_argument("--weights", type=Path, help="the model to ship (default: weights/sort.npz)")
    p.add_argument("--label", default=os.environ.get("LLMVIZ_BUILD_LABEL", ""),
                   help="a short text shown in the page header (e.g. a version); part of the build id")
    p.add_argument("--quiet", action="store_true", help="print only warnings and errors")
    p.add_argument("--stdlib-sources", action="store_true",
                   help="ship Pyodide's python_stdlib.zip as it is (sources: tracebacks into the "
                        "standard library show their lines; 2 MB smaller) instead of as bytecode "
                        "compiled here; Python then starts 1-2 s later at every load")
    p.add_argument("--numpy-whole", action="store_true",
                   help="ship the numpy wheel as it is instead of the slim one (only the modules of "
                        "tools/numpy_modules.txt, as bytecode); tools/stdlib_usage.py measures with it")
    p.add_argument("--no-bundle", action="store_true",
                   help="ship site/js as it is, with three.js in vendor/three/ and site/dev/ (the "
                        "renderer's test page), instead of bundled and minified: the code as written, "
                        "for reading and debugging in the browser (~35 requests for the first frame)")
    args = p.parse_args(argv)
    try:
        build(args.out.resolve(), args.wheelhouse, args.weights, args.nanogpt, args.label, args.quiet,
              download=not args.no_download, precompile_stdlib=not args.stdlib_sources,
              whole_numpy=args.numpy_whole, bundle=not args.no_bundle)
    except BuildError as e:
        print(f"build failed: {e}", file=sys.stderr)
        return 1
    try:
        if args.serve:
            serve(args.out.resolve(), args.port)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
