"""Gaussian actor with a learned state-independent std, and a separate critic (rsl_rl's design).

The critic may read its own observations (`num_critic_obs`): a privileged group the policy does
not see (asymmetric actor-critic); by default it reads the policy's.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn
from torch.distributions import Normal


class DeployablePolicy(Protocol):
    """What every algorithm's policy offers the evaluator and the exporter: `actor`, the Sequential
    of the deterministic action (PPO's mean, SAC's squashed mean, a student), and that action."""

    actor: nn.Sequential

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor: ...


ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(
    inputs: int, hidden: tuple[int, ...], outputs: int, activation: str, layer_norm: bool = False
) -> nn.Sequential:
    """Linear layers with `activation` between them (and layer norm before it, as off-policy critics use)."""
    layers: list[nn.Module] = []
    size = inputs
    for width in hidden:
        layers += [
            nn.Linear(size, width),
            *([nn.LayerNorm(width)] if layer_norm else []),
            ACTIVATIONS[activation](),
        ]
        size = width
    layers.append(nn.Linear(size, outputs))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    def __init__(
        self,
        num_obs: int,
        num_actions: int,
        actor_hidden: tuple[int, ...],
        critic_hidden: tuple[int, ...],
        activation: str = "elu",
        init_noise_std: float = 1.0,
        num_critic_obs: int | None = None,
    ) -> None:
        super().__init__()
        self.actor = mlp(num_obs, actor_hidden, num_actions, activation)
        self.critic = mlp(num_critic_obs or num_obs, critic_hidden, 1, activation)
        self.log_std = nn.Parameter(
            torch.full((num_actions,), float(torch.log(torch.tensor(init_noise_std))))
        )

    def distribution(self, obs: torch.Tensor) -> Normal:
        mean = self.actor(obs)
        return Normal(mean, torch.exp(self.log_std).expand_as(mean))

    def act(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions; return them with their log-probability, the mean and the std."""
        dist = self.distribution(obs)
        actions = dist.sample()
        return actions, dist.log_prob(actions).sum(-1), dist.mean, dist.stddev

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    def value(self, critic_obs: torch.Tensor) -> torch.Tensor:
        """V(s) from the critic's observations (the policy's unless the task has a critic group)."""
        return self.critic(critic_obs).squeeze(-1)
