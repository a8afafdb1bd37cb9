"""The Isaac Gym target: a checked task -> a self-contained package for Isaac Gym Preview 4.

Isaac Gym's bindings exist only for Python 3.6-3.8 and are on no package registry, while specc
needs Python >= 3.10; so instead of running specc inside Isaac Gym's environment, `specc compile
--target isaacgym` writes everything a task needs into one package that imports only torch and
isaacgym: the generated kernel module (the very module specc's runtime loads), the task's data as
Python literals, a vectorised task class written against gymapi/gymtorch, a collision-only URDF
of the robot as specc imports it (and one per scene object), a train script for rsl_rl and a README.

The package simulates what specc's MuJoCo runtime simulates wherever Isaac Gym can express it:
its task class computes specc's actuator torques itself, loads the assets with the options that
keep massless links massless and bodies undamped, and reads the base and frame velocities at the
frames' origins. `FEATURES` is the one table of how each spec feature maps onto Isaac Gym (the
README's table is generated from it); `check_target` reports, at its position, every feature of a
spec that the target cannot express as the spec means it; `isaacgym_differences` lists, with
sizes, what still differs, and the emitted README shows that list.
"""

from __future__ import annotations

import json
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
from specc.spec.positions import PositionMap
from specc.targets.isaacgym_bodies import (
    IsaacGymRobot,
    inertial_tensor,
    isaacgym_robot,
    quat_multiply,
    quat_of,
    rpy_of,
)
from specc.targets.isaacgym_differences import Difference, differences, ground_friction
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
OBJECT_TEMPLATE = "isaacgym_object.urdf.j2"
# The environment the package is written for and checked against (README, train.py's torch check).
ISAAC_GYM = "Isaac Gym Preview 4"
RSL_RL = "1.0.2"
MIN_TORCH = (1, 9)  # rsl_rl 1.0.2 collects rollouts under torch.inference_mode (torch 1.9)
PYTHON_VERSIONS = ("3.7", "3.8")  # Isaac Gym's rlgpu environment has 3.7; legged_gym recommends 3.8


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
        "as specc imports them, joints; `collapse_fixed_joints` merges welded links into their parent, except "
        "links the task tracks contact on (`dont_collapse`)",
        "same",
    ),
    Feature(
        "robot.urdf links without `<inertial>`",
        "massless in specc; `AssetOptions.density = 0.001` (legged_gym's) gives those with collision shapes "
        "a mass of 0.001 kg/m^3 x their volume, listed with its size in the package's README",
        "differs",
    ),
    Feature(
        "robot.urdf collision cylinders",
        "PhysX has no cylinder: a 20-sided prism inscribed in it (1.6 % less volume), or a capsule with "
        "`robot.cylinders_as_capsules`",
        "differs",
    ),
    Feature(
        "robot.urdf collision meshes (STL, OBJ)",
        "copied into `assets/meshes/` from the spec's folder, the URDF's or its package only, through "
        "specc's guarded reader (regular files, size-checked)",
        "same",
    ),
    Feature(
        "robot.urdf collision meshes in MuJoCo's .msh format",
        "none: Isaac Gym's importer reads STL, OBJ and DAE",
        "unavailable",
    ),
    Feature("robot.repair_inertia", "the repaired inertia tensors are written into the emitted URDF", "same"),
    Feature(
        "URDF joint limits",
        "DOF `hasLimits`, `lower`, `upper` set from specc's tables: a joint without limits, or with lower >= "
        "upper, is unlimited as in specc",
        "same",
    ),
    Feature(
        "URDF joint velocity limits",
        "ignored as specc ignores them: DOF `velocity` is a 1e4 rad/s (m/s) cap, where both runtimes end "
        "the episode as diverged",
        "same",
    ),
    Feature(
        "URDF joint effort limits",
        "an actuator's effort limit where the spec gives none, as in specc; the task clips its torque to it",
        "same",
    ),
    Feature(
        "URDF joint damping",
        "a torque -damping x joint velocity added by the task each physics step",
        "same",
    ),
    Feature(
        "URDF joint friction",
        "none: Isaac Gym's DOF `friction` is a dimensionless coefficient of the joint force, specc's a "
        "friction-loss torque in N·m",
        "unavailable",
    ),
    Feature("robot.fixed_base", "`AssetOptions.fix_base_link`", "same"),
    Feature("robot.cylinders_as_capsules", "`AssetOptions.replace_cylinder_with_capsule`", "same"),
    Feature(
        "robot.self_collision",
        "the actor's collision filter: 0 (self collisions on) or 1 (off) in `gym.create_actor`",
        "same",
    ),
    Feature(
        "robot.locked",
        "written as a fixed joint at its locked position, so the collapse welds it as specc's import does",
        "same",
    ),
    Feature("robot.passive", "a DOF with no actuator torque (its damping only)", "same"),
    Feature(
        "robot.pd",
        "every DOF in `DOF_MODE_EFFORT` (stiffness and damping 0); the task computes clip(kp (target - q) - "
        "kd dq, +-effort) on the state at the start of each physics step and sends it with "
        "`set_dof_actuation_force_tensor` (legged_gym's explicit PD; PhysX's position drive is implicit)",
        "same",
    ),
    Feature("robot.torque", "the torque scale x action, clipped to +-effort, sent the same way", "same"),
    Feature(
        "robot.action_scale, [robot.pd] and [robot.torque] scale, ppo.clip_actions",
        "each driven joint's own scale, applied in `step()`",
        "same",
    ),
    Feature(
        "robot.reset_joint_pos_scale, reset_joint_pos_noise, reset_joint_offset, reset_joint_vel",
        "resets write default x U(scale) + U(-noise, noise) + U(offset), clamped into the joint limits, and "
        "the velocity draws, to the DOF state tensor (`set_dof_state_tensor_indexed`)",
        "same",
    ),
    Feature("robot.init_height", "the actor's start pose and the root state written at resets", "same"),
    Feature("robot.default_joint_pos", "PD targets are default + scale x action", "same"),
    Feature(
        "sim.dt, sim.decimation",
        "`SimParams.dt`, `substeps = 1`; `decimation` x (`simulate`, `fetch_results`, "
        "`refresh_dof_state_tensor`) per policy step",
        "same",
    ),
    Feature("sim.num_envs", "one env per robot; `--num-envs` overrides it", "same"),
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
        "`PhysXParams.max_gpu_contact_pairs` = max_contacts_per_env x num_envs, never below legged_gym's 2^23",
        "same",
    ),
    Feature(
        "sim.max_constraints_per_env",
        "no PhysX counterpart (PhysX sizes its constraint buffers itself); ignored",
        "differs",
    ),
    Feature(
        "observations, rewards, terminations, values",
        "the generated kernels, unchanged, compiled with `torch.jit.script`",
        "same",
    ),
    Feature(
        "signals base_* and projected_gravity",
        "`acquire_actor_root_state_tensor` (quaternion reordered to w first); PhysX's linear velocity is the "
        "centre of mass's, converted to the base frame origin's (v - w x R c) as specc's free joint reports it",
        "same",
    ),
    Feature(
        "signals joint_pos, joint_vel, joint_acc, torques",
        "`acquire_dof_state_tensor`, in the spec's joint order; `torques` as the task computed them",
        "same",
    ),
    Feature(
        "signal contact_force[group]",
        "`acquire_net_contact_force_tensor` of each tracked body (robot link or object), into which the import "
        "merged the untracked links welded to it (specc sums over the same links)",
        "same",
    ),
    Feature(
        "[scene.contacts] pairs",
        "none: Isaac Gym's GPU tensors give each body's net contact force, not the force between two bodies",
        "unavailable",
    ),
    Feature(
        "signals feet_contact, feet_air_time, feet_first_contact",
        "from the net contact force (> 1 N upwards), filtered over two steps as specc's env",
        "same",
    ),
    Feature(
        "[frames] and frame_* signals",
        "`acquire_rigid_body_state_tensor` of the body that holds the frame's link, with the link's pose in it "
        "composed into the offset; velocities of the frame's origin (PhysX's are the centre of mass's)",
        "same",
    ),
    Feature(
        "[scene.objects]",
        "one actor per object and env, from `assets/objects/<n>.urdf` with specc's mass and inertia; reset "
        "pose, yaw and velocity drawn as specc draws them",
        "same",
    ),
    Feature(
        "scene object friction",
        "against the ground as specc (2 o - g with the ground at the task's lowest friction); against the "
        "robot or another object PhysX averages, listed with its size when it differs",
        "differs",
    ),
    Feature("scene object size_scale", "none: an actor's shapes cannot be rescaled per env", "unavailable"),
    Feature("[scene.urdfs]", "not implemented", "unavailable"),
    Feature(
        "commands.ranges, commands.categorical, commands.targets, commands.resample_s, commands.resample",
        "sampled in torch at resets and every resample_s, as `resample` says",
        "same",
    ),
    Feature("[commands.computed]", "not implemented", "unavailable"),
    Feature(
        "observation noise", "uniform noise of each observation entry's amplitude, added in torch", "same"
    ),
    Feature(
        "randomization.latency_s",
        "per-env delay in physics steps: the previous controls act for the first steps of each policy step",
        "same",
    ),
    Feature(
        "randomization.push",
        "every interval, a random base xy velocity (of the base frame's origin) through "
        "`set_actor_root_state_tensor_indexed`",
        "same",
    ),
    Feature(
        "randomization.friction, base_mass_add, link_mass_scale, motor_strength, joint_damping; object "
        "mass_scale and friction_range",
        "rigid shape `friction` (2 f - ground, so PhysX's average gives f), rigid body `mass` and `inertia`, the "
        "task's gains and damping; sampled once per env at creation (specc: at every reset)",
        "differs",
    ),
    Feature(
        "terrain tiles, terrain.height_scan, the feet_height signal",
        "not implemented (flat ground only)",
        "unavailable",
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
    Feature(
        'algorithm.name = "sac", [[critic_observations]]',
        "not implemented (rsl_rl 1.0.2's PPO only)",
        "unavailable",
    ),
    Feature("eval", "not emitted: evaluate with `specc eval` on MuJoCo", "outside"),
)
FIDELITY = {
    "same": "same as specc",
    "differs": "differs (a warning)",
    "unavailable": "not available (an error)",
    "outside": "not part of the target",
}


