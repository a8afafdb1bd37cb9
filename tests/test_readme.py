"""The README stays true: its signal table is the catalog's, its set-up commands are the CI's."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_signal_table_is_generated_from_the_catalog():
    table = subprocess.run(
        ["specc", "signals", "--markdown"], capture_output=True, text=True, check=True
    ).stdout
    assert table.strip() in README


def test_ci_runs_exactly_the_readme_test_command():
    test_command = README.split("Run the tests:\n\n", 1)[1].splitlines()[0].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1].strip() == test_command
