"""Benchmark: how long `specc lint` takes on each shipped task, in-process and as a command.

python bench/lint.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    tasks = sorted((ROOT / "tasks").glob("*.toml"))
    check_task(tasks[0], DiagnosticSink("warm-up"))  # grammar and imports loaded once per process
    print(f"{'task':<28} {'in-process ms':>14} {'`specc lint` ms':>16}")
    for path in tasks:
        repeats = 20
        start = time.perf_counter()
        for _ in range(repeats):
            check_task(path, DiagnosticSink(path.name))
        in_process = (time.perf_counter() - start) / repeats * 1e3
        start = time.perf_counter()
        subprocess.run(["specc", "lint", str(path)], check=True, capture_output=True)
        command = (time.perf_counter() - start) * 1e3
        print(f"{path.name:<28} {in_process:>14.1f} {command:>16.1f}")
    # The linter must not pull in torch or a simulator.
    probe = "import sys, specc.cli, specc.lint; print(int('torch' in sys.modules or 'mujoco' in sys.modules))"
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    print(f"lint imports torch or mujoco: {'yes' if heavy == '1' else 'no'}")


if __name__ == "__main__":
    main()
