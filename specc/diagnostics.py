"""Diagnostics: what every pass of the compiler reports instead of raising.

Passes collect diagnostics rather than raise, so one `specc lint` run shows every
problem of a spec at once, each with a stable code, a position and, where one is
known, the fix.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """A 1-based line and column in a file (columns count characters, not bytes)."""

    line: int
    col: int


@dataclass(frozen=True)
class Diagnostic:
    """One finding: stable code, severity, where, what and how to fix it."""

    code: str
    message: str
    path: str
    position: Position
    severity: Severity = Severity.ERROR
    fix: str | None = None
    end: Position | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.position.line, self.position.col, self.code)


# Stable diagnostic codes. Never renumber: CI configurations and editors match on them.
CODES: dict[str, str] = {
    "SPC001": "file cannot be read",
    "SPC002": "invalid TOML",
    "SPC003": "file refused: not a regular file inside the given folders",
    "SPC004": "folder walk stopped at a limit",
    "SPC005": "spec nests too deeply or has a key of too many parts",
    "SPC101": "unknown key",
    "SPC102": "missing key",
    "SPC103": "wrong type",
    "SPC104": "invalid value",
    "SPC105": "invalid name",
    "SPC201": "expression syntax error",
    "SPC202": "unknown signal",
    "SPC203": "unknown function",
    "SPC204": "wrong number of arguments",
    "SPC205": "term does not reduce to one value per env",
    "SPC206": "boolean used as a number",
    "SPC207": "unknown component",
    "SPC208": "division by literal zero",
    "SPC209": "observation size not known at compile time",
    "SPC210": "unknown body group",
    "SPC211": "number used as a boolean",
    "SPC212": "shapes do not broadcast",
    "SPC213": "unknown or cyclic term reference",
    "SPC214": "expression too long or too deeply nested",
    "SPC215": "argument must be a constant",
    "SPC216": "argument is not a quaternion or vector of the needed length",
    "SPC217": "unknown or cyclic value reference",
    "SPC218": "computed command reads computed commands",
    "SPC301": "URDF not found",
    "SPC302": "URDF is not valid",
    "SPC303": "joint pattern matches no joint",
    "SPC304": "link does not exist",
    "SPC305": "inertia is not physical",
    "SPC306": "mesh file missing",
    "SPC307": "unsupported URDF element",
    "SPC308": "joint has no PD gains",
    "SPC309": "massless moving link",
    "SPC310": "default joint position outside the joint limits",
    "SPC311": "robot starts inside the ground",
    "SPC312": "URDF exceeds a size limit",
    "SPC401": "unknown frame body or scene name",
    "SPC402": "object spawns below the ground",
    "SPC403": "object spawns inside the robot",
    "SPC404": "name used twice",
    "SPC501": "feature the compile target cannot express",
}


@dataclass
class DiagnosticSink:
    """Collects diagnostics for one file; passes append, callers read `.items`."""

    path: str
    items: list[Diagnostic] = field(default_factory=list)
    # The text the diagnostics point into, as the loader read it (bounded, regular file only).
    # Renderers show source lines from here and nowhere else: a refused file has no source.
    source: str | None = None

    def add(
        self,
        code: str,
        message: str,
        position: Position,
        *,
        severity: Severity = Severity.ERROR,
        fix: str | None = None,
        end: Position | None = None,
    ) -> None:
        assert code in CODES, code
        self.items.append(Diagnostic(code, message, self.path, position, severity, fix, end))

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)


MAX_SUGGESTION_CANDIDATES = 500


def suggest(name: str, candidates: list[str] | tuple[str, ...], cutoff: float = 0.6) -> str | None:
    """The candidate closest to `name` ("did you mean"), or None; bounded for hostile inputs.

    difflib costs up to len(name) * len(candidate) per candidate: a spec of thousands of unknown
    names against a URDF of thousands of joints would take minutes, so long names and long
    candidate lists get no suggestion.
    """
    import difflib

    if len(name) > 100 or len(candidates) > MAX_SUGGESTION_CANDIDATES:
        return None
    found = difflib.get_close_matches(name, list(candidates), n=1, cutoff=cutoff)
    return found[0] if found else None


def display_path(path: Path) -> str:
    """The path as users typed it where possible: relative to the working directory."""
    # Lexical, not resolved: a symbolic link is shown by its own name (not where it leads), and a
    # link loop cannot raise here.
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path(os.getcwd())))
    except (ValueError, OSError):
        return str(path)
