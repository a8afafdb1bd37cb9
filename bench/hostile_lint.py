"""Benchmark: `specc lint` on the hostile inputs of tests/lint/test_hostile_lint.py, each in a fresh
process: wall time and peak memory (VmHWM), the figures of the README's threat model.

python bench/hostile_lint.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "tests" / "lint"))  # the cases of test_hostile_lint.py

from hostile_inputs import CARTPOLE_URDF, cartpole_spec, measure_lint  # noqa: E402
from test_hostile_lint import SPEC_CASES, URDF_CASES  # noqa: E402


def main() -> None:
    print(f"{'case':<34} {'input MB':>9} {'wall s':>7} {'CPU s':>6} {'peak MB':>8}  exit")
    worst_wall = worst_cpu = worst_peak = 0.0
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cases = [(f"spec: {name}", text, None) for name, text in SPEC_CASES.items()]
        cases += [(f"urdf: {name}", None, make) for name, make in URDF_CASES.items()]
        for name, spec_text, make_urdf in cases:
            urdf = tmp / "cartpole.urdf"
            urdf.write_text(make_urdf() if make_urdf else CARTPOLE_URDF.read_text())
            spec = tmp / "spec.toml"
            spec.write_text(spec_text if spec_text is not None else cartpole_spec())
            size = (spec.stat().st_size if spec_text is not None else urdf.stat().st_size) / 1e6
            m = measure_lint(spec)
            worst_wall, worst_cpu = max(worst_wall, m.wall_s), max(worst_cpu, m.cpu_s)
            worst_peak = max(worst_peak, m.peak_mb)
            print(
                f"{name:<34} {size:>9.2f} {m.wall_s:>7.2f} {m.cpu_s:>6.2f} {m.peak_mb:>8.1f}  {m.returncode}"
            )
    print(f"worst: {worst_wall:.2f} s wall, {worst_cpu:.2f} s CPU, {worst_peak:.0f} MB")


if __name__ == "__main__":
    main()
