"""The typed API and the code style are checked in the suite, so CI fails when either slips.

``mypy`` runs in strict mode on ``costmodel/`` (configuration in ``pyproject.toml``:
SymPy, which ships no type information, is the only module treated as untyped) and
``ruff`` on every Python directory of the project. Both are test extras.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.slow
def test_mypy_strict_is_clean_on_the_package():
    pytest.importorskip("mypy")
    result = _run(sys.executable, "-m", "mypy", "--config-file", "pyproject.toml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    result = _run(sys.executable, "-m", "ruff", "check", "costmodel", "validation", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout[-4000:]


def test_the_package_declares_its_types():
    assert (ROOT / "costmodel" / "py.typed").is_file()
