"""The function table of the expression language: names, arity and what each does.

Type rules live in `check.py`; code for each function lives in codegen and in the
reference evaluator. This table is the single list of names both must cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    # elementwise | reduce | bool_reduce | count | min_max | clamp | where | cast | flatten | binary
    # | quat_scalar | quat_pair | dot | cross | rotate
    kind: str
    doc: str


FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        Function("abs", 1, 1, "elementwise", "Absolute value."),
        Function("sign", 1, 1, "elementwise", "Sign: -1, 0 or 1."),
        Function("exp", 1, 1, "elementwise", "Exponential."),
        Function("log", 1, 1, "elementwise", "Natural logarithm."),
        Function("sqrt", 1, 1, "elementwise", "Square root."),
        Function("square", 1, 1, "elementwise", "x * x."),
        Function("sin", 1, 1, "elementwise", "Sine."),
        Function("cos", 1, 1, "elementwise", "Cosine."),
        Function("tanh", 1, 1, "elementwise", "Hyperbolic tangent."),
        Function("sum", 1, 1, "reduce", "Sum over the last axis."),
        Function("mean", 1, 1, "reduce", "Mean over the last axis."),
        Function("norm", 1, 1, "reduce", "Euclidean norm over the last axis."),
        Function("min", 1, 2, "min_max", "min(x): minimum over the last axis; min(a, b): elementwise."),
        Function("max", 1, 2, "min_max", "max(x): maximum over the last axis; max(a, b): elementwise."),
        Function("any", 1, 1, "bool_reduce", "Any true over the last axis."),
        Function("all", 1, 1, "bool_reduce", "All true over the last axis."),
        Function("count", 1, 1, "count", "Number of true entries over the last axis, as a number."),
        Function("clamp", 3, 3, "clamp", "clamp(x, low, high) with constant bounds."),
        Function("where", 3, 3, "where", "where(condition, a, b): a where true, else b."),
        Function("float", 1, 1, "cast", "A boolean as 0.0 / 1.0."),
        Function("flatten", 1, 1, "flatten", "A per-env array as one vector (e.g. for an observation)."),
        Function("atan2", 2, 2, "binary", "atan2(y, x): the angle of the point (x, y), in [-pi, pi]."),
        Function("wrap_angle", 1, 1, "elementwise", "An angle wrapped to [-pi, pi)."),
        Function("roll", 1, 1, "quat_scalar", "Roll (about x) of a quaternion (w, x, y, z), in [-pi, pi]."),
        Function(
            "pitch", 1, 1, "quat_scalar", "Pitch (about y) of a quaternion (w, x, y, z), in [-pi/2, pi/2]."
        ),
        Function(
            "yaw", 1, 1, "quat_scalar", "Yaw (heading, about z) of a quaternion (w, x, y, z), in [-pi, pi]."
        ),
        Function(
            "quat_angle",
            2,
            2,
            "quat_pair",
            "quat_angle(q1, q2): the angle between two orientations, in [0, pi].",
        ),
        Function("dot", 2, 2, "dot", "dot(a, b): dot product over the last axis."),
        Function("cross", 2, 2, "cross", "cross(a, b): cross product of 3-vectors."),
        Function(
            "rotate", 2, 2, "rotate", "rotate(q, v): the 3-vector v (in the frame of q) in the world frame."
        ),
        Function(
            "rotate_inverse",
            2,
            2,
            "rotate",
            "rotate_inverse(q, v): the world 3-vector v expressed in the frame of q, "
            "e.g. rotate_inverse(base_quat, commands.target - base_pos).",
        ),
    ]
}


@dataclass(frozen=True)
class Constant:
    name: str
    value: float
    doc: str


# Named constants: bare names that are numbers, not signals.
CONSTANTS: dict[str, Constant] = {c.name: c for c in [Constant("pi", math.pi, "The constant π.")]}
