"""`specc robot`'s import check: whether MuJoCo builds a robot the way the backends would."""

from __future__ import annotations

from typing import Any

from specc.model.urdf import Urdf
from specc.runtime.backends.base import ActuatorOptions, BackendOptions
from specc.runtime.backends.mujoco_model import ModelError, build_model


def import_report(urdf: Urdf, contact_bodies: list[str], repair: str) -> dict[str, Any]:
    """Build the MuJoCo model the backend would build (no gains, every movable joint driven) and
    report its size and mass, or why it failed; never raises for a hostile robot."""
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
