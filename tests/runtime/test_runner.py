"""Checkpoints: resuming continues exactly, NaN envs are reset and counted, loads refuse code."""

from __future__ import annotations

import pickle

import pytest
import torch
from runtime_support import cartpole_runner

from specc.runtime.checkpoint import CheckpointError, frame_payload, load_checkpoint


def _params(runner) -> list[torch.Tensor]:
    return [p.detach().clone() for p in runner.policy.parameters()]


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = cartpole_runner(seed=3, num_envs=8)
    straight.train(4)
    interrupted = cartpole_runner(seed=3, num_envs=8)
    interrupted.train(2, checkpoint_dir=tmp_path)
    resumed = cartpole_runner(
        seed=99, num_envs=8
    )  # a different seed: everything must come from the checkpoint
    resumed.load(tmp_path / "model_000002.pt")
    assert resumed.iteration == 2
    assert resumed.ppo.learning_rate == interrupted.ppo.learning_rate  # the adaptive rate is not reset
    resumed.train(2)
    assert resumed.iteration == 4
    for a, b in zip(_params(straight), _params(resumed)):
        assert torch.equal(a, b)
    assert torch.equal(straight.normalizer.mean, resumed.normalizer.mean)
    assert resumed.ppo.learning_rate == straight.ppo.learning_rate


def test_same_seed_gives_the_same_curve():
    curves = []
    for _ in range(2):
        runner = cartpole_runner(seed=5, num_envs=8)
        rewards: list[float] = []
        runner.train(2, lambda log, out=rewards: out.append(log.mean_reward))
        curves.append(rewards)
    assert curves[0] == curves[1]


def test_checkpoints_are_loaded_without_unpickling_code(tmp_path):
    marker = tmp_path / "the code ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    runner = cartpole_runner(num_envs=2)
    path = tmp_path / "evil.pt"  # a well-formed file with a correct checksum around a pickle that runs code
    path.write_bytes(frame_payload(runner.identity(), pickle.dumps({"iteration": 1, "policy": Payload()})))
    with pytest.raises(CheckpointError, match="objects other than tensors and plain data"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_nan_state_resets_only_that_env_and_is_counted():
    runner = cartpole_runner(seed=0, num_envs=4)
    env = runner.env
    env.step(torch.zeros(4, env.num_actions))
    backend = env.backend
    backend._state[2, backend._qvel0] = float("nan")
    backend._last = backend._read()
    before = backend._state[[0, 1, 3]].copy()
    result = env.step(torch.zeros(4, env.num_actions))
    assert result.done.tolist() == [False, False, True, False]
    assert torch.isfinite(result.obs).all()
    assert env.stats.read_and_clear()["nan_resets"].item() == 1
    assert (backend._state[[0, 1, 3]] != before).any()  # the others went on stepping
    assert env.episode_step[2].item() == 0
