"""The generated module's settings tables: what the runtime needs about a task beyond its kernels.

Each table is plain data (names, numbers, booleans, lists, dicts) whose keys are the runtime's config
fields: `ENV` (specc.runtime.config.EnvConfig), `RANDOMIZATION` (RandomizationConfig), `ALGORITHM`
and the learners' `PPO`, `SAC`, `DISTILL` (PPOConfig, SACConfig, DistillConfig), `BACKEND` (the part of BackendOptions the module's other tables do not already give) and
`EVAL_COMMANDS` and `TERRAIN` (TerrainConfig). The module writes them as literals and the runtime builds its configs from them
(`specc.runtime.assemble`), so a run folder's kernels.py holds every setting of its run; the Isaac
Gym target renders the same tables. This is the one place that reads a `CheckedTask` for the runtime.
"""

from __future__ import annotations

from typing import Any

from specc.bind.scene import quat_from_rpy
from specc.codegen.layout import contacts_read, torques_read
from specc.model.urdf import Joint
from specc.task import CheckedTask

Table = dict[str, Any]

# What `joint_lower` / `joint_upper` report for a joint without limits: far, but finite (an infinite
# observation would read as a diverged simulation).
NO_LIMIT = 1000.0


def env_table(task: CheckedTask) -> Table:
    """The env's settings: sizes, the action map, resets, command draws, scene objects' resets."""
    spec = task.spec
    robot = task.robot
    randomized = spec.randomization.enabled
    return {
        "num_envs": spec.sim.num_envs,
        "physics_dt": spec.sim.dt,
        "decimation": spec.sim.decimation,
        "episode_length_s": spec.sim.episode_length_s,
        "time_out": spec.terminations.time_out,
        "action_scale": list(robot.action_scale),
        "action_offset": list(robot.action_offset),
        "action_joints": list(robot.driven),
        "action_is_position": [a.kind == "position" for a in robot.actuators],
        "clip_actions": spec.learner.clip_actions,
        "default_joint_pos": list(robot.default_joint_pos),
        "init_height": spec.robot.init_height,
        "fixed_base": spec.robot.fixed_base,
        "command_ranges": {name: list(bounds) for name, bounds in spec.commands.ranges.items()},
        "categorical": [
            {
                "name": name,
                "values": {target: list(values) for target, values in cat.values.items()},
                "num_choices": len(cat.choices),
                "choices": list(cat.choices),
            }
            for name, cat in spec.commands.categorical.items()
        ],
        "resample_s": spec.commands.resample_s,
        "reset_joint_offset": _ranges_or_none(robot.reset_joint_offset),
        "reset_joint_vel": _ranges_or_none(robot.reset_joint_vel),
        "joint_lower": [_limits(j)[0] - d for j, d in zip(robot.joints, robot.default_joint_pos)],
        "joint_upper": [_limits(j)[1] - d for j, d in zip(robot.joints, robot.default_joint_pos)],
        "objects": [
            {
                "position": list(o.position),
                "position_range": [list(r) for r in o.position_range],
                "yaw_range": list(o.yaw_range),
                "lin_vel_range": [list(r) for r in o.lin_vel_range],
                "nominal_friction": o.friction,
                "mass_scale": list(o.mass_scale) if o.mass_scale and randomized else None,
                "friction": list(o.friction_range) if o.friction_range and randomized else None,
                "size_scale": list(o.size_scale) if o.size_scale and randomized else None,
                "half_height": o.half_height,
            }
            for o in spec.scene.objects.values()
        ],
        "free_objects": [i for i, o in enumerate(spec.scene.objects.values()) if not o.fixed],
        "resample": spec.commands.resample,
        "targets": [
            {
                "name": name,
                "orientation": t.is_orientation,
                "frame": t.frame,
                "bounds": [list(b) for b in t.bounds()],
            }
            for name, t in spec.commands.targets.items()
        ],
        "reset_joint_pos_scale": list(spec.robot.reset_joint_pos_scale),
        "reset_joint_pos_noise": spec.robot.reset_joint_pos_noise,
        "joint_pos_limits": [
            [j.lower, j.upper] if j.lower is not None and j.upper is not None else None for j in robot.joints
        ],
    }


def randomization_table(task: CheckedTask) -> Table:
    """Domain randomization as drawn per env ([randomization]); None: that parameter keeps its value."""
    r = task.spec.randomization
    on = r.enabled

    def drawn(bounds: Any) -> list[float] | None:
        return list(bounds) if on and bounds is not None else None

    return {
        "base_mass_add": drawn(r.base_mass_add),
        "link_mass_scale": drawn(r.link_mass_scale),
        "friction": drawn(r.friction),
        "motor_strength": drawn(r.motor_strength),
        "joint_damping": drawn(r.joint_damping),
        "latency_s": drawn(r.latency_s),
        "observation_noise": r.observation_noise if on else False,
        "push_interval_s": r.push.interval_s if on and r.push else None,
        "push_max_vel": r.push.max_vel if on and r.push else 0.0,
    }


