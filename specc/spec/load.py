"""Load a spec file: TOML text -> data with positions -> validated `Spec`, plus diagnostics.

Validation errors from pydantic are turned into positioned diagnostics here; nothing
in this module raises on bad input of the file. Overrides are layered over the file and
checked like it: a [profile.*] entry's errors are reported at the entry's own line, a
command-line override's (`--set`) raise `OverrideError` for the CLI to report as usage.
"""

from __future__ import annotations

import difflib
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from specc.diagnostics import DiagnosticSink, Position, Severity
from specc.spec.positions import KeyPath, PositionMap, offset_position, scan_positions
from specc.spec.prescan import structure_problem
from specc.spec.schema import REMOVED_KEYS, Spec
from specc.untrusted_files import FileRefused, read_limited

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_SPEC_BYTES = 1 << 20


@dataclass
class SpecDocument:
    """A spec file as read: its text, raw data, positions and (when valid) the validated model.

    `overrides` are the profile entries and command-line overrides the spec was resolved with;
    `report` puts a later pass's diagnostic where the value it concerns was written.
    """

    path: Path
    text: str
    data: dict[str, Any]
    positions: PositionMap
    spec: Spec | None
    overrides: list[Override] = field(default_factory=list)
    command_line_problems: list[OverrideProblem] = field(default_factory=list)
    # Lint only: each valid [profile.*] layer's data, spec and entries, for the later passes to check.
    profile_layers: dict[str, tuple[dict[str, Any], Spec, list[Override]]] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> Override | None:
        """The override that wrote the value at `path` (or a table holding it); None: the file did."""
        text = tuple(str(p) for p in path)
        for override in reversed(self.overrides):
            parts = tuple(override.key.split("."))
            if text[: len(parts)] == parts:
                return override
        return None

    def failed(self, sink: DiagnosticSink) -> bool:
        """Whether any error was found, in the file or in a value given on the command line."""
        return sink.has_errors or bool(self.command_line_problems)

    def report(
        self,
        sink: DiagnosticSink,
        code: str,
        message: str,
        path: KeyPath,
        *,
        key: bool = False,
        fix: str | None = None,
        severity: Severity = Severity.ERROR,
        chars: tuple[int, int] | None = None,
    ) -> None:
        """Report a finding about the value at `path`: at its line in the file, at the [profile.*] entry
        that set it, or (set on the command line) kept in `command_line_problems` for a usage error.

        `chars` is a span inside the string value (an expression's offending characters).
        """
        override = self.origin(path)
        if override is not None and override.at is None:
            self.command_line_problems.append(OverrideProblem(override, code, message, fix, key))
            return
        if override is not None:
            assert override.at is not None
            message = f"{message} {profile_note(str(override.at[1]))}"
            if tuple(str(p) for p in path) != tuple(override.key.split(".")):
                chars = None  # a span inside a value the profile replaced as a whole
            path = override.at
        end = None
        spans = self.positions.string_char_positions(path) if chars is not None else None
        if spans and chars is not None:
            start, stop = chars
            position = spans[min(start, len(spans) - 1)]
            end = spans[min(max(stop, start + 1), len(spans) - 1)]
        else:
            position = self.positions.key(path) if key else self.positions.value(path)
        sink.add(code, message, position, severity=severity, fix=fix, end=end)


