"""Stand-in for isaacgym.gymtorch: a gym tensor wraps the very torch tensor it was made from."""

from __future__ import annotations

import ast
import inspect

import torch

from . import gymapi
from ._stubs import stubs

_SIGNATURES = {
    node.name: gymapi.signature_of(node)
    for node in stubs.gymtorch_stub().body
    if isinstance(node, ast.FunctionDef)
}


def _bind(name: str, *args, **kwargs) -> inspect.BoundArguments:
    try:
        return _SIGNATURES[name].bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f"gymtorch.{name}: {err} (stub: {_SIGNATURES[name]})") from None


def wrap_tensor(gym_tensor, offsets=None, counts=None) -> torch.Tensor:
    _bind("wrap_tensor", gym_tensor, offsets, counts)
    if not isinstance(gym_tensor, gymapi.Tensor):
        raise TypeError(f"gymtorch.wrap_tensor takes a gymapi.Tensor, not {type(gym_tensor).__name__}")
    return gym_tensor.torch


def unwrap_tensor(torch_tensor: torch.Tensor) -> gymapi.Tensor:
    _bind("unwrap_tensor", torch_tensor)
    if not isinstance(torch_tensor, torch.Tensor):
        raise TypeError(f"gymtorch.unwrap_tensor takes a torch.Tensor, not {type(torch_tensor).__name__}")
    if not torch_tensor.is_contiguous():
        raise ValueError("gymtorch.unwrap_tensor needs a contiguous tensor (Isaac Gym reads raw memory)")
    return gymapi.Tensor.of(torch_tensor)
