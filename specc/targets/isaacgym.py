"""The Isaac Gym target: a checked task -> a self-contained package for Isaac Gym Preview 4.

Isaac Gym's bindings exist only for Python 3.6-3.8 and are on no package registry, while specc
needs Python >= 3.10; so instead of running specc inside Isaac Gym's environment, `specc compile
--target isaacgym` writes everything a task needs into one package that imports only torch,
numpy and isaacgym: the generated kernel module (the very module specc's runtime loads), the
task's data as Python literals, a vectorised task class written against gymapi/gymtorch, a
collision-only URDF of the robot as specc imports it, a train script for rsl_rl and a README.

`FEATURES` is the one table of how each spec feature maps onto Isaac Gym; the README's table is
generated from it (`feature_table_markdown`) and `check_target` reports, at its position, every
feature of a spec that the target cannot express as the spec means it.
"""

from __future__ import annotations

import math
import pprint
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from specc import __version__
from specc.diagnostics import DiagnosticSink, Severity
from specc.robot.urdf import Inertial
from specc.spec.positions import PositionMap
from specc.task import CheckedTask

# Mesh formats Isaac Gym's asset importer reads (assimp); MuJoCo's .msh is not one of them.
MESH_FORMATS = (".stl", ".obj", ".dae")
PACKAGE_SUFFIX = "_isaacgym"
# Files of the emitted package, from templates (the kernels come from specc's own template).
TEMPLATES = {
    "__init__.py": "isaacgym_init.py.j2",
    "task_data.py": "isaacgym_task_data.py.j2",
    "task.py": "isaacgym_task.py.j2",
    "train.py": "isaacgym_train.py.j2",
    "README.md": "isaacgym_readme.md.j2",
}
URDF_TEMPLATE = "isaacgym_robot.urdf.j2"


@dataclass(frozen=True)
class Feature:
    """One spec feature and what the emitted Isaac Gym package does with it."""

    spec: str  # the spec key or feature
    isaacgym: str  # the Isaac Gym mechanism the emitted package uses
    fidelity: str  # "same" as specc's runtime, "differs" (a warning when used), "unavailable" (an error)
    # or "outside" (specc's own tooling, e.g. evaluation)


