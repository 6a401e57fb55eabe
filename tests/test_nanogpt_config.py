"""configs/nanogpt: the sort task's data in nanoGPT's formats, and a training config of the page's shape.

The last test trains a few iterations with nanoGPT's own train.py when a checkout is
around (``$LLMVIZ_NANOGPT`` or /tmp/nanogpt holding train.py, model.py,
configurator.py), converts the checkpoint and loads it the way the page does.
"""
from __future__ import annotations

import ast
import itertools
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from llmviz.page import live
from llmviz.core import sort_task

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs" / "nanogpt"
PREPARE = CONFIGS / "prepare_sort.py"
TRAIN_CONFIG = CONFIGS / "train_sort.py"


def _prepare(out: Path, *extra: str) -> str:
    proc = subprocess.run([sys.executable, str(PREPARE), "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _records(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint16)
    assert data.size % sort_task.SEQUENCE_LEN == 0
    return data.reshape(-1, sort_task.SEQUENCE_LEN)


def test_prepare_writes_nanogpt_files(tmp_path):
    out = _prepare(tmp_path, "--train-records", "1000", "--val-records", "120")
    assert "train.bin" in out
    train_path, val_path = tmp_path / "train.bin", tmp_path / "val.bin"
    assert train_path.stat().st_size == 1000 * 12 * 2      # uint16: two bytes a token
    assert val_path.stat().st_size == 120 * 12 * 2

    with open(tmp_path / "meta.pkl", "rb") as f:
        meta = pickle.load(f)
    assert meta["vocab_size"] == 3
    assert meta["itos"] == dict(enumerate(sort_task.LETTERS))
    assert all(meta["itos"][i] == ch for ch, i in meta["stoi"].items())

    train, val = _records(train_path), _records(val_path)
    for recs in (train, val):
        assert recs.max() < meta["vocab_size"]
        text = ["".join(meta["itos"][int(i)] for i in rec) for rec in recs]
        for t in text:   # every record: an input, then the same letters sorted
            assert t[6:] == "".join(sorted(t[:6])) == sort_task.answer(t[:6]), t
            assert sort_task.sequence(t[:6]) == t
    # the held-out inputs: val.bin holds only inputs train.bin never shows
    train_inputs = {tuple(r[:6]) for r in train}
    val_inputs = {tuple(r[:6]) for r in val}
    assert not train_inputs & val_inputs
    assert len(train_inputs) == 729 - round(729 * 0.1)    # 1000 records: every training input appears


def test_prepare_is_reproducible_and_holdout_zero_uses_every_input(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _prepare(a, "--train-records", "800", "--val-records", "50", "--holdout", "0")
    _prepare(b, "--train-records", "800", "--val-records", "50", "--holdout", "0")
    for name in ("train.bin", "val.bin", "meta.pkl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    inputs = {"".join("ABC"[i] for i in r[:6]) for r in _records(a / "train.bin")}
    assert inputs == set(sort_task.all_inputs())
    bad = subprocess.run([sys.executable, str(PREPARE), "--out", str(tmp_path / "c"), "--holdout", "1.5"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "holdout" in bad.stderr


def _config() -> dict:
    values: dict = {}
    exec(compile(TRAIN_CONFIG.read_text(), str(TRAIN_CONFIG), "exec"), {}, values)   # configurator.py's way
    return values


def test_train_config_has_the_page_model_shape():
    cfg = _config()
    card = json.loads((ROOT / "weights" / "sort.json").read_text())["config"]
    for key in ("n_layer", "n_head", "n_embd", "block_size", "bias"):
        assert cfg[key] == card[key], key
    assert cfg["block_size"] == sort_task.BLOCK_SIZE == sort_task.SEQUENCE_LEN - 1
    assert cfg["dataset"] == "sort" and cfg["dropout"] == 0.0
    assert cfg["max_iters"] == cfg["lr_decay_iters"] and cfg["min_lr"] < cfg["learning_rate"]
    assert cfg["device"] == "cpu" and cfg["compile"] is False
    # the config holds plain values only, as configurator.py expects
    assert all(isinstance(v, (int, float, bool, str)) for v in cfg.values())


def _nanogpt_checkout() -> Path | None:
    for base in (os.environ.get("LLMVIZ_NANOGPT"), "/tmp/nanogpt"):
        if base and all((Path(base) / f).is_file() for f in ("train.py", "model.py", "configurator.py")):
            return Path(base)
    return None


@pytest.mark.skipif(_nanogpt_checkout() is None, reason="no nanoGPT checkout with train.py (set LLMVIZ_NANOGPT)")
def test_config_names_are_nanogpt_settings():
    tree = ast.parse((_nanogpt_checkout() / "train.py").read_text())
    known = {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    unknown = set(_config()) - known
    assert not unknown, f"train.py has no setting named {sorted(unknown)}"


@pytest.mark.skipif(_nanogpt_checkout() is None, reason="no nanoGPT checkout with train.py (set LLMVIZ_NANOGPT)")
def test_nanogpt_trains_it_and_the_page_loads_the_checkpoint(tmp_path):
    pytest.importorskip("torch")
    src = _nanogpt_checkout()
    work = tmp_path / "nanoGPT"
    (work / "config").mkdir(parents=True)
    for name in ("train.py", "model.py", "configurator.py"):
        shutil.copy(src / name, work / name)
    shutil.copy(TRAIN_CONFIG, work / "config" / "train_sort.py")
    _prepare(work / "data" / "sort", "--train-records", "500", "--val-records", "60")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "train.py", "config/train_sort.py", "--max_iters=6",
                           "--lr_decay_iters=6", "--eval_interval=3", "--eval_iters=2", "--log_interval=3",
                           "--always_save_checkpoint=True", "--batch_size=16"],
                          cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ckpt = work / "out-sort" / "ckpt.pt"
    assert ckpt.is_file()

    out = tmp_path / "sort-nanogpt.npz"
    conv = subprocess.run([sys.executable, "-m", "llmviz", "convert", str(ckpt), "-o", str(out)],
                          cwd=work, capture_output=True, text=True, timeout=300,
                          env=dict(env, PYTHONPATH=str(ROOT / "py")))
    assert conv.returncode == 0, conv.stderr        # meta.pkl found as data/sort/meta.pkl
    card = out.with_suffix(".json").read_text()
    model = live.load_model(out.read_bytes(), card)  # the page's gate
    assert model.vocab.tokens == list(sort_task.LETTERS)
    c = model.config
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.vocab_size) == (3, 3, 48, 11, 3)
    ids = [list(itertools.islice(itertools.cycle([2, 0, 1]), 11))]
    assert np.isfinite(model.forward(ids)).all()
