"""Load a spec file: TOML text -> data with positions -> validated `Spec`, plus diagnostics.

Validation errors from pydantic are turned into positioned diagnostics here; nothing
in this module raises on bad input.
"""

from __future__ import annotations

import difflib
import re
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from specc.diagnostics import DiagnosticSink, Position
from specc.spec.positions import KeyPath, PositionMap, scan_positions
from specc.spec.schema import REMOVED_KEYS, Spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_SPEC_BYTES = 1 << 20


@dataclass
class SpecDocument:
    """A spec file as read: its text, raw data, positions and (when valid) the validated model."""

    path: Path
    text: str
    data: dict[str, Any]
    positions: PositionMap
    spec: Spec | None


def load_spec(
    path: Path,
    sink: DiagnosticSink,
    overrides: dict[str, Any] | None = None,
    *,
    run_on: str | None = None,
) -> SpecDocument | None:
    """Read and validate one spec. Returns None only when the file cannot be read or parsed.

    `run_on` resolves the spec for a run on that device ("spec": the spec's own sim.device): it sets
    sim.device and applies the matching [profile.cpu] or [profile.cuda] table. `overrides` win over both.
    """
    try:
        raw = path.read_bytes()
    except OSError as err:
        sink.add("SPC001", f"cannot read spec: {err.strerror or err}", Position(1, 1))
        return None
    if len(raw) > MAX_SPEC_BYTES:
        sink.add("SPC001", f"spec is larger than {MAX_SPEC_BYTES} bytes", Position(1, 1))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        sink.add("SPC002", f"spec is not UTF-8: {err.reason}", Position(1, 1), fix="save the file as UTF-8")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        sink.add("SPC002", _toml_message(err), _toml_position(err, text), fix="fix the TOML syntax")
        return None
    positions = scan_positions(text)
    merged = run_profile(data, run_on) if run_on is not None else {}
    merged.update(overrides or {})
    if merged:
        data = apply_overrides(data, merged)
    spec = validate(data, positions, sink)
    return SpecDocument(path, text, data, positions, spec)


def run_profile(data: dict[str, Any], device: str) -> dict[str, Any]:
    """Dotted-key overrides for a run on `device` ("spec": the spec's sim.device): its profile table and the device."""
    if device == "spec":
        device = str(data.get("sim", {}).get("device", "cpu"))
    profiles = data.get("profile", {})
    profile = (
        profiles.get("cuda" if device.startswith("cuda") else "cpu", {}) if isinstance(profiles, dict) else {}
    )
    out = dict(profile) if isinstance(profile, dict) else {}
    out["sim.device"] = device
    return out


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`sim.num_envs`) in a deep copy of `data`."""
    import copy

    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node = out
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {dotted}: '{part}' is not a table")
        node[parts[-1]] = value
    return out


def validate(data: dict[str, Any], positions: PositionMap, sink: DiagnosticSink) -> Spec | None:
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        for error in errors:
            if not _explained_by_typo(error, errors):
                _report(error, data, positions, sink)
        return None


def _explained_by_typo(error: Any, errors: list[Any]) -> bool:
    """A missing key next to an unknown key that looks like it (`wieght` for `weight`) is one mistake, not two."""
    if error["type"] != "missing":
        return False
    loc = tuple(error["loc"])
    for other in errors:
        other_loc = tuple(other["loc"])
        if (
            other["type"] == "extra_forbidden"
            and other_loc[:-1] == loc[:-1]
            and difflib.get_close_matches(str(other_loc[-1]), [str(loc[-1])], n=1, cutoff=0.6)
        ):
            return True
    return False


def _report(error: Any, data: dict[str, Any], positions: PositionMap, sink: DiagnosticSink) -> None:
    loc: KeyPath = tuple(error["loc"])
    kind: str = error["type"]
    if loc and loc[-1] == "[key]":  # a dict key failed its pattern: point at the key
        loc = loc[:-1]
        name = loc[-1] if loc else "?"
        sink.add(
            "SPC105",
            f"invalid name '{name}': names are lower-case identifiers (letters, digits, _; not starting with a digit)",
            positions.key(loc),
            fix=f"rename it, e.g. '{_suggest_identifier(str(name))}'",
        )
        return
    where = ".".join(str(p) for p in loc) or "spec"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        fix = (
            f"did you mean '{guess[0]}'?"
            if guess
            else (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        )
        fix = REMOVED_KEYS.get(tuple(str(p) for p in loc), fix)
        sink.add("SPC101", f"unknown key '{where}'", positions.key(loc), fix=fix)
    elif kind == "missing":
        sink.add("SPC102", f"missing required key '{where}'", positions.key(loc), fix=f"add '{loc[-1]}'")
    elif (
        kind.endswith("_type")
        or kind.endswith("_parsing")
        or kind in ("model_type", "dict_type", "list_type")
    ):
        sink.add("SPC103", f"'{where}': {error['msg'].lower()}", positions.value(loc))
    elif kind == "string_pattern_mismatch" and loc and isinstance(loc[-1], str) and loc[-1] in ("name",):
        value = error.get("input")
        sink.add(
            "SPC105",
            f"invalid name '{value}' at '{where}': names are lower-case identifiers",
            positions.value(loc),
            fix=f"rename it, e.g. '{_suggest_identifier(str(value))}'",
        )
    else:
        message = error["msg"]
        message = message[len("Value error, ") :] if message.startswith("Value error, ") else message
        sink.add("SPC104", f"'{where}': {message}", positions.value(loc))


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