def load_spec(
    path: Path,
    sink: DiagnosticSink,
    overrides: dict[str, Any] | None = None,
    *,
    run_on: str | None = None,
    within: Path | None = None,
) -> SpecDocument | None:
    """Read and validate one spec. Returns None only when the file cannot be read or parsed.

    `run_on` resolves the spec for a run on that device ("spec": the spec's own sim.device): it sets
    sim.device and applies the matching [profile.cpu] or [profile.cuda] table. `overrides` (the command
    line's) win over both; when they do not fit the spec this raises `OverrideError`, the one error
    that is not a diagnostic of the file: the CLI reports it as a usage error of the option.
    The file is read as untrusted (`read_limited`): a regular file of at most MAX_SPEC_BYTES, and with
    `within`, not a symbolic link out of that folder.
    """
    try:
        raw = read_limited(path, MAX_SPEC_BYTES, "spec", within)
    except FileRefused as err:
        sink.add("SPC003" if err.reason == "unsafe" else "SPC001", err.message, Position(1, 1))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        sink.add("SPC002", f"spec is not UTF-8: {err.reason}", Position(1, 1), fix="save the file as UTF-8")
        return None
    sink.source = text
    problem = structure_problem(text)  # before tomllib: it is quadratic or recursive on these
    if problem is not None:
        message, offset = problem
        sink.add("SPC005", message, offset_position(text, offset), fix="flatten the spec")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        sink.add("SPC002", _toml_message(err), _toml_position(err, text), fix="fix the TOML syntax")
        return None
    positions = scan_positions(text)
    layers: dict[str, tuple[dict[str, Any], Spec, list[Override]]] = {}
    spec, data, applied = resolve(data, positions, sink, run_on, overrides or {}, layers)
    return SpecDocument(path, text, data, positions, spec, applied, profile_layers=layers)


# -- overrides: [profile.*] tables and the command line ---------------------------------------------
@dataclass(frozen=True)
class Override:
    """One dotted-key override (`sim.num_envs` = 64) and where it was written.

    `at` is its key path in the spec file (an entry of a [profile.*] table); None for an override
    from the command line, whose errors are usage errors of the command, not errors of the file.
    """

    key: str
    value: Any
    at: KeyPath | None = None


@dataclass(frozen=True)
class OverrideProblem:
    """Why an override does not fit the spec: a code, a message and a fix, as a diagnostic has them."""

    override: Override | None  # None: the layer as a whole (a rule no single key explains)
    code: str
    message: str
    fix: str | None = None
    at_key: bool = False  # point at the key (unknown key) rather than at the value


