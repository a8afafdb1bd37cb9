"""The parity table: what specc's MuJoCo model simulates against what an emitted Isaac Gym package will.

specc's side is read from the compiled MjModel that specc's CPU backend builds for the spec
(`build_model`, the same call `specc run` makes): bodies' masses, centres of mass and inertias,
collision geometry, joint limits, damping, armature and friction loss, the actuators' torques on
probe states, rates, gravity, the base velocity's point. The package's side is read from what the
stand-in's model of Isaac Gym's documented semantics (`tests/isaacgym_standin`) builds from the
emitted files: the URDFs imported with the emitted AssetOptions (density, fixed-joint collapse,
cylinders), the DOF and body properties the emitted task sets, the torques it sends for the same
probe states, the base velocity it reports from a PhysX root state (centre-of-mass velocity), the
sim parameters. Neither side is computed by the target's own code, so the target cannot grade itself.

Each row says whether the two sides differ and by how much; `test_isaacgym_parity.py` requires every
differing row to be listed, with its size, in the package's README. Run this file on a spec to print
the table: `python tests/support/isaacgym_parity.py tasks/anymal_walk.toml`.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import mujoco
import numpy as np
import torch

SYNTHETIC_ROOTS = ("__floating_base__", "__fixed_base__")  # specc's massless holder of the free joint
TOLERANCE = 1e-9  # relative, on float64 quantities both sides compute from the same decimal numbers
FLOAT32 = 1e-6  # relative, on quantities the package stores as float32 (DOF properties, tensors)


@dataclass(frozen=True)
class Row:
    quantity: str
    where: str
    specc: str
    isaacgym: str
    differs: bool
    size: float | None = None  # the measured difference, where it is a number


def _close(a: float, b: float, rel: float) -> bool:
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def _matrix(quat: np.ndarray) -> np.ndarray:
    out = np.zeros(9)
    mujoco.mju_quat2Mat(out, np.asarray(quat, dtype=float))
    return out.reshape(3, 3)


# -- specc's side -----------------------------------------------------------------------------------
def specc_model(module: ModuleType, task) -> tuple[mujoco.MjModel, object]:
    """specc's compiled model of the task, as its CPU backend builds it."""
    from specc.runtime.assemble import backend_options
    from specc.runtime.backends.mujoco_model import build_model

    options = backend_options(module, 1, "cpu")
    return build_model(task.robot.urdf, list(module.JOINT_NAMES), options, list(module.CONTACT_BODIES))


def _body_solid(model: mujoco.MjModel, body: int) -> tuple[float, np.ndarray, np.ndarray]:
    rotation = _matrix(model.body_iquat[body])
    return (
        float(model.body_mass[body]),
        np.array(model.body_ipos[body], dtype=float),
        rotation @ np.diag(model.body_inertia[body]) @ rotation.T,
    )


def _pose_in(model: mujoco.MjModel, body: int, holder: int) -> tuple[np.ndarray, np.ndarray]:
    """The pose (rotation, position) of `body`'s frame in `holder`'s, through the welded chain between."""
    rotation, position = np.eye(3), np.zeros(3)
    while body != holder:
        r = _matrix(model.body_quat[body])
        rotation, position = r @ rotation, r @ position + np.array(model.body_pos[body], dtype=float)
        body = int(model.body_parentid[body])
    return rotation, position


def _combine(parts: list[tuple[float, np.ndarray, np.ndarray]]) -> tuple[float, np.ndarray, np.ndarray]:
    mass = sum(m for m, _, _ in parts)
    if mass <= 0:
        return 0.0, np.zeros(3), np.zeros((3, 3))
    com = sum(m * c for m, c, _ in parts) / mass
    inertia = np.zeros((3, 3))
    for m, c, i in parts:
        d = c - com
        inertia += i + m * (float(d @ d) * np.eye(3) - np.outer(d, d))
    return mass, com, inertia


