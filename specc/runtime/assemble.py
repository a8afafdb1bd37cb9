"""From a generated task module to the runtime's parts: kernels, backend, env, learner config.

The module is the one thing the runtime knows about a task: its kernels, and tables of plain data
(ENV, RANDOMIZATION, ALGORITHM and the learners' PPO / SAC / DISTILL, BACKEND, TERRAIN, EVAL_COMMANDS,
the layouts and names) that this module turns into
the runtime's configs. The robot comes as the URDF model (`specc.model.urdf`), read by whoever
compiled the module. What a run chooses besides the task (backend, device, env count, kernel form,
seed) are arguments.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from specc.model.urdf import Urdf
from specc.runtime.backends import create_backend
from specc.runtime.backends.base import (
    ActuatorOptions,
    Backend,
    BackendOptions,
    FrameOptions,
    ObjectOptions,
    SceneUrdfOptions,
)
from specc.runtime.config import (
    CategoricalConfig,
    DistillConfig,
    EnvConfig,
    LearnerConfig,
    ObjectResetConfig,
    PPOConfig,
    RandomizationConfig,
    SACConfig,
    TargetConfig,
)
from specc.runtime.env import TaskEnv
from specc.runtime.kernels import TaskKernels, default_kind, import_module, load_kernels, write_module
from specc.runtime.terrain import Difficulty, TerrainConfig


@dataclass
class Assembly:
    env: TaskEnv
    learner_config: LearnerConfig  # the spec's [algorithm] (or the one asked for): its table's settings
    kernels: TaskKernels
    backend: Backend
    module_source: str  # the generated module: a run folder keeps it as kernels.py

    @property
    def task_identity(self) -> dict[str, str]:
        """The task the kernels were generated for, as a runner's checkpoints record it."""
        module = self.kernels.module
        return {"spec_hash": module.SPEC_HASH, "task": module.TASK_NAME}


def frozen(value: Any) -> Any:
    """A table's value as the configs hold it: lists become tuples, all the way down (dicts stay)."""
    if isinstance(value, list | tuple):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return {k: frozen(v) for k, v in value.items()}
    return value


def env_config(
    module: ModuleType, num_envs: int | None = None, hold_eval_commands: bool = False
) -> EnvConfig:
    """The env's settings from the module's ENV and RANDOMIZATION tables. `num_envs`: another env count
    than the spec's; `hold_eval_commands`: the EVAL_COMMANDS held, a ranged command at its value (a
    range [v, v]) and a categorical one at its choice, as evaluation runs."""
    table = frozen(module.ENV)
    held = module.EVAL_COMMANDS if hold_eval_commands else {}
    table["command_ranges"] = {
        name: (float(held[name]), float(held[name])) if name in held else bounds
        for name, bounds in table["command_ranges"].items()
    }
    table["categorical"] = tuple(
        CategoricalConfig(**c, held=c["choices"].index(str(held[c["name"]])) if c["name"] in held else None)
        for c in table["categorical"]
    )
    table["objects"] = tuple(ObjectResetConfig(**o) for o in table["objects"])
    table["targets"] = tuple(TargetConfig(**t) for t in table["targets"])
    table["randomization"] = RandomizationConfig(**frozen(module.RANDOMIZATION))
    table["terrain"] = terrain_config(module)
    if num_envs is not None:
        table["num_envs"] = num_envs
    return EnvConfig(**table, policy_dt=module.POLICY_DT)


def terrain_config(module: ModuleType) -> TerrainConfig:
    """The ground from the module's TERRAIN table."""
    table = frozen(module.TERRAIN)
    return TerrainConfig(**{**table, "difficulty": Difficulty(**table["difficulty"])})


LEARNER_CONFIGS: dict[str, type[LearnerConfig]] = {
    "ppo": PPOConfig,
    "sac": SACConfig,
    "distill": DistillConfig,
}


def learner_config(module: ModuleType, algorithm: str | None = None) -> LearnerConfig:
    """A learner's settings from the module's table of that algorithm (PPO, SAC or DISTILL); by
    default the spec's [algorithm] (ALGORITHM)."""
    name = algorithm or module.ALGORITHM
    return LEARNER_CONFIGS[name](**frozen(getattr(module, name.upper())))


