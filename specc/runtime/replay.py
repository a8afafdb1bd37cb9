"""A replay buffer on the device for thousands of parallel envs, with n-step returns.

Preallocated (T, N, ...) tensors written one env step at a time: slot t holds every env's
transition of that step, so each env's transitions stay in order and an n-step return is a
look-ahead along the time axis of one env. Sampling draws (step, env) pairs uniformly and
never blocks on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Transitions:
    obs: torch.Tensor  # (B, O) raw observations (normalized when sampled)
    critic_obs: torch.Tensor  # (B, Oc) the critic's observations (the policy's when no critic group)
    actions: torch.Tensor  # (B, A)
    returns: torch.Tensor  # (B,) sum_{k<m} gamma^k r_{t+k}: the n-step discounted reward
    next_obs: torch.Tensor  # (B, O) the observation m steps later (the terminal one when an episode ended)
    next_critic_obs: torch.Tensor  # (B, Oc)
    discount: torch.Tensor  # (B,) gamma^m, zero when the episode terminated (not timed out) within m steps


def n_step_returns(
    rewards: torch.Tensor, dones: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The n-step return of the first step of (n, B) windows that stops at the first episode end.

    Returns the discounted reward sum, the bootstrap discount gamma^m (0 when that end was a
    termination) and the index m - 1 of the step whose next observation bootstraps.
    """
    steps = rewards.shape[0]
    total = torch.zeros_like(rewards[0])
    alive = torch.ones_like(rewards[0])
    last = torch.zeros(rewards.shape[1], dtype=torch.long, device=rewards.device)
    discount = torch.ones_like(rewards[0])
    for k in range(steps):
        total = total + alive * (gamma**k) * rewards[k]
        last = torch.where(alive > 0, torch.full_like(last, k), last)
        discount = torch.where(alive > 0, torch.full_like(discount, gamma ** (k + 1)), discount)
        discount = torch.where((alive > 0) & (terminated[k] > 0), torch.zeros_like(discount), discount)
        alive = alive * (1.0 - dones[k])
    return total, discount, last


class ReplayBuffer:
    def __init__(
        self,
        capacity: int,
        num_envs: int,
        num_obs: int,
        num_actions: int,
        device: torch.device,
        num_critic_obs: int | None = None,
    ) -> None:
        self.capacity, self.num_envs, self.device = capacity, num_envs, device

        def buf(*shape: int) -> torch.Tensor:
            return torch.zeros(capacity, num_envs, *shape, device=device)

        self.obs = buf(num_obs)
        self.next_obs = buf(num_obs)
        self.separate_critic_obs = bool(num_critic_obs)
        self.critic_obs = buf(num_critic_obs) if num_critic_obs else self.obs
        self.next_critic_obs = buf(num_critic_obs) if num_critic_obs else self.next_obs
        self.actions = buf(num_actions)
        self.rewards = buf()
        self.dones = buf()
        self.terminated = buf()
        self.position = 0  # next slot to write
        self.size = 0  # filled slots

    def add(
        self, obs, actions, reward, next_obs, done, terminated, critic_obs=None, next_critic_obs=None
    ) -> None:
        """Store one step of every env. `next_obs` is the observation the step ended in (pre-reset)."""
        t = self.position
        self.obs[t], self.actions[t], self.next_obs[t] = obs, actions, next_obs
        self.rewards[t], self.dones[t], self.terminated[t] = reward, done.float(), terminated.float()
        if self.separate_critic_obs:
            self.critic_obs[t], self.next_critic_obs[t] = critic_obs, next_critic_obs
        self.position = (t + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, n_step: int, gamma: float, generator: torch.Generator) -> Transitions:
        """Uniform (step, env) pairs among those with n steps of future in the buffer."""
        usable = self.size - (n_step - 1)
        if usable <= 0:
            raise ValueError(f"the buffer holds {self.size} steps; an {n_step}-step return needs {n_step}")
        oldest = (self.position - self.size) % self.capacity
        age = torch.randint(0, usable, (batch_size,), generator=generator, device=self.device)
        env = torch.randint(0, self.num_envs, (batch_size,), generator=generator, device=self.device)
        steps = (oldest + age[None, :] + torch.arange(n_step, device=self.device)[:, None]) % self.capacity
        envs = env[None, :].expand_as(steps)
        returns, discount, last = n_step_returns(
            self.rewards[steps, envs], self.dones[steps, envs], self.terminated[steps, envs], gamma
        )
        first = steps[0]
        end = steps.gather(0, last[None, :])[0]
        return Transitions(
            obs=self.obs[first, env],
            critic_obs=self.critic_obs[first, env],
            actions=self.actions[first, env],
            returns=returns,
            next_obs=self.next_obs[end, env],
            next_critic_obs=self.next_critic_obs[end, env],
            discount=discount,
        )
