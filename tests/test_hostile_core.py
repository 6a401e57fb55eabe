"""Hostile files never break the package (CPython side): one-line errors, bounded memory and time.

Every hostile file is made here, in tmp_path, by ``hostile_files`` (shared with the page's
test, tests/browser/test_hostile_page.py): zips written by hand, so a member can hold 1 GiB of
deflated zeros in about 1 MB or declare sizes it does not hold. The loads that could inflate or allocate a
lot run in a child process with an address-space cap, which reports its peak RSS growth and
time (``_measured``): a regression fails the test instead of filling the machine.
"""
from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

import llmviz
from hostile_files import (DEEP, GIB, SORT, npy, npy_header, sort_card, sort_members, stored,
                           with_gib_of_zeros, with_void_member, zip_of)
from llmviz.core import weights
from llmviz.core.model import GPT
from llmviz.core.weights import WeightsError
from llmviz.page import live

SOURCES = Path(llmviz.__file__).resolve().parent.parent   # the children import the same llmviz
MAX_RSS_GROWTH_MB = 200
MAX_SECONDS = 10


def _write(tmp_path: Path, npz: bytes, card: str | None = None, name: str = "hostile") -> Path:
    path = tmp_path / f"{name}.npz"
    path.write_bytes(npz)
    path.with_suffix(".json").write_text(card if card is not None else json.dumps(sort_card()))
    return path


# ---------------------------------------------------------------- a measured child process

_CHILD = """
import atexit, json, resource, sys, time
import numpy
{preload}
import llmviz.core.weights, llmviz.page.live
report_to = sys.argv.pop(1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
@atexit.register
def report():
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    with open(report_to, "w") as f:
        json.dump({{"rss_mb": grown / 1024, "seconds": time.perf_counter() - start}}, f)
{code}
"""


def _cap_memory() -> None:   # the child may not take more than 3 GiB of address space
    resource.setrlimit(resource.RLIMIT_AS, (3 * GIB, 3 * GIB))


def _measured(tmp_path: Path, code: str, *args: str, torch: bool = False) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``code`` in a child (numpy, llmviz and with ``torch`` torch already imported, so they
    are not counted); return the finished process and {"rss_mb": peak RSS growth, "seconds"}."""
    report = tmp_path / "report.json"
    script = _CHILD.format(preload="import torch" if torch else "", code=textwrap.dedent(code))
    proc = subprocess.run([sys.executable, "-c", script, str(report), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, preexec_fn=_cap_memory,
                          env={"PYTHONPATH": str(SOURCES), "PATH": "/usr/bin:/bin",
                               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
    stats = json.loads(report.read_text()) if report.exists() else {}
    return proc, stats


_CLI = """
import runpy
sys.argv = ["llmviz", *sys.argv[1:]]
runpy.run_module("llmviz", run_name="__main__", alter_sys=True)
"""


def _cli(tmp_path: Path, *args: str, torch: bool = False) -> tuple[str, dict]:
    """``python -m llmviz ARGS`` measured: it must end with exit status 2 and one line on stderr."""
    proc, stats = _measured(tmp_path, _CLI, *args, torch=torch)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err[-2000:]
    return err, stats


def _small_and_fast(stats: dict) -> None:
    assert stats["rss_mb"] < MAX_RSS_GROWTH_MB, stats
    assert stats["seconds"] < MAX_SECONDS, stats


_PAGE_LOAD = """
from llmviz.page import live
try:
    live.load_model(open(sys.argv[1], "rb").read(), open(sys.argv[2]).read())
except live.WeightsError as e:
    print("refused:", e)
"""


def _page_refuses(tmp_path: Path, npz: Path) -> str:
    """The page's loader (``live.load_model``) on the file, measured: refused, small and fast."""
    proc, stats = _measured(tmp_path, _PAGE_LOAD, str(npz), str(npz.with_suffix(".json")))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("refused: "), proc.stdout
    _small_and_fast(stats)
    return proc.stdout