FEATURES: tuple[Feature, ...] = (
    Feature(
        "robot.urdf",
        "`gym.load_asset` of `assets/robot.urdf`, written by specc: collision geometry, masses and inertias "
        "as specc imports them, joints with limits, effort, velocity, damping and friction; "
        "`collapse_fixed_joints = True` merges welded links into their parent (massless frames included), "
        "except links the task tracks contact on, whose fixed joints are marked `dont_collapse`",
        "same",
    ),
    Feature("robot.urdf collision meshes (STL, OBJ)", "copied into `assets/meshes/`", "same"),
    Feature(
        "robot.urdf collision meshes in MuJoCo's .msh format",
        "none: Isaac Gym's importer reads STL, OBJ and DAE",
        "unavailable",
    ),
    Feature(
        "robot.repair_inertia",
        "the repaired inertia tensors are written into the emitted URDF",
        "same",
    ),
    Feature(
        "URDF joint velocity limits",
        "written into the emitted URDF; PhysX enforces them (Isaac Gym reads them into the DOF `velocity` "
        "property), specc's MuJoCo import does not",
        "differs",
    ),
    Feature(
        "URDF joint friction",
        "the DOF `friction` property, which PhysX treats as its own joint friction; specc's MuJoCo import "
        "makes it a friction-loss torque",
        "differs",
    ),
    Feature("robot.fixed_base", "`AssetOptions.fix_base_link`", "same"),
    Feature("robot.cylinders_as_capsules", "`AssetOptions.replace_cylinder_with_capsule`", "same"),
    Feature(
        "robot.self_collision",
        "the actor's collision filter: 0 (self collisions on) or 1 (off) in `gym.create_actor`",
        "same",
    ),
    Feature(
        "robot.reset_joint_pos_scale, robot.reset_joint_pos_noise",
        "resets write default x U(scale) + U(-noise, noise), clamped into the joint limits, to the DOF state "
        "tensor (`set_dof_state_tensor_indexed`)",
        "same",
    ),
    Feature("robot.init_height", "the actor's start pose and the root state written at resets", "same"),
    Feature(
        "robot.default_joint_pos",
        "PD targets are default + action_scale x action",
        "same",
    ),
    Feature(
        "robot.pd",
        "`AssetOptions.default_dof_drive_mode = DOF_MODE_POS`; DOF properties `stiffness`, `damping` and "
        "`effort` per env (PhysX's implicit drive); targets through `set_dof_position_target_tensor` each "
        "physics step. The `torques` signal is kp (target - q) - kd dq clipped to the effort, per physics step",
        "same",
    ),
    Feature("robot.action_scale, ppo.clip_actions", "applied in `step()` before the targets", "same"),
    Feature(
        "sim.dt, sim.decimation",
        "`SimParams.dt`, `substeps = 1`; `decimation` x (`simulate`, `fetch_results`, "
        "`refresh_dof_state_tensor`) per policy step",
        "same",
    ),
    Feature("sim.num_envs", "one env per robot, one actor per env; `--num-envs` overrides it", "same"),
    Feature(
        "sim.episode_length_s, terminations.time_out",
        "`max_episode_length`; time-outs are `extras['time_outs']` (rsl_rl bootstraps them)",
        "same",
    ),
    Feature(
        "sim.backend, sim.device",
        "the target is the backend: PhysX on the GPU pipeline (`--sim-device`)",
        "same",
    ),
    Feature(
        "sim.max_contacts_per_env",
        "`PhysXParams.max_gpu_contact_pairs` = max_contacts_per_env x num_envs",
        "same",
    ),
    Feature(
        "sim.max_constraints_per_env",
        "no PhysX counterpart (PhysX sizes its constraint buffers itself); ignored",
        "differs",
    ),
    Feature(
        "observations, rewards, terminations",
        "the generated kernels, unchanged, compiled with `torch.jit.script`",
        "same",
    ),
    Feature(
        "signals base_* and projected_gravity",
        "`acquire_actor_root_state_tensor` (quaternion reordered from x, y, z, w to w, x, y, z)",
        "same",
    ),
    Feature(
        "signals joint_pos, joint_vel, joint_acc",
        "`acquire_dof_state_tensor`, in the spec's joint order",
        "same",
    ),
    Feature(
        "signal contact_force[group]",
        "`acquire_net_contact_force_tensor` of each tracked body, into which the import merged the "
        "untracked links welded to it (specc sums over the same links)",
        "same",
    ),
    Feature(
        "signals feet_contact, feet_air_time, feet_first_contact",
        "from the net contact force (> 1 N upwards), filtered over two steps as specc's env",
        "same",
    ),
    Feature(
        "commands.ranges, commands.categorical, commands.resample_s",
        "sampled in torch at resets and every resample_s",
        "same",
    ),
    Feature(
        "observation noise",
        "uniform noise of each observation entry's amplitude, added in torch",
        "same",
    ),
    Feature(
        "randomization.latency_s",
        "per-env delay in physics steps: the previous targets go to the position-target tensor for the first "
        "steps of each policy step",
        "same",
    ),
    Feature(
        "randomization.push",
        "every interval, random base xy velocity through `set_actor_root_state_tensor_indexed`",
        "same",
    ),
    Feature(
        "randomization.friction",
        "rigid shape `friction` = 2f - f_ground with the ground plane at the range's low end, so PhysX's "
        "average combine gives f; sampled once per env at creation (specc: at every reset)",
        "differs",
    ),
    Feature(
        "randomization.base_mass_add, randomization.link_mass_scale",
        "rigid body `mass` and `inertia` via `set_actor_rigid_body_properties`; sampled once per env at "
        "creation (specc: at every reset)",
        "differs",
    ),
    Feature(
        "randomization.motor_strength",
        "DOF `stiffness` and `damping` scaled via `set_actor_dof_properties`; sampled once per env at creation "
        "(specc: at every reset)",
        "differs",
    ),
    Feature(
        "randomization.joint_damping",
        "added to the DOF `damping` (PhysX's drive damping is the only joint damping), so the effort limit "
        "clips it too; sampled once per env at creation (specc: at every reset)",
        "differs",
    ),
    Feature(
        "ppo",
        "`train.py` passes the [ppo] table to rsl_rl 1.0.2's OnPolicyRunner (legged_gym's version)",
        "same",
    ),
    Feature(
        "ppo.empirical_normalization",
        "rsl_rl 1.0.2 has no observation normalizer; train.py trains without one",
        "differs",
    ),
    Feature("eval", "not emitted: evaluate with `specc eval` on MuJoCo", "outside"),
)
FIDELITY = {
    "same": "same as specc",
    "differs": "differs (a warning)",
    "unavailable": "not available (an error)",
    "outside": "not part of the target",
}
# Randomized physical parameters the emitted package samples once per env at creation.
CREATION_TIME_RANDOMIZATION = (
    "base_mass_add",
    "link_mass_scale",
    "friction",
    "motor_strength",
    "joint_damping",
)


