"""From a checked spec to the runtime's parts: kernels, backend, env config, learner config.

This is the one place that reads a `CheckedTask` on behalf of the runtime; the runtime
itself sees only generated kernels and plain config data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from specc.codegen.render import (
    contact_layout,
    contact_pairs,
    contacts_read,
    frame_table,
    render_module,
    torques_read,
)
from specc.task import CheckedTask

if TYPE_CHECKING:  # the runtime (torch) is imported only when a run is assembled
    from specc.runtime.backends.base import Backend, BackendOptions
    from specc.runtime.config import EnvConfig, LearnerConfig, PPOConfig
    from specc.runtime.env import TaskEnv
    from specc.runtime.kernels import TaskKernels


@dataclass
class Assembly:
    env: TaskEnv
    learner_config: LearnerConfig  # the spec's [algorithm]: its [ppo] or [sac] table
    kernels: TaskKernels
    backend: Backend
    module_source: str  # the generated module, rendered once: a run folder keeps it as kernels.py


def env_config(task: CheckedTask, num_envs: int | None = None, hold_eval_commands: bool = False) -> EnvConfig:
    """The env's plain config; `hold_eval_commands` (an env that judges episodes) holds the commands
    [eval].commands names: a ranged one at its value, a categorical one at its choice."""
    from specc.runtime.config import (
        CategoricalConfig,
        EnvConfig,
        ObjectResetConfig,
        RandomizationConfig,
        TargetConfig,
    )

    spec = task.spec
    robot = task.robot
    r = spec.randomization
    randomization = (
        RandomizationConfig(
            base_mass_add=r.base_mass_add,
            link_mass_scale=r.link_mass_scale,
            friction=r.friction,
            motor_strength=r.motor_strength,
            joint_damping=r.joint_damping,
            latency_s=r.latency_s,
            observation_noise=r.observation_noise,
            push_interval_s=r.push.interval_s if r.push else None,
            push_max_vel=r.push.max_vel if r.push else 0.0,
        )
        if r.enabled
        else RandomizationConfig()
    )
    held = spec.eval.commands if hold_eval_commands else {}
    categorical = tuple(
        CategoricalConfig(
            name,
            {k: tuple(v) for k, v in cat.values.items()},
            len(cat.choices),
            tuple(cat.choices),
            cat.choices.index(str(held[name])) if name in held else None,
        )
        for name, cat in spec.commands.categorical.items()
    )
    command_ranges: dict[str, tuple[float, float]] = {
        name: (float(held[name]), float(held[name])) if name in held else (bounds[0], bounds[1])
        for name, bounds in spec.commands.ranges.items()
    }
    return EnvConfig(
        num_envs=num_envs or spec.sim.num_envs,
        physics_dt=spec.sim.dt,
        decimation=spec.sim.decimation,
        episode_length_s=spec.sim.episode_length_s,
        time_out=spec.terminations.time_out,
        action_scale=tuple(robot.action_scale),
        action_offset=tuple(robot.action_offset),
        action_joints=tuple(robot.driven),
        action_is_position=tuple(a.kind == "position" for a in robot.actuators),
        clip_actions=spec.learner.clip_actions,
        default_joint_pos=tuple(robot.default_joint_pos),
        init_height=spec.robot.init_height,
        fixed_base=spec.robot.fixed_base,
        command_ranges=command_ranges,
        categorical=categorical,
        resample_s=spec.commands.resample_s,
        randomization=randomization,
        reset_joint_offset=_ranges_or_none(robot.reset_joint_offset),
        reset_joint_vel=_ranges_or_none(robot.reset_joint_vel),
        joint_lower=tuple(_limits(j)[0] - d for j, d in zip(robot.joints, robot.default_joint_pos)),
        joint_upper=tuple(_limits(j)[1] - d for j, d in zip(robot.joints, robot.default_joint_pos)),
        objects=tuple(
            ObjectResetConfig(
                o.position,
                o.position_range,
                o.yaw_range,
                o.lin_vel_range,
                nominal_friction=o.friction,
                mass_scale=o.mass_scale if o.mass_scale and r.enabled else None,
                friction=o.friction_range if o.friction_range and r.enabled else None,
                size_scale=o.size_scale if o.size_scale and r.enabled else None,
                half_height=o.half_height,
            )
            for o in spec.scene.objects.values()
        ),
        free_objects=tuple(i for i, o in enumerate(spec.scene.objects.values()) if not o.fixed),
        resample=spec.commands.resample,
        targets=tuple(
            TargetConfig(name, target.is_orientation, target.frame, tuple(target.bounds()))
            for name, target in spec.commands.targets.items()
        ),
        reset_joint_pos_scale=spec.robot.reset_joint_pos_scale,
        reset_joint_pos_noise=spec.robot.reset_joint_pos_noise,
        joint_pos_limits=tuple(
            (j.lower, j.upper) if j.lower is not None and j.upper is not None else None
            for j in task.robot.joints
        ),
        terrain=terrain_config(task),
    )


def terrain_config(task: CheckedTask):
    """The [terrain] table as the runtime's plain data."""
    from specc.runtime.terrain import Difficulty, TerrainConfig

    t = task.spec.terrain
    return TerrainConfig(
        kind=t.type,
        seed=t.seed,
        tile_length=t.tile_size[0],
        tile_width=t.tile_size[1],
        rows=t.rows,
        cols=t.cols,
        border=t.border,
        horizontal_scale=t.horizontal_scale,
        vertical_scale=t.vertical_scale,
        proportions=tuple(t.proportions.items()),
        difficulty=Difficulty(**t.difficulty.model_dump()),
        curriculum=t.curriculum.enabled and bool(task.curriculum),
        max_init_level=t.curriculum.max_init_level,
    )


