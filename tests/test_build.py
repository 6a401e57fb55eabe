"""build.py without a browser: what dist/ holds, its hashes, its origins, the numpy policy."""
from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

import build

ROOT = Path(__file__).resolve().parent.parent

REQUIRED = [
    "index.html", "css/app.css", "js/boot.js", "sw.js", "manifest.webmanifest", "app.py", "pyscript.toml",
    "icons/icon.svg", "icons/icon-192.png", "icons/icon-512.png", "build-info.json",
    "pyscript/core.js", "pyscript/core.css",
    *(f"pyodide/{name}" for name in build.PYODIDE_FILES), "pyodide/pyodide.asm.wasm.gz",
    "js/stage/bridge.js", "js/live.js", "js/worker_mail.js",
    "wheels/llmviz-0.1.0-py3-none-any.whl", "data/code.json",
    "weights/sort.npz", "weights/sort.json", "data/trace.json", "data/trace.bin",
]
URL_RE = re.compile(r"""https?://[^\s"'<>()\\`]+""")
# URLs allowed in our own files: XML namespaces (not requests), the loopback address (the
# local servers of build.py --serve and the bench), links to source on GitHub,
# the documented numpy fallback (only in build-info.json, when it was used), and the
# build-time download of nanoGPT's model.py named in llmviz/nanogpt_source.py (CPython
# only; were the page ever to fetch it, the browser tests' request guard would fail)
ALLOWED_URL = re.compile(r"^(http://www\.w3\.org/|http://127\.0\.0\.1[:/]|https://github\.com/|https://cdn\.jsdelivr\.net/pyodide/"
                         r"|https://raw\.githubusercontent\.com/karpathy/nanoGPT/)")


def _info(dist: Path) -> dict:
    return json.loads((dist / "build-info.json").read_text())


def test_dist_holds_every_file(built_dist):
    missing = [rel for rel in REQUIRED if not (built_dist / rel).is_file()]
    assert not missing
    info = _info(built_dist)
    assert set(info["versions"]) >= {"pyodide", "pyscript", "three", "pygments", "python", "llmviz"}
    assert info["versions"]["pyodide"] == "314.0.7"
    assert re.fullmatch(r"[0-9a-f]{16}", info["build_id"])


def test_build_info_hashes_match_the_files(built_dist):
    info = _info(built_dist)
    on_disk = {p.relative_to(built_dist).as_posix() for p in built_dist.rglob("*") if p.is_file()}
    # every file is listed, except the two that hold the list and the id
    assert on_disk - set(info["files"]) == {"build-info.json", "sw.js"}
    assert set(info["files"]) <= on_disk
    for rel, meta in info["files"].items():
        data = (built_dist / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], rel
        assert len(data) == meta["size"], rel


def test_vendored_files_are_the_npm_packages(built_dist):
    # (python_stdlib.zip is trimmed, pyodide.mjs's loader patched:
    # test_pyodide_wasm_ships_gzip_compressed_with_a_loader_that_gunzips_it, and pyodide.asm.mjs's
    # JSPI check: test_pyodide_ships_with_stack_switching_off)
    for name in set(build.PYODIDE_FILES) - {"python_stdlib.zip", "pyodide.mjs", "pyodide.asm.mjs"}:
        assert (built_dist / "pyodide" / name).read_bytes() == (ROOT / "node_modules/pyodide" / name).read_bytes()
    assert (built_dist / "pyscript/core.js").read_bytes() == \
        (ROOT / "node_modules/@pyscript/core/dist/core.js").read_bytes()
    # PyScript's chunks, except those of features the page never uses (editor, terminal, ...)
    npm = {p.name for p in (ROOT / "node_modules/@pyscript/core/dist").iterdir() if not p.name.endswith(".map")}
    ours = {p.name for p in (built_dist / "pyscript").iterdir()}
    assert ours == {n for n in npm if not n.startswith(build.PYSCRIPT_UNUSED)}
    assert not [n for n in ours if n.startswith(("codemirror", "xterm"))]


