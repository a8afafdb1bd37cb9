"""Helpers for kernel tests: build a checked task from spec text and random signal values for it."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from specc.codegen.render import contact_layout, contact_pairs, render_module
from specc.diagnostics import DiagnosticSink
from specc.expr.signals import KERNEL_INPUTS
from specc.task import CheckedTask, check_task

ROBOTS = Path(__file__).parent / "robots"
TASKS = Path(__file__).parent.parent / "tasks"


def task_from_text(text: str, folder: Path, name: str = "spec.toml") -> CheckedTask:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink)
    assert task is not None, [f"{d.code} {d.position.line}:{d.position.col} {d.message}" for d in sink.items]
    return task


def load_task(path: Path, overrides: dict | None = None) -> CheckedTask:
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink, overrides)
    assert task is not None, [d.message for d in sink.items]
    return task


def random_inputs(task: CheckedTask, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random values for every kernel input, shaped for `task`."""
    j, a = len(task.robot.joints), task.num_actions
    k = len(task.frames_read)
    bodies, _ = contact_layout(task)
    f = len(task.robot.body_groups["feet"])
    c = len(task.command_names)

    def r(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.rand(*shape, generator=generator) * 2 - 1) * scale

    q = torch.randn(n, 4, generator=generator)
    q = q / q.norm(dim=-1, keepdim=True)
    values = {
        "base_pos": r(n, 3),
        "base_quat": q,
        "base_lin_vel_world": r(n, 3, scale=2.0),
        "base_ang_vel_world": r(n, 3, scale=2.0),
        "terrain_height": r(n, scale=0.5),
        "height_scan": r(
            n, len(task.spec.terrain.height_scan.points()) if task.spec.terrain.height_scan else 0
        ),
        "feet_height": torch.rand(n, f, generator=generator) * 0.2,
        "terrain_level": torch.randint(0, 10, (n,), generator=generator).float(),
        "joint_pos": r(n, j),
        "joint_vel": r(n, j, scale=5.0),
        "joint_acc": r(n, j, scale=50.0),
        "torques": r(n, j, scale=40.0),
        "actions": r(n, a),
        "last_actions": r(n, a),
        "commands": r(n, c, scale=2.0),
        "contact_force": r(n, len(bodies) + len(contact_pairs(task)), 3, scale=3.0),
        "feet_air_time": torch.rand(n, f, generator=generator),
        "feet_contact": torch.rand(n, f, generator=generator) > 0.5,
        "feet_first_contact": torch.rand(n, f, generator=generator) > 0.5,
        "episode_time": torch.rand(n, generator=generator) * 20,
        "frame_pos": r(n, k, 3),
        "frame_quat": torch.nn.functional.normalize(torch.randn(n, k, 4, generator=generator), dim=-1),
        "frame_lin_vel": r(n, k, 3),
        "frame_ang_vel": r(n, k, 3),
        "joint_lower": -torch.rand(n, j, generator=generator),
        "joint_upper": torch.rand(n, j, generator=generator),
        "episode_start_pos": r(n, 3),
    }
    assert set(values) == set(KERNEL_INPUTS)
    if task.spec.terrain.type != "tiles":  # a plane: the env feeds zero terrain heights
        values["terrain_height"].zero_()
    return {name: values[name] for name in KERNEL_INPUTS}


def quat_about_x(angle: float) -> list[float]:
    return [math.cos(angle / 2), math.sin(angle / 2), 0.0, 0.0]


__all__ = ["task_from_text", "load_task", "random_inputs", "render_module", "quat_about_x", "ROBOTS", "TASKS"]
