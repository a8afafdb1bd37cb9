"""Python source for the generated module's data tables, laid out the way `ruff format` writes it.

A statement that fits in LINE_LENGTH columns stays on one line; a longer list, tuple or dict is
split one item per line with a trailing comma, recursively. The module is then formatted by
construction: the compiler does not need ruff, and `specc compile --emit` output reads like
the rest of the code base. Strings are validated names (schema patterns), written in double quotes.
"""

from __future__ import annotations

import math

LINE_LENGTH = 110  # pyproject's [tool.ruff] line-length
INDENT = "    "


class Code(str):
    """Source text written as is (an expression such as `1.0 * POLICY_DT`), not as a string literal."""


Value = str | int | float | bool | None | list | tuple | dict


def flat(value: Value) -> str:
    """`value` as source on one line."""
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, str):
        text = repr(value)
        if "'" not in value and '"' not in value:
            text = '"' + text[1:-1] + '"'
        return text
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"non-finite number {value!r} cannot be written into generated code")
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flat(k)}: {flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        inner = ", ".join(flat(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(flat(v) for v in value) + "]"
    raise TypeError(f"cannot write a {type(value).__name__} into generated code")


def lines(value: Value, indent: str = "", head: str = "", tail: str = "") -> list[str]:
    """`indent + head + value + tail`, split over lines as ruff format would."""
    one = indent + head + flat(value) + tail
    if len(one) <= LINE_LENGTH or not isinstance(value, (list, tuple, dict)) or not value:
        return [one]
    if isinstance(value, dict):
        opening, closing = "{", "}"
    elif isinstance(value, tuple):
        opening, closing = "(", ")"
    else:
        opening, closing = "[", "]"
    inner = indent + INDENT
    out = [indent + head + opening]
    if isinstance(value, dict):
        for key, item in value.items():
            out += lines(item, inner, flat(key) + ": ", ",")
    else:
        for item in value:
            out += lines(item, inner, "", ",")
    out.append(indent + closing + tail)
    return out


def assign(value: Value, name: str, indent: str = "") -> str:
    """The statement `name = value`, formatted."""
    return "\n".join(lines(value, indent, f"{name} = "))
