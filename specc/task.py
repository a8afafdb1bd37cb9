"""The front end as one pass: a spec file in, a checked task (or diagnostics) out.

load (TOML + positions) -> schema -> robot (URDF names) -> expressions (parse, check).
Everything the code generator and the runtime need about a task is in `CheckedTask`;
neither reads the spec's raw data again.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

from specc import __version__
from specc.diagnostics import DiagnosticSink, Position, Severity, suggest
from specc.expr import ast
from specc.expr.check import Checked, Context, check_expression
from specc.expr.parse import ParseError, parse_expression
from specc.expr.signals import TERM_NAMESPACE
from specc.expr.types import Type
from specc.robot.resolve import resolve_uri
from specc.robot.urdf import Joint, Urdf, UrdfError, read_urdf
from specc.spec.load import OverrideError, SpecDocument, load_spec, profile_note
from specc.spec.positions import KeyPath
from specc.spec.schema import OBSERVATION_GROUPS, Spec
from specc.untrusted_files import escapes_folder

BODY_GROUPS = ("base", "feet", "terminate_contacts", "penalize_contacts")
# All expressions of one spec together: parsing costs ~10 us a character, so this bounds lint's time
# on a hostile 1 MB spec (a real spec's expressions add up to a few kilobytes).
MAX_SPEC_EXPRESSION_CHARS = 32_768


@dataclass(frozen=True)
class CheckedTerm:
    section: str  # observations | rewards | terminations
    name: str
    source: str
    checked: Checked
    weight: float = 1.0
    scale: float = 1.0
    clip: float | None = None
    noise: float = 0.0

    @property
    def size(self) -> int:
        shape = self.checked.type.shape
        return shape[0] if shape else 1


@dataclass(frozen=True)
class ObservationSlot:
    name: str
    offset: int
    size: int
    scale: float
    noise: float


@dataclass
class RobotModel:
    """The robot as the spec uses it: joints in action order, their defaults and gains, body groups."""

    urdf: Urdf
    joints: list[Joint]
    default_joint_pos: list[float]
    stiffness: list[float]
    damping: list[float]
    effort: list[float]
    body_groups: dict[str, list[str]]

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]


@dataclass
class CheckedTask:
    path: Path
    spec: Spec
    robot: RobotModel
    command_names: tuple[str, ...]
    observations: list[CheckedTerm]
    rewards: list[CheckedTerm]  # in dependency order: a term comes after the terms it reads
    terminations: list[CheckedTerm]
    spec_hash: str
    warnings: list[str] = field(default_factory=list)
    # Extra observation groups the spec writes (critic, teacher), in OBSERVATION_GROUPS order.
    extra_groups: dict[str, list[CheckedTerm]] = field(default_factory=dict)

    @property
    def observation_layout(self) -> list[ObservationSlot]:
        return self.group_layout("policy")

    @property
    def num_observations(self) -> int:
        return sum(t.size for t in self.observations)

    @property
    def observation_groups(self) -> dict[str, list[CheckedTerm]]:
        """Every observation group of the task, the policy's first."""
        return {"policy": self.observations, **self.extra_groups}

    def group_layout(self, group: str) -> list[ObservationSlot]:
        slots, offset = [], 0
        for term in self.observation_groups[group]:
            slots.append(ObservationSlot(term.name, offset, term.size, term.scale, term.noise))
            offset += term.size
        return slots

    @property
    def num_actions(self) -> int:
        return len(self.robot.joints)


