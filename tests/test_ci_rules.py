"""The rule of tests/conftest.py that keeps CI honest: under CI=true no test may skip.

A probe test file that skips (by ``pytest.skip`` and by a ``skipif`` mark, as the tests do
when numpy for Pyodide or nanoGPT's source is missing) is run with this conftest as a plugin:
outside CI it skips, under CI=true every skip is a failure that says what was missing.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = '''
import pytest

def test_skips_inside():
    pytest.skip("no nanoGPT checkout ($LLMVIZ_NANOGPT)")

@pytest.mark.skipif(True, reason="set LLMVIZ_PYODIDE_WHEELHOUSE to numpy for Pyodide")
def test_skipped_by_a_mark():
    pass

def test_passes():
    assert 1 + 1 == 2
'''


def run_probe(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "py")])
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_probe.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_outside_ci_a_missing_optional_file_skips(tmp_path):
    out = run_probe(tmp_path, None)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed, 2 skipped" in out.stdout


def test_under_ci_every_skip_fails_and_says_why(tmp_path):
    out = run_probe(tmp_path, "true")
    assert out.returncode != 0, out.stdout
    assert "1 passed" in out.stdout and "skipped" not in out.stdout.splitlines()[-1]
    assert "skipped under CI=true: Skipped: no nanoGPT checkout" in out.stdout
    assert "skipped under CI=true: Skipped: set LLMVIZ_PYODIDE_WHEELHOUSE" in out.stdout