def feature_table_markdown() -> str:
    """The feature table as Markdown (the README's Isaac Gym section shows exactly this)."""
    lines = ["| spec feature | Isaac Gym | fidelity |", "|---|---|---|"]
    lines += [f"| `{f.spec}` | {f.isaacgym} | {FIDELITY[f.fidelity]} |" for f in FEATURES]
    return "\n".join(lines)


def feature(spec: str) -> Feature:
    return next(f for f in FEATURES if f.spec == spec)


# -- target checks ----------------------------------------------------------------------------------
def check_target(task: CheckedTask, positions: PositionMap, sink: DiagnosticSink) -> None:
    """Report every spec feature the Isaac Gym target cannot express as specc means it.

    Errors stop the compile (the package would not load or would do something else);
    warnings name a documented difference (see `FEATURES`).
    """
    spec = task.spec
    for link in task.robot.urdf.links.values():
        for geom in link.collisions:
            if geom.kind == "mesh" and Path(geom.mesh_path or "").suffix.lower() not in MESH_FORMATS:
                sink.add(
                    "SPC501",
                    f"link '{link.name}': collision mesh '{Path(geom.mesh_path or '').name}' "
                    f"({task.robot.urdf.path.name}:{geom.line}) cannot be loaded by Isaac Gym "
                    f"({', '.join(MESH_FORMATS)})",
                    positions.value(("robot", "urdf")),
                    fix="convert it to STL or OBJ",
                )
    for name, joints in (
        ("URDF joint velocity limits", [j.name for j in task.robot.joints if j.velocity]),
        ("URDF joint friction", [j.name for j in task.robot.joints if j.friction > 0]),
    ):
        if joints:
            sink.add(
                "SPC501",
                f"{name} ({', '.join(joints[:3])}{', ...' if len(joints) > 3 else ''}) differ on Isaac Gym: "
                + feature(name).isaacgym,
                positions.value(("robot", "urdf")),
                severity=Severity.WARNING,
            )
    # Features of this round that the emitted task does not implement yet: refused, never dropped.
    # Flat ground only: terrain tiles, height scans and foot heights need the heightfield.
    unsupported: list[tuple[str, tuple[str | int, ...], bool]] = [
        ("scene objects", ("scene", "objects"), bool(spec.scene.objects)),
        ("scene URDFs", ("scene", "urdfs"), bool(spec.scene.urdfs)),
        ("named frames read by the kernels", ("frames",), bool(task.frames_read)),
        (
            "terrain tiles (heightfields and their curriculum)",
            ("terrain", "type"),
            spec.terrain.type == "tiles",
        ),
        ("height scans", ("terrain", "height_scan"), spec.terrain.height_scan is not None),
        ("the feet_height signal", _first_reader(task, "feet_height"), _reads(task, "feet_height")),
        (
            "effort (torque) actuators",
            ("robot", "torque"),
            any(a.kind != "position" for a in task.robot.actuators),
        ),
        ("locked joints", ("robot", "locked"), bool(spec.robot.locked)),
        ("passive joints", ("robot", "passive"), bool(spec.robot.passive)),
        ("computed commands", ("commands", "computed"), bool(spec.commands.computed)),
        ("target commands", ("commands", "targets"), bool(spec.commands.targets)),
        ("SAC (its train.py runs rsl_rl's PPO)", ("algorithm", "name"), spec.algorithm.name != "ppo"),
        ("a critic observation group", ("critic_observations",), bool(spec.critic_observations)),
    ]
    for what, path, in_use in unsupported:
        if in_use:
            sink.add(
                "SPC501",
                f"the Isaac Gym target does not implement {what} yet",
                positions.key(path),
                fix="train this spec with specc's own backends (specc run)",
            )
    if spec.sim.max_constraints_per_env is not None:
        sink.add(
            "SPC501",
            "sim.max_constraints_per_env has no Isaac Gym counterpart: "
            + feature("sim.max_constraints_per_env").isaacgym,
            positions.key(("sim", "max_constraints_per_env")),
            severity=Severity.WARNING,
        )
    r = spec.randomization
    used = [name for name in CREATION_TIME_RANDOMIZATION if r.enabled and getattr(r, name) is not None]
    if used:
        sink.add(
            "SPC501",
            f"Isaac Gym target samples {', '.join(used)} once per env when the envs are created "
            "(as legged_gym does); specc's runtime samples them again at every reset",
            positions.key(("randomization", used[0])),
            severity=Severity.WARNING,
        )
    if spec.ppo.empirical_normalization:
        sink.add(
            "SPC501",
            "rsl_rl 1.0.2 (legged_gym's) has no empirical observation normalization; the emitted train.py "
            "trains without it",
            positions.key(("ppo", "empirical_normalization")),
            severity=Severity.WARNING,
            fix="set ppo.empirical_normalization = false to train the same way everywhere",
        )


