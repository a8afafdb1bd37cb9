"""Empirical observation normalization: running mean and variance over everything seen in training."""

import torch
from torch import nn

from specc.runtime import distributed


class EmpiricalNormalizer(nn.Module):
    """(x - mean) / (std + eps) with statistics updated from training batches (Chan et al.'s parallel update)."""

    # Buffers, declared for type checkers. This module has no `from __future__ import annotations`:
    # TorchScript (export) reads these annotations and resolves only real types, not strings.
    mean: torch.Tensor
    var: torch.Tensor
    count: torch.Tensor  # float64: counts pass 2^24 within a long run

    def __init__(self, size: int, eps: float = 1e-2) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(size))
        self.register_buffer("var", torch.ones(size))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / (torch.sqrt(self.var) + self.eps)

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        batch_mean = x.mean(0)
        batch_var = x.var(0, unbiased=False)
        # Several processes: the moments of every rank's batch together, so all ranks stay identical.
        batch, batch_mean, batch_var = distributed.pooled_moments(x.shape[0], batch_mean, batch_var)
        total = self.count + batch
        delta = batch_mean - self.mean
        weight = (batch / total).to(x.dtype)
        self.mean += delta * weight
        m2 = (
            self.var * (self.count / total).to(x.dtype)
            + batch_var * weight
            + delta.square() * weight * (1 - weight)
        )
        self.var.copy_(m2)
        self.count.copy_(total)