class OverrideError(ValueError):
    """Command-line overrides (`--set`) that do not fit the spec: the CLI reports them as usage errors."""

    def __init__(self, problems: list[OverrideProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def resolve(
    data: dict[str, Any],
    positions: PositionMap,
    sink: DiagnosticSink,
    run_on: str | None,
    overrides: dict[str, Any],
    layers: dict[str, tuple[dict[str, Any], Spec, list[Override]]] | None = None,
) -> tuple[Spec | None, dict[str, Any], list[Override]]:
    """Validate the file, then each [profile.*] layer, then the command line's overrides.

    The file's errors are reported at its lines; a profile's at the lines of its own entries (lint
    checks every profile, a run the one of its device); the command line's raise `OverrideError`.
    Returns the resolved spec (None on any error), the data it was validated from and the
    overrides applied to make it. Lint fills `layers` with each valid profile's resolution.
    """
    spec = validate(data, positions, sink)
    profiles = profile_overrides(data)
    applied: list[Override] = []
    if run_on is None:
        for device, entries in profiles.items():
            merged, profile_spec = _check_profile(data, device, entries, spec is not None, positions, sink)
            if layers is not None and merged is not None and profile_spec is not None and entries:
                layers[device] = (merged, profile_spec, entries)
        layered: dict[str, Any] | None = data
    else:
        device = str(data.get("sim", {}).get("device", "cpu")) if run_on == "spec" else run_on
        profile = "cuda" if device.startswith("cuda") else "cpu"
        applied = profiles.get(profile, [])
        layered, _ = _check_profile(data, profile, applied, spec is not None, positions, sink)
        overrides = {"sim.device": device, **overrides}
    if spec is None or layered is None:
        return None, data, applied
    if not overrides:
        return spec, layered, applied
    command_line = [Override(k, v) for k, v in overrides.items()]
    merged, final, problems = check_layer(layered, command_line, True)
    if problems:
        raise OverrideError(problems)
    return final, merged, applied + command_line


def profile_note(device: str) -> str:
    """How a diagnostic about a value that a [profile.*] entry set ends."""
    return f"(in [profile.{device}])"


def profile_overrides(data: dict[str, Any]) -> dict[str, list[Override]]:
    """The entries of [profile.cpu] and [profile.cuda] as dotted-key overrides, nested tables flattened.

    `"sim.num_envs" = 64` and `[profile.cpu.sim] num_envs = 64` are the same override. Tables of the
    wrong shape give nothing here: the schema reports them.
    """
    profiles = data.get("profile")
    out: dict[str, list[Override]] = {}
    if not isinstance(profiles, dict):
        return out
    for device in ("cpu", "cuda"):
        table = profiles.get(device)
        if not isinstance(table, dict):
            continue
        entries: list[Override] = []
        # Iterative and in file order: a deeply nested table cannot overflow the stack.
        stack: list[tuple[tuple[str, ...], Any]] = [
            ((name,), value) for name, value in reversed(table.items())
        ]
        while stack:
            parts, value = stack.pop()
            if isinstance(value, dict) and value:
                stack.extend(((*parts, name), inner) for name, inner in reversed(value.items()))
            else:
                entries.append(Override(".".join(parts), value, ("profile", device, *parts)))
        out[device] = entries
    return out


def _check_profile(
    data: dict[str, Any],
    device: str,
    entries: list[Override],
    base_valid: bool,
    positions: PositionMap,
    sink: DiagnosticSink,
) -> tuple[dict[str, Any] | None, Spec | None]:
    """Apply one profile and report its problems at its own lines: the merged data (None on errors)
    and its spec (None also when the file itself is invalid)."""
    if not entries:
        return data, None
    merged, spec, problems = check_layer(data, entries, base_valid)
    for problem in problems:
        at = problem.override.at if problem.override is not None else ("profile", device)
        assert at is not None
        where = positions.key(at) if problem.at_key or problem.override is None else positions.value(at)
        sink.add(problem.code, f"{problem.message} {profile_note(device)}", where, fix=problem.fix)
    return (None, None) if problems else (merged, spec)


def check_layer(
    base: dict[str, Any], entries: list[Override], base_valid: bool
) -> tuple[dict[str, Any], Spec | None, list[OverrideProblem]]:
    """Apply `entries` over `base` and validate: the merged data, its spec, and the entries' problems.

    A validation error is blamed on the entry whose key leads to the field (or, for a rule between
    fields, to any field the rule reads). When `base` was valid on its own, an error no entry
    explains is still the layer's; when it was not, such errors are the base's and reported there.
    """
    merged, structural = apply_overrides(base, {e.key: e.value for e in entries})
    by_key = {e.key: e for e in entries}
    problems = [
        OverrideProblem(by_key[key], code, message, fix, at_key=True)
        for key, code, message, fix in structural
    ]
    try:
        spec = Spec.model_validate(merged)
        return merged, None if problems else spec, problems
    except ValidationError as err:
        errors = err.errors(include_url=False)
    unknown = _unknown_by_table(errors)
    for error in errors:
        if _explained_by_typo(error, unknown):
            continue
        code, message, fix, at_key, locs = describe(error, merged)
        entry = _blamed_entry(locs, entries)
        if entry is None and not base_valid:
            continue
        if entry is not None and code == "SPC101" and fix and fix.startswith("did you mean '"):
            parent = ".".join(str(p) for p in locs[0][:-1])
            fix = fix.replace("did you mean '", f"did you mean '{parent}." if parent else "did you mean '", 1)
        problems.append(OverrideProblem(entry, code, message, fix, at_key))
    return merged, None, problems


def _blamed_entry(locs: list[KeyPath], entries: list[Override]) -> Override | None:
    for loc in locs:
        text = tuple(str(p) for p in loc)
        for entry in reversed(entries):
            parts = tuple(entry.key.split("."))
            shorter = min(len(parts), len(text))
            if parts[:shorter] == text[:shorter]:
                return entry
    return None


TOML_KINDS: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "number"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "table"),
)