# -- emission ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    from xml.sax.saxutils import quoteattr

    from specc.codegen.render import template_environment

    env = template_environment()
    env.filters["literal"] = python_literal
    env.filters["xmlattr"] = quoteattr
    env.filters["xmlcomment"] = lambda text: str(text).replace("--", "- -")
    env.filters["xmlnum"] = _xml_numbers
    return env


def python_literal(value: Any) -> str:
    """A Python literal of plain data (str, bool, int, finite float, None, tuples, lists, dicts of them).

    Everything the emitted package knows about the task goes through here: strings through
    `repr()`, numbers checked finite, anything else refused, so spec text never becomes code.
    """
    _check_plain(value)
    return pprint.pformat(value, width=100, sort_dicts=False)


def _check_plain(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (str, bool, int)):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{item} is not a finite number")
            continue
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise ValueError(f"dict key {key!r} is not a string")
            stack.extend(item.values())
            continue
        raise ValueError(f"{type(item).__name__} is not plain data")


def _xml_numbers(values: Any) -> str:
    """Numbers for a URDF attribute: finite floats separated by spaces."""
    items = values if isinstance(values, (list, tuple)) else (values,)
    for v in items:
        if not math.isfinite(float(v)):
            raise ValueError(f"{v} is not a finite number")
    return " ".join(repr(float(v)) for v in items)


def package_name(task: CheckedTask) -> str:
    return task.spec.task.name + PACKAGE_SUFFIX