def test_the_pages_modules_are_bundled_with_three_minified(built_dist):
    """js/: each module the page loads itself (index.html's module scripts, PyScript's js_modules)
    at its own path, with three.js and our modules inside, minified, what they share in chunks;
    no other module ships, nothing imports by a bare name, three's license stays."""
    entries = build.bundle_entries()
    assert set(entries) == {"js/boot.js", "js/stage/bridge.js", "js/live.js", "js/worker_mail.js"}
    shipped = {p.relative_to(built_dist).as_posix() for p in (built_dist / "js").rglob("*.js")}
    chunks = shipped - set(entries)
    assert set(entries) <= shipped and chunks and all(re.fullmatch(r"js/chunk-\w+\.js", c) for c in chunks), shipped
    assert not (built_dist / "vendor").exists() and not (built_dist / "dev").exists()
    # every import is relative and in the build (module_graph raises otherwise), every chunk imported
    assert set(build.module_graph(built_dist, tuple(entries), {})) == chunks
    bridge = (built_dist / "js/stage/bridge.js").read_text(encoding="utf-8")
    npm = sum((ROOT / "node_modules/three/build" / name).stat().st_size for name in ("three.module.js", "three.core.js"))
    assert len(bridge) < 0.4 * npm and "@license" in bridge and "\n//" not in bridge.split("/*!")[0][:2000]
    for name in ("WebGLRenderer", "PerspectiveCamera", "InstancedMesh"):   # three inside, minified
        assert f"class {name}" not in bridge and name in bridge, name


def test_without_esbuild_the_modules_ship_as_they_are(tmp_path, monkeypatch):
    """No Node.js or esbuild: site/js as it is and three.js in vendor/three/, which index.html's
    import map names, so every module the page loads finds its imports."""
    monkeypatch.setattr(build, "_esbuild_version", lambda: "")
    b = build.Builder(tmp_path, quiet=True)
    assert build.bundled_js(b) is False
    build.unbundled_js(b)
    html = (ROOT / "site/index.html").read_text()
    imports = json.loads(re.search(r'<script type="importmap">\s*(\{.*?\})\s*</script>', html, re.S).group(1))["imports"]
    graph = build.module_graph(tmp_path, tuple(build.bundle_entries()), imports)
    assert {"vendor/three/three.module.js", "vendor/three/three.core.js", "js/renderer.js",
            "vendor/three/addons/controls/OrbitControls.js"} <= set(graph)


def test_the_wasm_kernel_is_compiled_listed_and_precached(built_dist):
    """wasm/matmul.wasm: site/wasm/matmul.wat compiled by wabt (a valid module exporting the
    kernel and its memory), named in build-info.json for the worker, stored by sw.js; the
    text source does not ship."""
    info = json.loads((built_dist / "build-info.json").read_text())
    assert info["kernels"] == {"matmul": "wasm/matmul.wasm"}
    data = (built_dist / "wasm/matmul.wasm").read_bytes()
    assert data[:4] == b"\0asm"
    assert info["files"]["wasm/matmul.wasm"]["sha256"] == hashlib.sha256(data).hexdigest()
    exports = subprocess.run(
        ["node", "-e", "const m = new WebAssembly.Module(require('fs').readFileSync(process.argv[1]));"
         "console.log(JSON.stringify(WebAssembly.Module.exports(m).map(e => e.name + ':' + e.kind)))",
         str(built_dist / "wasm/matmul.wasm")], check=True, capture_output=True, text=True).stdout
    assert sorted(json.loads(exports)) == ["matmul:function", "memory:memory"]
    assert '"wasm/matmul.wasm"' in (built_dist / "sw.js").read_text()
    assert not list(built_dist.rglob("*.wat"))