# ---------------------------------------------------------------- F4: an npz that is huge inside

def test_an_extra_member_of_a_gib_of_zeros_is_refused_before_inflating(tmp_path):
    npz = _write(tmp_path, with_gib_of_zeros())
    assert npz.stat().st_size < 2 * 2**20   # 1 GiB inside, about 1 MB on disk
    err, stats = _cli(tmp_path, "run", "--weights", str(npz), "--input", "CBABBC")
    assert "junk" in err or "1024.0 MB" in err, err
    _small_and_fast(stats)
    assert "junk" in _page_refuses(tmp_path, npz)


@pytest.mark.parametrize("member", ["v.npy", "transformer.wte.weight.npy"])
def test_a_void_dtype_of_a_megabyte_per_element_is_refused_before_allocating(tmp_path, member):
    npz = _write(tmp_path, with_void_member(member))
    err, stats = _cli(tmp_path, "run", "--weights", str(npz), "--input", "CBABBC")
    _small_and_fast(stats)
    # an unexpected name is named; an expected one declares 1 GiB, refused from the zip directory
    words = ["unexpected", "'v.npy'"] if member == "v.npy" else ["declares 1024.3 MB of arrays"]
    assert all(word in err for word in words), err
    page = _page_refuses(tmp_path, npz)
    assert all(word in page for word in words), page


def test_a_void_dtype_header_is_refused_before_numpy_reserves_its_size():
    """A small member whose header declares 1024 elements of 1 MiB each: refused from the header,
    without the 1 GiB array numpy would reserve to read it into (in the page: real heap)."""
    name = "transformer.wte.weight.npy"
    data = zip_of(sort_members(drop=name) + [stored(name, npy_header("|V1048576", (1024,)) + bytes(64))])
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError) as info:
            live.load_model(data, sort_card())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "transformer.wte.weight" in str(info.value) and "V1048576" in str(info.value), info.value
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MB traced"


def test_declared_sizes_are_checked_before_anything_is_inflated():
    """A member whose directory entry claims 1 GiB is refused from the directory alone."""
    lying = ("transformer.wte.weight.npy", zipfile.ZIP_STORED, 0, b"x" * 100, 100, GIB)
    data = zip_of(sort_members(drop="transformer.wte.weight.npy") + [lying])
    with pytest.raises(WeightsError, match="MB"):
        live.load_model(data, sort_card())
    huge = ("transformer.wte.weight.npy", zipfile.ZIP_STORED, 0, b"x" * 100, 100, 100 * 2**20)
    with pytest.raises(WeightsError, match="array of floats is at most"):
        live.load_model(zip_of(sort_members(drop="transformer.wte.weight.npy") + [huge]), sort_card())


def _shape(name: str) -> tuple[int, ...]:
    return GPT(weights.parse_card(sort_card())[0]).state_dict()[name].shape


def _with_member(name: str, payload: bytes) -> bytes:
    return zip_of(sort_members(drop=name) + [stored(name, payload)])


@pytest.mark.parametrize("descr", [">f4", "<i4", "|u1", "<c8", "|O", "|V4", [("a", "<f4")], "<M8[s]"])
def test_only_little_endian_floats_pass_the_gate(descr):
    """Big-endian floats, integers, complex, objects, void and structured dtypes are refused
    with a message naming the array and its dtype."""
    name = "transformer.ln_f.weight"
    shape = _shape(name)
    payload = npy_header(descr, shape) + bytes(int(np.prod(shape)) * 4)
    with pytest.raises(WeightsError) as info:
        weights.from_bytes(_with_member(name + ".npy", payload), sort_card())
    assert name in str(info.value) and "dtype" in str(info.value), info.value