def task_data(task: CheckedTask) -> dict[str, Any]:
    """Everything the emitted task class needs about the task, as plain data (rendered into task_data.py)."""
    from specc.codegen.layout import contact_layout
    from specc.codegen.tables import env_table, ppo_table, randomization_table

    spec = task.spec
    robot = task.robot
    urdf = robot.urdf
    config = env_table(task)
    bodies, _ = contact_layout(task)
    base_group = urdf.rigid_group(urdf.root, stop=set())
    r = randomization_table(task)
    actuators = dict(zip(robot.driven, robot.actuators))
    return {
        "TASK_NAME": spec.task.name,
        "SPEC_FILE": task.path.name,
        "SPEC_HASH": task.spec_hash,
        "SPECC_VERSION": __version__,
        "URDF_FILE": "robot.urdf",
        "JOINT_NAMES": list(robot.joint_names),
        "DEFAULT_JOINT_POS": list(robot.default_joint_pos),
        # Per simulated joint: its actuator's gains, none for a passive joint.
        "STIFFNESS": [actuators[i].stiffness if i in actuators else 0.0 for i in range(len(robot.joints))],
        "DAMPING": [actuators[i].damping if i in actuators else 0.0 for i in range(len(robot.joints))],
        "EFFORT": [actuators[i].effort if i in actuators else 0.0 for i in range(len(robot.joints))],
        "JOINT_PASSIVE_DAMPING": [j.damping for j in robot.joints],
        "JOINT_FRICTION": [j.friction for j in robot.joints],
        "BASE_BODY": urdf.root,
        "BASE_GROUP": base_group,
        "CONTACT_BODIES": bodies,
        "FEET": list(robot.body_groups["feet"]),
        "RESET_JOINT_POS_SCALE": list(config["reset_joint_pos_scale"]),
        "RESET_JOINT_POS_NOISE": config["reset_joint_pos_noise"],
        "JOINT_POS_LIMITS": [list(limits) if limits else None for limits in config["joint_pos_limits"]],
        "INIT_HEIGHT": spec.robot.init_height,
        "FIXED_BASE": spec.robot.fixed_base,
        "SELF_COLLISION": spec.robot.self_collision,
        "CYLINDERS_AS_CAPSULES": spec.robot.cylinders_as_capsules,
        "ACTION_SCALE": spec.robot.action_scale,
        "CLIP_ACTIONS": spec.ppo.clip_actions,
        "NUM_ENVS": spec.sim.num_envs,
        "PHYSICS_DT": spec.sim.dt,
        "DECIMATION": spec.sim.decimation,
        "POLICY_DT": spec.sim.policy_dt,  # sim.dt × sim.decimation, as the spec computes it
        "EPISODE_LENGTH_S": spec.sim.episode_length_s,
        "TIME_OUT": spec.terminations.time_out,
        "MAX_CONTACTS_PER_ENV": spec.sim.max_contacts_per_env,
        "COMMAND_NAMES": list(task.command_names),
        "COMMAND_RANGES": {k: list(v) for k, v in config["command_ranges"].items()},
        "CATEGORICAL_COMMANDS": [
            {
                "name": c["name"],
                "num_choices": c["num_choices"],
                "values": {k: list(v) for k, v in c["values"].items()},
            }
            for c in config["categorical"]
        ],
        "RESAMPLE_S": spec.commands.resample_s,
        "RANDOMIZATION": {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()},
        "PPO": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ppo_table(task).items()},
    }


def robot_urdf(task: CheckedTask) -> tuple[str, dict[str, Path]]:
    """The robot as specc imports it, as a URDF for Isaac Gym, and the mesh files it needs (name -> source).

    Collision geometry only; masses and inertias as the URDF writes them, or repaired when the spec
    says `repair_inertia = "diagonal"` (the same repair the MuJoCo import applies).
    """
    from specc.codegen.layout import contact_layout

    urdf = task.robot.urdf
    tracked = set(contact_layout(task)[0])
    meshes: dict[str, Path] = {}
    links = []
    for link in urdf.links.values():
        inertial = None
        if link.inertial is not None and link.inertial.mass > 0:
            inertial = _inertial(link.inertial, task.spec.robot.repair_inertia)
        geoms = []
        for geom in link.collisions:
            mesh = None
            if geom.kind == "mesh":
                source = Path(geom.mesh_path or "")
                mesh = f"meshes/{len(meshes)}_{re.sub(r'[^A-Za-z0-9_.-]', '_', source.name)}"
                meshes[mesh] = source
            geoms.append(
                {
                    "kind": geom.kind,
                    "size": list(geom.size),
                    "xyz": geom.origin_xyz,
                    "rpy": geom.origin_rpy,
                    "mesh": mesh,
                }
            )
        links.append({"name": link.name, "inertial": inertial, "collisions": geoms})
    joints = [
        {
            "name": j.name,
            "kind": j.kind,
            "parent": j.parent,
            "child": j.child,
            "xyz": j.origin_xyz,
            "rpy": j.origin_rpy,
            "axis": j.axis,
            "lower": j.lower,
            "upper": j.upper,
            "effort": j.effort,
            "velocity": j.velocity,
            "damping": j.damping,
            "friction": j.friction,
            "keep": j.kind == "fixed" and j.child in tracked,
        }
        for j in urdf.joints
    ]
    text = (
        _environment()
        .get_template(URDF_TEMPLATE)
        .render(name=urdf.name, source=urdf.path.name, spec_hash=task.spec_hash, links=links, joints=joints)
    )
    return text, meshes


