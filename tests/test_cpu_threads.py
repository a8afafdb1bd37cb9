"""On the CPU, torch leaves the cores to MuJoCo's threads while a run collects, learns and evaluates.

Torch's OpenMP workers spin between ops on the cores the MuJoCo backend's thread pool steps on;
on a busy two-core machine two torch threads made the PPO update 10-40x slower (bench/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kernel_support import load_task

from specc.assemble import assemble
from specc.runtime.evaluate import evaluate
from specc.runtime.runner import Runner

CARTPOLE = Path(__file__).parent / "specs" / "cartpole.toml"


@pytest.fixture
def two_torch_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def parts(mujoco_threads: int, judge: bool = False):
    task = load_task(CARTPOLE, {"ppo.num_steps_per_env": 4})
    return assemble(task, num_envs=4, kernels="eager", num_threads=mujoco_threads, judge=judge)


def test_training_runs_torch_on_one_thread_beside_mujocos_pool_and_restores_it(two_torch_threads):
    built = parts(mujoco_threads=2)
    runner = Runner(built.env, built.ppo_config)
    seen: list[int] = []
    runner.train(2, lambda log: seen.append(torch.get_num_threads()))
    assert seen == [1, 1]  # collection and update of each iteration ran on one torch thread
    assert torch.get_num_threads() == 2


def test_evaluation_runs_torch_on_one_thread_beside_mujocos_pool(two_torch_threads):
    built = parts(mujoco_threads=2, judge=True)
    seen: list[int] = []

    def policy(obs: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return torch.zeros(obs.shape[0], built.env.num_actions)

    evaluate(built.env, policy)
    assert set(seen) == {1} and torch.get_num_threads() == 2


def test_a_single_threaded_backend_leaves_torchs_threads_alone(two_torch_threads):
    env = parts(mujoco_threads=1).env
    with env.cores_for_physics():
        assert torch.get_num_threads() == 2
