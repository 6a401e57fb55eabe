"""The model worker's wasm SIMD kernel (site/wasm/matmul.wat, llmviz.page.wasm_matmul),
compiled by build.py's tool and run in Pyodide under Node against numpy: Linears of every
shape the 4 x 8 block leaves a remainder of, attention's stacked products, the weight store,
and a whole GPT's logits. (The page's own use of it: tests/browser/test_boot.py.)"""
from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYODIDE = ROOT / "node_modules" / "pyodide" / "pyodide.mjs"


@pytest.fixture(scope="module")
def kernel_run(tmp_path_factory, wheelhouse):
    node = shutil.which("node")
    if node is None or not PYODIDE.is_file() or not (ROOT / "node_modules" / "wabt").is_dir():
        pytest.skip("needs Node.js and the npm packages (npm ci)")
    numpy = sorted(wheelhouse.glob("numpy-*.whl")) if wheelhouse else []
    if not numpy:
        pytest.skip("set LLMVIZ_PYODIDE_WHEELHOUSE to a folder with numpy built for Pyodide 314")
    tmp = tmp_path_factory.mktemp("wasm")
    subprocess.run([node, str(ROOT / "tools" / "wat2wasm.mjs"), str(ROOT / "site" / "wasm" / "matmul.wat"),
                    str(tmp / "matmul.wasm")], check=True, timeout=120)
    with zipfile.ZipFile(tmp / "llmviz.zip", "w") as z:
        for path in (ROOT / "py" / "llmviz").rglob("*.py"):
            z.write(path, path.relative_to(ROOT / "py").as_posix())
    job = {"inputs": {"/job/numpy.whl": str(numpy[-1]), "/job/llmviz.zip": str(tmp / "llmviz.zip"),
                      "/job/matmul.wasm": str(tmp / "matmul.wasm")},
           "outputs": {"/job/out.json": str(tmp / "out.json")}, "args": {"seed": 3}}
    (tmp / "job.json").write_text(json.dumps(job))
    subprocess.run([node, str(ROOT / "tools" / "pyodide_run.mjs"), PYODIDE.as_uri(),
                    str(ROOT / "tests" / "pyodide" / "wasm_matmul_check.py"), str(tmp / "job.json")],
                   check=True, timeout=300, capture_output=True, text=True)
    return json.loads((tmp / "out.json").read_text())


def test_the_kernel_is_installed_after_its_check(kernel_run):
    installed = kernel_run["installed"]
    assert installed["kind"] == "wasm-simd", installed
    assert installed["check"] <= 1e-5


def test_linears_of_every_shape_match_numpy(kernel_run):
    assert kernel_run["linear"] <= 1e-5


def test_attention_products_match_numpy(kernel_run):
    assert kernel_run["product"] <= 1e-5


def test_a_weight_is_stored_once_and_the_store_starts_again_when_one_is_gone(kernel_run):
    assert kernel_run["stored_once"] is True
    assert kernel_run["store_restarted"] is True
    assert kernel_run["after_restart"] <= 1e-5


def test_a_gpt_computes_the_same_logits_with_the_kernel(kernel_run):
    assert kernel_run["gpt"] <= 1e-5
