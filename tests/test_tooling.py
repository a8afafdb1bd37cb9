"""CI runs `pytest` only, so the project's tooling runs as tests: ruff (lint and format) and mypy.

Each test fails with the tool's own report, so a red CI names the file, line and rule to fix.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_ruff_check_finds_nothing() -> None:
    done = _run("ruff", "check", ".")
    assert done.returncode == 0, f"`ruff check .` found problems:\n{done.stdout}{done.stderr}"


def test_ruff_format_would_change_nothing() -> None:
    done = _run("ruff", "format", "--check", ".")
    assert done.returncode == 0, (
        f"`ruff format --check .` would reformat (run `ruff format .`):\n{done.stdout}{done.stderr}"
    )


def test_mypy_finds_no_type_errors_in_specc_and_runtime() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "typecheck.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"mypy (`python tests/typecheck.py`) found type errors:\n{done.stdout}{done.stderr}"
    )
