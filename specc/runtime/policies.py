"""The policy network of each algorithm, built from its config: what a checkpoint stores under
"policy", what `specc eval` and `play` run and what `specc export` writes (`policy.actor`)."""

from __future__ import annotations

from pathlib import Path
from typing import overload

import torch

from specc.runtime.actor_critic import ActorCritic
from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity, load_checkpoint
from specc.runtime.config import DistillConfig, LearnerConfig, PPOConfig, SACConfig
from specc.runtime.distill import StudentPolicy, Teacher
from specc.runtime.normalizer import EmpiricalNormalizer
from specc.runtime.sac import SquashedGaussianActor

# Every algorithm's policy: what checkpoints store under "policy", what eval and export run.
Policy = ActorCritic | SquashedGaussianActor | StudentPolicy


@overload
def build_policy(
    config: PPOConfig, num_obs: int, num_actions: int, num_critic_obs: int | None = None
) -> ActorCritic: ...
@overload
def build_policy(
    config: SACConfig, num_obs: int, num_actions: int, num_critic_obs: int | None = None
) -> SquashedGaussianActor: ...
@overload
def build_policy(
    config: DistillConfig, num_obs: int, num_actions: int, num_critic_obs: int | None = None
) -> StudentPolicy: ...
@overload
def build_policy(
    config: LearnerConfig, num_obs: int, num_actions: int, num_critic_obs: int | None = None
) -> Policy: ...
def build_policy(config: LearnerConfig, num_obs: int, num_actions: int, num_critic_obs: int | None = None) -> Policy:  # fmt: skip
    """The policy network of `config`'s algorithm. PPO's carries its critic (of `num_critic_obs`
    inputs when the task has a critic group); SAC's critics live in the learner (specc/runtime/sac.py)."""
    if isinstance(config, DistillConfig):
        return StudentPolicy(num_obs, num_actions, config.student_hidden_dims, config.activation)
    if isinstance(config, SACConfig):
        return SquashedGaussianActor(
            num_obs, num_actions, config.actor_hidden_dims, config.activation, config.action_bound
        )
    return ActorCritic(
        num_obs,
        num_actions,
        config.actor_hidden_dims,
        config.critic_hidden_dims,
        config.activation,
        config.init_noise_std,
        num_critic_obs,
    )


def load_teacher(
    path: Path,
    config: LearnerConfig,
    expected: CheckpointIdentity,
    group: str | None,
    device: str | torch.device,
    num_critic_obs: int | None = None,
    allow_spec_change: bool = False,
) -> Teacher:
    """A trained run's checkpoint as a frozen distillation teacher reading observation `group`.

    `config` is the teacher's own algorithm table and `expected` its task's identity (the checkpoint
    is verified against it like any load). Raises `CheckpointError` when the file cannot serve.
    """
    loaded = load_checkpoint(path, expected, device=device, allow_spec_change=allow_spec_change)
    policy = build_policy(config, expected.num_obs, expected.num_actions, num_critic_obs).to(device)
    normalizer = EmpiricalNormalizer(expected.num_obs).to(device)
    try:
        policy.load_state_dict(loaded.state["policy"])
        normalizer.load_state_dict(loaded.state["normalizer"])
    except (KeyError, RuntimeError) as err:
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a teacher for this task ({reason})") from None
    used = normalizer if config.empirical_normalization else None
    return Teacher(policy.eval().requires_grad_(False), used, group)
