"""Build a runner on the test cart-pole."""

from __future__ import annotations

from pathlib import Path

from specc.assemble import assemble
from specc.diagnostics import DiagnosticSink
from specc.runtime.runner import Runner
from specc.task import check_task

CARTPOLE = Path(__file__).parent / "specs" / "cartpole.toml"


def cartpole_runner(seed: int = 0, num_envs: int = 64, overrides: dict | None = None) -> Runner:
    task = check_task(CARTPOLE, DiagnosticSink("cartpole"), overrides)
    assert task is not None
    parts = assemble(task, num_envs=num_envs, kernels="eager", seed=seed)
    return Runner(parts.env, parts.ppo_config, seed=seed)