def test_float16_and_float64_and_fortran_order_still_load():
    card = sort_card()
    reference = llmviz.load(SORT)
    name = "transformer.h.0.attn.c_attn.weight"
    value = reference.state_dict()[name]
    idx = reference.vocab.encode("CBABBC")
    for array in (value.astype("<f8"), np.asfortranarray(value), value.astype("<f2")):
        model = weights.from_bytes(_with_member(name + ".npy", npy(array)), card)
        assert np.array_equal(model.state_dict()[name], array.astype(np.float32))
        if array.dtype != np.float16:
            assert np.array_equal(model([idx]), reference([idx]))


def test_a_header_that_lies_about_its_size_is_refused():
    name = "transformer.ln_f.weight"
    shape = _shape(name)
    short = npy_header("<f4", shape) + bytes(4)            # the shape needs more bytes than it has
    with pytest.raises(WeightsError, match="declares shape"):
        weights.from_bytes(_with_member(name + ".npy", short), sort_card())
    wrong = npy(np.zeros((2, shape[0] // 2), np.float32))  # the right bytes, the wrong shape
    with pytest.raises(WeightsError, match="has shape"):
        weights.from_bytes(_with_member(name + ".npy", wrong), sort_card())


def test_a_zip_directory_of_many_entries_is_refused_before_zipfile_reads_it():
    entries = [stored(f"m{i}", b"") for i in range(60_000)]
    data = zip_of(entries)
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError, match="files"):
            live.load_model(data, sort_card())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"{peak / 2**20:.1f} MB traced while refusing"   # no 60,000 ZipInfos


def test_other_compression_methods_are_refused():
    """bzip2 and lzma inflate without a bound per read; an npz is stored or deflated."""
    name = "transformer.ln_f.weight.npy"
    with zipfile.ZipFile(SORT) as zf:
        payload = zf.read(name)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for entry in sort_members(drop=name):
            zf.writestr(entry[0], entry[3])
        zf.writestr(name, payload, compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(WeightsError, match="compressed with method 12"):
        weights.from_bytes(buf.getvalue(), sort_card())


# ---------------------------------------------------------------- F2, F3, F7: deep and huge cards

def test_a_deeply_nested_card_is_one_line_naming_the_limit(tmp_path):
    npz = tmp_path / "deep.npz"
    npz.write_bytes(SORT.read_bytes())
    npz.with_suffix(".json").write_text(DEEP)
    err, stats = _cli(tmp_path, "run", "--weights", str(npz), "--input", "CBABBC")
    assert "nests" in err and "limit is 64" in err, err
    _small_and_fast(stats)
    for card in (DEEP, DEEP.encode()):   # the page's loader: refused before json.loads runs
        with pytest.raises(WeightsError, match="100000 levels deep; the limit is 64"):
            live.load_model(SORT.read_bytes(), card)


@pytest.mark.parametrize("change,words", [
    ({"n_embd": 96_000, "n_head": 1}, ["n_embd", "96,000", "8,192"]),
    ({"block_size": 10**9}, ["block_size", "1,000,000,000", "1,024"]),
    ({"n_layer": 1000}, ["n_layer", "48"]),
    ({"vocab_size": 10**7}, ["vocab_size"]),
    ({"n_head": 1000, "n_embd": 1000}, ["n_head", "256"]),
    ({"n_embd": 2048, "n_head": 8, "n_layer": 8}, ["parameters", "MB"]),
])
def test_a_huge_config_is_refused_before_any_array_is_made(tmp_path, change, words):
    card = sort_card()
    card["config"].update(change)
    npz = _write(tmp_path, SORT.read_bytes(), json.dumps(card))
    tracemalloc.start()
    try:
        with pytest.raises(WeightsError) as info:
            llmviz.load(npz)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # CPython has no size limit (only the page does): a card of 1.6 GB of parameters is refused
    # there because the npz does not hold them, still before any array of that size is made
    cpython_words = words if words[0] != "parameters" else ["transformer.wte.weight", "expected (3, 2048)"]
    for word in cpython_words:
        assert word in str(info.value), info.value
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MB traced"
    with pytest.raises(WeightsError, match=words[0]):   # the page applies the same limits
        live.load_model(npz.read_bytes(), json.dumps(card))


def test_a_huge_config_from_the_command_line_is_one_line(tmp_path):
    card = sort_card()
    card["config"].update(n_embd=96_000, n_head=1)
    npz = _write(tmp_path, SORT.read_bytes(), json.dumps(card))
    for command in (["run", "--weights", str(npz), "--input", "CBABBC"], ["eval", str(npz)]):
        err, stats = _cli(tmp_path, *command)
        assert "n_embd" in err, err
        _small_and_fast(stats)


def test_the_card_size_limit_is_the_pages(tmp_path):
    card = sort_card()
    card["provenance"]["notes"] = "x" * (live.MAX_CARD_BYTES - len(json.dumps(card)) - 100)
    fits = json.dumps(card)
    assert len(fits) < live.MAX_CARD_BYTES
    assert llmviz.load(_write(tmp_path, SORT.read_bytes(), fits)).card["provenance"]["notes"]
    card["provenance"]["notes"] += "x" * 200
    too_big = json.dumps(card)
    with pytest.raises(WeightsError, match="the limit is 8 MB"):
        llmviz.load(_write(tmp_path, SORT.read_bytes(), too_big, name="big"))
    with pytest.raises(WeightsError, match="8 MB"):
        live.load_model(SORT.read_bytes(), too_big)


@pytest.mark.parametrize("text", ['{"format": NaN}', '{"x": Infinity}', '{"x": -Infinity}', '{"x": 1e999}'])
def test_a_card_with_nan_or_infinity_is_refused(text):
    with pytest.raises(WeightsError, match="not valid JSON"):
        live.load_model(SORT.read_bytes(), text)


# ---------------------------------------------------------------- F7: convert with a huge config

@pytest.fixture(scope="module")
def small_checkpoint():
    torch = pytest.importorskip("torch")
    from llmviz.cli.torch_gpt import GPT as TorchGPT
    from llmviz.core.model import GPTConfig

    config = GPTConfig(block_size=8, vocab_size=5, n_layer=1, n_head=2, n_embd=8)
    model = TorchGPT(config)
    args = dict(n_layer=1, n_head=2, n_embd=8, block_size=8, bias=True, vocab_size=5, dropout=0.0)
    return torch, {"model": dict(model.state_dict()), "model_args": args, "iter_num": 1,
                   "best_val_loss": torch.tensor(float("nan"))}


@pytest.mark.parametrize("change,word", [({"block_size": 10**12}, "block_size"), ({"n_layer": 2_000_000}, "n_layer")])
def test_convert_with_a_huge_config_is_one_line(tmp_path, small_checkpoint, change, word):
    torch, checkpoint = small_checkpoint
    ckpt = tmp_path / "ckpt.pt"
    torch.save({**checkpoint, "model_args": {**checkpoint["model_args"], **change}}, ckpt)
    err, stats = _cli(tmp_path, "convert", str(ckpt), "-o", str(tmp_path / "out.npz"), torch=True)
    assert word in err and "llmviz does not load" in err, err
    _small_and_fast(stats)
    assert not (tmp_path / "out.npz").exists()


def test_convert_writes_a_card_that_loads_even_when_the_loss_is_nan(tmp_path, small_checkpoint):
    torch, checkpoint = small_checkpoint
    ckpt = tmp_path / "ckpt.pt"
    torch.save(checkpoint, ckpt)
    proc = subprocess.run([sys.executable, "-m", "llmviz", "convert", str(ckpt), "-o", str(tmp_path / "m.npz")],
                          capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SOURCES),
                                                                             "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    model = llmviz.load(tmp_path / "m.npz")
    assert "best_val_loss" not in model.card["provenance"]