def toml_kind(value: Any) -> str:
    """What TOML calls the value's type, for messages."""
    for kind, name in TOML_KINDS:
        if isinstance(value, kind):
            return name
    return "date or time"


def apply_overrides(
    data: dict[str, Any], overrides: dict[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str, str, str | None]]]:
    """Set dotted keys (`sim.num_envs`, `observations.0.scale`) in a deep copy of `data`.

    Integers step into arrays; missing tables are created (the schema then judges the keys).
    Never raises: a key that cannot be set is left out and returned as (key, code, message, fix).
    """
    import copy

    out = copy.deepcopy(data)
    problems: list[tuple[str, str, str, str | None]] = []
    for dotted, value in overrides.items():
        parts = dotted.split(".")
        node: Any = out
        walked: list[str] = []
        problem: tuple[str, str, str | None] | None = None
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(walked) or "the spec"
            if not part:
                problem = ("SPC101", f"'{dotted}' has an empty part", "write dotted keys like sim.num_envs")
                break
            if isinstance(node, dict):
                if last:
                    node[part] = value
                elif part in node:
                    node = node[part]
                else:
                    node = node.setdefault(part, {})
            elif isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problem = (
                        "SPC104",
                        f"'{where}' is an array of {len(node)}; '{part}' is not an index of it",
                        f"use an index from 0 to {len(node) - 1}" if node else None,
                    )
                    break
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            else:
                problem = ("SPC103", f"'{where}' is a {toml_kind(node)}, not a table", None)
                break
            walked.append(part)
        if problem is not None:
            problems.append((dotted, *problem))
    return out, problems


def validate(data: dict[str, Any], positions: PositionMap, sink: DiagnosticSink) -> Spec | None:
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        unknown = _unknown_by_table(errors)
        for error in errors:
            if not _explained_by_typo(error, unknown):
                _report(error, data, positions, sink)
        return None


def _unknown_by_table(errors: list[Any]) -> dict[tuple, list[str]]:
    """The unknown keys of a validation, by the table they are in: one pass, not errors x errors."""
    unknown: dict[tuple, list[str]] = {}
    for error in errors:
        if error["type"] == "extra_forbidden":
            unknown.setdefault(tuple(error["loc"][:-1]), []).append(str(error["loc"][-1]))
    return unknown


def _explained_by_typo(error: Any, unknown: dict[tuple, list[str]]) -> bool:
    """A missing key next to an unknown key that looks like it (`wieght` for `weight`) is one mistake, not two."""
    if error["type"] != "missing":
        return False
    loc = tuple(error["loc"])
    return any(
        difflib.get_close_matches(name, [str(loc[-1])], n=1, cutoff=0.6) for name in unknown.get(loc[:-1], ())
    )


def _report(error: Any, data: dict[str, Any], positions: PositionMap, sink: DiagnosticSink) -> None:
    code, message, fix, at_key, locs = describe(error, data)
    sink.add(code, message, positions.key(locs[0]) if at_key else positions.value(locs[0]), fix=fix)


