"""Soft actor-critic for thousands of parallel envs on one device.

Haarnoja et al. 2018 (twin Q with target networks and Polyak averaging, tanh-squashed Gaussian
actor, automatic entropy temperature), with the settings that work at massive parallelism
(FastTD3 / FastSAC, Seo et al. 2025; parallel Q-learning, Li et al. 2023): a device-resident
replay buffer, large batches, several updates per env step, n-step returns, layer norm in
the critics, a small initial temperature and fast target critics (tau 0.1: with one-env SAC's
0.005 the bootstrapped values of a few thousand updates lag far behind the returns, and the
cart-pole's actor never saw the value of staying on the rail). The loss arithmetic and the
Polyak step are tested by hand in tests/test_sac.py.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from specc.runtime.actor_critic import ACTIVATIONS, mlp
from specc.runtime.config import SACConfig
from specc.runtime.replay import Transitions

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def soft_q_target(
    returns: torch.Tensor,
    discount: torch.Tensor,
    next_q1: torch.Tensor,
    next_q2: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """y = R_n + gamma^m (1 - terminated) (min(Q1', Q2')(s', a') - alpha log pi(a' | s')).

    `returns` is the n-step discounted reward, `discount` gamma^m or zero after a termination.
    """
    return returns + discount * (torch.min(next_q1, next_q2) - alpha * next_log_prob)


def temperature_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-E[alpha (log pi + target entropy)]: raises alpha while the entropy is below the target."""
    return -(log_alpha.exp() * (log_prob.detach() + target_entropy)).mean()


def squashed_log_prob(
    pre_tanh: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor, bound: float
) -> torch.Tensor:
    """log pi(a) of a = bound tanh(u), u ~ N(mean, exp(log_std)), summed over action dimensions.

    The change of variables subtracts log |da/du| = log(bound) + log(1 - tanh(u)^2), the latter
    written as 2 (log 2 - u - softplus(-2u)) for stability at large |u|.
    """
    normal = -0.5 * ((pre_tanh - mean) / log_std.exp()).square() - log_std - 0.5 * math.log(2 * math.pi)
    jacobian = 2.0 * (math.log(2.0) - pre_tanh - nn.functional.softplus(-2.0 * pre_tanh)) + math.log(bound)
    return (normal - jacobian).sum(-1)


def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau source, parameter by parameter (in place, no gradient)."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


class ActionBound(nn.Module):
    """Multiplies by a constant (the squashed action range); exported as one ONNX Mul."""

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.bound = float(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.bound


class SquashedGaussianActor(nn.Module):
    """A trunk with a mean head and a log-std head; actions bound × tanh(Gaussian sample)."""

    def __init__(
        self, num_obs: int, num_actions: int, hidden: tuple[int, ...], activation: str, bound: float
    ):
        super().__init__()
        self.trunk = (
            mlp(num_obs, hidden[:-1], hidden[-1], activation)
            if len(hidden) > 1
            else nn.Linear(num_obs, hidden[-1])
        )
        self.trunk_activation = ACTIVATIONS[activation]()
        self.mean = nn.Linear(hidden[-1], num_actions)
        self.log_std = nn.Linear(hidden[-1], num_actions)
        self.bound = bound
        # The deterministic action bound × tanh(mean), as one Sequential sharing these layers (export).
        trunk = list(self.trunk) if isinstance(self.trunk, nn.Sequential) else [self.trunk]
        self.actor = nn.Sequential(*trunk, self.trunk_activation, self.mean, nn.Tanh(), ActionBound(bound))

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk_activation(self.trunk(obs))
        log_std = torch.tanh(self.log_std(features))
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (log_std + 1.0)
        return self.mean(features), log_std

    def sample(self, obs: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterized action from standard-normal `noise`, and its log-probability."""
        mean, log_std = self(obs)
        pre_tanh = mean + log_std.exp() * noise
        return self.bound * torch.tanh(pre_tanh), squashed_log_prob(pre_tanh, mean, log_std, self.bound)

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


class TwinQ(nn.Module):
    def __init__(self, num_obs: int, num_actions: int, hidden: tuple[int, ...], activation: str, norm: bool):
        super().__init__()
        self.q1 = mlp(num_obs + num_actions, hidden, 1, activation, layer_norm=norm)
        self.q2 = mlp(num_obs + num_actions, hidden, 1, activation, layer_norm=norm)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([obs, actions], dim=-1)
        return self.q1(x).squeeze(-1), self.q2(x).squeeze(-1)


class SAC:
    def __init__(
        self, policy: SquashedGaussianActor, num_critic_obs: int, num_actions: int, config: SACConfig
    ):
        self.policy = policy
        self.config = config
        device = next(policy.parameters()).device
        self.critic = TwinQ(
            num_critic_obs,
            num_actions,
            tuple(config.critic_hidden_dims),
            config.activation,
            config.layer_norm,
        ).to(device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.init_alpha), device=device, requires_grad=True)
        self.target_entropy = config.target_entropy_per_action * num_actions
        self.actor_optimizer = torch.optim.Adam(policy.parameters(), lr=config.actor_learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=config.critic_learning_rate)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=config.alpha_learning_rate)
        self.updates = 0

    def update(
        self, batch: Transitions, noise: torch.Tensor, next_noise: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One critic step, (every policy_frequency steps) one actor and temperature step, and the
        Polyak step of the target critics. Returns the losses, alpha, the batch's entropy -E[log pi]
        and mean Q as detached scalars on the device (the runner reads them once per iteration).

        `batch` holds normalized observations; the noises are standard-normal (B, A) draws.
        """
        config = self.config
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            next_actions, next_log_prob = self.policy.sample(batch.next_obs, next_noise)
            next_q1, next_q2 = self.critic_target(batch.next_critic_obs, next_actions)
            target = soft_q_target(batch.returns, batch.discount, next_q1, next_q2, next_log_prob, alpha)
        q1, q2 = self.critic(batch.critic_obs, batch.actions)
        critic_loss = (q1 - target).square().mean() + (q2 - target).square().mean()
        self._step(self.critic_optimizer, critic_loss, self.critic)
        self.updates += 1
        stats = {"critic": critic_loss.detach(), "alpha": alpha, "q": q1.detach().mean()}
        if self.updates % config.policy_frequency == 0:
            actions, log_prob = self.policy.sample(batch.obs, noise)
            self.critic.requires_grad_(False)  # the actor's loss moves the actor only
            q1_pi, q2_pi = self.critic(batch.critic_obs, actions)
            self.critic.requires_grad_(True)
            actor_loss = (alpha * log_prob - torch.min(q1_pi, q2_pi)).mean()
            self._step(self.actor_optimizer, actor_loss, self.policy)
            alpha_loss = temperature_loss(self.log_alpha, log_prob, self.target_entropy)
            self.alpha_optimizer.zero_grad()
            alpha_loss.backward()
            self.alpha_optimizer.step()
            stats.update(actor=actor_loss.detach(), temperature=alpha_loss.detach())
            stats["entropy"] = -log_prob.detach().mean()
        with torch.no_grad():
            polyak_update(self.critic_target, self.critic, config.tau)
        return stats

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, module: nn.Module) -> None:
        optimizer.zero_grad()
        loss.backward()
        if self.config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(module.parameters(), self.config.max_grad_norm)
        optimizer.step()

    def state_dict(self) -> dict:
        return {
            "critic": self.critic.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "log_alpha": self.log_alpha.detach().clone(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.updates = int(state["updates"])
