"""Robot binding: the spec's [robot] table against its URDF.

Reads the URDF the spec names (bounded, without leaving the spec's folder), then matches the joint
patterns of the default pose, actuators, locked and passive joints, the link patterns of the body
groups, and checks the default pose against the limits and the start height against the ground.
Returns the `RobotModel` the later passes use, or None with the findings at their keys.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

from specc.diagnostics import DiagnosticSink, Severity, suggest
from specc.model.urdf import Joint, Urdf
from specc.robot.resolve import resolve_uri
from specc.robot.urdf import UrdfError, read_urdf
from specc.spec.load import SpecDocument
from specc.spec.positions import KeyPath
from specc.spec.schema import Spec
from specc.untrusted_files import escapes_folder


@dataclass(frozen=True)
class Actuator:
    """How the policy drives one joint: a PD position target or a torque."""

    kind: str  # "position" | "torque"
    scale: float  # position: rad (m) per unit action; torque: N·m (N) per unit action
    stiffness: float  # position only
    damping: float  # position only
    effort: float  # torque limit [N·m or N]


@dataclass
class RobotModel:
    """The robot as the spec uses it.

    `joints` are the simulated joints (URDF order, locked ones removed): `joint_pos`, `joint_vel`,
    `joint_acc` and `torques` have one entry per simulated joint. `driven` lists the indices of the
    joints the policy drives, in action order, with one actuator each; the others are passive.
    Locked joints are welded at their default position and are no joints of the simulation.
    """

    urdf: Urdf
    joints: list[Joint]
    default_joint_pos: list[float]
    driven: list[int]
    actuators: list[Actuator]
    locked: dict[str, float]
    body_groups: dict[str, list[str]]
    reset_joint_offset: list[tuple[float, float]] = field(default_factory=list)
    reset_joint_vel: list[tuple[float, float]] = field(default_factory=list)

    @property
    def joint_names(self) -> list[str]:
        return [j.name for j in self.joints]

    @property
    def action_names(self) -> list[str]:
        return [self.joints[i].name for i in self.driven]

    @property
    def action_scale(self) -> list[float]:
        return [a.scale for a in self.actuators]

    @property
    def action_offset(self) -> list[float]:
        """What an action of zero commands: the default position for PD joints, no torque for effort ones."""
        return [
            self.default_joint_pos[i] if a.kind == "position" else 0.0
            for i, a in zip(self.driven, self.actuators)
        ]


def bind_robot(
    document: SpecDocument, spec: Spec, sink: DiagnosticSink, within: Path | None = None
) -> RobotModel | None:
    urdf = read_spec_urdf(document, spec, sink, spec.robot.urdf, ("robot", "urdf"), within)
    if urdf is None:
        return None
    urdf_path = urdf.path

    movable = urdf.movable_joints
    all_names = [j.name for j in movable]
    locked_hits = _listed(all_names, spec.robot.locked, ("robot", "locked"), document, sink)
    passive_hits = _listed(all_names, spec.robot.passive, ("robot", "passive"), document, sink)
    for name in sorted(locked_hits & passive_hits):
        document.report(
            sink,
            "SPC308",
            f"joint '{name}' is both locked and passive",
            ("robot", "passive"),
            key=True,
            fix="remove it from one of the two lists",
        )
    all_default, default_from = _by_pattern(
        all_names, spec.robot.default_joint_pos, ("robot", "default_joint_pos"), document, sink, 0.0
    )
    _check_default_within_limits(movable, all_default, default_from, document, sink)
    joints = [j for j in movable if j.name not in locked_hits]
    names = [j.name for j in joints]
    default = [float(d) for j, d in zip(movable, all_default) if j.name not in locked_hits]
    locked = {j.name: float(d) for j, d in zip(movable, all_default) if j.name in locked_hits}
    gains, _ = _by_pattern(names, spec.robot.pd, ("robot", "pd"), document, sink, None, skip=passive_hits)
    torques, _ = _by_pattern(
        names, spec.robot.torque, ("robot", "torque"), document, sink, None, skip=passive_hits
    )
    offsets, _ = _by_pattern(
        names, spec.robot.reset_joint_offset, ("robot", "reset_joint_offset"), document, sink, (0.0, 0.0)
    )
    velocities, _ = _by_pattern(
        names, spec.robot.reset_joint_vel, ("robot", "reset_joint_vel"), document, sink, (0.0, 0.0)
    )
    both = [n for n, g, t in zip(names, gains, torques) if g is not None and t is not None]
    if both:
        document.report(
            sink,
            "SPC308",
            f"joint{'s' if len(both) > 1 else ''} {', '.join(both)} match both [robot.pd] and [robot.torque]",
            ("robot", "torque"),
            key=True,
            fix="a joint has one actuator: narrow one of the patterns",
        )
    missing = [
        n for n, g, t in zip(names, gains, torques) if g is None and t is None and n not in passive_hits
    ]
    if missing and not document.failed(sink):  # an unmatched pattern above is the likelier cause
        document.report(
            sink,
            "SPC308",
            f"no actuator for joint{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            ("robot", "pd"),
            key=True,
            fix='give it PD gains ([robot.pd] "*" = { ... }) or a torque actuator, or list it in '
            "robot.passive or robot.locked",
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
                at = path if group == "base" else path + (i,)
                guess = suggest(pattern, links)
                document.report(
                    sink,
                    "SPC304",
                    f"no link of {urdf_path.name} matches '{pattern}'",
                    at,
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
    if document.failed(sink):
        return None
    driven: list[int] = []
    actuators: list[Actuator] = []
    for i, (joint, g, t) in enumerate(zip(joints, gains, torques)):
        if joint.name in passive_hits or (g is None and t is None):
            continue
        driven.append(i)
        if g is not None:
            scale = g.scale if g.scale is not None else spec.robot.action_scale
            effort = _effort(joint, g.effort, ("robot", "pd"), sink, document)
            actuators.append(Actuator("position", scale, g.stiffness, g.damping, effort))
        else:
            effort = _effort(joint, t.effort, ("robot", "torque"), sink, document)
            actuators.append(Actuator("torque", t.scale, 0.0, 0.0, effort))
    if not driven:
        document.report(
            sink,
            "SPC308",
            "the policy drives no joint",
            ("robot",),
            key=True,
            fix="give some joints an actuator in [robot.pd] or [robot.torque]",
        )
    if document.failed(sink):
        return None
    _check_initial_height(urdf, dict(zip(all_names, all_default)), spec, document, sink)
    return RobotModel(
        urdf=urdf,
        joints=joints,
        default_joint_pos=default,
        driven=driven,
        actuators=actuators,
        locked=locked,
        body_groups=groups,
        reset_joint_offset=[tuple(o) for o in offsets],
        reset_joint_vel=[tuple(v) for v in velocities],
    )


def read_spec_urdf(
    document: SpecDocument, spec: Spec, sink: DiagnosticSink, uri: str, at: KeyPath, within: Path | None
) -> Urdf | None:
    """Resolve and read a URDF the spec names at `at` (the robot's or a scene URDF), reporting its problems
    there; None when it cannot be read."""
    urdf_path = resolve_uri(uri, document.path.parent)
    if urdf_path is None:
        document.report(
            sink,
            "SPC301",
            f"no installed package provides '{uri}'",
            at,
            fix="install the package (e.g. pip install example-robot-data) or set SPECC_PACKAGE_PATH",
        )
        return None
    try:
        # A URDF named by a plain path may not leave the spec's folder, nor the folder lint was
        # given (`../robots/x.urdf`), through a symbolic link.
        folder = None if uri.startswith("package://") else document.path.parent
        if folder is not None and within is not None and not escapes_folder(urdf_path, folder):
            folder = within if escapes_folder(urdf_path, within) else folder
        urdf = read_urdf(urdf_path, within=folder)
    except UrdfError as err:
        where = f" ({urdf_path.name}:{err.line})" if err.code != "SPC301" else ""
        document.report(
            sink,
            err.code,
            err.message + where,
            at,
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
            at,
            severity=severity,
            fix=issue.fix,
        )
    return urdf


def _effort(
    joint: Joint, spec_effort: float | None, table: KeyPath, sink: DiagnosticSink, document: SpecDocument
) -> float:
    if spec_effort is not None:
        return spec_effort
    if joint.effort and joint.effort > 0:
        return joint.effort
    document.report(
        sink,
        "SPC308",
        f"joint '{joint.name}' has no effort limit in the URDF or the spec",
        table,
        key=True,
        fix=f"add effort = <N·m> to its [{'.'.join(map(str, table))}] entry",
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


def _by_pattern(
    names, table, path: KeyPath, document: SpecDocument, sink: DiagnosticSink, default, skip=frozenset()
):
    """Each joint's value from a {pattern: value} table, and the pattern it came from (None: the default);
    later patterns win. Reports patterns matching nothing. Joints in `skip` (passive ones, for actuator
    tables) keep the default."""
    out = [default] * len(names)
    source: list[str | None] = [None] * len(names)
    for pattern, value in table.items():
        matched = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, pattern)]
        hits = [i for i in matched if names[i] not in skip]
        if not matched:
            guess = suggest(pattern, names)
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


def _listed(names, patterns, path: KeyPath, document: SpecDocument, sink: DiagnosticSink) -> set[str]:
    """The joints a list of patterns names (robot.locked, robot.passive); reports patterns matching nothing."""
    hits: set[str] = set()
    for index, pattern in enumerate(patterns):
        matched = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        if not matched:
            guess = suggest(pattern, names)
            sink.add(
                "SPC303",
                f"'{pattern}' matches no movable joint",
                document.positions.value(path + (index,)),
                fix=f"did you mean '{guess}'?" if guess else f"joints: {', '.join(names)}",
            )
        hits |= matched
    return hits


def _listing(names: list[str], keep: int = 20) -> str:
    """Names for a fix line; a URDF of thousands of joints is not listed whole."""
    shown = ", ".join(names[:keep])
    return shown + (f", ... ({len(names)} in all)" if len(names) > keep else "")