def specc_bodies(model: mujoco.MjModel, isaacgym_names: list[str], skip: set[str]) -> tuple[dict, list[str]]:
    """specc's bodies grouped as the package's bodies are: each MuJoCo body goes to the nearest body up its
    welded chain that Isaac Gym keeps. Returns name -> (mass, com, inertia) and the bodies that found none."""
    names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, b) or "" for b in range(model.nbody)]
    keep = {name: b for b, name in enumerate(names) if name in isaacgym_names}
    parts: dict[str, list] = {name: [] for name in keep}
    orphans = []
    for body in range(1, model.nbody):
        if names[body] in skip:
            continue
        if names[body] in SYNTHETIC_ROOTS:
            assert model.body_mass[body] == 0, "specc's holder of the free joint has no mass"
            continue
        holder = body
        while names[holder] not in keep and model.body_jntnum[holder] == 0 and holder != 0:
            holder = int(model.body_parentid[holder])
        if names[holder] not in keep:
            orphans.append(names[body])
            continue
        rotation, position = _pose_in(model, body, holder)
        mass, com, inertia = _body_solid(model, body)
        parts[names[holder]].append((mass, rotation @ com + position, rotation @ inertia @ rotation.T))
    return {name: _combine(p) for name, p in parts.items()}, orphans


# -- the parity table -------------------------------------------------------------------------------
def parity_rows(module: ModuleType, task, package: ModuleType) -> list[Row]:
    """The table for one spec: `module` is specc's generated module of it (resolved for the GPU, as the
    target resolves it), `task` its checked task, `package` the emitted `<task>_isaacgym.task` module
    imported against the stand-in."""
    from isaacgym import gymapi

    model, layout = specc_model(module, task)
    env = package.SpeccTask(num_envs=2, sim_device="cpu", randomize=False, seed=0)
    sim = env.sim
    rows: list[Row] = []
    rows += _bodies(model, sim, set(task.spec.scene.objects), gymapi)
    rows += _shapes(model, sim, task)
    rows += _joints(model, env, module)
    rows += _actuators(model, env, module)
    rows += _globals(model, env, module, task)
    rows += _base_velocity(env, task, package)
    rows += _friction(model, env, task)
    rows += _learning(module, package)
    return rows


def _bodies(model, sim, objects: set[str], gymapi) -> list[Row]:
    names = sim.asset.body_names
    specc, orphans = specc_bodies(model, names, objects | {"world"})
    rows = [Row("body", name, "a body of its own", "no body holds it", True) for name in orphans]
    actor = sim.envs[0].actors[0]
    for index, name in enumerate(names):
        props = actor.body_props[index]
        mass, com = float(props.mass), np.array([props.com.x, props.com.y, props.com.z])
        inertia = gymapi.mat33_array(props.inertia)
        m0, c0, i0 = specc[name]
        dm, dc, di = mass - m0, float(np.linalg.norm(com - c0)), float(np.abs(inertia - i0).max())
        rows.append(
            Row("mass", name, f"{m0:.10g} kg", f"{mass:.10g} kg", not _close(m0, mass, TOLERANCE), dm)
        )
        rows.append(
            Row(
                "centre of mass",
                name,
                str(c0),
                str(com),
                dc > TOLERANCE * max(1.0, float(np.abs(c0).max())),
                dc,
            )
        )
        rows.append(
            Row(
                "inertia",
                name,
                "about its centre of mass",
                "about its centre of mass",
                di > TOLERANCE * max(1.0, float(np.abs(i0).max())),
                di,
            )
        )
    return rows


MUJOCO_SHAPES = {
    int(mujoco.mjtGeom.mjGEOM_BOX): "box",
    int(mujoco.mjtGeom.mjGEOM_SPHERE): "sphere",
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): "capsule",
    int(mujoco.mjtGeom.mjGEOM_CYLINDER): "cylinder",
    int(mujoco.mjtGeom.mjGEOM_MESH): "mesh",
}


def _mujoco_shape(model, geom: int) -> tuple[str, tuple[float, ...]]:
    kind = MUJOCO_SHAPES[int(model.geom_type[geom])]
    size = model.geom_size[geom]
    if kind == "box":
        return kind, tuple(float(2 * v) for v in size)
    if kind == "sphere":
        return kind, (float(size[0]),)
    if kind in ("capsule", "cylinder"):
        return kind, (float(size[0]), float(2 * size[1]))
    return kind, ()


