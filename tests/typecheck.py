"""Type-check specc and its runtime with mypy: `python tests/typecheck.py` (exit 0 when clean).

pyproject installs `runtime/` and `templates/` as `specc.runtime` / `specc.templates`; mypy knows only
folders, so this script shows it the installed layout: a tree of symbolic links under
`.mypy_cache/tree/specc` (the checkout's files themselves, so errors name real lines), checked with
the `[tool.mypy]` settings of pyproject.toml. Paths in the report are the installed module paths
(`specc/runtime/env.py` is `runtime/env.py`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Import name -> folder of the checkout (the same mapping as pyproject's package-dir).
MAPPED = {"runtime": ROOT / "runtime", "templates": ROOT / "templates"}


def build_tree(cache: Path) -> Path:
    """Link the checkout's folders into the installed layout; return the folder holding `specc`."""
    tree = cache / "tree"
    package = tree / "specc"
    if tree.exists():
        shutil.rmtree(tree)
    package.mkdir(parents=True)
    for entry in sorted((ROOT / "specc").iterdir()):
        if entry.name != "__pycache__":
            os.symlink(entry, package / entry.name)
    for name, folder in MAPPED.items():
        os.symlink(folder, package / name)
    return tree


def main() -> int:
    cache = ROOT / ".mypy_cache"
    tree = build_tree(cache)
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "--cache-dir",
        str(cache),
        "specc",
    ]
    return subprocess.run(command, cwd=tree).returncode


if __name__ == "__main__":
    sys.exit(main())
