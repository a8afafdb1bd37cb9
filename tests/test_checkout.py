"""The tests test this checkout: every specc package imported here lives in the repository's folders."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Import name -> the repository folder it must come from: folder paths are import paths.
PACKAGES = {
    "specc": ROOT / "specc",
    "specc.runtime": ROOT / "specc" / "runtime",
    "specc.runtime.backends": ROOT / "specc" / "runtime" / "backends",
    "specc.templates": ROOT / "specc" / "templates",
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_each_package_is_imported_from_the_checkout_not_an_installed_copy(name: str) -> None:
    module = importlib.import_module(name)
    folders = [Path(p).resolve() for p in module.__path__]
    assert PACKAGES[name] in folders, f"{name} is imported from {folders}, not from {PACKAGES[name]}"


def test_the_specc_command_runs_the_checkout(tmp_path: Path) -> None:
    import shutil
    import subprocess

    specc = shutil.which("specc")
    assert specc is not None, "the specc command is not installed"
    done = subprocess.run(
        [specc, "signals"], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=True
    )
    assert "base_lin_vel" in done.stdout
    probe = "import specc.runtime.runner as m; print(m.__file__)"
    python = Path(specc).with_name("python")
    where = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert Path(where.stdout.strip()).resolve() == ROOT / "specc" / "runtime" / "runner.py"
