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


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The Hamilton products a * b of quaternions (..., 4), w first: rotation b, then a."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def quat_from_euler(rpy: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (N, 4), w first, of z-y-x Euler angles (N, 3) = (roll, pitch, yaw): yaw(pitch(roll))."""
    half = rpy * 0.5
    cr, cp, cy = torch.cos(half).unbind(-1)
    sr, sp, sy = torch.sin(half).unbind(-1)
    return torch.stack(
        [
            cr * cp * cy + sr * sp * sy,
            sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
        ],
        dim=-1,
    )
