"""No file of this repository holds a line copied from nanoGPT's model.py.

The code panel reads nanoGPT's file at build time; the repository must never carry
it. A line of nanoGPT longer than 30 characters (after stripping) that appears anywhere
in a line of a tracked file (a trailing comment does not make it ours) counts as a copy. Shorter lines (``return x``,
``x = self.c_fc(x)``) are too generic to mean anything.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = os.environ.get("LLMVIZ_NANOGPT")
MIN_LENGTH = 31


def nanogpt_lines() -> set[str]:
    path = Path(NANOGPT)
    if path.is_dir():
        path = path / "model.py"
    lines = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    return {line for line in lines if len(line) >= MIN_LENGTH}


def tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [ROOT / name for name in out.stdout.decode().split("\0") if name]


def copied_lines(lines: set[str], files: list[Path], root: Path = ROOT) -> list[str]:
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (weights) and files deleted in the work tree
        for number, line in enumerate(text.splitlines(), start=1):
            if any(copied in line for copied in lines):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


@pytest.mark.skipif(not NANOGPT, reason="set LLMVIZ_NANOGPT to nanoGPT's model.py to compare against it")
def test_no_tracked_file_contains_a_nanogpt_line():
    lines = nanogpt_lines()
    assert len(lines) > 100  # really nanoGPT's file
    found = copied_lines(lines, tracked_files())
    assert not found, "lines of nanoGPT's model.py in this repository:\n" + "\n".join(found)


@pytest.mark.skipif(not NANOGPT, reason="set LLMVIZ_NANOGPT to nanoGPT's model.py to compare against it")
def test_the_check_finds_a_copied_line(tmp_path):
    lines = nanogpt_lines()
    sample = sorted(lines)[0]
    planted = tmp_path / "planted.py"
    planted.write_text(f"# ours\n    {sample}\n    {sample}  # with a comment of ours\n")
    found = copied_lines(lines, [planted], root=tmp_path)
    assert found == [f"planted.py:2: {sample}", f"planted.py:3: {sample}  # with a comment of ours"]