# What `joint_lower` / `joint_upper` report for a joint without limits: far, but finite (an infinite
# observation would read as a diverged simulation).
NO_LIMIT = 1000.0


def _limits(joint) -> tuple[float, float]:
    """A joint's position limits as the backends simulate them, or +-NO_LIMIT (continuous joints)."""
    if joint.lower is not None and joint.upper is not None and joint.lower < joint.upper:
        return joint.lower, joint.upper
    return -NO_LIMIT, NO_LIMIT


def _ranges_or_none(ranges: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Per-joint reset ranges, or () when every one is [0, 0] (the env then draws nothing)."""
    return tuple(ranges) if any(r != (0.0, 0.0) for r in ranges) else ()


def learner_config(task: CheckedTask, algorithm: str | None = None) -> LearnerConfig:
    """An algorithm's table of the spec as the runtime's config (PPOConfig, SACConfig or
    DistillConfig); by default the table of the algorithm the spec chooses."""
    from specc.runtime.config import DistillConfig, PPOConfig, SACConfig

    name = algorithm or task.spec.algorithm.name
    values = getattr(task.spec, name).model_dump()
    for key, value in values.items():
        if isinstance(value, list):
            values[key] = tuple(value)
    configs: dict[str, type[LearnerConfig]] = {"ppo": PPOConfig, "sac": SACConfig, "distill": DistillConfig}
    return configs[name](**values)


def ppo_config(task: CheckedTask) -> PPOConfig:
    """The spec's [ppo] table, whichever algorithm the spec trains with (the Isaac Gym target reads it)."""
    from specc.runtime.config import PPOConfig

    config = learner_config(task, "ppo")
    assert isinstance(config, PPOConfig)
    return config


def backend_options(
    task: CheckedTask, num_envs: int, device: str, num_threads: int | None = None
) -> BackendOptions:
    """Everything a backend reads from the spec, as plain data."""
    from specc.runtime.backends.base import (
        ActuatorOptions,
        BackendOptions,
        FrameOptions,
        ObjectOptions,
        SceneUrdfOptions,
    )
    from specc.task import quat_from_rpy

    spec = task.spec
    bodies, _ = contact_layout(task)
    return BackendOptions(
        num_envs=num_envs,
        physics_dt=spec.sim.dt,
        init_height=spec.robot.init_height,
        fixed_base=spec.robot.fixed_base,
        self_collision=spec.robot.self_collision,
        repair_inertia=spec.robot.repair_inertia,
        contact_bodies=tuple(bodies),
        actuators=tuple(
            ActuatorOptions(name, a.kind, a.stiffness, a.damping, a.effort)
            for name, a in zip(task.robot.action_names, task.robot.actuators)
        ),
        locked=tuple(task.robot.locked.items()),
        default_joint_pos=tuple(task.robot.default_joint_pos),
        objects=tuple(
            ObjectOptions(
                name,
                o.shape,
                tuple(o.size),
                o.mass,
                o.friction,
                o.color,
                o.fixed,
                o.position,
                half_height=o.half_height,
                max_size_scale=o.size_scale[1] if o.size_scale and spec.randomization.enabled else 1.0,
            )
            for name, o in spec.scene.objects.items()
        ),
        scene_urdfs=tuple(
            SceneUrdfOptions(name, task.scene.urdfs[name], u.position, quat_from_rpy(u.rpy), u.fixed)
            for name, u in spec.scene.urdfs.items()
        ),
        contact_pairs=tuple(contact_pairs(task).values()),
        frames=tuple(
            FrameOptions(name, body, offset, quat) for name, body, offset, quat in frame_table(task)
        ),
        frame_velocities=task.frame_velocities_read,
        object_sizes_vary=spec.randomization.enabled
        and any(o.size_scale is not None for o in spec.scene.objects.values()),
        device=device,
        num_threads=num_threads,
        max_contacts_per_env=spec.sim.max_contacts_per_env,
        max_constraints_per_env=spec.sim.max_constraints_per_env,
        contacts_read=contacts_read(task),
        torques_read=torques_read(task),
        terrain=terrain_config(task),
    )


def assemble(
    task: CheckedTask,
    *,
    backend: str | None = None,
    device: str | None = None,
    num_envs: int | None = None,
    kernels: str | None = None,
    seed: int = 0,
    randomize: bool = True,
    num_threads: int | None = None,
    capture_graph: bool = True,
    curriculum: bool = True,
    judge: bool = False,
) -> Assembly:
    """Compile (or reuse) the kernels, create the backend and the env for `task`."""
    from specc.runtime.backends import create_backend
    from specc.runtime.env import TaskEnv
    from specc.runtime.kernels import default_kind, load_kernels

    spec = task.spec
    device = device or spec.sim.device
    config = env_config(task, num_envs, hold_eval_commands=judge)
    source = render_module(task)
    compiled = load_kernels(source, spec.task.name, kernels or default_kind(device), device=device)
    options = backend_options(task, config.num_envs, device, num_threads)
    physics = create_backend(backend or spec.sim.backend, task.robot.urdf, task.robot.joint_names, options)
    env = TaskEnv(
        config,
        compiled,
        physics,
        seed=seed,
        randomize=randomize,
        capture_graph=capture_graph,
        curriculum=curriculum,
        judge=judge,
    )
    return Assembly(
        env=env, learner_config=learner_config(task), kernels=compiled, backend=physics, module_source=source
    )
