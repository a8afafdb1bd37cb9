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
from specc.expr.signals import FRAME_SIGNALS, TERM_NAMESPACE, VALUE_NAMESPACE, WXYZ, XYZ
from specc.expr.types import Type
from specc.model.urdf import Joint, Urdf
from specc.robot.kinematics import PlacedSolid, overlap_with_primitive, placed_solids
from specc.robot.resolve import resolve_uri
from specc.robot.urdf import UrdfError, read_urdf
from specc.spec.load import OverrideError, SpecDocument, load_spec, profile_note
from specc.spec.positions import KeyPath
from specc.spec.schema import OBSERVATION_GROUPS, SceneObject, Spec
from specc.untrusted_files import escapes_folder

# All expressions of one spec together: parsing costs ~10 us a character, so this bounds lint's time
# on a hostile 1 MB spec (a real spec's expressions add up to a few kilobytes).
MAX_SPEC_EXPRESSION_CHARS = 32_768


@dataclass(frozen=True)
class CheckedTerm:
    section: str  # values | observations | rewards | terminations | eval | commands
    name: str
    source: str
    checked: Checked
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


@dataclass(frozen=True)
class FrameModel:
    """A named frame: a body of the model (robot link or object) and a fixed offset in its frame."""

    body: str
    offset: tuple[float, float, float]
    quat: tuple[float, float, float, float]  # w first


@dataclass
class SceneModel:
    """Objects, named frames (each object is one too, by its name) and contact pairs, checked."""

    objects: dict[str, SceneObject]
    frames: dict[str, FrameModel]
    pairs: dict[str, tuple[str, str]]  # name -> (body, other): model body names
    urdfs: dict[str, Urdf] = field(default_factory=dict)  # [scene.urdfs], read; links are <name>/<link>

    def group_body(self, name: str) -> str | None:
        """The body a `contact_force[<name>]` of an object or a frame reads."""
        frame = self.frames.get(name)
        return frame.body if frame else None


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
    warnings: list[str] = field(default_factory=list)
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
    if not _within_expression_budget(document, spec, sink):
        return None
    robot = _check_robot(document, spec, sink, within)
    command_names, command_vectors = command_layout(spec)
    if robot is None:
        return None
    scene = _check_scene(document, spec, robot, sink, within)
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
    _check_terrain(document, spec, sink)
    values = _check_values(document, sink, base_ctx, spec.values)
    base_ctx = dataclasses.replace(base_ctx, value_types={v.name: v.checked.type for v in values})
    computed = _check_computed_commands(document, sink, base_ctx, spec.commands.computed, values)
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
        {n: (t.expr, {}) for n, t in spec.rewards.terms.items()},
    )
    terminations = _check_section(
        document,
        sink,
        base_ctx,
        "terminations",
        {n: (t.expr, {}) for n, t in spec.terminations.terms.items()},
    )
    curriculum = [
        _check_term(document, sink, base_ctx, "curriculum", name, source, ("terrain", "curriculum", name))
        for name, source in curriculum_rule(spec, command_names).items()
    ]
    criteria = {
        name: _check_term(document, sink, base_ctx, "eval", name, source, ("eval", name))
        for name, source in (("success", spec.eval.success), ("failure", spec.eval.failure))
        if source is not None
    }
    if _failed(document, sink):
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


# -- terrain ----------------------------------------------------------------------------------------
# The heightfield's bounds: MuJoCo keeps it as float32, the CPU backend once per env (one model
# copy each), MuJoCo Warp and the height sampler once on the device.
MAX_HEIGHTFIELD_POINTS = 1 << 24  # 64 MiB of heights
CPU_HEIGHTFIELD_BUDGET_BYTES = 2 << 30  # all per-env copies of the CPU backend together
MAX_SCAN_POINTS = 4096


def heightfield_points(spec: Spec) -> tuple[int, int]:
    """(nx, ny) of the heightfield of spec's tiles (runtime/terrain.py's grid_shape, without numpy)."""
    t = spec.terrain
    tile_x = max(1, round(t.tile_size[0] / t.horizontal_scale))
    tile_y = max(1, round(t.tile_size[1] / t.horizontal_scale))
    border = round(t.border / t.horizontal_scale)
    return t.rows * tile_x + 2 * border, t.cols * tile_y + 2 * border