def check_task(
    path: Path,
    sink: DiagnosticSink,
    overrides: dict[str, object] | None = None,
    *,
    run_on: str | None = None,
    within: Path | None = None,
) -> CheckedTask | None:
    """Run the whole front end on one spec file. Returns None when any error was reported.

    `run_on` resolves the spec for a run on a device (see `load_spec`); lint leaves it unset.
    `within`: the folder the spec must not leave through a symbolic link (lint's given folder).
    """
    document = load_spec(path, sink, overrides, run_on=run_on, within=within)
    if document is None or document.spec is None:
        return None
    task = _check_document(path, document, sink, within)
    if document.command_line_problems:  # a value given on the command line is wrong, not the file
        raise OverrideError(document.command_line_problems)
    for device, (data, spec, entries) in document.profile_layers.items():
        if any(e.key.split(".")[0] in FRONT_END_SECTIONS for e in entries):
            _check_profile_layer(path, document, device, data, spec, entries, sink, within)
    return task


# Sections the passes after the schema read (robot binding, expressions): a profile entry in one
# of them is checked by those passes too; one elsewhere (sim, ppo, eval) is the schema's alone.
FRONT_END_SECTIONS = frozenset({"robot", "observations", "rewards", "terminations", "commands"})


def _check_profile_layer(
    path, document: SpecDocument, device: str, data, spec: Spec, entries, sink, within: Path | None = None
) -> None:
    """Lint: run the later passes on the spec as a [profile.*] table changes it, and report what the
    profile broke: at its entries' lines when the finding is about a value it set, else where found."""
    layer = SpecDocument(path, document.text, data, document.positions, spec, entries)
    scratch = DiagnosticSink(sink.path)
    _check_document(path, layer, scratch, within)
    seen = {(d.code, d.message, d.position) for d in sink.items}
    for d in scratch.items:
        if (d.code, d.message, d.position) in seen:
            continue  # the file's own finding, reported already
        if not d.message.endswith(profile_note(device)):
            d = dataclasses.replace(d, message=f"{d.message} (with [profile.{device}])")
        sink.items.append(d)


def _check_document(
    path: Path, document: SpecDocument, sink: DiagnosticSink, within: Path | None = None
) -> CheckedTask | None:
    spec = document.spec
    if not _within_expression_budget(document, spec, sink):
        return None
    robot = _check_robot(document, spec, sink, within)
    command_names = tuple(spec.commands.ranges) + tuple(spec.commands.categorical)
    if robot is None:
        return None
    groups = {name: len(bodies) for name, bodies in robot.body_groups.items() if bodies}
    base_ctx = Context(tuple(robot.joint_names), tuple(robot.body_groups["feet"]), command_names, groups)
    observed = {
        group: [
            _check_term(
                document,
                sink,
                base_ctx,
                "observations",
                term.name,
                term.expr,
                (key, i, "expr"),
                scale=term.scale,
                clip=term.clip,
                noise=term.noise,
            )
            for i, term in enumerate(getattr(spec, key))
        ]
        for group, key in OBSERVATION_GROUPS.items()
    }
    rewards = _check_section(
        document,
        sink,
        base_ctx,
        "rewards",
        {n: (t.expr, {"weight": t.weight}) for n, t in spec.rewards.terms.items()},
    )
    terminations = _check_section(
        document,
        sink,
        base_ctx,
        "terminations",
        {n: (t.expr, {}) for n, t in spec.terminations.terms.items()},
    )
    if _failed(document, sink):
        return None
    digest = hashlib.sha256()
    for part in (__version__.encode(), document.text.encode(), robot.urdf.digest.encode()):
        digest.update(part)
        digest.update(b"\0")
    return CheckedTask(
        path,
        spec,
        robot,
        command_names,
        [o for o in observed["policy"] if o],
        rewards,
        terminations,
        digest.hexdigest()[:16],
        extra_groups={
            group: [o for o in terms if o] for group, terms in observed.items() if group != "policy" and terms
        },
    )