def test_pyodide_wasm_ships_gzip_compressed_with_a_loader_that_gunzips_it(built_dist):
    """pyodide/pyodide.asm.wasm.gz is Pyodide's wasm, byte for byte, at a third of its size, and
    the service worker stores it, not the raw file (there for browsers without DecompressionStream);
    pyodide.mjs's browser fetch goes through tools/pyodide_fetch_gz.js (once)."""
    packed = (built_dist / "pyodide/pyodide.asm.wasm.gz").read_bytes()
    raw = (ROOT / "node_modules/pyodide/pyodide.asm.wasm").read_bytes()
    assert gzip.decompress(packed) == raw and len(packed) < len(raw) / 2
    mjs = (built_dist / "pyodide/pyodide.mjs").read_text()
    assert mjs.startswith((ROOT / "tools/pyodide_fetch_gz.js").read_text())
    assert mjs.count("response:llmvizFetchBinary(n,") == 1 and build.PYODIDE_BROWSER_FETCH not in mjs
    sw = (built_dist / "sw.js").read_text()
    assert '"pyodide/pyodide.asm.wasm.gz"' in sw and '"pyodide/pyodide.asm.wasm"' not in sw
    with pytest.raises(build.BuildError, match="new Pyodide release"):
        build.wasm_gz_loader("export const loadPyodide = () => fetch('pyodide.asm.wasm');")


def test_pyodide_ships_with_stack_switching_off(built_dist):
    """pyodide.asm.mjs, which the page and the model worker both load, never turns JSPI on (Chromium
    crashes on its stacks: build.without_stack_switching); the rest of the file is Pyodide's own."""
    ours = (built_dist / "pyodide/pyodide.asm.mjs").read_text()
    npm = (ROOT / "node_modules/pyodide/pyodide.asm.mjs").read_text()
    assert build.PYODIDE_JSPI_CHECK in npm and build.PYODIDE_JSPI_CHECK not in ours
    assert '"Suspending"in WebAssembly' not in ours and '"Suspender"in WebAssembly' not in ours
    head, _, tail = npm.partition(build.PYODIDE_JSPI_CHECK)
    assert ours == head + "var newJspiSupported=false;var oldJspiSupported=false;" + tail
    with pytest.raises(build.BuildError, match="new Pyodide release"):
        build.without_stack_switching('var jspiSupported="Suspending"in WebAssembly;')


def test_standard_library_ships_as_bytecode_of_the_modules_the_page_imports(built_dist):
    """python_stdlib.zip: the modules of tools/stdlib_modules.txt (what the page imports), each
    as an unchecked hash-based .pyc (the boot test shows Pyodide imports them), with the folders
    and data files of their packages as they are; nothing else."""
    assert _info(built_dist)["stdlib_precompiled"] is True
    keep = build.stdlib_modules()
    assert {"json", "asyncio", "encodings.utf_8", "pyodide", "_pyodide._importhook"} <= keep
    assert not keep & {"unittest", "pydoc", "doctest", "tkinter", "xml"}
    with zipfile.ZipFile(ROOT / "node_modules/pyodide/python_stdlib.zip") as npm, \
            zipfile.ZipFile(built_dist / "pyodide/python_stdlib.zip") as ours:
        def module(name):
            return name[:-3].replace("/", ".").removesuffix(".__init__")
        sources = {n for n in npm.namelist() if n.endswith(".py") and module(n) in keep}
        assert len(sources) == len(keep)
        others = {n for n in npm.namelist() if not n.endswith(".py")
                  and (n.rstrip("/") if n.endswith("/") else n.rpartition("/")[0]).replace("/", ".") in keep}
        assert set(ours.namelist()) == others | {n + "c" for n in sources}
        all_sources = [n for n in npm.namelist() if n.endswith(".py")]
        assert len(all_sources) > 400 and len(sources) < 0.5 * len(all_sources)
        magic = None
        for name in ours.namelist():
            data = ours.read(name)
            if not name.endswith(".pyc"):
                assert data == npm.read(name), name
                continue
            magic = magic or data[:4]
            assert data[:4] == magic and data[2:4] == b"\r\n", name     # one Python's magic number
            assert int.from_bytes(data[4:8], "little") == 1, name         # hash-based, not checked


def test_build_can_ship_the_standard_library_as_it_is(tmp_path, site_weights):
    out = tmp_path / "dist"
    info = build.build(out, weights=site_weights, quiet=True, download=False, precompile_stdlib=False)
    assert info["stdlib_precompiled"] is False
    assert (out / "pyodide/python_stdlib.zip").read_bytes() == \
        (ROOT / "node_modules/pyodide/python_stdlib.zip").read_bytes()


