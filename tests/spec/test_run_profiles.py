"""A run resolves the spec for its device: [profile.cpu] or [profile.cuda], then explicit overrides; lint does not."""

from __future__ import annotations

from layout import ROOT

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

ANYMAL = ROOT / "tasks" / "anymal_walk.toml"


def resolved(**kwargs):
    task = check_task(ANYMAL, DiagnosticSink("anymal"), **kwargs)
    assert task is not None
    return task.spec


def test_lint_sees_the_spec_as_written():
    spec = resolved()
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (4096, 1500, "cpu")


def test_a_run_on_the_specs_device_applies_its_profile():
    spec = resolved(run_on="spec")
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (64, 300, "cpu")


def test_a_run_on_cuda_uses_the_cuda_profile_or_none():
    spec = resolved(run_on="cuda")
    assert (spec.sim.num_envs, spec.ppo.max_iterations, spec.sim.device) == (4096, 1500, "cuda")


def test_explicit_overrides_win_over_the_profile():
    spec = resolved(overrides={"sim.num_envs": 8}, run_on="cpu")
    assert (spec.sim.num_envs, spec.ppo.max_iterations) == (8, 300)