def curriculum_rule(spec: Spec, command_names: tuple[str, ...]) -> dict[str, str]:
    """The promote and demote expressions: the spec's, or legged_gym's rule written with its numbers.

    legged_gym moves an env up when it walked more than half a tile from its start, and down when it
    walked less than half the distance its commanded xy speed asks for over a whole episode.
    """
    t = spec.terrain
    if t.type != "tiles" or not t.curriculum.enabled:
        return {}
    walked = "norm(base_pos.xy - episode_start_pos.xy)"
    promote = t.curriculum.promote or f"{walked} > {t.tile_size[0] / 2!r}"
    speeds = [f"square(commands.{c})" for c in ("lin_vel_x", "lin_vel_y") if c in command_names]
    default_demote = (
        f"{walked} < {0.5 * spec.sim.episode_length_s!r} * sqrt({' + '.join(speeds)})" if speeds else "false"
    )
    return {"promote": promote, "demote": t.curriculum.demote or default_demote}


def _check_terrain(document: SpecDocument, spec: Spec, sink: DiagnosticSink) -> None:
    """What the schema cannot see alone: the heightfield's size, the scan against a tile, the tile's parts."""
    t = spec.terrain
    scan = t.height_scan
    if scan is not None:
        count = scan.shape[0] * scan.shape[1]
        if count > MAX_SCAN_POINTS:
            document.report(
                sink,
                "SPC104",
                f"the height scan has {count} points, more than {MAX_SCAN_POINTS}",
                ("terrain", "height_scan", "resolution"),
                fix="raise terrain.height_scan.resolution or shrink x / y",
            )
        if t.type == "tiles":
            for axis, extent, side, what in (
                ("x", scan.x, t.tile_size[0], "length"),
                ("y", scan.y, t.tile_size[1], "width"),
            ):
                if extent[1] - extent[0] > side:
                    document.report(
                        sink,
                        "SPC104",
                        f"the height scan spans {extent[1] - extent[0]:g} m along {axis}, more than the "
                        f"tile {what} ({side:g} m): it would read the neighbouring tiles",
                        ("terrain", "height_scan", axis),
                        fix=f"shrink terrain.height_scan.{axis} or enlarge terrain.tile_size",
                    )
    if t.type != "tiles":
        return
    nx, ny = heightfield_points(spec)
    if nx * ny > MAX_HEIGHTFIELD_POINTS:
        document.report(
            sink,
            "SPC104",
            f"the terrain's heightfield has {nx} x {ny} = {nx * ny} points, more than "
            f"{MAX_HEIGHTFIELD_POINTS} ({MAX_HEIGHTFIELD_POINTS * 4 >> 20} MiB)",
            ("terrain", "horizontal_scale"),
            fix="raise terrain.horizontal_scale, or use fewer rows / cols or a narrower border",
        )
    elif spec.sim.backend == "mujoco" and nx * ny * 4 * spec.sim.num_envs > CPU_HEIGHTFIELD_BUDGET_BYTES:
        total = nx * ny * 4 * spec.sim.num_envs
        document.report(
            sink,
            "SPC104",
            f"the mujoco backend keeps one model per env: {spec.sim.num_envs} envs x {nx * ny * 4 >> 20} MiB "
            f"of heightfield = {total / (1 << 30):.1f} GiB, more than {CPU_HEIGHTFIELD_BUDGET_BYTES >> 30} GiB",
            ("terrain", "rows"),
            fix="use fewer rows / cols, a narrower border or a coarser horizontal_scale on the CPU "
            "([profile.cpu]), or fewer envs",
        )
    platform = t.difficulty.platform_size
    if platform > min(t.tile_size):
        document.report(
            sink,
            "SPC104",
            f"the start platform ({platform:g} m) is larger than a tile ({min(t.tile_size):g} m)",
            ("terrain", "difficulty", "platform_size"),
            fix="shrink terrain.difficulty.platform_size",
        )
    for name in ("step_height", "obstacle_height", "rough_height", "wave_amplitude"):
        low, high = getattr(t.difficulty, name)
        if 0 < max(low, high) < t.vertical_scale:
            document.report(
                sink,
                "SPC104",
                f"terrain.difficulty.{name} ({max(low, high):g} m) is below terrain.vertical_scale "
                f"({t.vertical_scale:g} m): its heights would round to zero",
                ("terrain", "difficulty", name),
                fix="lower terrain.vertical_scale",
            )
    stone = min(t.difficulty.stone_size)
    if t.proportions.get("stepping_stones", 0) > 0 and stone < 2 * t.horizontal_scale:
        document.report(
            sink,
            "SPC104",
            f"stepping stones of {stone:g} m are smaller than two heightfield cells "
            f"({2 * t.horizontal_scale:g} m)",
            ("terrain", "difficulty", "stone_size"),
            fix="raise terrain.difficulty.stone_size or lower terrain.horizontal_scale",
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


def _check_computed_commands(
    document, sink, ctx: Context, computed: dict[str, str], values: list[CheckedTerm]
) -> list[CheckedTerm]:
    """Computed commands: one number per env each, read from the state, never from computed commands
    (the generated module computes them all at once, before anything reads them)."""
    reads_through_values = {v.name: set(v.checked.commands_read) for v in values}
    for value in values:  # values come in dependency order: fold in what the values they read read
        for name in value.checked.values_read:
            reads_through_values[value.name] |= reads_through_values.get(name, set())
    out = []
    for name, source in computed.items():
        path = ("commands", "computed", name)
        term = _check_term(document, sink, ctx, "commands", name, source, path)
        if term is None:
            continue
        reads = set(term.checked.commands_read)
        for read in term.checked.values_read:
            reads |= reads_through_values.get(read, set())
        circular = sorted(r for r in reads if r in computed or r == "*")
        if circular:
            what = "the whole commands vector" if "*" in circular else f"commands.{circular[0]}"
            _report(
                document,
                sink,
                path,
                term.checked.root.span,
                "SPC218",
                f"computed command '{name}' reads {what}, which is (or includes) a computed command",
                "read sampled commands and signals only, e.g. commands.heading",
            )
            continue
        out.append(term)
    return out


def _within_expression_budget(document: SpecDocument, spec: Spec, sink: DiagnosticSink) -> bool:
    """Whether the spec's expressions fit MAX_SPEC_EXPRESSION_CHARS; if not, a diagnostic where they stop fitting."""
    total = 0
    located: list[tuple[KeyPath, str]] = [
        (("observations", i, "expr"), term.expr) for i, term in enumerate(spec.observations)
    ]
    located += [(("rewards", "terms", n, "expr"), t.expr) for n, t in spec.rewards.terms.items()]
    located += [(("terminations", "terms", n, "expr"), t.expr) for n, t in spec.terminations.terms.items()]
    rule = spec.terrain.curriculum
    located += [
        (("terrain", "curriculum", n), e)
        for n, e in (("promote", rule.promote), ("demote", rule.demote))
        if e
    ]
    located += [(("values", n), source) for n, source in spec.values.items()]
    located += [(("commands", "computed", n), source) for n, source in spec.commands.computed.items()]
    located += [(("eval", n), getattr(spec.eval, n)) for n in ("success", "failure") if getattr(spec.eval, n)]
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
    urdf = _read_urdf(document, spec, sink, spec.robot.urdf, ("robot", "urdf"), within)
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
    if missing and not _failed(document, sink):  # an unmatched pattern above is the likelier cause
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
                guess = _closest(pattern, links)
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
    if _failed(document, sink):
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
    if _failed(document, sink):
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


def _read_urdf(
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


# -- scene and frames -------------------------------------------------------------------------------
def _check_scene(
    document: SpecDocument, spec: Spec, robot: RobotModel, sink: DiagnosticSink, within: Path | None = None
) -> SceneModel | None:
    """Objects (names unique, above the ground), scene URDFs (readable; their links are bodies
    `<name>/<link>`), frames (on a link, a scene URDF's link or an object) and contact pairs."""
    positions = document.positions
    links = list(robot.urdf.links)
    objects = dict(spec.scene.objects)
    frames: dict[str, FrameModel] = {}
    urdfs: dict[str, Urdf] = {}
    for name, entry in spec.scene.urdfs.items():
        if name in objects or name in links or name in spec.frames or name in robot.body_groups:
            document.report(
                sink,
                "SPC404",
                f"scene URDF '{name}' has the name of an object, a link, a frame or a body group",
                ("scene", "urdfs", name),
                key=True,
                fix="rename it",
            )
        urdf = _read_urdf(document, spec, sink, entry.urdf, ("scene", "urdfs", name, "urdf"), within)
        if urdf is not None:
            urdfs[name] = urdf
    scene_links = [f"{name}/{link}" for name, urdf in urdfs.items() for link in urdf.links]
    joint_pos = {j.name: d for j, d in zip(robot.joints, robot.default_joint_pos)} | robot.locked
    solids: list[PlacedSolid] | None = None
    for name, obj in objects.items():
        where = ("scene", "objects", name)
        if name in links or name in spec.frames or name in robot.body_groups:
            sink.add(
                "SPC404",
                f"object '{name}' has the name of a link, a frame or a body group",
                positions.key(where),
                fix="rename the object",
            )
        lowest = obj.position[2] + obj.position_range[2][0] - obj.half_height
        if lowest < -1e-6:
            sink.add(
                "SPC402",
                f"object '{name}' can spawn {-lowest:.3g} m below the ground (centre z {obj.position[2]}"
                f"{obj.position_range[2][0]:+g}, half height {obj.half_height:g})",
                positions.value(where + ("position",)),
                fix=f"raise position z to at least {obj.half_height - obj.position_range[2][0]:g}",
            )
        if lowest >= -1e-6:
            if solids is None:  # the robot's collision geometry at its default pose, placed once
                solids = placed_solids(robot.urdf, joint_pos, spec.robot.init_height)
            _check_object_clear_of_robot(name, obj, spec, solids, document, sink)
        frames[name] = FrameModel(name, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    if len(urdfs) < len(spec.scene.urdfs):
        return None  # frames on the links of a URDF that could not be read would only repeat its error
    for name, frame in spec.frames.items():
        if frame.body not in links and frame.body not in objects and frame.body not in scene_links:
            guess = _closest(frame.body, [*links, *objects, *scene_links])
            sink.add(
                "SPC401",
                f"frame '{name}' is attached to '{frame.body}', which is no link of "
                f"{robot.urdf.path.name}{', no scene URDF link' if urdfs else ''} and no object",
                positions.value(("frames", name, "body")),
                fix=f"did you mean '{guess}'?"
                if guess
                else "name a robot link, a scene URDF's link (<name>/<link>) or a [scene.objects] entry",
            )
            continue
        frames[name] = FrameModel(frame.body, frame.offset, quat_from_rpy(frame.rpy))
    pairs: dict[str, tuple[str, str]] = {}
    for name, pair in spec.scene.contacts.items():
        if name in frames or name in robot.body_groups:
            document.report(
                sink,
                "SPC404",
                f"contact pair '{name}' has the name of a frame or a body group",
                ("scene", "contacts", name),
                key=True,
                fix="rename the pair",
            )
        bodies = []
        for key in ("body", "other"):
            target = getattr(pair, key)
            if target not in frames:
                guess = _closest(target, list(frames))
                sink.add(
                    "SPC401",
                    f"'{target}' is no frame or object",
                    positions.value(("scene", "contacts", name, key)),
                    fix=f"did you mean '{guess}'?" if guess else "declare it in [frames] or [scene.objects]",
                )
            else:
                bodies.append(frames[target].body)
        if len(bodies) == 2:
            pairs[name] = (bodies[0], bodies[1])
    if sink.has_errors:
        return None
    return SceneModel(objects, frames, pairs, urdfs)


def _check_object_clear_of_robot(
    name: str,
    obj: SceneObject,
    spec: Spec,
    solids: list[PlacedSolid],
    document: SpecDocument,
    sink: DiagnosticSink,
) -> None:
    """Report an object whose nominal pose (at its largest size) is inside the robot's default pose."""
    scale = obj.size_scale[1] if obj.size_scale and spec.randomization.enabled else 1.0
    x, y, z = obj.position
    center = (x, y, z + (scale - 1.0) * obj.half_height)  # raised as the reset raises a scaled object
    overlap = overlap_with_primitive(solids, obj.shape, tuple(v * scale for v in obj.size), center)
    if overlap is not None:
        largest = " at its largest size" if scale != 1.0 else ""
        document.report(
            sink,
            "SPC403",
            f"object '{name}' spawns inside the robot{largest}: link '{overlap.link}' reaches at least "
            f"{overlap.depth * 1000:.0f} mm into it in the default pose",
            ("scene", "objects", name, "position"),
            fix="move the object clear of the robot",
        )


def quat_from_rpy(rpy) -> tuple[float, float, float, float]:
    """Fixed-axis roll-pitch-yaw (R = Rz Ry Rx) as a w-first quaternion."""
    import math

    r, p, y = (a / 2 for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


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


def _listed(names, patterns, path: KeyPath, document: SpecDocument, sink: DiagnosticSink) -> set[str]:
    """The joints a list of patterns names (robot.locked, robot.passive); reports patterns matching nothing."""
    hits: set[str] = set()
    for index, pattern in enumerate(patterns):
        matched = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        if not matched:
            guess = _closest(pattern, names)
            sink.add(
                "SPC303",
                f"'{pattern}' matches no movable joint",
                document.positions.value(path + (index,)),
                fix=f"did you mean '{guess}'?" if guess else f"joints: {', '.join(names)}",
            )
        hits |= matched
    return hits


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
        ctx = dataclasses.replace(base_ctx, term_types=types, term_section=section)  # types: not copied
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


def _value_refs(node: ast.Node) -> list[tuple[str, ast.Span]]:
    """The `value.<name>` references of an expression, with the span of each name."""
    refs: list[tuple[str, ast.Span]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if (
            isinstance(current, ast.Component)
            and isinstance(current.base, ast.Name)
            and current.base.name == VALUE_NAMESPACE
        ):
            refs.append((current.name, current.name_span))
        stack.extend(ast.children(current))
    return refs


def _dependency_order(
    document: SpecDocument, sink: DiagnosticSink, section: str, parsed: dict[str, ast.Node]
) -> tuple[list[str], set[str]]:
    """Terms in dependency order, and the terms in a cycle (each cycle reported once, at the reference).

    The order is `dependency_order`'s (the one iterative search, shared with [values]).
    """
    order, cycles = dependency_order({name: _term_refs(node) for name, node in parsed.items()})
    broken: set[str] = set()  # in a cycle, or reading a term that failed: reported once, not checked
    for name, span, cycle in cycles:
        _report(
            document,
            sink,
            (section, "terms", name, "expr"),
            span,
            "SPC213",
            f"terms read each other in a cycle: {' -> '.join([*_shorten(cycle[:-1]), cycle[-1]])}",
            None,
        )
        broken.update(cycle[:-1])
    return order, broken


def _shorten(cycle: list[str], keep: int = 8) -> list[str]:
    """A long cycle as its first and last names around an ellipsis: a message, not a dump."""
    return cycle if len(cycle) <= keep else [*cycle[: keep // 2], "...", *cycle[-keep // 2 :]]


def dependency_order(
    reads: dict[str, list[tuple[str, ast.Span]]],
) -> tuple[list[str], list[tuple[str, ast.Span, list[str]]]]:
    """Names ordered so that each comes after the names it reads, and the cycles met on the way.

    A depth-first search with an explicit stack (a spec's chain of references can be as long as
    the spec: no recursion limit to hit). Each cycle is (the name whose reference closes it,
    that reference's span, the cycle from the name read back to itself). References to names
    outside `reads` are left to the checker.
    """
    order: list[str] = []
    state: dict[str, str] = {}
    cycles: list[tuple[str, ast.Span, list[str]]] = []
    for root in reads:
        if root in state:
            continue
        state[root] = "active"
        path = [root]
        stack = [iter(reads[root])]
        while stack:
            for ref, span in stack[-1]:
                if ref not in reads or state.get(ref) == "done":
                    continue
                if state.get(ref) == "active":
                    cycles.append((path[-1], span, [*path[path.index(ref) :], ref]))
                    continue
                state[ref] = "active"
                path.append(ref)
                stack.append(iter(reads[ref]))
                break
            else:
                stack.pop()
                name = path.pop()
                state[name] = "done"
                order.append(name)
    return order, cycles


def _check_values(document, sink, base_ctx: Context, values: dict[str, str]) -> list[CheckedTerm]:
    """Check [values] in dependency order: each value sees the values it reads, never itself."""
    parsed: dict[str, ast.Node] = {}
    for name, source in values.items():
        node = _parse(document, sink, source, ("values", name))
        if node is not None:
            parsed[name] = node
    reads = {name: _value_refs(node) for name, node in parsed.items()}
    order, cycles = dependency_order(reads)
    broken: set[str] = set()
    for name, span, cycle in cycles:
        _report(
            document,
            sink,
            ("values", name),
            span,
            "SPC217",
            f"values read each other in a cycle: {' -> '.join(cycle)}",
            None,
        )
        broken.update(cycle)
    out: list[CheckedTerm] = []
    types: dict[str, Type] = {}
    for name in order:
        if name in broken:
            continue
        ctx = dataclasses.replace(base_ctx, value_types=types)  # not copied: holds only values checked so far
        term = _check_term(
            document, sink, ctx, "values", name, values[name], ("values", name), node=parsed[name]
        )
        if term is not None:
            types[name] = term.checked.type
            out.append(term)
    return out


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
    "curriculum": ("curriculum rule", "bool", True),
    "eval": ("eval criterion", "bool", True),
    "commands": ("computed command", "float", True),
}


def _result_problem(section: str, name: str, t: Type) -> tuple[str, str, str | None] | None:
    """Why a term's value does not fit its section (reward: a number per env, termination: a boolean
    per env, observation: a number or a vector per env); None when it fits."""
    if section not in SECTION_RESULTS:  # a named value may be anything but empty
        return ("SPC209", f"value '{name}' has size zero", None) if 0 in t.shape else None
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