def feature_table_markdown() -> str:
    """The feature table as Markdown (the README's Isaac Gym section shows exactly this)."""
    lines = ["| spec feature | Isaac Gym | fidelity |", "|---|---|---|"]
    lines += [f"| `{f.spec}` | {f.isaacgym} | {FIDELITY[f.fidelity]} |" for f in FEATURES]
    return "\n".join(lines)


# -- the target's view of a task ----------------------------------------------------------------------
@dataclass(frozen=True)
class TargetTask:
    """What the target derives from a checked task once: the asset's bodies and the ground's friction."""

    task: CheckedTask
    robot: IsaacGymRobot
    tracked: frozenset[str]  # robot links kept apart (dont_collapse): the contact bodies that are links
    ground_friction: float

    @property
    def differences(self) -> list[Difference]:
        return differences(self.task, self.robot, self.ground_friction)


def target_task(task: CheckedTask) -> TargetTask:
    from specc.codegen.layout import contact_layout

    tracked = frozenset(b for b in contact_layout(task)[0] if b in task.robot.urdf.links)
    return TargetTask(task, isaacgym_robot(task, set(tracked)), tracked, ground_friction(task))


# -- target checks ----------------------------------------------------------------------------------
def check_target(task: CheckedTask, positions: PositionMap, sink: DiagnosticSink) -> None:
    """Report every spec feature the Isaac Gym target cannot express as specc means it.

    Errors stop the compile (the package would not load or would simulate something else); warnings
    name a difference the package's README lists with its size (`isaacgym_differences`).
    """
    from specc.targets.package_files import check_mesh, mesh_roots

    spec = task.spec
    urdf = task.robot.urdf
    at_urdf = positions.value(("robot", "urdf"))
    roots = mesh_roots(task)
    for link in urdf.links.values():
        for geom in link.collisions:
            if geom.kind != "mesh":
                continue
            mesh = Path(geom.mesh_path or "")
            if mesh.suffix.lower() not in MESH_FORMATS:
                sink.add(
                    "SPC501",
                    f"link '{link.name}': collision mesh '{mesh.name}' ({urdf.path.name}:{geom.line}) cannot be "
                    f"loaded by Isaac Gym ({', '.join(MESH_FORMATS)})",
                    at_urdf,
                    fix="convert it to STL or OBJ",
                )
                continue
            refused = check_mesh(mesh, roots)
            if refused is not None:
                sink.add(
                    "SPC003",
                    f"link '{link.name}': collision mesh '{mesh.name}' ({urdf.path.name}:{geom.line}) {refused}; "
                    "the package does not copy it",
                    at_urdf,
                    fix="keep meshes beside the spec or the URDF, or in the URDF's package",
                )
    frictional = [j.name for j in task.robot.joints if j.friction > 0]
    if frictional:
        sink.add(
            "SPC501",
            f"URDF joint friction ({_some(frictional)}) cannot be expressed on Isaac Gym: "
            + _feature("URDF joint friction").isaacgym,
            at_urdf,
            fix="remove the <dynamics friction> of these joints, or train this spec with specc run",
        )
    target = target_task(task)
    for body in target.robot.bodies:
        if body.isaacgym.mass <= 0:
            sink.add(
                "SPC501",
                f"link '{body.name}' (with {_some(list(body.links))}) would be an Isaac Gym body without mass "
                "(no <inertial> and no collision shape): PhysX cannot simulate it",
                at_urdf,
                fix="give the link an <inertial> in the URDF",
            )
    pairs = [name for name in task.contact_groups_read if name in task.scene.pairs]
    unsupported: list[tuple[str, tuple[str | int, ...], bool]] = [
        ("scene URDFs", ("scene", "urdfs"), bool(spec.scene.urdfs)),
        ("contact pairs ([scene.contacts])", ("scene", "contacts", pairs[0]) if pairs else (), bool(pairs)),
        (
            "terrain tiles (heightfields and their curriculum)",
            ("terrain", "type"),
            spec.terrain.type == "tiles",
        ),
        ("height scans", ("terrain", "height_scan"), spec.terrain.height_scan is not None),
        ("the feet_height signal", _first_reader(task, "feet_height"), _reads(task, "feet_height")),
        ("computed commands", ("commands", "computed"), bool(spec.commands.computed)),
        ("SAC (its train.py runs rsl_rl's PPO)", ("algorithm", "name"), spec.algorithm.name != "ppo"),
        ("a critic observation group", ("critic_observations",), bool(spec.critic_observations)),
    ]
    unsupported += [
        (f"object size_scale (object '{name}')", ("scene", "objects", name, "size_scale"), True)
        for name, obj in spec.scene.objects.items()
        if obj.size_scale is not None and spec.randomization.enabled
    ]
    for what, path, in_use in unsupported:
        if in_use:
            sink.add(
                "SPC501",
                f"the Isaac Gym target does not implement {what} yet",
                positions.key(path),
                fix="train this spec with specc's own backends (specc run)",
            )
    for quantity, items in _warned(target.differences).items():
        first = items[0]
        assert first.at is not None
        wheres = _some([item.where for item in items])
        size = f"; {first.size}" if len(items) == 1 else " (the package's README.md lists each with its size)"
        sink.add(
            "SPC501",
            f"on Isaac Gym the {quantity} of {wheres} differs: {first.isaacgym} (specc: {first.specc}){size}",
            positions.key(first.at),
            severity=Severity.WARNING,
        )


