"""Build a MuJoCo backend straight from a shipped spec, for physics tests and benchmarks."""

from __future__ import annotations

import torch
from kernel_support import TASKS, load_task
from specc.runtime.backends.base import BackendOptions
from specc.runtime.backends.mujoco import MujocoBackend

from specc.codegen.render import contact_layout


def anymal_backend(num_envs: int, stiffness_scale: float = 1.0, threads: int | None = None):
    task = load_task(TASKS / "anymal_walk.toml")
    bodies, _ = contact_layout(task)
    options = BackendOptions(
        num_envs=num_envs,
        physics_dt=task.spec.sim.dt,
        init_height=task.spec.robot.init_height,
        fixed_base=False,
        self_collision=False,
        repair_inertia=task.spec.robot.repair_inertia,
        contact_bodies=tuple(bodies),
        stiffness=tuple(k * stiffness_scale for k in task.robot.stiffness),
        damping=tuple(task.robot.damping),
        effort=tuple(task.robot.effort),
        num_threads=threads,
    )
    backend = MujocoBackend(task.robot.urdf, task.robot.joint_names, options)
    default = torch.tensor(task.robot.default_joint_pos)
    ids = torch.arange(num_envs)
    backend.reset(
        ids,
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