def _within_expression_budget(document: SpecDocument, spec: Spec, sink: DiagnosticSink) -> bool:
    """Whether the spec's expressions fit MAX_SPEC_EXPRESSION_CHARS; if not, a diagnostic where they stop fitting."""
    total = 0
    located: list[tuple[KeyPath, str]] = [
        (("observations", i, "expr"), term.expr) for i, term in enumerate(spec.observations)
    ]
    located += [(("rewards", "terms", n, "expr"), t.expr) for n, t in spec.rewards.terms.items()]
    located += [(("terminations", "terms", n, "expr"), t.expr) for n, t in spec.terminations.terms.items()]
    for path, source in located:
        total += len(source)
        if total > MAX_SPEC_EXPRESSION_CHARS:
            document.report(
                sink,
                "SPC214",
                f"the spec's expressions are longer than {MAX_SPEC_EXPRESSION_CHARS} characters in all",
                path,
                fix="a task needs a few kilobytes of expressions; remove generated terms",
            )
            return False
    return True


# -- robot ------------------------------------------------------------------------------------------
def _check_robot(
    document: SpecDocument, spec: Spec, sink: DiagnosticSink, within: Path | None = None
) -> RobotModel | None:
    urdf_path = resolve_uri(spec.robot.urdf, document.path.parent)
    if urdf_path is None:
        document.report(
            sink,
            "SPC301",
            f"no installed package provides '{spec.robot.urdf}'",
            ("robot", "urdf"),
            fix="install the package (e.g. pip install example-robot-data) or set SPECC_PACKAGE_PATH",
        )
        return None
    try:
        # A URDF named by a plain path may not leave the spec's folder, nor the folder lint was
        # given (`../robots/x.urdf`), through a symbolic link.
        folder = None if spec.robot.urdf.startswith("package://") else document.path.parent
        if folder is not None and within is not None and not escapes_folder(urdf_path, folder):
            folder = within if escapes_folder(urdf_path, within) else folder
        urdf = read_urdf(urdf_path, within=folder)
    except UrdfError as err:
        where = f" ({urdf_path.name}:{err.line})" if err.code != "SPC301" else ""
        document.report(
            sink,
            err.code,
            err.message + where,
            ("robot", "urdf"),
            fix=err.fix
            or ("check the path; it is relative to the spec file" if err.code == "SPC301" else None),
        )
        return None
    for issue in urdf.issues:
        if issue.code == "SPC305" and spec.robot.repair_inertia != "none":
            continue  # the spec chose an explicit repair; the import reports what it changed
        severity = Severity.ERROR if issue.severity == "error" else Severity.WARNING
        document.report(
            sink,
            issue.code,
            f"{issue.message} ({urdf_path.name}:{issue.line})",
            ("robot", "urdf"),
            severity=severity,
            fix=issue.fix,
        )

    joints = urdf.movable_joints
    names = [j.name for j in joints]
    default, default_from = _by_pattern(
        names, spec.robot.default_joint_pos, ("robot", "default_joint_pos"), document, sink, 0.0
    )
    gains, _ = _by_pattern(names, spec.robot.pd, ("robot", "pd"), document, sink, None)
    _check_default_within_limits(joints, default, default_from, document, sink)
    missing = [n for n, g in zip(names, gains) if g is None]
    if missing and not _failed(document, sink):  # an unmatched pattern above is the likelier cause
        document.report(
            sink,
            "SPC308",
            f"no PD gains for joint{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            ("robot", "pd"),
            key=True,
            fix='add a pattern that matches them, e.g. "*" = { ... }',
        )
        return None
    links = list(urdf.links)
    groups: dict[str, list[str]] = {}
    for group, path in (
        ("base", ("robot", "base")),
        ("feet", ("robot", "feet")),
        ("terminate_contacts", ("robot", "terminate_contacts")),
        ("penalize_contacts", ("robot", "penalize_contacts")),
    ):
        patterns = [spec.robot.base] if group == "base" else getattr(spec.robot, group)
        matched: list[str] = []
        for i, pattern in enumerate(patterns):
            hits = [link for link in links if fnmatch.fnmatchcase(link, pattern)]
            if not hits:
                where = path if group == "base" else path + (i,)
                guess = _closest(pattern, links)
                document.report(
                    sink,
                    "SPC304",
                    f"no link of {urdf_path.name} matches '{pattern}'",
                    where,
                    fix=f"did you mean '{guess}'?" if guess else None,
                )
            matched.extend(h for h in hits if h not in matched)
        groups[group] = matched
    if groups["base"] and groups["base"][0] != urdf.root:
        document.report(
            sink,
            "SPC304",
            f"base link '{groups['base'][0]}' is not the URDF's root link '{urdf.root}'",
            ("robot", "base"),
            fix=f'set base = "{urdf.root}"',
        )
    if _failed(document, sink):
        return None
    _check_initial_height(urdf, dict(zip(names, default)), spec, document, sink)
    return RobotModel(
        urdf=urdf,
        joints=joints,
        default_joint_pos=[float(d) for d in default],  # type: ignore[arg-type]
        stiffness=[g.stiffness for g in gains],  # type: ignore[union-attr]
        damping=[g.damping for g in gains],  # type: ignore[union-attr]
        effort=[_effort(j, g.effort, sink, document) for j, g in zip(joints, gains)],  # type: ignore[union-attr]
        body_groups=groups,
    )


