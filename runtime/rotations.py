"""Quaternion rotations (w first) on batches of vectors."""

from __future__ import annotations

import torch


def quat_rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate v (N, 3) by unit quaternions q (N, 4)."""
    w, u = q[:, :1], q[:, 1:]
    t = 2.0 * torch.cross(u, v, dim=-1)
    return v + w * t + torch.cross(u, t, dim=-1)


def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate world vectors v (N, 3) into the frames of unit quaternions q (N, 4).

    The conjugate is built from slices, not by multiplying with a sign tensor: making that tensor would
    copy from the host, which a CUDA graph capture forbids."""
    return quat_rotate(torch.cat([q[:, :1], -q[:, 1:]], dim=-1), v)
