"""Type-check specc (the compiler and its runtime) with mypy: `python tests/typecheck.py` (exit 0 when clean).

Folder paths are import paths, so mypy checks the checkout as it stands with the `[tool.mypy]`
settings of pyproject.toml.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "specc"]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