def test_service_worker_precaches_what_the_page_requests_and_names_the_build(built_dist):
    info = _info(built_dist)
    sw = (built_dist / "sw.js").read_text()
    assert f'const BUILD_ID = "{info["build_id"]}"' in sw
    m = re.search(r"const PRECACHE = (\[.*?\]);", sw, re.S)
    precache = set(json.loads(m.group(1)))
    skipped = {rel for rel in info["files"] if rel.startswith(build.PRECACHE_SKIP)} | {build.RAW_WASM}
    if "numpy" in info["wheels"]:   # the page reads the weights, not the bundled copy of the parameters
        skipped |= set(build.PARAMS_FILES)
    else:                           # no model worker where there is no numpy to run a model
        skipped |= set(build.WORKER_FILES)
    assert {"embed-example.html", "pyscript/storage.js"} <= skipped
    assert precache == (set(info["files"]) - skipped) | {"build-info.json", "./"}
    assert {"index.html", "pyodide/pyodide.asm.wasm.gz", "pyodide/python_stdlib.zip", "data/code.json"} <= precache
    html = (built_dist / "index.html").read_text()
    assert f'<meta name="llmviz-build" content="{info["build_id"]}">' in html
    assert "__LLMVIZ_" not in html + sw


def _our_text_files(dist: Path):
    """(name, text) of every file we write (not the vendored packages), the llmviz wheel's too."""
    for path in sorted(dist.rglob("*")):
        rel = path.relative_to(dist).as_posix()
        if not path.is_file() or rel.startswith(("pyodide/", "pyscript/", "vendor/")):
            continue
        if path.suffix in (".html", ".css", ".js", ".py", ".json", ".toml", ".webmanifest", ".svg"):
            yield rel, path.read_text(encoding="utf-8")
    # the wheel's sources (the page's wheel holds them compiled: test_llmviz_wheel_holds_the_package)
    with zipfile.ZipFile(io.BytesIO(build.llmviz_wheel_bytes("0.1.0"))) as z:
        for name in z.namelist():
            yield f"llmviz wheel:{name}", z.read(name).decode("utf-8")


def _quoted_comment_urls(code_json: str) -> list[str]:
    """URLs in the comments of nanoGPT's lines that data/code.json quotes: nanoGPT's own words,
    shown in the code panel as text (never a link, never fetched), not references of ours."""
    urls = []
    for pair in json.loads(code_json)["snippets"].values():
        nanogpt = pair.get("nanogpt") or {}
        for line in nanogpt.get("text", "").splitlines():
            if "#" in line:
                urls += URL_RE.findall(line[line.index("#"):])
        # the same comments again as the snippet's pygments tokens (comment classes: c, c1, ch, cm, ...)
        for cls, value in nanogpt.get("tokens") or []:
            if cls.startswith("c") and value.lstrip().startswith("#"):
                urls += URL_RE.findall(value)
    return urls


def test_our_files_refer_to_no_other_origin(built_dist):
    seen = 0
    for rel, text in _our_text_files(built_dist):
        seen += 1
        bad = [u for u in URL_RE.findall(text) if not ALLOWED_URL.match(u)]
        if rel == "data/code.json":
            for quoted in _quoted_comment_urls(text):
                if quoted in bad:
                    bad.remove(quoted)   # one occurrence each: the same URL anywhere else still counts
        assert not bad, f"{rel} refers to {bad}"
        if rel == "index.html":
            for attr in re.findall(r"""(?:src|href)="([^"]+)\"""", text):
                assert attr.startswith("./"), f"index.html: {attr!r} is not a relative URL"
    assert seen > 10


def test_url_check_catches_a_foreign_url(tmp_path):
    # the check above must fail on a page that loads something from another origin
    text = '<script src="https://cdn.example.com/x.js"></script> <svg xmlns="http://www.w3.org/2000/svg">'
    bad = [u for u in URL_RE.findall(text) if not ALLOWED_URL.match(u)]
    assert bad == ["https://cdn.example.com/x.js"]


