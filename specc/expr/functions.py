"""The function table of the expression language: names, arity and what each does.

Type rules live in `check.py`; code for each function lives in codegen and in the
reference evaluator. This table is the single list of names both must cover.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    kind: str  # elementwise | reduce | bool_reduce | count | min_max | clamp | where | cast | flatten
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
    ]
}
