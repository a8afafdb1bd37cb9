"""Every shipped task lints clean and trains for a few iterations on the CPU, end to end.

A smoke test, not a learning test: it proves that each spec's robot imports, its scene builds,
its frames, targets and criteria compile, and a few PPO iterations run through the CLI
(`specc run SPEC --set ppo.max_iterations=3 --num-envs 8`, with 8-step rollouts and eager kernels
to keep CI fast).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from layout import ROOT

TASKS = ROOT / "tasks"
SHIPPED = ["cartpole", "panda_reach", "ball_balance", "panda_push", "g1_walk"]


def test_every_task_lints_clean():
    done = subprocess.run(["specc", "lint", str(TASKS)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_task_trains_a_few_iterations_on_the_cpu(tmp_path, name):
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [
            "specc",
            "run",
            str(TASKS / f"{name}.toml"),
            "--set",
            "ppo.max_iterations=3",
            "--num-envs",
            "8",
            "--kernels",
            "eager",
            "--run-dir",
            str(run_dir),
            "--no-tensorboard",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (run_dir / "checkpoints" / "model_000003.pt").exists()
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["iteration"] for line in lines)
