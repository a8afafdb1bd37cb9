"""A run resolves the spec for its device: [profile.cpu] or [profile.cuda], then explicit overrides; lint does not."""

from __future__ import annotations

from pathlib import Path

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

ANYMAL = Path(__file__).parent.parent / "tasks" / "anymal_walk.toml"


def resolved(**kwargs):
    task = check_task(ANYMAL, DiagnosticSink("anymal"), **kwargs)
    assert task is not None
    return task.spec


def test_lint_sees_the_spec_as_written():
    spec = resolved()
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (4096, 1500, "cpu")


def test_a_run_on_the_specs_device_applies_its_profile():
    spec = resolved(run_on="spec")
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (64, 1000, "cpu")


def test_a_run_on_cuda_uses_the_cuda_profile_or_none():
    spec = resolved(run_on="cuda")
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (4096, 1500, "cuda")


def test_anymals_cpu_profile_changes_the_task_on_the_cpu_only():
    """The embedded default learns an easier walk (README's first command); a GPU run trains the spec as written."""
    cpu, cuda, written = resolved(run_on="cpu"), resolved(run_on="cuda"), resolved()
    assert "termination" in cpu.rewards.terms and "termination" not in cuda.rewards.terms
    assert cpu.commands.ranges["lin_vel_x"] == (1.0, 1.5) and cpu.randomization.push.max_vel == 0.0
    assert tuple(cpu.ppo.actor_hidden_dims) == (128, 128, 128)
    assert cuda.model_dump(exclude={"sim"}) == written.model_dump(exclude={"sim"})
    assert cuda.sim.model_dump(exclude={"device"}) == written.sim.model_dump(exclude={"device"})


def test_explicit_overrides_win_over_the_profile():
    spec = resolved(overrides={"sim.num_envs": 8}, run_on="cpu")
    assert (spec.sim.num_envs, spec.ppo.max_iterations) == (8, 1000)
