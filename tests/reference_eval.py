"""An independent evaluator of checked expressions: it walks the AST with torch, no codegen.

It shares nothing with `specc.codegen` but the AST and the signal catalog, so a bug in
the code generator shows up as a mismatch against it.
"""

from __future__ import annotations

import math

import torch

from specc.expr import ast
from specc.expr.check import Checked
from specc.expr.types import Type


def _rotation_matrix(q: torch.Tensor) -> torch.Tensor:
    """The rotation matrices (..., 3, 3) of unit quaternions (..., 4), w first."""
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


def _rotate_into_base(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate v by the inverse of q through the rotation matrix (another route than the template's)."""
    return (_rotation_matrix(q).transpose(-1, -2) @ v.unsqueeze(-1)).squeeze(-1)


def _rotate(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (_rotation_matrix(q) @ v.unsqueeze(-1)).squeeze(-1)


def _euler(q: torch.Tensor, which: str) -> torch.Tensor:
    """Roll, pitch or yaw (z-y-x convention) read from the rotation matrix, in double precision."""
    r = _rotation_matrix(q.double())
    if which == "yaw":
        out = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    elif which == "pitch":
        out = torch.asin((-r[..., 2, 0]).clamp(-1, 1))
    else:
        out = torch.atan2(r[..., 2, 1], r[..., 2, 2])
    return out.to(q.dtype)


def _quat_angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The angle of R(a)^T R(b) from its trace, in double precision (unit quaternions)."""
    a, b = a.double(), b.double()
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    relative = _rotation_matrix(a).transpose(-1, -2) @ _rotation_matrix(b)
    trace = relative.diagonal(dim1=-2, dim2=-1).sum(-1)
    return torch.acos(((trace - 1) / 2).clamp(-1, 1)).float()


def derived_signals(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    q = inputs["base_quat"]
    gravity = torch.tensor([0.0, 0.0, -1.0]).expand(q.shape[0], 3)
    return {
        **inputs,
        "base_lin_vel": _rotate_into_base(q, inputs["base_lin_vel_world"]),
        "base_ang_vel": _rotate_into_base(q, inputs["base_ang_vel_world"]),
        "projected_gravity": _rotate_into_base(q, gravity),
        "base_height": inputs["base_pos"][:, 2] - inputs["terrain_height"],
    }


def evaluate(
    checked: Checked,
    signals: dict[str, torch.Tensor],
    groups: dict[str, tuple[int, int]],
    terms: dict[str, torch.Tensor] | None = None,
    values: dict[str, torch.Tensor] | None = None,
    command_vectors: dict[str, tuple[int, int]] | None = None,
) -> torch.Tensor:
    n = signals["episode_time"].shape[0]

    def as_tensor(node: ast.Node) -> torch.Tensor:
        value = walk(node)
        t = checked.types[node]
        if not torch.is_tensor(value):
            value = torch.full((n,), float(value)) if t.dtype == "float" else torch.full((n,), bool(value))
        return value

    def aligned(value: torch.Tensor, t: Type, shape: tuple[int, ...]) -> torch.Tensor:
        return value.reshape(value.shape[:1] + (1,) * (len(shape) - len(t.shape)) + value.shape[1:])

    def pair(node_a: ast.Node, node_b: ast.Node, out: Type):
        a, b = as_tensor(node_a), as_tensor(node_b)
        return (aligned(a, checked.types[node_a], out.shape), aligned(b, checked.types[node_b], out.shape))

    def walk(node: ast.Node):
        t = checked.types[node]
        if t.const is not None:
            return t.const
        if isinstance(node, ast.Name):
            return signals[node.name]
        if isinstance(node, ast.Select):
            start, end = groups[node.group]
            return signals["contact_force"][:, start:end]
        if isinstance(node, ast.Component):
            if isinstance(node.base, ast.Name) and node.base.name == "term":
                return (terms or {})[node.name]
            if isinstance(node.base, ast.Name) and node.base.name == "value":
                return (values or {})[node.name]
            if isinstance(node.base, ast.Name) and node.base.name == "commands":
                if node.name in (command_vectors or {}):
                    start, size = command_vectors[node.name]
                    return signals["commands"][:, start : start + size]
            base = walk(node.base)
            names = checked.types[node.base].components
            if node.name in names:
                return base[..., names.index(node.name)]
            return base[..., [names.index(c) for c in node.name]]
        if isinstance(node, ast.Unary):
            value = walk(node.operand)
            return -value if node.op == "-" else value
        if isinstance(node, ast.Not):
            return torch.logical_not(as_tensor(node.operand))
        if isinstance(node, ast.Logic):
            a, b = pair(node.left, node.right, t)
            return torch.logical_and(a, b) if node.op == "and" else torch.logical_or(a, b)
        if isinstance(node, (ast.Binary, ast.Compare)):
            a, b = pair(node.left, node.right, t)
            ops = {
                "+": torch.add,
                "-": torch.sub,
                "*": torch.mul,
                "/": torch.div,
                "**": torch.pow,
                "<": torch.lt,
                ">": torch.gt,
                "<=": torch.le,
                ">=": torch.ge,
                "==": torch.eq,
                "!=": torch.ne,
            }
            return ops[node.op](a, b)
        if isinstance(node, ast.Call):
            return call(node, t)
        raise AssertionError(node)

    def call(node: ast.Call, t: Type):
        f = node.func
        args = node.args
        if f in ("abs", "sign", "exp", "log", "sqrt", "sin", "cos", "tanh"):
            return getattr(torch, f)(as_tensor(args[0]))
        if f == "square":
            x = as_tensor(args[0])
            return x * x
        if f in ("sum", "mean") or (f in ("min", "max") and len(args) == 1):
            x = as_tensor(args[0])
            return {"sum": x.sum(-1), "mean": x.mean(-1), "min": x.min(-1).values, "max": x.max(-1).values}[f]
        if f == "norm":
            return torch.linalg.vector_norm(as_tensor(args[0]), dim=-1)
        if f in ("any", "all"):
            x = as_tensor(args[0])
            return x.any(-1) if f == "any" else x.all(-1)
        if f == "count":
            return as_tensor(args[0]).sum(-1).to(torch.float32)
        if f in ("min", "max"):
            a, b = pair(args[0], args[1], t)
            return torch.minimum(a, b) if f == "min" else torch.maximum(a, b)
        if f == "clamp":
            low, high = checked.types[args[1]].const, checked.types[args[2]].const
            return as_tensor(args[0]).clamp(float(low), float(high))
        if f == "where":
            c, a, b = (aligned(as_tensor(x), checked.types[x], t.shape) for x in args)
            return torch.where(c, a, b)
        if f == "float":
            return as_tensor(args[0]).to(torch.float32)
        if f == "flatten":
            x = as_tensor(args[0])
            return x.reshape(x.shape[0], -1)
        if f == "atan2":
            y, x = pair(args[0], args[1], t)
            return torch.atan2(y, x)
        if f == "wrap_angle":
            x = as_tensor(args[0]).double()
            return (x - 2 * math.pi * torch.floor((x + math.pi) / (2 * math.pi))).float()
        if f in ("roll", "pitch", "yaw"):
            return _euler(as_tensor(args[0]), f)
        # Vector pairs: align the leading per-env axes, keep the last one.
        vector_shape = t.shape if f in ("cross", "rotate", "rotate_inverse") else t.shape + (0,)
        a, b = (aligned(as_tensor(x), checked.types[x], vector_shape) for x in args)
        if f == "quat_angle":
            return _quat_angle(a, b)
        if f == "dot":
            return (a * b).sum(-1)
        if f == "cross":
            return torch.linalg.cross(*torch.broadcast_tensors(a, b))
        if f == "rotate":
            return _rotate(a, b)
        if f == "rotate_inverse":
            return _rotate_into_base(a, b)
        raise AssertionError(f)

    result = walk(checked.root)
    if not torch.is_tensor(result):
        result = as_tensor(checked.root)
    return result