def backend_options(
    module: ModuleType,
    num_envs: int,
    device: str,
    num_threads: int | None = None,
    scene_urdfs: dict[str, Urdf] | None = None,
) -> BackendOptions:
    """Everything a backend needs about the task, from the module's tables; `scene_urdfs`: the models
    of the scene's further URDFs (BACKEND["scene_urdfs"] names and places them)."""
    env = module.ENV
    table = module.BACKEND
    return BackendOptions(
        num_envs=num_envs,
        physics_dt=env["physics_dt"],
        init_height=env["init_height"],
        fixed_base=env["fixed_base"],
        self_collision=table["self_collision"],
        cylinders_as_capsules=table["cylinders_as_capsules"],
        repair_inertia=table["repair_inertia"],
        contact_bodies=tuple(module.CONTACT_BODIES),
        actuators=tuple(ActuatorOptions(**a) for a in table["actuators"]),
        locked=frozen(table["locked"]),
        default_joint_pos=tuple(env["default_joint_pos"]),
        objects=tuple(ObjectOptions(**frozen(o)) for o in table["objects"]),
        contact_pairs=frozen(module.CONTACT_PAIRS),
        frames=tuple(FrameOptions(name, body, offset, quat) for name, body, offset, quat in module.FRAMES),
        frame_velocities=module.FRAME_VELOCITIES,
        device=device,
        num_threads=num_threads,
        max_contacts_per_env=table["max_contacts_per_env"],
        max_constraints_per_env=table["max_constraints_per_env"],
        terrain=terrain_config(module),
        scene_urdfs=tuple(
            SceneUrdfOptions(
                u["name"],
                (scene_urdfs or {})[u["name"]],
                frozen(u["position"]),
                frozen(u["quat"]),
                u["fixed"],
            )
            for u in table["scene_urdfs"]
        ),
        object_sizes_vary=table["object_sizes_vary"],
        contacts_read=tuple(table["contacts_read"]),
        torques_read=table["torques_read"],
    )


def load_module(source: str) -> ModuleType:
    """The generated module `source`, imported (from the kernel cache) to read its tables."""
    task_name = _task_name(source)
    return import_module(write_module(source, task_name))


def assemble(
    source: str,
    urdf: Urdf,
    *,
    scene_urdfs: dict[str, Urdf] | None = None,
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
    algorithm: str | None = None,
    max_iterations: int | None = None,
) -> Assembly:
    """Load the kernels of the generated module `source`, create the backend and the env.

    `backend`, `device`: default the spec's (the module's BACKEND table). `judge`: the env computes the
    [eval] criteria each step and holds the [eval] commands (`specc eval`); `scene_urdfs`: the scene's
    further URDF models, by name.
    `algorithm`: the learner whose settings come with the parts (default: the spec's); `max_iterations`
    replaces its table's (`specc run --max-iterations`)."""
    task_name = _task_name(source)
    placement = load_module(source).BACKEND
    device = device or placement["device"]
    compiled = load_kernels(source, task_name, kernels or default_kind(device), device=device)
    module = compiled.module
    config = env_config(module, num_envs, hold_eval_commands=judge)
    options = backend_options(module, config.num_envs, device, num_threads, scene_urdfs)
    physics = create_backend(backend or placement["name"], urdf, list(module.JOINT_NAMES), options)
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
    learner = learner_config(module, algorithm)
    if max_iterations is not None:
        learner = dataclasses.replace(learner, max_iterations=max_iterations)
    return Assembly(
        env=env,
        learner_config=learner,
        kernels=compiled,
        backend=physics,
        module_source=source,
    )


def _task_name(source: str) -> str:
    """The task's name as the module's header states it (`TASK_NAME = "..."`), for its cache file name."""
    for line in source.splitlines():
        if line.startswith("TASK_NAME = "):
            return str(line.removeprefix("TASK_NAME = ").strip().strip('"'))
    raise ValueError("not a specc task module: it has no TASK_NAME")