def _effort(joint: Joint, spec_effort: float | None, sink: DiagnosticSink, document: SpecDocument) -> float:
    if spec_effort is not None:
        return spec_effort
    if joint.effort and joint.effort > 0:
        return joint.effort
    document.report(
        sink,
        "SPC308",
        f"joint '{joint.name}' has no effort limit in the URDF or the spec",
        ("robot", "pd"),
        key=True,
        fix="add effort = <N·m> to its [robot.pd] entry",
    )
    return 0.0


# A default pose may sit this far outside a limit (rounding of a limit written in degrees).
LIMIT_TOLERANCE = 1e-6
# Collision geometry may start this far inside the ground (a foot resting on it).
GROUND_TOLERANCE = 1e-3


def _check_default_within_limits(
    joints: list[Joint],
    default: list[float],
    source: list[str | None],
    document: SpecDocument,
    sink: DiagnosticSink,
) -> None:
    """Report each default joint position outside its URDF limits, at the pattern that set it."""
    by_source: dict[str | None, list[str]] = {}
    for joint, value, pattern in zip(joints, default, source):
        if joint.lower is None or joint.upper is None:
            continue
        if joint.lower - LIMIT_TOLERANCE <= value <= joint.upper + LIMIT_TOLERANCE:
            continue
        by_source.setdefault(pattern, []).append(
            f"{joint.name} = {value:g} (limits [{joint.lower:g}, {joint.upper:g}])"
        )
    for pattern, problems in by_source.items():
        where = ("robot", "default_joint_pos") + ((pattern,) if pattern is not None else ())
        what = "default joint position" if pattern is not None else "default joint position (0 when unset)"
        document.report(
            sink,
            "SPC310",
            f"{what} outside the URDF's joint limits: {'; '.join(problems)}",
            where,
            key=True,
            fix="choose a default within the limits (`specc robot URDF` lists them)"
            if pattern is not None
            else "set these joints in [robot.default_joint_pos], within their limits",
        )


def _check_initial_height(
    urdf: Urdf, joint_pos: dict[str, float], spec: Spec, document: SpecDocument, sink: DiagnosticSink
) -> None:
    """Report an init_height that starts some collision geometry below the ground at the default pose."""
    from specc.robot.kinematics import lowest_point

    height = spec.robot.init_height
    low = lowest_point(urdf, joint_pos, height)
    if low is None or low.height >= -GROUND_TOLERANCE:
        return
    needed = height - low.height
    skipped = f"; {low.skipped_meshes} collision meshes not measured" if low.skipped_meshes else ""
    document.report(
        sink,
        "SPC311",
        f"at init_height = {height:g} and the default pose, link '{low.link}' reaches "
        f"{-low.height:.3g} m below the ground{skipped}",
        ("robot", "init_height"),
        fix=f"raise init_height to at least {math.ceil(needed * 1000 - 1e-6) / 1000:g} or change the default pose",
    )


