"""`specc robot`: what the import sees in a URDF, as plain data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from specc.robot.resolve import resolve_uri
from specc.robot.urdf import UrdfError, read_urdf


def describe_robot(uri: str) -> tuple[dict[str, Any], bool]:
    """A report of links, joints, mass, feet candidates and diagnostics; and whether it imports cleanly."""
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
    report["import"] = try_import(urdf, feet, "diagonal" if needs_repair else "none")
    ok = report["import"]["ok"] and not any(i.severity == "error" and i.code != "SPC305" for i in urdf.issues)
    return report, ok


def try_import(urdf, contact_bodies: list[str], repair: str) -> dict[str, Any]:
    """Build the MuJoCo model the backend would build (no gains), to show whether the robot imports."""
    try:
        from specc.runtime.backends.base import ActuatorOptions, BackendOptions
        from specc.runtime.backends.mujoco_model import ModelError, build_model
    except ImportError as err:  # the runtime is not installed: report, do not fail
        return {"ok": False, "error": f"runtime not available: {err}"}
    joints = [j.name for j in urdf.movable_joints]
    options = BackendOptions(
        num_envs=1,
        physics_dt=0.005,
        init_height=1.0,
        fixed_base=False,
        self_collision=False,
        repair_inertia=repair,
        contact_bodies=tuple(contact_bodies),
        actuators=tuple(ActuatorOptions(name, "position", 0.0, 0.0, 1.0) for name in joints),
    )
    try:
        model, layout = build_model(urdf, joints, options, contact_bodies or [urdf.root])
    except ModelError as err:
        return {"ok": False, "repair_inertia": repair, "error": str(err)}
    except Exception as err:  # noqa: BLE001 - MuJoCo's compiler on a hostile robot: report, no traceback
        return {"ok": False, "repair_inertia": repair, "error": f"{type(err).__name__}: {str(err)[:200]}"}
    return {
        "ok": True,
        "repair_inertia": repair,
        "bodies": int(model.nbody - 1),
        "geoms": int(model.ngeom - 1),
        "dofs": int(model.nv),
        "mass": float(model.body_subtreemass[1]),
        "repairs": layout.repairs,
    }