def _shapes(model, sim, task) -> list[Row]:
    """Each collision shape: MuJoCo's geom against the shape the stand-in's importer made of the URDF's."""
    rows = []
    geoms_of: dict[str, list[int]] = {}
    for geom in range(model.ngeom):
        body = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[geom])) or ""
        geoms_of.setdefault(body, []).append(geom)
    sources: list[tuple[str, object]] = [
        (f"{shape.link} collision {shape.index}", shape)
        for shapes in sim.asset.imported.body_shapes.values()
        for shape in shapes
    ]
    for k, name in enumerate(task.spec.scene.objects):
        sources.append((f"object {name}", sim.assets[1 + k].imported.body_shapes["body"][0]))
    for where, shape in sources:
        body = shape.link if not where.startswith("object ") else where[len("object ") :]
        geom = geoms_of[body][shape.index if not where.startswith("object ") else 0]
        kind, size = _mujoco_shape(model, geom)
        theirs = shape.kind
        if theirs == "prism":
            ratio = shape.slices / 2 * math.sin(2 * math.pi / shape.slices) / math.pi - 1.0
            rows.append(
                Row(
                    "collision shape",
                    where,
                    f"{kind} {size}",
                    f"{shape.slices}-sided prism",
                    True,
                    100 * ratio,
                )
            )
            continue
        same = kind == theirs and (
            kind == "mesh" or all(_close(a, b, TOLERANCE) for a, b in zip(size, shape.size))
        )
        rows.append(
            Row("collision shape", where, f"{kind} {size}", f"{theirs} {tuple(shape.size)}", not same)
        )
    return rows


def _joints(model, env, module) -> list[Row]:
    rows = []
    props = env.sim.envs[0].actors[0].dof_props
    for j, name in enumerate(module.JOINT_NAMES):
        joint = model.joint(name)
        dof = int(model.jnt_dofadr[joint.id])
        p = props[env.dof_index[j]]
        limited = bool(model.jnt_limited[joint.id])
        specc_limits = tuple(float(v) for v in model.jnt_range[joint.id]) if limited else None
        theirs = (float(p["lower"]), float(p["upper"])) if bool(p["hasLimits"]) else None
        same = (specc_limits is None) == (theirs is None) and (
            specc_limits is None or all(_close(a, b, FLOAT32) for a, b in zip(specc_limits, theirs))
        )
        rows.append(Row("joint limits", name, str(specc_limits), str(theirs), not same))
        damping = float(env.passive_damping[0, j])
        rows.append(
            Row(
                "joint damping",
                name,
                f"{model.dof_damping[dof]:g}",
                f"{damping:g}",
                not _close(float(model.dof_damping[dof]), damping, FLOAT32),
            )
        )
        rows.append(
            Row(
                "armature",
                name,
                f"{model.dof_armature[dof]:g}",
                f"{float(p['armature']):g}",
                not _close(float(model.dof_armature[dof]), float(p["armature"]), FLOAT32),
            )
        )
        rows.append(
            Row(
                "joint friction",
                name,
                f"{model.dof_frictionloss[dof]:g} N m",
                f"coefficient {float(p['friction']):g}",
                bool(model.dof_frictionloss[dof] != 0 or p["friction"] != 0),
            )
        )
        rows.append(
            Row("joint speed cap", name, "none", f"{float(p['velocity']):g}", True, float(p["velocity"]))
        )
    return rows


def _actuators(model, env, module) -> list[Row]:
    """Each simulated joint's torque on probe states and actions: MuJoCo's actuator and passive forces
    against what the package sends to PhysX in the first physics step."""
    names = list(module.JOINT_NAMES)
    config = module.ENV
    n, dofs = env.num_envs, env.sim.dof.view(env.num_envs, -1, 2)
    k = torch.arange(len(names), dtype=torch.float32)
    q = torch.tensor(config["default_joint_pos"]) + 0.3 * torch.sin(1.0 + k)
    dq = 40.0 * torch.cos(2.0 + k)  # fast enough that damping reaches the effort limit somewhere
    actions = torch.stack([torch.sin(3.0 + torch.arange(env.num_actions)), -torch.ones(env.num_actions)])
    dofs[:, env.dof_index, 0] = q
    dofs[:, env.dof_index, 1] = dq
    env.gym.refresh_dof_state_tensor(env.sim)
    env.latency_steps.zero_()
    env.sim.applied_log.clear()
    env.step(actions)
    applied = env.sim.applied_log[0].view(n, -1)[:, env.dof_index]
    data = mujoco.MjData(model)
    rows = []
    for e in range(n):
        for j, name in enumerate(names):
            joint = model.joint(name)
            data.qpos[model.jnt_qposadr[joint.id]] = float(q[j])
            data.qvel[model.jnt_dofadr[joint.id]] = float(dq[j])
        controls = np.array(config["action_offset"]) + np.array(config["action_scale"]) * np.clip(
            actions[e].numpy(), -config["clip_actions"], config["clip_actions"]
        )
        for a, joint_index in enumerate(config["action_joints"]):
            data.ctrl[model.actuator(f"act_{names[joint_index]}").id] = controls[a]
        mujoco.mj_forward(model, data)
        for j, name in enumerate(names):
            dof = int(model.jnt_dofadr[model.joint(name).id])
            theirs = float(applied[e, j])
            mine = float(data.qfrc_actuator[dof] + data.qfrc_passive[dof])
            rows.append(
                Row(
                    "joint torque",
                    f"{name} (probe {e})",
                    f"{mine:.6g} N m",
                    f"{theirs:.6g} N m",
                    abs(mine - theirs) > 1e-3 * max(1.0, abs(mine)),
                    theirs - mine,
                )
            )
    return rows


