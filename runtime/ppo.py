"""PPO with a clipped surrogate, clipped value loss, entropy bonus and a KL-adaptive learning rate.

Written from the algorithm (Schulman et al. 2017) with rsl_rl's defaults; the pieces are
tested against hand-computed numbers in tests/runtime/test_ppo.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from specc.runtime import distributed
from specc.runtime.actor_critic import ActorCritic
from specc.runtime.config import PPOConfig
from specc.runtime.storage import Batch

MIN_LR, MAX_LR = 1e-5, 1e-2


def surrogate_loss(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    """-E[min(r A, clip(r, 1 - eps, 1 + eps) A)] with r = exp(log pi - log pi_old)."""
    ratio = torch.exp(log_probs - old_log_probs)
    return -torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip, 1 + clip) * advantages).mean()


def value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """Regress values on returns; with `clip`, the pessimistic max of the clipped and unclipped errors."""
    if clip is None:
        return (returns - values).square().mean()
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return torch.max((values - returns).square(), (clipped - returns).square()).mean()


def gaussian_kl(mu_old, sigma_old, mu_new, sigma_new) -> torch.Tensor:
    """KL(old || new) of diagonal Gaussians, summed over action dimensions, averaged over the batch."""
    kl = (
        torch.log(sigma_new / sigma_old)
        + (sigma_old.square() + (mu_old - mu_new).square()) / (2.0 * sigma_new.square())
        - 0.5
    )
    return kl.sum(-1).mean()


def adapt_learning_rate(lr: float, kl: float, desired_kl: float) -> float:
    """rsl_rl's rule: divide by 1.5 when KL > 2 x desired, multiply by 1.5 when KL < desired / 2."""
    if kl > 2.0 * desired_kl:
        return max(MIN_LR, lr / 1.5)
    if 0.0 < kl < desired_kl / 2.0:
        return min(MAX_LR, lr * 1.5)
    return lr


@dataclass
class UpdateStats:
    surrogate: float
    value: float
    entropy: float
    kl: float
    learning_rate: float


class PPO:
    def __init__(self, policy: ActorCritic, config: PPOConfig) -> None:
        self.policy = policy
        self.config = config
        self.learning_rate = config.learning_rate
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=self.learning_rate)

    def update(self, batches) -> UpdateStats:
        cfg = self.config
        totals = {"surrogate": 0.0, "value": 0.0, "entropy": 0.0, "kl": 0.0}
        count = 0
        batch: Batch
        for batch in batches:
            dist = self.policy.distribution(batch.obs)
            log_probs = dist.log_prob(batch.actions).sum(-1)
            entropy = dist.entropy().sum(-1).mean()
            values = self.policy.value(batch.critic_obs)
            with torch.no_grad():
                # Several processes: the mean KL of all ranks, so the adaptive rate stays the same on each.
                kl = distributed.average(gaussian_kl(batch.means, batch.stds, dist.mean, dist.stddev))
            if cfg.schedule == "adaptive":
                self.learning_rate = adapt_learning_rate(self.learning_rate, kl.item(), cfg.desired_kl)
                for group in self.optimizer.param_groups:
                    group["lr"] = self.learning_rate
            surrogate = surrogate_loss(log_probs, batch.log_probs, batch.advantages, cfg.clip_param)
            v_loss = value_loss(
                values, batch.values, batch.returns, cfg.clip_param if cfg.use_clipped_value_loss else None
            )
            loss = surrogate + cfg.value_loss_coef * v_loss - cfg.entropy_coef * entropy
            self.optimizer.zero_grad()
            loss.backward()
            distributed.average_gradients(self.policy.parameters())  # several processes: the mean gradient
            nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
            self.optimizer.step()
            totals["surrogate"] += surrogate.item()
            totals["value"] += v_loss.item()
            totals["entropy"] += entropy.item()
            totals["kl"] += kl.item()
            count += 1
        return UpdateStats(
            **{k: v / max(count, 1) for k, v in totals.items()}, learning_rate=self.learning_rate
        )

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "learning_rate": self.learning_rate}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.learning_rate = float(state["learning_rate"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate
