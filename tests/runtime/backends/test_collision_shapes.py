"""`[robot] cylinders_as_capsules`: the URDF's collision cylinders collide as capsules of the same radius and
half-length (legged_gym's default; off unless a spec sets it: on MuJoCo Warp's heightfield it saved
nothing, `bench/terrain.py --variant robot.cylinders_as_capsules=true`). The flag travels from the spec through the
generated module's BACKEND table and `BackendOptions` to `build_model`, which both MuJoCo backends share;
the Isaac Gym target hands it to `AssetOptions.replace_cylinder_with_capsule`. Only the collision shape
changes: the bodies keep the masses and inertias the URDF writes, as the geoms give them none.
"""

from __future__ import annotations

import ast

import mujoco
import numpy as np
import pytest
from kernel_support import TASKS, load_task
from runtime_support import task_backend_options

from specc.runtime.backends.mujoco_model import build_model
from specc.targets.isaacgym import render_package

CYLINDER, CAPSULE = int(mujoco.mjtGeom.mjGEOM_CYLINDER), int(mujoco.mjtGeom.mjGEOM_CAPSULE)
# anymal_rough on the CPU over a small terrain (the model holds the heightfield).
SMALL_ROUGH = {
    "sim.backend": "mujoco",
    "sim.device": "cpu",
    "sim.num_envs": 1,
    "terrain.rows": 2,
    "terrain.cols": 6,
    "terrain.border": 2.0,
}


def _anymal_rough_model(capsules: bool) -> tuple[mujoco.MjModel, np.ndarray]:
    """The model `build_model` makes of anymal_rough's spec, with `robot.cylinders_as_capsules` set to
    `capsules`, and its robot geoms."""
    task = load_task(TASKS / "anymal_rough.toml", {**SMALL_ROUGH, "robot.cylinders_as_capsules": capsules})
    options = task_backend_options(task, 1, "cpu")
    model, layout = build_model(
        task.robot.urdf, task.robot.joint_names, options, list(options.contact_bodies), sensors=False
    )
    return model, layout.robot_geoms


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[mujoco.MjModel, np.ndarray]]:
    return {
        "capsules": _anymal_rough_model(True),
        "cylinders": _anymal_rough_model(False),
    }


def _count(model: mujoco.MjModel, geoms: np.ndarray, kind: int) -> int:
    return int((model.geom_type[geoms] == kind).sum())


def test_each_cylinder_becomes_a_capsule_of_the_same_radius_and_half_length(models):
    (on, geoms), (off, same_geoms) = models["capsules"], models["cylinders"]
    assert np.array_equal(geoms, same_geoms)  # the same robot geoms, in the same order
    was_cylinder = off.geom_type[geoms] == CYLINDER
    assert was_cylinder.sum() > 0 and _count(off, geoms, CAPSULE) == 0  # the URDF's own: cylinders only
    assert _count(on, geoms, CYLINDER) == 0
    assert (on.geom_type[geoms][was_cylinder] == CAPSULE).all()
    assert np.array_equal(on.geom_type[geoms][~was_cylinder], off.geom_type[geoms][~was_cylinder])
    # Radius and half-length as the cylinder's; the capsule's round ends reach one radius further.
    assert np.array_equal(on.geom_size[geoms, :2], off.geom_size[geoms, :2])
    for field in ("geom_pos", "geom_quat", "geom_bodyid"):
        assert np.array_equal(getattr(on, field), getattr(off, field)), field


def test_capsules_change_no_mass_or_inertia(models):
    (on, _), (off, _) = models["capsules"], models["cylinders"]
    for field in ("body_mass", "body_inertia", "body_ipos", "body_iquat"):
        assert np.array_equal(getattr(on, field), getattr(off, field)), field


def test_the_flag_is_off_unless_a_spec_sets_it():
    for name in ("anymal_walk", "anymal_rough"):
        assert "cylinders_as_capsules" not in (TASKS / f"{name}.toml").read_text()
        task = load_task(TASKS / f"{name}.toml", SMALL_ROUGH if name == "anymal_rough" else None)
        assert task_backend_options(task, 1, "cpu").cylinders_as_capsules is False


def _task_data(name: str, overrides: dict | None = None) -> tuple[dict[str, object], str]:
    """The literals of the Isaac Gym package's task_data.py for task `name`, and its task.py."""
    files, _ = render_package(load_task(TASKS / f"{name}.toml", overrides))
    data = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(files["task_data.py"]).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    return data, files["task.py"]


def test_the_isaac_gym_target_hands_the_flag_to_its_asset_options():
    data, task_source = _task_data("anymal_rough", {"robot.cylinders_as_capsules": True})
    assert data["CYLINDERS_AS_CAPSULES"] is True
    assert "options.replace_cylinder_with_capsule = data.CYLINDERS_AS_CAPSULES" in task_source
    data, _ = _task_data("anymal_rough")
    assert data["CYLINDERS_AS_CAPSULES"] is False
