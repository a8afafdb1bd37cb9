"""The front end as one pipeline: a spec file in, a checked task (or diagnostics) out.

    load (TOML + positions, specc.spec.load) -> schema -> robot binding (specc.bind.robot)
    -> scene binding (specc.bind.scene) -> terrain checks (specc.spec.terrain)
    -> expressions, section by section in dependency order (specc.terms)

Each pass takes the previous one's output and reports into the same sink. Everything the code
generator and the runtime need about a task is in `CheckedTask`; neither reads the spec's raw data again.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from specc import __version__
from specc.bind.robot import RobotModel, bind_robot
from specc.bind.scene import SceneModel, bind_scene
from specc.diagnostics import DiagnosticSink
from specc.expr.check import Context
from specc.expr.signals import FRAME_SIGNALS, WXYZ, XYZ
from specc.spec.load import OverrideError, SpecDocument, load_spec, profile_note
from specc.spec.schema import OBSERVATION_GROUPS, Spec
from specc.spec.terrain import check_terrain, curriculum_rule
from specc.terms.check import (
    CheckedTerm,
    check_computed_commands,
    check_section,
    check_term,
    check_values,
    within_expression_budget,
)


@dataclass(frozen=True)
class ObservationSlot:
    name: str
    offset: int
    size: int
    scale: float
    noise: float


@dataclass
class CheckedTask:
    path: Path
    spec: Spec
    robot: RobotModel
    command_names: tuple[str, ...]
    scene: SceneModel
    observations: list[CheckedTerm]
    rewards: list[CheckedTerm]  # in dependency order: a term comes after the terms it reads
    terminations: list[CheckedTerm]
    spec_hash: str
    curriculum: list[CheckedTerm] = field(default_factory=list)  # [promote, demote], or none
    # Extra observation groups the spec writes (critic, teacher), in OBSERVATION_GROUPS order.
    extra_groups: dict[str, list[CheckedTerm]] = field(default_factory=dict)
    values: list[CheckedTerm] = field(default_factory=list)  # [values], each after the values it reads
    # Vector commands (targets): name -> (first index in the commands vector, component names).
    command_vectors: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    computed_commands: list[CheckedTerm] = field(default_factory=list)  # [commands.computed]
    # [eval]'s criteria; None where the spec gives none (success: "did not fail"; failure: never).
    success: CheckedTerm | None = None
    failure: CheckedTerm | None = None

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

    def group_size(self, group: str) -> int:
        """Entries of an observation group; 0 for a group the spec does not write."""
        return sum(t.size for t in self.observation_groups.get(group, []))

    def group_layout(self, group: str) -> list[ObservationSlot]:
        slots, offset = [], 0
        for term in self.observation_groups[group]:
            slots.append(ObservationSlot(term.name, offset, term.size, term.scale, term.noise))
            offset += term.size
        return slots

    @property
    def num_actions(self) -> int:
        return len(self.robot.driven)

    @property
    def all_terms(self) -> list[CheckedTerm]:
        """Every checked expression of the spec: values, computed commands, terms, eval criteria, and
        the terrain curriculum's rule."""
        criteria = [t for t in (self.success, self.failure) if t is not None]
        return [
            *self.values,
            *self.computed_commands,
            *self.observations,
            *(term for terms in self.extra_groups.values() for term in terms),
            *self.rewards,
            *self.terminations,
            *criteria,
            *self.curriculum,
        ]

    def _selected(self, signals: tuple[str, ...]) -> set[str]:
        return {
            name for term in self.all_terms for signal, name in term.checked.selections if signal in signals
        }

    @property
    def frames_read(self) -> list[str]:
        """The named frames some term reads, in declaration order: the only ones the backend computes."""
        read = self._selected(FRAME_SIGNALS)
        return [name for name in self.scene.frames if name in read]

    @property
    def frame_velocities_read(self) -> bool:
        return any(
            s in ("frame_lin_vel", "frame_ang_vel")
            for term in self.all_terms
            for s, _ in term.checked.selections
        )

    @property
    def contact_groups_read(self) -> list[str]:
        """Objects, frames and pairs whose contact force some term reads (robot groups are always tracked)."""
        read = self._selected(("contact_force",))
        names = [*self.scene.frames, *self.scene.pairs]
        return [n for n in names if n in read and n not in self.robot.body_groups]


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
# of them is checked by those passes too; one elsewhere (sim, ppo, randomization) is the schema's alone.
FRONT_END_SECTIONS = frozenset(
    {"robot", "observations", "rewards", "terminations", "commands", "values", "eval", "terrain"}
)


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
    if spec is None:  # the schema pass reported why
        return None
    if not within_expression_budget(document, spec, sink):
        return None
    robot = bind_robot(document, spec, sink, within)
    command_names, command_vectors = command_layout(spec)
    if robot is None:
        return None
    scene = bind_scene(document, spec, robot, sink, within)
    if scene is None:
        return None
    groups = {name: len(bodies) for name, bodies in robot.body_groups.items() if bodies}
    scan = spec.terrain.height_scan
    groups.update({name: 1 for name in [*scene.frames, *scene.pairs] if name not in groups})
    base_ctx = Context(
        tuple(robot.joint_names),
        tuple(robot.body_groups["feet"]),
        command_names,
        groups,
        scan_points=scan.size if scan is not None else 0,
        action_names=tuple(robot.action_names),
        frame_names=tuple(scene.frames),
        value_names=tuple(spec.values),
        command_vectors=command_vectors,
    )
    check_terrain(document, spec, sink)
    values = check_values(document, sink, base_ctx, spec.values)
    base_ctx = dataclasses.replace(base_ctx, value_types={v.name: v.checked.type for v in values})
    computed = check_computed_commands(document, sink, base_ctx, spec.commands.computed, values)
    observed = {
        group: [
            check_term(
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
    rewards = check_section(
        document,
        sink,
        base_ctx,
        "rewards",
        {n: (t.expr, {}) for n, t in spec.rewards.terms.items()},
    )
    terminations = check_section(
        document,
        sink,
        base_ctx,
        "terminations",
        {n: (t.expr, {}) for n, t in spec.terminations.terms.items()},
    )
    curriculum = [
        check_term(document, sink, base_ctx, "curriculum", name, source, ("terrain", "curriculum", name))
        for name, source in curriculum_rule(spec, command_names).items()
    ]
    criteria = {
        name: check_term(document, sink, base_ctx, "eval", name, source, ("eval", name))
        for name, source in (("success", spec.eval.success), ("failure", spec.eval.failure))
        if source is not None
    }
    if document.failed(sink):
        return None
    digest = hashlib.sha256()
    urdf_digests = [robot.urdf.digest, *(u.digest for u in scene.urdfs.values())]
    for part in (__version__.encode(), document.text.encode(), *(d.encode() for d in urdf_digests)):
        digest.update(part)
        digest.update(b"\0")
    return CheckedTask(
        path,
        spec,
        robot,
        command_names,
        scene,
        [o for o in observed["policy"] if o],
        rewards,
        terminations,
        digest.hexdigest()[:16],
        curriculum=[c for c in curriculum if c],
        values=values,
        success=criteria.get("success"),
        failure=criteria.get("failure"),
        command_vectors=command_vectors,
        computed_commands=computed,
        extra_groups={
            group: [o for o in terms if o] for group, terms in observed.items() if group != "policy" and terms
        },
    )


def command_layout(spec: Spec) -> tuple[tuple[str, ...], dict[str, tuple[int, tuple[str, ...]]]]:
    """The commands vector: ranges, categorical, targets (one entry per component, named
    `<target>.<component>`), computed; and each target's first index and component names."""
    names = [*spec.commands.ranges, *spec.commands.categorical]
    vectors: dict[str, tuple[int, tuple[str, ...]]] = {}
    for name, target in spec.commands.targets.items():
        components = WXYZ if target.is_orientation else XYZ
        vectors[name] = (len(names), components)
        names.extend(f"{name}.{c}" for c in components)
    names.extend(spec.commands.computed)
    return tuple(names), vectors


__all__ = ["CheckedTask", "check_task"]
