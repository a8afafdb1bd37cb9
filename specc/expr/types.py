"""Types of expression values: dtype, per-env shape, component names, constant value."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Type:
    """The type of a value per env.

    `shape` excludes the batch axis: () is one number per env, (k,) a vector per env.
    `components` names the last axis where it has names (x, y, z; command names).
    `const` is set for values known at compile time (literals and their arithmetic).
    """

    dtype: str  # "float" | "bool"
    shape: tuple[int, ...]
    components: tuple[str, ...] | None = None
    const: float | bool | None = None

    @property
    def is_scalar(self) -> bool:
        return self.shape == ()

    def describe(self) -> str:
        kind = "boolean" if self.dtype == "bool" else "number"
        if self.shape == ():
            return f"one {kind} per env"
        if len(self.shape) == 1:
            return f"a vector of {self.shape[0]} {kind}s per env"
        return f"a {'x'.join(map(str, self.shape))} array of {kind}s per env"


def broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """Numpy broadcasting of per-env shapes (right-aligned); None if they do not broadcast."""
    out: list[int] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))
