"""Build the runtime's parts for a checked task, as `specc run` does: render the module, assemble it."""

from __future__ import annotations

from types import ModuleType

from layout import TESTS

from specc.codegen.render import render_module
from specc.diagnostics import DiagnosticSink
from specc.runtime.assemble import Assembly, assemble, backend_options, load_module
from specc.runtime.backends.base import BackendOptions
from specc.runtime.runner import Runner
from specc.task import CheckedTask, check_task

CARTPOLE = TESTS / "specs" / "cartpole.toml"


def assemble_task(task: CheckedTask, **options) -> Assembly:
    """The env, backend, kernels and PPO config of `task` (the options are `assemble`'s)."""
    return assemble(render_module(task), task.robot.urdf, **options)


def task_module(task: CheckedTask) -> ModuleType:
    """The generated module of `task`, imported: its tables are what the runtime reads."""
    return load_module(render_module(task))


def task_backend_options(
    task: CheckedTask, num_envs: int, device: str, num_threads: int | None = None
) -> BackendOptions:
    """What a backend is built with for `task`, as `assemble` builds it."""
    return backend_options(task_module(task), num_envs, device, num_threads)


def cartpole_runner(seed: int = 0, num_envs: int = 64, overrides: dict | None = None) -> Runner:
    task = check_task(CARTPOLE, DiagnosticSink("cartpole"), overrides)
    assert task is not None
    parts = assemble_task(task, num_envs=num_envs, kernels="eager", seed=seed)
    return Runner(parts.env, parts.ppo_config, seed=seed)
