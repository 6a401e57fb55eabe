"""The command line, as a user runs it: python -m llmviz run / eval."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "weights" / "sort.npz"


def llmviz(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmviz", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_run_sorts():
    text = "CBABBC"
    result = llmviz("run", "--weights", "weights/sort.npz", "--input", text)
    assert result.returncode == 0, result.stderr
    assert f"answer: {''.join(sorted(text))}" in result.stdout.splitlines()


@pytest.mark.parametrize("bad", ["CBXD", "ABCABCABCABC"])
def test_run_rejects_bad_input(bad):
    err = _one_line_error(llmviz("run", "--weights", "weights/sort.npz", "--input", bad))
    assert "A, B, C" in err  # names the allowed letters
    assert "11" in err       # and the limit (block_size)


def test_eval_passes_on_the_shipped_weights():
    result = llmviz("eval", "weights/sort.npz")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sorted correctly: 729/729" in result.stdout


def test_eval_fails_and_shows_failures_for_a_broken_model(tmp_path):
    # same weights, letters renamed in the card: the model now answers wrongly
    shutil.copy(WEIGHTS, tmp_path / "renamed.npz")
    card = json.loads(WEIGHTS.with_suffix(".json").read_text())
    card["vocab"] = ["C", "B", "A"]
    (tmp_path / "renamed.json").write_text(json.dumps(card))
    result = llmviz("eval", str(tmp_path / "renamed.npz"))
    assert result.returncode == 1, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    correct = int(first.removeprefix("sorted correctly: ").split("/")[0])
    assert correct < 729
    assert "(expected " in result.stdout


def test_eval_missing_weights(tmp_path):
    err = _one_line_error(llmviz("eval", str(tmp_path / "none.npz")))
    assert "no weights file" in err