def _warned(items: list[Difference]) -> dict[str, list[Difference]]:
    """The differences a spec chose (those with a spec position), by quantity: one warning each. A body's
    mass entry speaks for its centre of mass and inertia too."""
    out: dict[str, list[Difference]] = {}
    for item in items:
        if item.at is not None and item.quantity not in ("centre of mass", "inertia"):
            out.setdefault(item.quantity, []).append(item)
    return out


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _feature(spec: str) -> Feature:
    return next(f for f in FEATURES if f.spec == spec)


# -- text that reaches generated files ---------------------------------------------------------------
@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    from xml.sax.saxutils import quoteattr

    from specc.codegen.render import template_environment

    env = template_environment()
    env.filters["literal"] = python_literal
    env.filters["xmlattr"] = lambda text: quoteattr(_xml_text(str(text)))
    env.filters["xmlcomment"] = xml_comment_text
    env.filters["xmlnum"] = _xml_numbers
    env.filters["md"] = markdown_text
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


def xml_comment_text(text: Any) -> str:
    """User text inside an XML comment: JSON-escaped (no control characters, no non-ASCII) and without a
    single `-`, so it can neither close the comment (`-->`) nor break it (`--`, a trailing `-`)."""
    return json.dumps(str(text), ensure_ascii=True)[1:-1].replace("-", "\\u002d")


