"""`specc robot` on robots of example-robot-data: each imports into MuJoCo or gets a clear diagnostic."""

from __future__ import annotations

import json
import subprocess

import pytest

ROBOTS = {
    # uri: (movable joints, whether the file needs repair_inertia = "diagonal")
    "anymal_c_simple_description/urdf/anymal.urdf": (12, True),
    "go1_description/urdf/go1.urdf": (12, True),
    "a1_description/urdf/a1.urdf": (12, False),
    "solo_description/robots/solo12.urdf": (12, False),
    "panda_description/urdf/panda.urdf": (9, False),
    "talos_data/robots/talos_full_v2.urdf": (44, True),
}


def run_robot(uri: str) -> tuple[int, dict]:
    done = subprocess.run(
        ["specc", "robot", f"package://example-robot-data/robots/{uri}", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


@pytest.mark.parametrize("uri", ROBOTS)
def test_robot_imports_with_exact_mass_or_explains_why(uri):
    joints, needs_repair = ROBOTS[uri]
    code, report = run_robot(uri)
    assert code == 0, report
    assert len(report["joints"]) == joints
    assert report["import"]["ok"]
    assert report["import"]["mass"] == pytest.approx(
        report["total_mass"], rel=1e-9
    )  # nothing inferred from geometry
    inertia_issues = [d for d in report["diagnostics"] if d["code"] == "SPC305"]
    assert bool(inertia_issues) == needs_repair
    assert (report["import"]["repair_inertia"] == "diagonal") == needs_repair
    assert all(d["line"] for d in inertia_issues)  # each diagnostic names the URDF line


def test_missing_package_is_a_diagnostic_not_a_traceback():
    done = subprocess.run(
        ["specc", "robot", "package://no-such-robots/x.urdf"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "SPC301" in done.stdout and "Traceback" not in done.stderr
