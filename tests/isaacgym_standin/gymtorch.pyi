# Signatures of Isaac Gym Preview 4's isaacgym/gymtorch.py (a Python module of the Isaac Gym
# download, absent from isaacgym-stubs): wrap_tensor(gym_tensor, offsets=None, counts=None) and
# unwrap_tensor(torch_tensor).

import torch
from isaacgym import gymapi

def wrap_tensor(
    gym_tensor: gymapi.Tensor,
    offsets: tuple[int, ...] | None = ...,
    counts: tuple[int, ...] | None = ...,
) -> torch.Tensor: ...
def unwrap_tensor(torch_tensor: torch.Tensor) -> gymapi.Tensor: ...