def _xml_text(text: str) -> str:
    """Characters XML 1.0 cannot carry (control characters other than tab, newline, return) as \\uXXXX."""
    return "".join(c if c in "\t\n\r" or ord(c) >= 0x20 else f"\\u{ord(c):04x}" for c in text)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


def markdown_text(text: Any) -> str:
    """User text in Markdown (table cells included): control characters escaped, every character Markdown
    or HTML gives a meaning inside a line backslash-escaped, so a name cannot open a link, a code span,
    emphasis, a tag or a table cell."""
    escaped = json.dumps(str(text), ensure_ascii=False)[1:-1].replace('\\"', '"')
    return _MARKDOWN_SPECIAL.sub(r"\\\1", escaped)


def _xml_numbers(values: Any) -> str:
    """Numbers for a URDF attribute: finite floats separated by spaces."""
    items = values if isinstance(values, (list, tuple)) else (values,)
    for v in items:
        if not math.isfinite(float(v)):
            raise ValueError(f"{v} is not a finite number")
    return " ".join(repr(float(v)) for v in items)


# -- emission ---------------------------------------------------------------------------------------
def package_name(task: CheckedTask) -> str:
    return task.spec.task.name + PACKAGE_SUFFIX


def task_data(target: TargetTask) -> dict[str, Any]:
    """Everything the emitted task class needs about the task, as plain data (rendered into task_data.py)."""
    from specc.codegen.layout import contact_layout, frame_table
    from specc.codegen.tables import (
        NO_LIMIT,
        _limits,
        backend_table,
        env_table,
        ppo_table,
        randomization_table,
    )

    task = target.task
    spec = task.spec
    robot = task.robot
    urdf = robot.urdf
    env = env_table(task)
    backend = backend_table(task)
    bodies, _ = contact_layout(task)
    r = randomization_table(task)
    actuators = backend["actuators"]
    frames = [_frame(target, name, body, offset, quat) for name, body, offset, quat in frame_table(task)]
    robot_bodies = (
        {urdf.root}
        | {b for b in bodies if b in urdf.links}
        | {f["body"] for f in frames if f["body"] not in spec.scene.objects}
    )
    limits = []  # per simulated joint: as specc's backends simulate it, None when unlimited
    for joint in robot.joints:
        low, high = _limits(joint)
        limits.append(None if (low, high) == (-NO_LIMIT, NO_LIMIT) else [low, high])
    return {
        "TASK_NAME": spec.task.name,
        "SPEC_FILE": task.path.name,
        "SPEC_HASH": task.spec_hash,
        "SPECC_VERSION": __version__,
        "URDF_FILE": "robot.urdf",
        "JOINT_NAMES": list(robot.joint_names),
        "DEFAULT_JOINT_POS": list(env["default_joint_pos"]),
        # Per driven joint (action order): which simulated joint, its scale and offset, its actuator.
        "ACTION_JOINTS": list(env["action_joints"]),
        "ACTION_SCALE": list(env["action_scale"]),
        "ACTION_OFFSET": list(env["action_offset"]),
        "ACTION_IS_POSITION": list(env["action_is_position"]),
        "STIFFNESS": [a["stiffness"] if a["kind"] == "position" else 0.0 for a in actuators],
        "DAMPING": [a["damping"] if a["kind"] == "position" else 0.0 for a in actuators],
        "EFFORT": [a["effort"] for a in actuators],
        # Per simulated joint: its URDF damping, its limits as specc simulates them (None: unlimited), its
        # limits relative to the default (the joint_lower / joint_upper signals), its reset clamp.
        "JOINT_PASSIVE_DAMPING": [j.damping for j in robot.joints],
        "JOINT_LIMITS": limits,
        "JOINT_LOWER": list(env["joint_lower"]),
        "JOINT_UPPER": list(env["joint_upper"]),
        "RESET_CLAMP": [list(c) if c else None for c in env["joint_pos_limits"]],
        "RESET_JOINT_POS_SCALE": list(env["reset_joint_pos_scale"]),
        "RESET_JOINT_POS_NOISE": env["reset_joint_pos_noise"],
        "RESET_JOINT_OFFSET": [list(o) for o in env["reset_joint_offset"]],
        "RESET_JOINT_VEL": [list(v) for v in env["reset_joint_vel"]],
        "BASE_BODY": urdf.root,
        "BASE_GROUP": urdf.rigid_group(urdf.root, stop=set()),
        "BODY_NAMES": sorted(robot_bodies),
        "CONTACT_BODIES": bodies,
        "FEET": list(robot.body_groups["feet"]),
        "FRAMES": frames,
        "OBJECTS": _objects(task),
        "INIT_HEIGHT": spec.robot.init_height,
        "FIXED_BASE": spec.robot.fixed_base,
        "SELF_COLLISION": spec.robot.self_collision,
        "CYLINDERS_AS_CAPSULES": spec.robot.cylinders_as_capsules,
        "CLIP_ACTIONS": env["clip_actions"],
        "NUM_ENVS": spec.sim.num_envs,
        "PHYSICS_DT": spec.sim.dt,
        "DECIMATION": spec.sim.decimation,
        "POLICY_DT": spec.sim.policy_dt,  # sim.dt × sim.decimation, as the spec computes it
        "EPISODE_LENGTH_S": spec.sim.episode_length_s,
        "TIME_OUT": spec.terminations.time_out,
        "MAX_CONTACTS_PER_ENV": spec.sim.max_contacts_per_env,
        "NOMINAL_FRICTION": 1.0,
        "GROUND_FRICTION": target.ground_friction,
        "COMMAND_NAMES": list(task.command_names),
        "COMMAND_RANGES": {k: list(v) for k, v in env["command_ranges"].items()},
        "CATEGORICAL_COMMANDS": [
            {
                "name": c["name"],
                "num_choices": c["num_choices"],
                "values": {k: list(v) for k, v in c["values"].items()},
            }
            for c in env["categorical"]
        ],
        "TARGETS": env["targets"],
        "RESAMPLE_S": spec.commands.resample_s,
        "RESAMPLE": env["resample"],
        "RANDOMIZATION": {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()},
        "PPO": {k: (list(v) if isinstance(v, tuple) else v) for k, v in ppo_table(task).items()},
    }