def _inertial(inertial: Inertial, repair: str) -> dict[str, Any]:
    """One link's inertial: as written, or (repaired) the link-frame tensor with the nearest physical moments."""
    from specc.model.urdf import repaired_moments

    if repair == "diagonal":
        import numpy as np

        frame = _rotation_from_rpy(inertial.origin_rpy)
        ixx, ixy, ixz, iyy, iyz, izz = inertial.inertia
        tensor = frame @ np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]]) @ frame.T
        moments, axes = np.linalg.eigh(tensor)
        fixed = np.array(repaired_moments(inertial.inertia))
        if not np.allclose(moments, fixed, rtol=1e-9, atol=0):
            t = axes @ np.diag(fixed) @ axes.T  # eigh and repaired_moments both sort ascending
            return {
                "mass": inertial.mass,
                "xyz": inertial.origin_xyz,
                "rpy": (0.0, 0.0, 0.0),
                "inertia": tuple(float(v) for v in (t[0, 0], t[0, 1], t[0, 2], t[1, 1], t[1, 2], t[2, 2])),
                "repaired": True,
            }
    return {
        "mass": inertial.mass,
        "xyz": inertial.origin_xyz,
        "rpy": inertial.origin_rpy,
        "inertia": inertial.inertia,
        "repaired": False,
    }


def _rotation_from_rpy(rpy: tuple[float, float, float]) -> Any:
    """The rotation matrix of URDF roll-pitch-yaw angles (numpy, as the MuJoCo import computes it)."""
    import numpy as np

    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def render_package(task: CheckedTask) -> tuple[dict[str, str], dict[str, Path]]:
    """Every text file of the emitted package by path relative to the package folder, and the mesh
    files to copy (path in the package -> source)."""
    from specc.codegen.render import render_module

    env = _environment()
    context = {
        "data": task_data(task),
        "package": package_name(task),
        "task_name": task.spec.task.name,
        "spec_file": task.path.name,
        "spec_hash": task.spec_hash,
        "version": __version__,
        "feature_table": feature_table_markdown(),
        "num_observations": task.num_observations,
        "num_actions": task.num_actions,
    }
    files = {path: env.get_template(template).render(**context) for path, template in TEMPLATES.items()}
    files["kernels.py"] = render_module(task)
    files["assets/robot.urdf"], meshes = robot_urdf(task)
    return files, {f"assets/{path}": source for path, source in meshes.items()}


def emit_package(task: CheckedTask, folder: Path) -> Path:
    """Write the package into `folder/<task>_isaacgym/` and return that path."""
    import shutil

    root = folder / package_name(task)
    files, meshes = render_package(task)
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for relative, source in meshes.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return root


def _reads(task: CheckedTask, signal: str) -> bool:
    return any(signal in term.checked.signals_read for term in task.all_terms)


def _first_reader(task: CheckedTask, signal: str) -> tuple[str | int, ...]:
    """The key path of the first term that reads `signal` (the spec's root when none does)."""
    for term in task.all_terms:
        if signal in term.checked.signals_read:
            return (term.section, "terms", term.name)
    return ()
