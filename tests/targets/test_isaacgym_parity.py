"""Parity: for every shipped spec the Isaac Gym target accepts, the emitted package simulates what specc does,
or its README lists the difference with its size.

The table comes from `tests/support/isaacgym_parity.py`: specc's side from the compiled MjModel of its CPU
backend, the package's side from the stand-in's model of Isaac Gym's documented import of the emitted files
and from the torques, velocities and properties the emitted task produces on it. The target's own code
computes neither side. Each table is written as `<task>_parity.md` into the test's temporary folder and
printed when the test fails.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from isaacgym_parity import Row, markdown, parity_rows, readme_differences
from isaacgym_support import TASKS, compile_isaacgym, forget_modules, import_task, spec_module

# What a README entry covers: the parity table measures some quantities per joint or per asset where
# the README states them once.
SAME_ENTRY = {
    "joint speed cap": ("speed cap", "every body and joint"),
    "body speed cap": ("speed cap", "every body and joint"),
}
# Quantities the package must get exactly right: a difference there is a bug, never a README entry.
MUST_MATCH = {
    "joint torque",
    "base velocity point",
    "joint limits",
    "joint damping",
    "armature",
    "joint friction",
    "body damping",
    "physics step",
    "gravity",
    "decimation",
    "contact buffer",
    "body",
}


SHIPPED = sorted(p.stem for p in TASKS.glob("*.toml"))


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, tuple[Path | None, str]]:
    """Every shipped spec compiled for the target: its output folder (None when refused) and what the
    compile printed."""
    folder = tmp_path_factory.mktemp("parity")
    out = {}
    for name in SHIPPED:
        done = compile_isaacgym(TASKS / f"{name}.toml", folder / name)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode in (0, 1), done.stdout + done.stderr
        out[name] = (folder / name if done.returncode == 0 else None, done.stdout)
    return out


def test_the_target_accepts_an_effort_actuated_task_and_a_manipulation_task(compiled):
    accepted = {name for name, (folder, _) in compiled.items() if folder is not None}
    assert {"anymal_walk", "anymal_multigait", "cartpole", "ball_balance", "panda_reach"} <= accepted
    assert "anymal_rough" not in accepted  # terrain tiles


def check_parity(task: str, folder: Path, monkeypatch, tmp_path) -> list[Row]:
    module, checked = spec_module(TASKS / f"{task}.toml")
    package = import_task(folder, f"{task}_isaacgym", monkeypatch)
    try:
        rows = parity_rows(module, checked, package)
    finally:
        forget_modules(f"{task}_isaacgym")
    (tmp_path / f"{task}_parity.md").write_text(markdown(rows), encoding="utf-8")
    readme = (folder / f"{task}_isaacgym" / "README.md").read_text(encoding="utf-8")
    listed = {(entry.quantity, entry.where): entry for entry in readme_differences(readme)}
    problems = []
    measured = set()
    for row in rows:
        if not row.differs:
            continue
        if row.quantity in MUST_MATCH:
            problems.append(
                f"{row.quantity} of {row.where} differs: specc {row.specc}, package {row.isaacgym}"
            )
            continue
        key = SAME_ENTRY.get(row.quantity, (row.quantity, row.where))
        measured.add(key)
        entry = listed.get(key)
        if entry is None:
            problems.append(
                f"unlisted: {row.quantity} of {row.where} (specc {row.specc}, package {row.isaacgym})"
            )
        elif row.size is not None and (
            entry.value is None or not math.isclose(entry.value, row.size, rel_tol=1e-3, abs_tol=1e-12)
        ):
            problems.append(
                f"mis-sized: {row.quantity} of {row.where}: measured {row.size:+.4g}, listed {entry.size}"
            )
    for key, entry in listed.items():
        if entry.value is not None and key not in measured:
            problems.append(f"listed but not measured: {key[0]} of {key[1]} ({entry.size})")
    assert not problems, "\n".join(problems) + "\n\n" + markdown(rows)
    return rows


@pytest.mark.parametrize("task", SHIPPED)
def test_every_difference_from_specc_is_listed_in_the_package_readme_with_its_size(
    task, compiled, monkeypatch, tmp_path
):
    folder, printed = compiled[task]
    if folder is None:  # refused: each reason is a positioned error
        assert "SPC501 [error] the Isaac Gym target does not implement" in printed, printed
        return
    rows = check_parity(task, folder, monkeypatch, tmp_path)
    assert any(r.quantity == "mass" for r in rows) and any(r.quantity == "joint torque" for r in rows)


def test_the_density_of_massless_links_is_listed_with_its_size(compiled, monkeypatch, tmp_path):
    """ANYmal's base link has five collision shapes and no <inertial>: 0.001 kg/m^3 gives it 29 mg."""
    rows = check_parity("anymal_walk", compiled["anymal_walk"][0], monkeypatch, tmp_path)
    base = next(r for r in rows if (r.quantity, r.where) == ("mass", "base"))
    assert base.differs and 2e-5 < base.size < 4e-5