def test_llmviz_wheel_holds_the_package(built_dist, tmp_path):
    wheel = built_dist / "wheels" / "llmviz-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        record = z.read("llmviz-0.1.0.dist-info/RECORD").decode()
        for line in record.splitlines():
            name, digest, _size = line.split(",")
            if digest:
                assert name in names
    sources = {"llmviz/" + p.relative_to(ROOT / "py/llmviz").as_posix()
               for p in (ROOT / "py/llmviz").rglob("*.py") if "__pycache__" not in p.parts}
    page = {name for name in sources if not name.startswith("llmviz/cli/")}
    # as bytecode of the page's Python in place of the sources, the other files as they are
    assert {name + "c" for name in page} <= names and not names & sources
    source = zipfile.ZipFile(io.BytesIO(build.llmviz_wheel_bytes("0.1.0")))
    with zipfile.ZipFile(wheel) as z:
        for name in names - {"llmviz-0.1.0.dist-info/RECORD"}:
            if name.endswith(".pyc"):
                _assert_bytecode(z.read(name), name)
            else:
                assert z.read(name) == source.read(name), name
    # the page's wheel carries no command-line, training, conversion or bench code
    assert not [name for name in names if name.startswith("llmviz/cli/")]
    assert {"llmviz/cli/train.py", "llmviz/cli/bench.py", "llmviz/cli/convert.py"} <= sources
    assert "llmviz-0.1.0.dist-info/WHEEL" in names
    # the same sources give the same bytes (so an unchanged rebuild keeps its build id)
    assert build.llmviz_wheel_bytes("0.1.0") == build.llmviz_wheel_bytes("0.1.0")
    assert build.sourceless_llmviz(build.Builder(tmp_path, quiet=True), build.llmviz_wheel_bytes("0.1.0"),
                                   wheel.name, build.npm_version("pyodide")) == wheel.read_bytes()


def test_page_bytecode_leaves_docstrings_out_and_keeps_the_code(built_dist, wheelhouse):
    """The shipped bytecode (ours and numpy's) has no docstrings (a third of numpy's bytes), but
    every other string of the source: a docstring's text is absent, a message's text present."""
    wheel = zipfile.ZipFile(built_dist / "wheels" / "llmviz-0.1.0-py3-none-any.whl")
    app = wheel.read("llmviz/page/app.pyc")
    assert b"The page's Python entry point" not in app           # the module's docstring
    assert b"Hand the page to its views" not in app               # a function's docstring
    assert b"the model could not start in its worker: " in app    # an f-string's text
    assert b"Live inference needs numpy for Pyodide" in app       # a message
    if wheelhouse is None:
        return
    numpy = zipfile.ZipFile(built_dist / _info(built_dist)["numpy"]["file"])
    fromnumeric = numpy.read("numpy/_core/fromnumeric.pyc")
    assert b"Take elements from an array along an axis." not in fromnumeric
    assert b"axis" in fromnumeric


def test_docstrings_are_taken_out_of_the_tree_and_nothing_else():
    import ast
    import runpy
    tool = runpy.run_path(str(ROOT / "tools" / "compile_wheels.py"), run_name="compile_wheels")
    source = ('"""module doc"""\nclass A:\n    """class doc"""\n\n'
              'def f():\n    """only a docstring"""\n\n'
              'def g(x):\n    """doc"""\n    assert x, "kept"\n    "not a docstring"\n    return "text"\n')
    namespace = {}
    exec(compile(tool["without_docstrings"](ast.parse(source)), "t.py", "exec"), namespace)
    assert namespace.get("__doc__") is None and namespace["A"].__doc__ is None and namespace["f"].__doc__ is None
    assert namespace["f"]() is None and namespace["g"](1) == "text"
    with pytest.raises(AssertionError, match="kept"):
        namespace["g"](0)


def _assert_bytecode(data: bytes, name: str) -> None:
    """``data`` is a .pyc of Pyodide's Python (3.14: magic 3600-3699), hash-based and unchecked."""
    assert data[2:4] == b"\r\n" and 3600 <= int.from_bytes(data[:2], "little") < 3700, name
    assert int.from_bytes(data[4:8], "little") == 1, name


def test_bundled_trace_is_the_cpython_forward_pass(built_dist):
    import numpy as np

    from llmviz import load
    from llmviz.core import tracefile

    index = json.loads((built_dist / "data/trace.json").read_text())
    bundled = tracefile.read(index, (built_dist / "data/trace.bin").read_bytes())
    assert index["example"] == "CBABBC"
    model = load(built_dist / "weights/sort.npz")
    live = model.trace([index["ids"]])
    assert model.vocab.decode(index["ids"]) == index["text"]
    assert set(bundled) == set(live)
    for name in live:
        want = np.asarray(live[name])
        got = np.array(bundled[name].tolist()).reshape(want.shape)
        assert np.allclose(got, want, atol=1e-6), name


def test_rebuild_is_quick_and_keeps_the_build_id(built_dist, site_weights, tmp_path):
    out = tmp_path / "dist"
    args = ["--out", str(out), "--no-download", "--weights", str(site_weights)]
    subprocess.run([sys.executable, str(ROOT / "build.py"), *args, "--quiet"], check=True)
    first = _info(out)["build_id"]
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), *args], check=True,
                          capture_output=True, text=True)
    assert _info(out)["build_id"] == first
    m = re.search(r"built .* in ([0-9.]+) s: .* (\d+) written, (\d+) unchanged", proc.stdout)
    assert m, proc.stdout
    assert int(m.group(2)) <= 2  # build-info.json (its time stamp) and nothing else of substance
    # a different label is a different build
    subprocess.run([sys.executable, str(ROOT / "build.py"), *args, "--quiet", "--label", "x"], check=True)
    assert _info(out)["build_id"] != first


def test_server_sends_the_right_types(built_dist, serve_dist):
    server = serve_dist(built_dist)
    want = {"wasm/matmul.wasm": "application/wasm", "pyodide/pyodide.mjs": "text/javascript",
            "js/boot.js": "text/javascript", "manifest.webmanifest": "application/manifest+json"}
    for rel, mime in want.items():
        with urllib.request.urlopen(server.url + rel) as resp:
            assert resp.headers["Content-Type"].split(";")[0] == mime, rel
    with urllib.request.urlopen(server.sub_url + "index.html") as resp:
        assert b"llmviz-build" in resp.read()


# -- numpy for Pyodide: which wheel is accepted ---------------------------------

def _lock(sha: str) -> dict:
    return {"info": {"version": "314.0.7"},
            "packages": {"numpy": {"file_name": f"numpy-2.4.6-{build.NUMPY_TAGS}.whl", "sha256": sha}}}


def _quiet() -> build.Builder:
    return build.Builder(Path("/nonexistent"), quiet=True)


def test_numpy_exact_wheel_is_vendored(tmp_path):
    wheel = tmp_path / f"numpy-2.4.6-{build.NUMPY_TAGS}.whl"
    wheel.write_bytes(b"pretend wheel")
    record, path = build.find_numpy(_quiet(), _lock(hashlib.sha256(b"pretend wheel").hexdigest()),
                                    tmp_path, download=False)
    assert record["status"] == "vendored" and path == wheel


def test_numpy_other_build_with_the_same_tags_is_accepted_with_a_warning(tmp_path, capsys):
    wheel = tmp_path / f"numpy-2.4.3-{build.NUMPY_TAGS}.whl"
    wheel.write_bytes(b"another build")
    lock_sha = "0" * 64
    record, path = build.find_numpy(_quiet(), _lock(lock_sha), tmp_path, download=False)
    assert record["status"] == "vendored-other-build" and path == wheel
    assert record["sha256"] == hashlib.sha256(b"another build").hexdigest()
    assert record["lock_sha256"] == lock_sha
    err = capsys.readouterr().err
    assert record["sha256"] in err and lock_sha in err


