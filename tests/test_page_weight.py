"""What keeps the page light (issue 15), without a browser: the code panel highlights without
pygments, the trimmed standard library and the slim numpy hold every module our page code
imports, the bench's
static host compresses and revalidates like a real one."""
from __future__ import annotations

import ast
import builtins
import gzip
import json
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

import build
from llmviz.cli.static_host import StaticHost
from llmviz.codepanel import code_refs

ROOT = Path(__file__).resolve().parent.parent
PAGE_CODE = ROOT / "py" / "llmviz"


def _without_pygments(monkeypatch):
    real = builtins.__import__

    def guard(name, *args, **kwargs):
        if name.split(".")[0] == "pygments":
            raise ImportError("the page has no pygments")
        return real(name, *args, **kwargs)

    for name in [m for m in sys.modules if m.split(".")[0] == "pygments"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(builtins, "__import__", guard)


def test_code_panel_highlights_from_the_builds_tokens_without_pygments(monkeypatch):
    """data/code.json carries pygments' tokens: the page's path (from_json, step_code with this
    model's shapes) gives the very HTML the build's pygments gives, with pygments unimportable."""
    from llmviz.core.model import GPTConfig

    resolved = code_refs.check_all(None)
    data = json.loads(json.dumps(code_refs.to_json(resolved)))
    assert all(item is None or item["tokens"] for pair in data["snippets"].values() for item in pair.values())
    keys = list(code_refs.CATALOGUE)
    config = GPTConfig(block_size=11, vocab_size=3, n_layer=3, n_head=3, n_embd=48)
    want = [item["html"] for item in code_refs.step_code(keys, config, 9, resolved, layer=1)]
    _without_pygments(monkeypatch)
    with pytest.raises(ImportError):
        import pygments  # noqa: F401
    got = [item["html"] for item in code_refs.step_code(keys, config, 9, code_refs.from_json(data), layer=1)]
    assert got == want
    assert any('<span class="k">def</span>' in html or '<span class="k">return</span>' in html for html in got)


# CPython's frozen modules (Tools/build/freeze_modules.py): in the zip too, but imported frozen
FROZEN = {"abc", "codecs", "io", "_collections_abc", "_sitebuiltins", "genericpath", "ntpath", "posixpath",
          "os", "site", "stat", "zipimport", "importlib.util", "importlib.machinery", "runpy"}


def _walk_but_main(tree):
    """ast.walk without the bodies of ``def main``: a module's command line (``python -m``)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            continue
        todo.extend(ast.iter_child_nodes(node))


def _stdlib_imports(path: Path) -> set[str]:
    """Every standard library module a file imports (top-level and inside functions, but not
    in a ``def main``, the command line of ``python -m``)."""
    out = set()
    for node in _walk_but_main(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in sys.stdlib_module_names:
                out.add(name)
    return out


def test_trimmed_standard_library_has_every_module_our_page_code_imports():
    """A module our page code (everything but cli/ and __main__.py) imports from Pyodide's
    standard library zip must be in tools/stdlib_modules.txt: else the page fails to import it.
    (Modules compiled into Pyodide, such as sys, math or os, are not in the zip.)"""
    keep = build.stdlib_modules()
    with zipfile.ZipFile(ROOT / "node_modules/pyodide/python_stdlib.zip") as z:
        in_zip = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in z.namelist() if n.endswith(".py")}
    assert {"json", "asyncio", "email.parser"} <= in_zip and "math" not in in_zip
    # compiled in, or frozen into the interpreter (imported from there, never from the zip)
    builtin = {name for name in sys.stdlib_module_names if name not in in_zip} | FROZEN
    missing = {}
    for path in sorted(PAGE_CODE.rglob("*.py")):
        if path.relative_to(PAGE_CODE).parts[0] == "cli" or path.name == "__main__.py":
            continue
        for name in _stdlib_imports(path):
            parts = name.split(".")
            # "from json import loads": json is the module; "from importlib import metadata": both
            candidates = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
            if not any(c in keep or c in builtin for c in candidates):
                missing.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not missing, f"modules the page imports but tools/stdlib_modules.txt lacks: {missing}"


def test_the_check_catches_a_missing_module(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import json\ndef f():\n    import difflib\n    from email import parser\n")
    names = _stdlib_imports(probe)
    assert {"json", "difflib", "email.parser"} <= names
    assert "difflib" not in build.stdlib_modules()


def _numpy_submodules(path: Path) -> set[str]:
    """The numpy submodules a file names: imported (``import numpy.linalg``, ``from numpy.random
    import x``) or reached as an attribute (``np.random.default_rng``: numpy imports it then)."""
    import pkgutil

    import numpy

    submodules = {info.name for info in pkgutil.iter_modules(numpy.__path__)}
    out = set()
    for node in _walk_but_main(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("numpy.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("numpy"):
            out |= {node.module} if node.module != "numpy" else {f"numpy.{a.name}" for a in node.names
                                                                  if a.name in submodules}
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in ("np", "numpy") and node.attr in submodules):
            out.add(f"numpy.{node.attr}")
    return out


# numpy submodules our code names where the page never goes: GPT.generate (the port of nanoGPT's
# generate, shown beside it in the code panel, sampling with numpy's rng.choice like nanoGPT's
# torch.multinomial) runs on the command line; the page samples with llmviz.core.sampling
NOT_IN_PAGE = {"py/llmviz/core/model.py": {"numpy.random"}}


def test_slim_numpy_has_every_numpy_module_our_page_code_names():
    """A numpy submodule our page code imports or reaches (``np.random``) must be in
    tools/numpy_modules.txt: the slim numpy wheel holds no other (the browser test
    test_stdlib_zip.py checks what the page really imported)."""
    keep = build.numpy_modules()
    assert {"numpy", "numpy._core", "numpy.linalg"} <= keep and "numpy.f2py" not in keep
    missing = {}
    for path in sorted(PAGE_CODE.rglob("*.py")):
        if path.relative_to(PAGE_CODE).parts[0] == "cli" or path.name == "__main__.py":
            continue
        rel = path.relative_to(ROOT).as_posix()
        for name in _numpy_submodules(path) - keep - NOT_IN_PAGE.get(rel, set()):
            missing.setdefault(name, []).append(rel)
    assert not missing, f"numpy modules the page names but tools/numpy_modules.txt lacks: {missing}"


def test_the_numpy_check_catches_a_missing_module(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy as np\ndef f():\n    return np.fft.rfft([1.0]), np.float32(1)\n"
                     "from numpy.polynomial import Polynomial\nfrom numpy import ma\n")
    names = _numpy_submodules(probe)
    assert names == {"numpy.fft", "numpy.polynomial", "numpy.ma"}
    assert not names & build.numpy_modules()


def test_static_host_gzips_text_revalidates_and_counts(tmp_path):
    (tmp_path / "a.js").write_text("let x = 1;\n" * 2000)
    (tmp_path / "w.whl").write_bytes(b"PK" + bytes(range(256)) * 40)
    host = StaticHost(tmp_path)
    try:
        req = urllib.request.Request(host.url + "a.js", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req) as resp:
            body, etag = resp.read(), resp.headers["ETag"]
            assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == (tmp_path / "a.js").read_bytes()
        with urllib.request.urlopen(urllib.request.Request(host.url + "w.whl", headers={"Accept-Encoding": "gzip"})) as resp:
            assert resp.headers.get("Content-Encoding") is None and resp.read() == (tmp_path / "w.whl").read_bytes()
        req = urllib.request.Request(host.url + "a.js", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 304
        sent = host.take()
        assert [(s.path, s.status) for s in sent] == [("/a.js", 200), ("/w.whl", 200), ("/a.js", 304)]
        assert sent[0].raw == 22000 and sent[0].wire == len(body) < 1000
        assert sent[1].raw == sent[1].wire and sent[2].raw == sent[2].wire == 0
        assert host.take() == []
    finally:
        host.close()