def _frame(target: TargetTask, name: str, body: str, offset, quat) -> dict[str, Any]:
    """A frame on the Isaac Gym body that holds its link: the link's pose there composed into the offset."""
    import numpy as np

    if body not in target.robot.placement:  # an object: its own body
        return {"name": name, "body": body, "offset": list(offset), "quat": list(quat)}
    holder, rotation, position = target.robot.placement[body]
    moved = rotation @ np.array(offset, dtype=float) + position
    return {
        "name": name,
        "body": holder,
        "offset": [float(v) for v in moved],
        "quat": list(quat_multiply(quat_of(rotation), tuple(quat))),
    }


def _objects(task: CheckedTask) -> list[dict[str, Any]]:
    """Each scene object as the env resets it and the backend builds it (the runtime's tables), plus its URDF."""
    from specc.codegen.tables import backend_table, env_table

    return [
        {
            "name": built["name"],
            "urdf": f"objects/{k}.urdf",
            "fixed": built["fixed"],
            "position": reset["position"],
            "position_range": reset["position_range"],
            "yaw_range": reset["yaw_range"],
            "lin_vel_range": reset["lin_vel_range"],
            "friction": reset["nominal_friction"],
            "friction_range": reset["friction"],
            "mass_scale": reset["mass_scale"],
        }
        for k, (built, reset) in enumerate(zip(backend_table(task)["objects"], env_table(task)["objects"]))
    ]


