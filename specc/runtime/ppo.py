"""PPO with a clipped surrogate, clipped value loss, entropy bonus and a KL-adaptive learning rate.

Written from the algorithm (Schulman et al. 2017) with rsl_rl's defaults; the pieces are
tested against hand-computed numbers in tests/runtime/test_ppo.py.

The update never waits for the GPU inside its loop over minibatches: the adaptive learning rate
is a device tensor (float64, so it follows exactly the steps rsl_rl's Python float takes) that
the fused Adam reads, and the losses are summed on the device and read once per update. rsl_rl
reads each minibatch's KL on the host before its optimizer step, which stalls the GPU between
minibatches.
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


def adapt_learning_rate(lr: torch.Tensor, kl: torch.Tensor, desired_kl: float) -> torch.Tensor:
    """rsl_rl's rule: divide by 1.5 when KL > 2 x desired, multiply by 1.5 when KL < desired / 2.

    On tensors, so the update need not read the KL on the host; in float64, as rsl_rl's Python floats."""
    lr, kl = lr.double(), kl.double()
    lower = torch.clamp(lr / 1.5, min=MIN_LR)
    higher = torch.clamp(lr * 1.5, max=MAX_LR)
    return torch.where(
        kl > 2.0 * desired_kl, lower, torch.where((kl > 0.0) & (kl < desired_kl / 2.0), higher, lr)
    )


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
        device = next(policy.parameters()).device
        self._learning_rate = torch.tensor(config.learning_rate, dtype=torch.float64, device=device)
        self._optimizer_lr = self._learning_rate.float()  # what the optimizer reads, updated in place
        # Fused: one kernel for all parameters (CUDA and CPU), and it takes its rate as a tensor.
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=self._optimizer_lr, fused=True)
        self._fused_at_own_rate()

    @property
    def learning_rate(self) -> float:
        return float(self._learning_rate.item())

    def _fused_at_own_rate(self) -> None:
        """Every group fused and reading `_optimizer_lr`; also after loading a checkpoint (whose groups
        hold their own copy of the rate, and, when an earlier specc wrote it, a non-fused Adam's state)."""
        for group in self.optimizer.param_groups:
            group["lr"] = self._optimizer_lr
            group["fused"], group["foreach"] = True, None
            for param in group["params"]:
                state = self.optimizer.state.get(param, {})
                if "step" in state:
                    state["step"] = state["step"].to(dtype=torch.float32, device=param.device)

    def update(self, batches) -> UpdateStats:
        cfg = self.config
        totals = torch.zeros(4, dtype=torch.float64, device=self._learning_rate.device)
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
                self._learning_rate.copy_(adapt_learning_rate(self._learning_rate, kl, cfg.desired_kl))
                self._optimizer_lr.copy_(self._learning_rate)
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
            totals += torch.stack([surrogate, v_loss, entropy, kl]).detach()
            count += 1
        surrogate, value, entropy, kl = (totals / max(count, 1)).tolist()  # the update's one host read
        return UpdateStats(surrogate, value, entropy, kl, learning_rate=self.learning_rate)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "learning_rate": self.learning_rate}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self._learning_rate.fill_(float(state["learning_rate"]))
        self._optimizer_lr.copy_(self._learning_rate)
        self._fused_at_own_rate()