def _by_pattern(names, table, path: KeyPath, document: SpecDocument, sink: DiagnosticSink, default):
    """Each joint's value from a {pattern: value} table, and the pattern it came from (None: the default);
    later patterns win. Reports patterns matching nothing."""
    out = [default] * len(names)
    source: list[str | None] = [None] * len(names)
    for pattern, value in table.items():
        hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            guess = _closest(pattern, names)
            document.report(
                sink,
                "SPC303",
                f"'{pattern}' matches no movable joint",
                path + (pattern,),
                key=True,
                fix=f"did you mean '{guess}'?" if guess else f"joints: {_listing(names)}",
            )
        for i in hits:
            out[i] = value
            source[i] = pattern
    return out, source


def _closest(pattern: str, names: list[str]) -> str | None:
    return suggest(pattern, names)


def _listing(names: list[str], keep: int = 20) -> str:
    """Names for a fix line; a URDF of thousands of joints is not listed whole."""
    shown = ", ".join(names[:keep])
    return shown + (f", ... ({len(names)} in all)" if len(names) > keep else "")


# -- expressions ------------------------------------------------------------------------------------
def _term_refs(node: ast.Node) -> list[tuple[str, ast.Span]]:
    refs: list[tuple[str, ast.Span]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if (
            isinstance(current, ast.Component)
            and isinstance(current.base, ast.Name)
            and current.base.name == TERM_NAMESPACE
        ):
            refs.append((current.name, current.name_span))
        stack.extend(ast.children(current))
    return refs


def _check_section(document, sink, base_ctx: Context, section: str, terms: dict[str, tuple[str, dict]]):
    """Check a section whose terms may read each other (`term.<name>`), in dependency order."""
    parsed: dict[str, ast.Node] = {}
    for name, (source, _) in terms.items():
        node = _parse(document, sink, source, (section, "terms", name, "expr"))
        if node is not None:
            parsed[name] = node
    order, broken = _dependency_order(document, sink, section, parsed)
    out: list[CheckedTerm] = []
    types: dict[str, Type] = {}
    for name in order:
        source, extra = terms[name]
        if name in broken or any(
            ref in broken or (ref in parsed and ref not in types) for ref, _ in _term_refs(parsed[name])
        ):
            broken.add(name)
            continue
        ctx = Context(
            base_ctx.joint_names,
            base_ctx.feet_names,
            base_ctx.command_names,
            base_ctx.body_groups,
            types,  # not copied: it holds only terms checked before this one (linear, not quadratic)
            section,
        )
        term = _check_term(
            document,
            sink,
            ctx,
            section,
            name,
            source,
            (section, "terms", name, "expr"),
            node=parsed[name],
            **extra,
        )
        if term is not None:
            types[name] = term.checked.type
            out.append(term)
    return out


def _dependency_order(
    document: SpecDocument, sink: DiagnosticSink, section: str, parsed: dict[str, ast.Node]
) -> tuple[list[str], set[str]]:
    """Terms in dependency order, and the terms in a cycle (each cycle reported once, at the reference).

    An iterative depth-first search with an explicit stack: a chain of thousands of terms each
    reading the next cannot overflow the interpreter's stack.
    """
    order: list[str] = []
    state: dict[str, str] = {}
    broken: set[str] = set()  # in a cycle, or reading a term that failed: reported once, not checked
    for first in parsed:
        if state.get(first) is not None:
            continue
        state[first] = "active"
        chain: list[str] = [first]  # the active path; chain_index locates a name on it
        chain_index: dict[str, int] = {first: 0}
        stack = [iter(_term_refs(parsed[first]))]
        while stack:
            name = chain[-1]
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                chain.pop()
                del chain_index[name]
                state[name] = "done"
                order.append(name)
                continue
            ref, span = step
            if ref not in parsed or state.get(ref) == "done":
                continue
            if state.get(ref) == "active":
                cycle = chain[chain_index[ref] :]
                _report(
                    document,
                    sink,
                    (section, "terms", name, "expr"),
                    span,
                    "SPC213",
                    f"terms read each other in a cycle: {' -> '.join([*_shorten(cycle), ref])}",
                    None,
                )
                broken.update(cycle)
                continue
            state[ref] = "active"
            chain_index[ref] = len(chain)
            chain.append(ref)
            stack.append(iter(_term_refs(parsed[ref])))
    return order, broken


def _shorten(cycle: list[str], keep: int = 8) -> list[str]:
    """A long cycle as its first and last names around an ellipsis: a message, not a dump."""
    return cycle if len(cycle) <= keep else [*cycle[: keep // 2], "...", *cycle[-keep // 2 :]]


def _parse(document: SpecDocument, sink: DiagnosticSink, source: str, path: KeyPath) -> ast.Node | None:
    result = parse_expression(source)
    if isinstance(result, ParseError):
        _report(
            document,
            sink,
            path,
            ast.Span(result.offset, result.offset + 1),
            result.code,
            result.message.replace("$END", "end of expression"),
            result.fix,
        )
        return None
    return result


def _check_term(
    document,
    sink,
    ctx: Context,
    section: str,
    name: str,
    source: str,
    path: KeyPath,
    node: ast.Node | None = None,
    **extra,
) -> CheckedTerm | None:
    if node is None:
        node = _parse(document, sink, source, path)
        if node is None:
            return None
    checked, errors = check_expression(node, ctx)
    for error in errors:
        _report(document, sink, path, error.span, error.code, error.message, error.fix)
    if checked is None:
        return None
    problem = _result_problem(section, name, checked.type)
    if problem is not None:
        code, message, fix = problem
        _report(document, sink, path, node.span, code, message, fix)
        return None
    return CheckedTerm(section, name, source, checked, **extra)


# What each section's value must be: (kind, dtype, one value per env required).
SECTION_RESULTS = {
    "rewards": ("reward", "float", True),
    "terminations": ("termination", "bool", True),
    "observations": ("observation", "float", False),
}


def _result_problem(section: str, name: str, t: Type) -> tuple[str, str, str | None] | None:
    """Why a term's value does not fit its section (reward: a number per env, termination: a boolean
    per env, observation: a number or a vector per env); None when it fits."""
    kind, dtype, scalar = SECTION_RESULTS[section]
    if dtype == "float" and t.dtype == "bool":
        return "SPC206", f"{kind} '{name}' is a boolean", "convert it explicitly: float(...)"
    if dtype == "bool" and t.dtype != "bool":
        return "SPC211", f"{kind} '{name}' is a number, not a boolean", "compare it, e.g. (... < 0.3)"
    if scalar and not t.is_scalar:
        what = "one boolean" if dtype == "bool" else "one number"
        fix = "reduce it: any(...)" if dtype == "bool" else "reduce it, e.g. sum(...) or norm(...)"
        return "SPC205", f"{kind} '{name}' is {t.describe()}, not {what} per env", fix
    if not scalar and len(t.shape) > 1:
        return (
            "SPC209",
            f"{kind} '{name}' is {t.describe()}; an observation is a number or a vector per env",
            "flatten it: flatten(...)",
        )
    if not scalar and t.shape == (0,):
        return "SPC209", f"{kind} '{name}' has size zero", None
    return None


def _report(
    document: SpecDocument,
    sink: DiagnosticSink,
    path: KeyPath,
    span: ast.Span,
    code: str,
    message: str,
    fix: str | None,
) -> None:
    document.report(sink, code, message, path, fix=fix, chars=(span.start, span.end))


def _failed(document: SpecDocument, sink: DiagnosticSink) -> bool:
    """Whether any error was found, in the file or in a value given on the command line."""
    return sink.has_errors or bool(document.command_line_problems)


__all__ = ["CheckedTask", "CheckedTerm", "check_task", "Position"]
