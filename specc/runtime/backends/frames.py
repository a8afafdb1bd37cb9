"""Named frames from body kinematics: one formula for every MuJoCo-based backend.

A frame is a body and a fixed offset (position and orientation in the body's frame). From the
body's world pose and its com-based spatial velocity (MuJoCo's `cvel`: angular, then linear
velocity of the point at the subtree's centre of mass `subtree_com`), the frame's origin moves at
v_com + w x (p - subtree_com), as `mj_objectVelocity` computes it.
"""

from __future__ import annotations

import torch

from specc.runtime.rotations import quat_multiply, quat_rotate


def frame_pose(
    xpos: torch.Tensor, xquat: torch.Tensor, offset: torch.Tensor, offset_quat: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """World position (N, K, 3) and orientation (N, K, 4) of frames on bodies at xpos, xquat (N, K, .)."""
    n, k = xpos.shape[:2]
    q = xquat.reshape(n * k, 4)
    pos = xpos + quat_rotate(q, offset.expand(n, k, 3).reshape(n * k, 3)).view(n, k, 3)
    return pos, quat_multiply(xquat, offset_quat.expand(n, k, 4))


def frame_velocity(
    pos: torch.Tensor, cvel: torch.Tensor, subtree_com: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Linear velocity of the points `pos` and angular velocity, from the bodies' cvel (N, K, 6)."""
    ang, lin_com = cvel[..., 0:3], cvel[..., 3:6]
    return lin_com + torch.cross(ang, pos - subtree_com, dim=-1), ang