def _globals(model, env, module, task) -> list[Row]:
    params = env.sim.params
    rows = [
        Row(
            "physics step",
            "sim.dt",
            f"{model.opt.timestep:g} s",
            f"{params.dt:g} s",
            not _close(model.opt.timestep, params.dt, TOLERANCE),
        ),
        Row(
            "gravity",
            "the world",
            str(tuple(model.opt.gravity)),
            str((params.gravity.x, params.gravity.y, params.gravity.z)),
            not np.allclose(model.opt.gravity, [params.gravity.x, params.gravity.y, params.gravity.z]),
        ),
        Row(
            "decimation",
            "sim.decimation",
            str(module.ENV["decimation"]),
            str(len(env.substep)),
            module.ENV["decimation"] != len(env.substep),
        ),
        Row(
            "physics engine",
            "every contact, joint limit and damping force",
            f"MuJoCo (integrator {int(model.opt.integrator)}, solver {int(model.opt.solver)})",
            f"PhysX (solver type {params.physx.solver_type})",
            True,
        ),
    ]
    for asset in env.sim.assets:
        o = asset.options
        name = asset.path.name if asset.path else "an asset"
        rows.append(
            Row(
                "body damping",
                name,
                "none",
                f"linear {o.linear_damping:g}, angular {o.angular_damping:g}",
                bool(o.linear_damping or o.angular_damping),
            )
        )
        cap = min(float(o.max_linear_velocity), float(o.max_angular_velocity))
        rows.append(
            Row(
                "body speed cap",
                name,
                "none",
                f"{o.max_linear_velocity:g} m/s, {o.max_angular_velocity:g} rad/s",
                True,
                cap,
            )
        )
    per_env = module.BACKEND["max_contacts_per_env"]
    needed = max(2**23, (per_env or 0) * env.num_envs)
    pairs = params.physx.max_gpu_contact_pairs
    rows.append(
        Row(
            "contact buffer",
            "sim.max_contacts_per_env",
            f"{per_env} per env",
            f"{pairs} pairs",
            pairs < needed,
        )
    )
    return rows


def _base_velocity(env, task, package) -> list[Row]:
    """The base's linear velocity: specc's is the free joint's (the base frame origin's); PhysX reports the
    centre of mass's. A probe root state spinning about an off-centre COM tells them apart."""
    if task.spec.robot.fixed_base:
        return []
    from isaacgym.gymapi import quat_rotate_xyzw

    root = env.sim.root
    root[:, 7:10] = torch.tensor([0.7, -0.2, 0.1])
    root[:, 10:13] = torch.tensor([1.5, -2.0, 3.0])
    env.gym.refresh_actor_root_state_tensor(env.sim)
    signals = dict(zip(package.kernels.INPUTS, env._signals(*env._feet())))
    com = env.sim.envs[0].actors[0].body_props[0].com
    offset = quat_rotate_xyzw(root[0, 3:7].double(), torch.tensor([com.x, com.y, com.z], dtype=torch.float64))
    want = root[0, 7:10].double() - torch.cross(root[0, 10:13].double(), offset, dim=-1)
    got = signals["base_lin_vel_world"][0].double()
    gap = float((got - want).norm())
    return [
        Row(
            "base velocity point",
            "base_lin_vel_world",
            "the base frame origin",
            "as the package reports it",
            gap > 1e-5,
            gap,
        )
    ]


