"""Rollout storage and generalized advantage estimation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    last_values: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns, (T, N) each.

    rewards[t] already includes gamma * V(terminal state) for time-outs, so `dones` (any end of
    an episode) cuts the bootstrap: delta_t = r_t + gamma * V(s_{t+1}) * (1 - done_t) - V(s_t).
    V(s_{t+1}) is values[t + 1], or `last_values` after the last step.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_values)
    for t in reversed(range(steps)):
        next_values = last_values if t == steps - 1 else values[t + 1]
        not_done = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_values * not_done - values[t]
        running = delta + gamma * lam * not_done * running
        advantages[t] = running
    return advantages, advantages + values


@dataclass
class Batch:
    obs: torch.Tensor
    critic_obs: torch.Tensor  # the critic's input: a privileged group, or the policy's observations
    actions: torch.Tensor
    log_probs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor


class RolloutStorage:
    def __init__(
        self,
        steps: int,
        num_envs: int,
        num_obs: int,
        num_actions: int,
        device: torch.device,
        num_critic_obs: int | None = None,
    ) -> None:
        self.steps, self.num_envs = steps, num_envs

        def buf(*shape: int) -> torch.Tensor:
            return torch.zeros(steps, num_envs, *shape, device=device)

        self.obs = buf(num_obs)
        self.critic_obs = buf(num_critic_obs) if num_critic_obs else self.obs
        self.separate_critic_obs = bool(num_critic_obs)
        self.actions = buf(num_actions)
        self.means = buf(num_actions)
        self.stds = buf(num_actions)
        self.log_probs = buf()
        self.values = buf()
        self.rewards = buf()
        self.dones = buf()
        self.advantages = buf()
        self.returns = buf()
        self.step = 0

    def add(self, obs, actions, log_probs, values, rewards, dones, means, stds, critic_obs=None) -> None:
        """Store one step; `critic_obs` only when the critic has its own observation group."""
        t = self.step
        if self.separate_critic_obs:
            self.critic_obs[t] = critic_obs
        self.obs[t], self.actions[t], self.log_probs[t], self.values[t] = obs, actions, log_probs, values
        self.rewards[t], self.dones[t], self.means[t], self.stds[t] = rewards, dones.float(), means, stds
        self.step += 1

    def finish(self, last_values: torch.Tensor, gamma: float, lam: float) -> None:
        self.advantages, self.returns = compute_gae(
            self.rewards, self.values, self.dones, last_values, gamma, lam
        )
        self.step = 0

    def minibatches(self, count: int, epochs: int, generator: torch.Generator) -> Iterator[Batch]:
        total = self.steps * self.num_envs
        size = total // count
        flat = {
            name: getattr(self, name).flatten(0, 1)
            for name in (
                "obs",
                "critic_obs",
                "actions",
                "log_probs",
                "values",
                "advantages",
                "returns",
                "means",
                "stds",
            )
        }
        advantages = flat["advantages"]
        flat["advantages"] = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        for _ in range(epochs):
            order = torch.randperm(total, generator=generator, device=generator.device)
            for i in range(count):
                index = order[i * size : (i + 1) * size]
                yield Batch(**{name: value[index] for name, value in flat.items()})