def object_urdfs(task: CheckedTask) -> dict[str, str]:
    """One URDF per scene object (`objects/<n>.urdf`): its shape and specc's mass and inertia (a uniform
    solid, as specc's MuJoCo import computes it), so the import infers nothing."""
    env = _environment()
    out = {}
    for k, (name, obj) in enumerate(task.spec.scene.objects.items()):
        size, m = list(obj.size), obj.mass
        if obj.shape == "box":
            x, y, z = size
            inertia = [m * (y * y + z * z) / 12, m * (x * x + z * z) / 12, m * (x * x + y * y) / 12]
        elif obj.shape == "sphere":
            inertia = [0.4 * m * size[0] ** 2] * 3
        else:  # cylinder, capsule: specc gives the capsule its cylinder's inertia of the full length
            radius, length = size
            full = length + (2 * radius if obj.shape == "capsule" else 0.0)
            side = m * (3 * radius * radius + full * full) / 12
            inertia = [side, side, m * radius * radius / 2]
        out[f"objects/{k}.urdf"] = env.get_template(OBJECT_TEMPLATE).render(
            name=name, spec_hash=task.spec_hash, shape=obj.shape, size=size, mass=m, inertia=inertia
        )
    return out


def robot_urdf(target: TargetTask) -> tuple[str, dict[str, Path]]:
    """The robot as specc imports it, as a URDF for Isaac Gym, and the mesh files it needs (name -> source).

    Collision geometry only; masses and inertias as the URDF writes them, or repaired when the spec
    says `repair_inertia = "diagonal"` (the same repair the MuJoCo import applies); locked joints
    welded at their positions (fixed joints); joint limits, damping and friction left to the task.
    """
    task = target.task
    urdf = task.robot.urdf
    repair = task.spec.robot.repair_inertia
    meshes: dict[str, Path] = {}
    links = []
    for link in urdf.links.values():
        inertial = None
        if link.inertial is not None and link.inertial.mass > 0:
            tensor, repaired = inertial_tensor(link.inertial, repair)
            inertial = {
                "mass": link.inertial.mass,
                "xyz": link.inertial.origin_xyz,
                "rpy": (0.0, 0.0, 0.0),  # the tensor is in the link frame
                "inertia": tuple(
                    float(v)
                    for v in (
                        tensor[0, 0],
                        tensor[0, 1],
                        tensor[0, 2],
                        tensor[1, 1],
                        tensor[1, 2],
                        tensor[2, 2],
                    )
                ),
                "repaired": repaired,
            }
        geoms = []
        for geom in link.collisions:
            mesh = None
            if geom.kind == "mesh":
                source = Path(geom.mesh_path or "")
                mesh = f"meshes/{len(meshes)}_{re.sub(r'[^A-Za-z0-9_.-]', '_', source.name)[:100]}"
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
    joints = []
    for j in urdf.joints:
        xyz: tuple[float, ...] = j.origin_xyz
        rpy: tuple[float, ...] = j.origin_rpy
        kind = j.kind
        if j.name in task.robot.locked:
            from specc.targets.isaacgym_bodies import welded_origin

            rotation, position = welded_origin(j, task.robot.locked[j.name])
            xyz, rpy, kind = tuple(float(v) for v in position), rpy_of(rotation), "fixed"
        joints.append(
            {
                "name": j.name,
                "kind": kind,
                "parent": j.parent,
                "child": j.child,
                "xyz": xyz,
                "rpy": rpy,
                "axis": j.axis,
                "lower": j.lower,
                "upper": j.upper,
                "keep": kind == "fixed" and j.child in target.robot.kept,
            }
        )
    text = (
        _environment()
        .get_template(URDF_TEMPLATE)
        .render(name=urdf.name, source=urdf.path.name, spec_hash=task.spec_hash, links=links, joints=joints)
    )
    return text, meshes


