"""`specc robot`: what the import sees in a URDF, as plain data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from specc.model.urdf import Urdf
from specc.robot.resolve import resolve_uri
from specc.robot.urdf import UrdfError, read_urdf

# Builds the simulator's model of a robot: (urdf, contact bodies, inertia repair) -> a report with "ok".
# The runtime's (specc.runtime.backends.robot_import.import_report); the compiler never imports it.
ImportCheck = Callable[[Urdf, list[str], str], dict[str, Any]]


def describe_robot(uri: str, import_check: ImportCheck) -> tuple[dict[str, Any], bool]:
    """A report of links, joints, mass, feet candidates and diagnostics; and whether it imports cleanly
    (`import_check` builds the simulator's model)."""
    path = resolve_uri(uri, Path.cwd())
    report: dict[str, Any] = {"name": Path(uri).stem, "path": str(path) if path else uri, "diagnostics": []}
    if path is None:
        report["diagnostics"].append(
            {
                "code": "SPC301",
                "severity": "error",
                "line": None,
                "message": f"no installed package provides '{uri}'",
            }
        )
        return report, False
    try:
        urdf = read_urdf(path)
    except UrdfError as err:
        report["diagnostics"].append(
            {"code": err.code, "severity": "error", "line": err.line, "message": err.message}
        )
        return report, False
    leaves = [name for name in urdf.links if not any(j.parent == name for j in urdf.joints)]
    feet = [name for name in leaves if any(w in name.lower() for w in ("foot", "toe", "ankle", "sole"))]
    report.update(
        name=urdf.name,
        root=urdf.root,
        total_mass=urdf.total_mass,
        links=[
            {
                "name": link.name,
                "mass": link.inertial.mass if link.inertial else 0.0,
                "collision_geoms": len(link.collisions),
            }
            for link in urdf.links.values()
        ],
        joints=[
            {
                "name": j.name,
                "type": j.kind,
                "axis": list(j.axis),
                "lower": j.lower,
                "upper": j.upper,
                "effort": j.effort,
                "velocity": j.velocity,
                "damping": j.damping,
                "friction": j.friction,
            }
            for j in urdf.movable_joints
        ],
        feet_candidates=feet,
    )
    report["diagnostics"] = [
        {"code": i.code, "severity": i.severity, "line": i.line, "message": i.message, "fix": i.fix}
        for i in urdf.issues
    ]
    needs_repair = any(i.code == "SPC305" for i in urdf.issues)
    report["import"] = import_check(urdf, feet, "diagonal" if needs_repair else "none")
    ok = report["import"]["ok"] and not any(i.severity == "error" and i.code != "SPC305" for i in urdf.issues)
    return report, ok
