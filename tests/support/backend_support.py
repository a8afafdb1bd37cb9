"""Build a MuJoCo backend straight from a shipped spec, for physics tests and benchmarks."""

from __future__ import annotations

import dataclasses

import torch
from kernel_support import TASKS, load_task
from runtime_support import task_backend_options

from specc.runtime.backends.mujoco import MujocoBackend


def anymal_backend(num_envs: int, stiffness_scale: float = 1.0, threads: int | None = None):
    task = load_task(TASKS / "anymal_walk.toml")
    options = task_backend_options(task, num_envs, "cpu", threads)
    actuators = tuple(
        dataclasses.replace(a, stiffness=a.stiffness * stiffness_scale) for a in options.actuators
    )
    options = dataclasses.replace(options, actuators=actuators)
    backend = MujocoBackend(task.robot.urdf, task.robot.joint_names, options)
    default = torch.tensor(task.robot.default_joint_pos)
    backend.reset(
        torch.ones(num_envs, dtype=torch.bool),
        torch.tensor([[0.0, 0.0, task.spec.robot.init_height]]).repeat(num_envs, 1),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(num_envs, 1),
        default.repeat(num_envs, 1),
        torch.zeros(num_envs, len(default)),
    )
    return task, backend, default


def hold(backend, default: torch.Tensor, seconds: float, substeps: int = 4) -> None:
    """Hold the default pose as PD target for `seconds`."""
    targets = default.repeat(backend.num_envs, substeps, 1)
    for _ in range(round(seconds / (backend.physics_dt * substeps))):
        backend.step(targets)