def describe(error: Any, data: dict[str, Any]) -> tuple[str, str, str | None, bool, list[KeyPath]]:
    """A pydantic error as a diagnostic: code, message, fix, whether to point at the key (not the
    value), and the key paths it concerns (the first is where to point)."""
    loc: KeyPath = tuple(error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    if kind == "cross_field":  # a rule between fields names the field to point at
        ctx = error.get("ctx") or {}
        at = loc + tuple(ctx.get("at", ()))
        return (
            "SPC104",
            f"'{_dotted(at)}': {error['msg']}",
            ctx.get("fix"),
            False,
            [at] + [loc + i for i in ctx.get("involves", ())],
        )
    if loc and loc[-1] == "[key]":  # a dict key failed its pattern: point at the key
        loc = loc[:-1]
        name = loc[-1] if loc else "?"
        return (
            "SPC105",
            f"invalid name '{name}': names are lower-case identifiers (letters, digits, _; not starting with a digit)",
            f"rename it, e.g. '{_suggest_identifier(str(name))}'",
            True,
            [loc],
        )
    where = _dotted(loc) or "spec"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        fix = (
            f"did you mean '{guess[0]}'?"
            if guess
            else (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        )
        fix = REMOVED_KEYS.get(tuple(str(p) for p in loc), fix)
        return "SPC101", f"unknown key '{where}'", fix, True, [loc]
    if kind == "missing":
        return "SPC102", f"missing required key '{where}'", f"add '{loc[-1]}'", True, [loc]
    if kind == "finite_number":
        return "SPC104", f"'{where}': {value} is not a finite number", "write a finite number", False, [loc]
    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return (
            "SPC103",
            f"'{where}': {str(value).lower()} is a boolean, not a number",
            "write a number",
            False,
            [loc],
        )
    if kind == "int_type" and isinstance(value, float):
        fix = f"write {int(value)}" if value.is_integer() and abs(value) < 1e15 else None
        return "SPC103", f"'{where}': {value!r} is not an integer", fix, False, [loc]
    if kind == "bool_type":
        return "SPC103", f"'{where}': {value!r} is not a boolean (true or false)", None, False, [loc]
    if (
        kind.endswith("_type")
        or kind.endswith("_parsing")
        or kind in ("model_type", "dict_type", "list_type")
    ):
        return "SPC103", f"'{where}': {error['msg'].lower()}", None, False, [loc]
    if kind == "string_pattern_mismatch" and loc and isinstance(loc[-1], str) and loc[-1] in ("name",):
        return (
            "SPC105",
            f"invalid name '{value}' at '{where}': names are lower-case identifiers",
            f"rename it, e.g. '{_suggest_identifier(str(value))}'",
            False,
            [loc],
        )
    message = error["msg"]
    message = message[len("Value error, ") :] if message.startswith("Value error, ") else message
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = f"{value!r} is out of range: {message[0].lower()}{message[1:]}"
    return "SPC104", f"'{where}': {message}", None, False, [loc]


def _dotted(loc: KeyPath) -> str:
    return ".".join(str(p) for p in loc)


def _suggest_identifier(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9_]", "_", name.lower())[:64] or "term"
    return "_" + cleaned if cleaned[0].isdigit() else cleaned


def _allowed_keys(loc: KeyPath) -> list[str]:
    """The field names of the model that sits at `loc` in the schema, for 'did you mean'."""
    annotation: Any = Spec
    for part in loc:
        annotation = _step_into(annotation, part)
        if annotation is None:
            return []
    model = _unwrap_model(annotation)
    return list(model.model_fields) if model else []


def _step_into(annotation: Any, part: str | int) -> Any:
    model = _unwrap_model(annotation)
    if model is not None:
        field = model.model_fields.get(str(part))
        return field.annotation if field else None
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (list, dict) and args:
        return args[-1]
    if origin is typing.Union and args:
        return _step_into(args[0], part)
    return None


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    """The model class of `annotation` or of an Optional / Union of it; None for containers."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, dict, tuple):
        return None
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _toml_message(err: Exception) -> str:
    message = str(err)
    return re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)$", "", message)


def _toml_position(err: Exception, text: str) -> Position:
    lineno = getattr(err, "lineno", None)
    colno = getattr(err, "colno", None)
    if lineno and colno:
        return Position(lineno, colno)
    match = re.search(r"at line (\d+), column (\d+)", str(err))
    if match:
        return Position(int(match.group(1)), int(match.group(2)))
    lines = text.splitlines() or [""]
    return Position(len(lines), len(lines[-1]) + 1)