def render_package(task: CheckedTask) -> tuple[dict[str, str], dict[str, Path]]:
    """Every text file of the emitted package by path relative to the package folder, and the mesh
    files to copy (path in the package -> source)."""
    from specc.codegen.render import render_module

    target = target_task(task)
    env = _environment()
    context = {
        "data": task_data(target),
        "package": package_name(task),
        "task_name": task.spec.task.name,
        "spec_file": task.path.name,
        "spec_hash": task.spec_hash,
        "version": __version__,
        "feature_table": feature_table_markdown(),
        "differences": target.differences,
        "num_observations": task.num_observations,
        "num_actions": task.num_actions,
        "isaac_gym": ISAAC_GYM,
        "rsl_rl": RSL_RL,
        "min_torch": ".".join(str(v) for v in MIN_TORCH),
        "python_versions": PYTHON_VERSIONS,
    }
    files = {path: env.get_template(template).render(**context) for path, template in TEMPLATES.items()}
    files["kernels.py"] = render_module(task)
    files["assets/robot.urdf"], meshes = robot_urdf(target)
    for path, text in object_urdfs(task).items():
        files[f"assets/{path}"] = text
    return files, {f"assets/{path}": source for path, source in meshes.items()}


def emit_package(task: CheckedTask, folder: Path) -> Path:
    """Write the package as `folder/<task>_isaacgym/`, whole or not at all, and return that path.

    Meshes are read through the guarded reader before anything is written; the package goes into a
    fresh temporary folder that replaces the previous package only when complete (`package_files`).
    Raises OSError (PackageWriteError) with a message naming the path and the reason.
    """
    from specc.targets.package_files import (
        MAX_MESHES_BYTES,
        PackageWriteError,
        mesh_roots,
        read_mesh,
        write_package,
    )

    files, meshes = render_package(task)
    contents = {path: text.encode("utf-8") for path, text in files.items()}
    roots = mesh_roots(task)
    total = 0
    for path, source in meshes.items():
        contents[path] = read_mesh(source, roots)
        total += len(contents[path])
        if total > MAX_MESHES_BYTES:
            raise PackageWriteError(
                f"the robot's meshes are larger than {MAX_MESHES_BYTES >> 20} MiB together"
            )
    return write_package(folder, package_name(task), contents)


def _reads(task: CheckedTask, signal: str) -> bool:
    return any(signal in term.checked.signals_read for term in task.all_terms)


def _first_reader(task: CheckedTask, signal: str) -> tuple[str | int, ...]:
    """The key path of the first term that reads `signal` (the spec's root when none does)."""
    for term in task.all_terms:
        if signal in term.checked.signals_read:
            return (term.section, "terms", term.name)
    return ()