def _friction(model, env, task) -> list[Row]:
    """Sliding friction of each kind of contact at nominal values: MuJoCo takes the larger coefficient or
    an object's own (priority); PhysX averages the two shapes'."""
    geoms = [g for g in range(model.ngeom) if int(model.geom_bodyid[g]) != 0]
    ground = next(
        g
        for g in range(model.ngeom)
        if int(model.geom_bodyid[g]) == 0 and int(model.geom_type[g]) == int(mujoco.mjtGeom.mjGEOM_PLANE)
    )
    objects = list(task.spec.scene.objects)
    robot_geom = next(
        g
        for g in geoms
        if (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[g])) or "")
        not in objects
    )

    def mujoco_pair(a: int, b: int) -> float:
        pa, pb = int(model.geom_priority[a]), int(model.geom_priority[b])
        if pa != pb:
            return float(model.geom_friction[a if pa > pb else b, 0])
        return float(max(model.geom_friction[a, 0], model.geom_friction[b, 0]))

    plane = env.sim.ground.static_friction
    robot = env.sim.envs[0].actors[0].shape_props[0].friction
    rows = [
        Row(
            "friction",
            "robot-ground contacts",
            f"{mujoco_pair(robot_geom, ground):g}",
            f"{(robot + plane) / 2:g}",
            not _close(mujoco_pair(robot_geom, ground), (robot + plane) / 2, FLOAT32),
        )
    ]
    if task.spec.robot.self_collision:
        mine, theirs = mujoco_pair(robot_geom, robot_geom), robot
        rows.append(
            Row(
                "friction",
                "robot-robot contacts",
                f"{mine:g}",
                f"{theirs:g}",
                not _close(mine, theirs, FLOAT32),
                theirs - mine,
            )
        )
    for k, name in enumerate(objects):
        geom = model.body(name).geomadr[0]
        obj = env.sim.envs[0].actors[1 + k].shape_props[0].friction
        for where, mine, theirs in (
            (f"object {name} against the ground", mujoco_pair(geom, ground), (obj + plane) / 2),
            (f"object {name} against the robot", mujoco_pair(geom, robot_geom), (obj + robot) / 2),
        ):
            rows.append(
                Row(
                    "friction",
                    where,
                    f"{mine:g}",
                    f"{theirs:g}",
                    not _close(mine, theirs, FLOAT32),
                    theirs - mine,
                )
            )
    return rows


def _learning(module, package) -> list[Row]:
    rows = []
    for name, value in module.RANDOMIZATION.items():
        if (
            name in ("base_mass_add", "link_mass_scale", "friction", "motor_strength", "joint_damping")
            and value is not None
        ):
            rows.append(
                Row(
                    "randomization",
                    f"randomization.{name}",
                    "at every reset",
                    "once per env at creation",
                    True,
                )
            )
    for backend, env in zip(module.BACKEND["objects"], module.ENV["objects"]):
        for field, key in (("mass_scale", "mass_scale"), ("friction_range", "friction")):
            if env[key] is not None:
                rows.append(
                    Row(
                        "randomization",
                        f"object {backend['name']} {field}",
                        "at every reset",
                        "once per env at creation",
                        True,
                    )
                )
    if module.PPO.get("empirical_normalization") and module.ALGORITHM == "ppo":
        rows.append(
            Row(
                "observation normalization",
                "ppo.empirical_normalization",
                "on",
                "rsl_rl 1.0.2 has none",
                True,
            )
        )
    if module.BACKEND["max_constraints_per_env"] is not None:
        rows.append(
            Row(
                "constraint buffer",
                "sim.max_constraints_per_env",
                str(module.BACKEND["max_constraints_per_env"]),
                "none",
                True,
            )
        )
    return rows


# -- the README's list ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Listed:
    quantity: str
    where: str
    size: str
    value: float | None


def readme_differences(readme: str) -> list[Listed]:
    """The rows of the package README's differences table (Markdown escapes removed)."""
    block = readme.split("<!-- differences -->", 1)[1].split("<!-- end of differences -->", 1)[0]
    out = []
    for line in block.strip().splitlines()[2:]:
        cells = [re.sub(r"\\(.)", r"\1", c.strip()) for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        number = re.match(r"\s*([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", cells[4])
        out.append(Listed(cells[0], cells[1], cells[4], float(number.group(1)) if number else None))
    return out


def markdown(rows: list[Row]) -> str:
    lines = [
        "| what | where | specc (MuJoCo) | Isaac Gym (package) | differs | size |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.quantity} | {r.where} | {r.specc} | {r.isaacgym} | {'yes' if r.differs else ''} | {'' if r.size is None else f'{r.size:+.4g}'} |"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/support/isaacgym_parity.py SPEC: compile it and print its table
    import importlib
    import subprocess
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from isaacgym_support import STANDIN, spec_module

    spec = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(["specc", "compile", str(spec), "--target", "isaacgym", "--emit", folder], check=True)
        sys.path[:0] = [str(STANDIN), folder]
        generated, checked = spec_module(spec)
        emitted = importlib.import_module(f"{checked.spec.task.name}_isaacgym.task")
        print(markdown(parity_rows(generated, checked, emitted)))
