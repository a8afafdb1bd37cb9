"""bench/time_to_walk.py's own behaviour: the SAC spec it trains is a valid spec with the sweep's
settings, and a time limit ends `specc run` with its checkpoint instead of an error."""

from __future__ import annotations

import json

import pytest
from layout import ROOT, bench_script

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

TASKS = ROOT / "tasks"


def _bench_module():
    return bench_script("time_to_walk", "time_to_walk")


def test_the_sac_spec_is_the_task_with_sac_tables_and_the_sweeps_settings(tmp_path):
    time_to_walk = _bench_module()
    path = time_to_walk.spec_for(
        "sac", tmp_path, TASKS / "anymal_walk.toml", ["gamma=0.97", "sac.actor_hidden_dims=[256, 128]"]
    )
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink, run_on="cuda")
    assert task is not None, [d.message for d in sink.items]
    sac = task.spec.sac
    assert (sac.gamma, list(sac.actor_hidden_dims)) == (0.97, [256, 128])
    assert (sac.action_bound, sac.tau, sac.policy_frequency) == (1.5, 0.02, 2)  # SAC_TABLES' own


def test_a_time_limit_stops_the_run_with_its_checkpoint(tmp_path):
    time_to_walk = _bench_module()
    run = tmp_path / "run"
    time_to_walk.specc(
        "run", str(TASKS / "cartpole.toml"), "--backend", "mujoco", "--device", "cpu", "--num-envs", "4",
        "--max-iterations", "1000000", "--set", "ppo.save_interval=1000000", "--run-dir", str(run),
        "--no-tensorboard", cwd=tmp_path, time_limit=25.0,
    )  # fmt: skip
    checkpoints = sorted((run / "checkpoints").glob("model_*.pt"))
    assert len(checkpoints) == 1  # only the one saved on SIGTERM
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert checkpoints[0].name == f"model_{last['iteration']:06d}.pt" and last["iteration"] < 1000000


def test_a_failing_run_still_fails_under_a_time_limit(tmp_path):
    time_to_walk = _bench_module()
    with pytest.raises(SystemExit, match="run failed"):
        time_to_walk.specc("run", str(tmp_path / "missing.toml"), cwd=tmp_path, time_limit=60.0)
