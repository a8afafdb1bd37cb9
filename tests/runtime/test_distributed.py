"""Several processes (specc/runtime/distributed.py) on the CPU with gloo, as `specc run --gpus N` runs them on GPUs.

Two ranks of the test cart-pole must end with bit-identical learners while stepping different envs,
a checkpoint of two ranks must resume both exactly, and one process must give the numbers it gave
before the distributed code existed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from layout import TESTS
from runtime_support import CARTPOLE, cartpole_runner

from specc.runtime import distributed
from specc.runtime.checkpoint import load_checkpoint

SUPPORT = TESTS / "support"
# Quiet, single-threaded ranks: two of them share CI's two cores.
RANK_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ranks")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*command, str(SUPPORT / "distributed_worker.py"), str(out)],
        cwd=TESTS,
        env=RANK_ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


def test_ranks_start_from_rank_0s_parameters(ranks):
    # The worker builds rank r's runner with seed 3 + r: only the broadcast makes them equal.
    assert ranks[0]["initial_policy"] == ranks[1]["initial_policy"]


def test_two_ranks_end_with_identical_learners_while_stepping_different_envs(ranks):
    a, b = ranks[0]["straight"], ranks[1]["straight"]
    assert a["iteration"] == b["iteration"] == 4
    for part in ("policy", "normalizer", "optimizer", "learning_rate"):
        assert a[part] == b[part], part
    assert a["policy"] != ranks[0]["initial_policy"]  # it learned
    assert a["env"] != b["env"]  # seeds offset per rank: each rank brings its own experience


def test_the_normalizer_pools_the_moments_of_every_ranks_batch(ranks):
    for rank in ranks:
        assert rank["pooled_moments_error"] < 1e-5


def test_a_two_rank_checkpoint_resumes_both_ranks_exactly(ranks):
    for rank in ranks:
        assert rank["notes"] == []  # no note that the checkpoint holds fewer ranks than the run
        assert rank["resumed"] == rank["straight"]  # learner and this rank's env, bit for bit


def test_one_process_gives_the_numbers_it_gave_before_the_distributed_code():
    # Recorded from the single-process path (seed 5, 8 envs); first recorded before specc/runtime/distributed.py
    # existed, re-recorded when the test cart-pole became effort-driven (its dynamics changed, not this path).
    runner = cartpole_runner(seed=5, num_envs=8)
    logs = []
    runner.train(3, logs.append)
    assert not torch.distributed.is_initialized()
    assert [log.mean_reward for log in logs] == pytest.approx(
        [0.019991854205727577, 0.01999194733798504, 0.019986528903245926], rel=1e-6
    )
    assert [log.scalars["Policy/kl"] for log in logs] == pytest.approx(
        [0.010270807752385735, 0.004084127396345139, 0.007295234221965074], rel=1e-4
    )
    assert runner.ppo.learning_rate == pytest.approx(5.0625000000000024e-05, rel=1e-9)
    total = sum(p.double().sum().item() for p in runner.policy.parameters())
    assert total == pytest.approx(-15.802772281278521, rel=1e-5)


def test_a_world_of_one_sets_up_no_process_group(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    info, device = distributed.setup("cpu")
    assert (info.rank, info.world_size, device) == (0, 1, "cpu")
    assert not torch.distributed.is_initialized()
    assert distributed.rank_seed(7) == 7


@pytest.mark.parametrize(
    "environ",
    [{"WORLD_SIZE": "two"}, {"RANK": "2", "WORLD_SIZE": "2"}, {"WORLD_SIZE": "0"}],
)
def test_rank_info_refuses_an_inconsistent_environment(environ):
    with pytest.raises(ValueError):
        distributed.rank_info(environ)


def specc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "specc", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=RANK_ENV,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


def test_specc_run_gpus_2_on_the_cpu_trains_two_ranks_logs_once_and_resumes(tmp_path):
    flags = ["--gpus", "2", "--device", "cpu", "--kernels", "eager", "--num-envs", "8", "--no-tensorboard"]
    done = specc(
        "run", str(CARTPOLE), *flags, "--max-iterations", "2", "--run-dir", "run", cwd=tmp_path
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("training cartpole: 8 envs x 2 processes") == 1  # rank 1 is quiet
    run = tmp_path / "run"
    assert json.loads((run / "config.json").read_text())["processes"] == 2
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in metrics] == [1, 2]  # written once, by rank 0
    checkpoint = run / "checkpoints" / "model_000002.pt"
    state = load_checkpoint(checkpoint).state
    assert len(state["other_ranks"]) == 1  # rank 1's env and generators, beside rank 0's
    assert not torch.equal(
        state["env"]["backend"]["state"], state["other_ranks"][0]["env"]["backend"]["state"]
    )
    done = specc(
        "run", str(CARTPOLE), *flags, "--max-iterations", "1", "--run-dir", "resumed", "--resume", str(checkpoint),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from" in done.stderr and "start fresh envs" not in done.stderr
    assert (tmp_path / "resumed" / "checkpoints" / "model_000003.pt").is_file()


def test_more_gpus_than_the_host_has_is_a_usage_error(tmp_path):
    if not 0 < torch.cuda.device_count() < 64:
        pytest.skip("needs a host with 1 to 63 GPUs (without one, --device cuda is refused earlier)")
    done = specc("run", str(CARTPOLE), "--gpus", "64", "--device", "cuda", cwd=tmp_path)
    assert done.returncode == 2
    assert "--gpus 64, but this host has" in done.stderr