def test_numpy_wheel_for_another_platform_is_refused(tmp_path, capsys):
    (tmp_path / "numpy-2.4.6-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"x")
    record, path = build.find_numpy(_quiet(), _lock("0" * 64), tmp_path, download=False)
    assert record["status"] == "not-vendored" and path is None
    assert build.NUMPY_TAGS in capsys.readouterr().err


def test_numpy_download_with_a_wrong_sha256_is_refused(tmp_path, monkeypatch, capsys):
    class FakeResponse:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def read(self):
            return b"tampered"

    monkeypatch.setattr(build, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(build.urllib.request, "urlopen", lambda url, timeout: FakeResponse())
    record, path = build.find_numpy(_quiet(), _lock("0" * 64), None, download=True)
    assert record["status"] == "not-vendored" and path is None
    assert "sha256 mismatch" in record["download_error"]
    assert not (tmp_path / "cache" / f"numpy-2.4.6-{build.NUMPY_TAGS}.whl").exists()


def test_build_without_numpy_records_it(built_dist, wheelhouse):
    numpy = _info(built_dist)["numpy"]
    if wheelhouse is None:
        assert numpy["status"] == "not-vendored" and numpy["file"] is None
        assert not list((built_dist / "wheels").glob("numpy-*"))
    else:
        assert numpy["status"] in ("vendored", "vendored-other-build") and numpy["slim"] is True
        original = Path(numpy["source"]) / Path(numpy["file"]).name    # the checked wheel
        assert hashlib.sha256(original.read_bytes()).hexdigest() == numpy["sha256"]
    lock = json.loads((built_dist / "pyodide/pyodide-lock.json").read_text())
    assert numpy["lock_sha256"] == lock["packages"]["numpy"]["sha256"]


def test_the_slim_numpy_wheel_is_numpy_with_files_left_out_or_compiled(built_dist, wheelhouse):
    if wheelhouse is None:
        pytest.skip("needs numpy for Pyodide (LLMVIZ_PYODIDE_WHEELHOUSE)")
    numpy = _info(built_dist)["numpy"]
    shipped = zipfile.ZipFile(built_dist / numpy["file"])
    original = zipfile.ZipFile(Path(numpy["source"]) / Path(numpy["file"]).name)
    names, originals = set(shipped.namelist()), set(original.namelist())
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    modules = set()
    for name in names - {record}:
        if name.endswith(".pyc"):                    # compiled from the wheel's source, which stays out
            assert name[:-1] in originals and name[:-1] not in names, name
            _assert_bytecode(shipped.read(name), name)
        else:                                        # or the wheel's own file, unchanged
            assert shipped.read(name) == original.read(name), name
        module = build.wheel_module(name[:-1] if name.endswith(".pyc") else name)
        if module:
            modules.add(module)
    # exactly the modules the page imports (measured), nothing for development or tests
    assert modules == build.numpy_modules()
    assert not [n for n in names if n.endswith((".py", ".pyi", ".h", ".pxd", ".a", ".c"))
                or "/tests/" in n or n.startswith(("numpy/f2py/", "numpy/testing/", "numpy/distutils/",
                                                   "numpy/typing/", "numpy/_core/include/", "numpy/random/"))]
    assert {n for n in originals if ".dist-info/licenses/" in n} <= names
    # its RECORD lists every file with its hash
    listed = {}
    for line in shipped.read(record).decode().splitlines():
        name, digest, _size = line.split(",")
        listed[name] = digest
    for name in names - {record}:
        want = base64.urlsafe_b64encode(hashlib.sha256(shipped.read(name)).digest()).rstrip(b"=").decode()
        assert listed.pop(name) == f"sha256={want}", name
    assert listed == {record: ""}
    assert (built_dist / numpy["file"]).stat().st_size < 0.6 * (Path(numpy["source"]) / Path(numpy["file"]).name).stat().st_size


def test_a_module_list_naming_what_the_wheel_lacks_fails_the_build(tmp_path):
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    compiled = tmp_path / "compiled.zip"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("w/__init__.py", "")
        z.writestr("w-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    with zipfile.ZipFile(compiled, "w") as z:
        z.writestr("w/__init__.pyc", b"bytecode")
    with zipfile.ZipFile(io.BytesIO(build.sourceless_wheel(wheel, compiled, {"w"}))) as z:
        assert set(z.namelist()) == {"w/__init__.pyc", "w-1.0.dist-info/WHEEL", "w-1.0.dist-info/RECORD"}
    with pytest.raises(build.BuildError, match="no module w.gone"):
        build.sourceless_wheel(wheel, compiled, {"w", "w.gone"})


@pytest.mark.parametrize("size", [192, 512])
def test_icons_are_pngs_of_their_size(built_dist, size):
    data = (built_dist / f"icons/icon-{size}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == size and int.from_bytes(data[20:24], "big") == size
    manifest = json.loads((built_dist / "manifest.webmanifest").read_text())
    assert f"icons/icon-{size}.png" in [icon["src"] for icon in manifest["icons"]]


def test_build_refuses_a_folder_that_is_not_a_build(tmp_path, site_weights):
    (tmp_path / "notes.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(tmp_path), "--quiet",
                           "--no-download", "--weights", str(site_weights)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "not empty" in proc.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "index.html").exists()


@pytest.mark.skipif(not os.environ.get("LLMVIZ_NANOGPT"),
                    reason="set LLMVIZ_NANOGPT to nanoGPT's model.py to build with it")
def test_build_info_names_no_path_of_the_builders_machine(tmp_path, site_weights):
    """A public site must not carry where files lay when it was built (e.g. the nanoGPT checkout)."""
    source = Path(os.environ["LLMVIZ_NANOGPT"])
    nanogpt = tmp_path / "my-private-folder" / "model.py"
    nanogpt.parent.mkdir()
    nanogpt.write_bytes((source / "model.py" if source.is_dir() else source).read_bytes())
    out = tmp_path / "dist"
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out), "--quiet", "--no-download",
                    "--weights", str(site_weights), "--nanogpt", str(nanogpt)], check=True,
                   capture_output=True, text=True)
    text = (out / "build-info.json").read_text(encoding="utf-8")
    assert json.loads(text)["nanogpt"]["status"] == "pinned"
    assert "my-private-folder" not in text and str(tmp_path) not in text


def test_the_first_frames_modules_and_data_are_asked_for_at_once(built_dist):
    """index.html preloads every module boot.js and stage/bridge.js import (the bundle's chunks:
    otherwise the browser finds them only once the entries have arrived), after the import map (a
    module preload before it would void it), and lists the data bridge.js reads for its first
    script to ask for (#llmviz-first-data): each a file of the build."""
    html = (built_dist / "index.html").read_text()
    assert build.PRELOADS_MARK not in html and build.FIRST_DATA_MARK not in html
    modules = re.findall(r'<link rel="modulepreload" href="\./([^"]+)">', html)
    # the chunks the two bundled entries import (three.js and i18n.js are in them)
    assert set(build.module_graph(built_dist, build.FIRST_FRAME_MODULES, {})) <= set(modules), modules
    assert "js/live.js" not in modules         # a module of the page's Python, not of the first frame
    listed = re.search(r'<script type="application/json" id="llmviz-first-data">(.*?)</script>', html, re.S)
    data = json.loads(listed.group(1))
    weights = _info(built_dist)["model"]["weights"]
    assert data == ["data/scene.json", "data/values.json", "data/values.bin", weights], data
    for rel in modules + data:
        assert (built_dist / rel).is_file(), rel
    assert html.index("<script type=\"importmap\">") < html.index('rel="modulepreload"')
    bridge = (ROOT / "site/js/stage/bridge.js").read_text()
    for rel in build.FIRST_FRAME_DATA:
        assert f'"{rel}"' in bridge, f"bridge.js no longer reads {rel}: take it off build.FIRST_FRAME_DATA"


def test_module_graph_refuses_a_module_that_is_not_there(tmp_path):
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "a.js").write_text('import { b } from "./b.js";\nimport * as T from "three";\n')
    (tmp_path / "js" / "b.js").write_text("export const b = 1;\n")
    (tmp_path / "three.js").write_text("export {};\n")
    assert build.module_graph(tmp_path, ("js/a.js",), {"three": "./three.js"}) == ["js/b.js", "three.js"]
    with pytest.raises(build.BuildError, match="import map"):
        build.module_graph(tmp_path, ("js/a.js",), {})
    (tmp_path / "js" / "b.js").write_text('import "./gone.js";\n')
    with pytest.raises(build.BuildError, match="gone.js is not in the build"):
        build.module_graph(tmp_path, ("js/a.js",), {"three": "./three.js"})