def ppo_table(task: CheckedTask) -> Table:
    """The [ppo] table, every default filled in by the schema."""
    return task.spec.ppo.model_dump()


def learner_tables(task: CheckedTask) -> dict[str, Table]:
    """Each learner's table ([ppo], [sac], [distill]; defaults filled in by the schema), by algorithm:
    a run trains with the spec's [algorithm], distillation and evaluation may load another's policy."""
    spec = task.spec
    return {"ppo": ppo_table(task), "sac": spec.sac.model_dump(), "distill": spec.distill.model_dump()}


def backend_table(task: CheckedTask) -> Table:
    """What the physics backend builds beyond the robot and the tables the kernels share with it
    (CONTACT_BODIES, CONTACT_PAIRS, FRAMES, FRAME_VELOCITIES): defaults of the command line, the
    robot's actuators and locked joints, scene objects, GPU buffer sizes."""
    spec = task.spec
    robot = task.robot
    return {
        "name": spec.sim.backend,  # the backend and device a run takes unless the command line says
        "device": spec.sim.device,
        "self_collision": spec.robot.self_collision,
        "cylinders_as_capsules": spec.robot.cylinders_as_capsules,
        "repair_inertia": spec.robot.repair_inertia,
        "actuators": [
            {
                "joint": name,
                "kind": a.kind,
                "stiffness": a.stiffness,
                "damping": a.damping,
                "effort": a.effort,
            }
            for name, a in zip(robot.action_names, robot.actuators)
        ],
        "locked": [[name, position] for name, position in robot.locked.items()],
        "objects": [
            {
                "name": name,
                "shape": o.shape,
                "size": list(o.size),
                "mass": o.mass,
                "friction": o.friction,
                "color": list(o.color),
                "fixed": o.fixed,
                "position": list(o.position),
                "half_height": o.half_height,
                "max_size_scale": o.size_scale[1] if o.size_scale and spec.randomization.enabled else 1.0,
            }
            for name, o in spec.scene.objects.items()
        ],
        # Further URDFs of the scene (their models come beside the module, as the robot's does).
        "scene_urdfs": [
            {"name": name, "position": list(u.position), "quat": list(quat_from_rpy(u.rpy)), "fixed": u.fixed}
            for name, u in spec.scene.urdfs.items()
        ],
        "object_sizes_vary": spec.randomization.enabled
        and any(o.size_scale is not None for o in spec.scene.objects.values()),
        # What the kernels read of the contact rows and torques: a backend may leave the rest zero.
        "contacts_read": list(contacts_read(task)),
        "torques_read": torques_read(task),
        "max_contacts_per_env": spec.sim.max_contacts_per_env,
        "max_constraints_per_env": spec.sim.max_constraints_per_env,
    }


def terrain_table(task: CheckedTask) -> Table:
    """The [terrain] table (specc.runtime.terrain.TerrainConfig's fields): the ground, and for tiles
    their grid, types, difficulty and curriculum (on only where the spec has curriculum rules)."""
    t = task.spec.terrain
    return {
        "kind": t.type,
        "seed": t.seed,
        "tile_length": t.tile_size[0],
        "tile_width": t.tile_size[1],
        "rows": t.rows,
        "cols": t.cols,
        "border": t.border,
        "horizontal_scale": t.horizontal_scale,
        "vertical_scale": t.vertical_scale,
        "proportions": [[name, share] for name, share in t.proportions.items()],
        "difficulty": t.difficulty.model_dump(),
        "curriculum": t.curriculum.enabled and bool(task.curriculum),
        "max_init_level": t.curriculum.max_init_level,
    }


def eval_commands_table(task: CheckedTask) -> dict[str, float | str]:
    """The commands [eval] holds fixed while evaluating: name -> value (a ranged command) or choice
    (a categorical one)."""
    return dict(task.spec.eval.commands)


def _limits(joint: Joint) -> tuple[float, float]:
    """A joint's position limits as the backends simulate them, or +-NO_LIMIT (continuous joints)."""
    if joint.lower is not None and joint.upper is not None and joint.lower < joint.upper:
        return joint.lower, joint.upper
    return -NO_LIMIT, NO_LIMIT


def _ranges_or_none(ranges: list[tuple[float, float]]) -> list[list[float]]:
    """Per-joint reset ranges, or [] when every one is [0, 0] (the env then draws nothing)."""
    return [list(r) for r in ranges] if any(r != (0.0, 0.0) for r in ranges) else []
