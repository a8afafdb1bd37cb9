"""The task spec: one pydantic model per TOML table.

Every model forbids unknown keys, every name that can reach generated code is an
identifier checked here, and every range is checked for order and physical sign.
Every number is finite (no nan or inf, also inside arrays and tables), booleans are
never numbers nor numbers booleans, integers are never taken from floats, and each
field carries its physical bounds where it is declared: a value that passes here
cannot make a run crash, hang or train on garbage. Rules that relate two fields
raise `cross_field` errors that name the field to point at (`at`) and the fields
they read (`involves`), so diagnostics and profile overrides land on the right line.
Defaults of `[ppo]` are rsl_rl's; defaults elsewhere follow legged_gym's ANYmal C
flat-ground task, which is also the task of the Isaac Gym chapter.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic import Strict as StrictType
from pydantic_core import PydanticCustomError

from specc.diagnostics import suggest
from specc.model.backends import BackendName

IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]{0,63}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
# Joint and link names as URDF allows them, plus glob wildcards: * ? [ ] and '!' inside brackets.
NamePattern = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-*?\[\]!/]{1,128}$")]

# Words of the expression grammar: `term.<name>` could not name a term called like them.
RESERVED_NAMES = frozenset({"true", "false", "and", "or", "not"})


def _not_keyword(name: str) -> str:
    if name in RESERVED_NAMES:
        raise ValueError(f"'{name}' is a reserved word; choose another name")
    return name


Name = Annotated[Identifier, AfterValidator(_not_keyword)]


# Numbers as TOML writes them: a float field takes an integer (`dt = 1`), never a boolean; an
# integer field takes only an integer (`decimation = 4.0` and `num_mini_batches = 1e9` are errors).
Real = Annotated[float, StrictType()]
Integer = Annotated[int, StrictType()]
Flag = Annotated[bool, StrictType()]


def _ordered(low_min: float | None = None, low_exclusive: bool = False) -> AfterValidator:
    """Checks a [low, high] pair: low <= high, and low >= low_min (> when exclusive)."""

    def check(value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f"range is reversed: low {low} > high {high}; write [{high}, {low}]")
        if low_min is not None and (low < low_min or (low_exclusive and low <= low_min)):
            bound = ">" if low_exclusive else ">="
            raise ValueError(f"range must be {bound} {low_min} (a physical quantity); got low {low}")
        return value

    return AfterValidator(check)


# Finite floats within bounds, for elements of arrays and tables (fields declare their own bounds).
Real1e3 = Annotated[float, StrictType(), Field(ge=-1e3, le=1e3)]
Real100 = Annotated[float, StrictType(), Field(ge=-100.0, le=100.0)]
Real0To10 = Annotated[float, StrictType(), Field(ge=0.0, le=10.0)]
Real0To100 = Annotated[float, StrictType(), Field(ge=0.0, le=100.0)]
Real0To1e4 = Annotated[float, StrictType(), Field(ge=0.0, le=1e4)]
Real0To1 = Annotated[float, StrictType(), Field(ge=0.0, le=1.0)]

# [low, high] pairs of those, low <= high; unsigned ranges also keep low at or above the lower bound.
Range = Annotated[tuple[Real1e3, Real1e3], _ordered()]  # commands: m/s, rad/s, ids; added mass [kg]
NonNegativeRange = Annotated[tuple[Real0To1e4, Real0To1e4], _ordered(0.0)]
ScaleRange = Annotated[tuple[Real0To100, Real0To100], _ordered(0.0, low_exclusive=True)]
UnitRange = Annotated[tuple[Real0To10, Real0To10], _ordered(0.0)]  # friction, reset scales
PositiveUnitRange = Annotated[tuple[Real0To10, Real0To10], _ordered(0.0, low_exclusive=True)]
LatencyRange = Annotated[tuple[Real0To1, Real0To1], _ordered(0.0)]


def cross_field(
    at: tuple[str | int, ...], message: str, *involves: tuple[str | int, ...], fix: str | None = None
) -> PydanticCustomError:
    """An error of a rule between fields: reported at `at`; `involves` are the other fields it reads;
    `fix` is the diagnostic's fix when the rule knows one (a did-you-mean)."""
    return PydanticCustomError(
        "cross_field",
        message.replace("{", "(").replace("}", ")"),
        {"at": at, "involves": involves, "fix": fix},
    )


DEVICE_PATTERN = r"^(cpu|cuda(:\d+)?)$"  # a torch device: cpu, cuda or cuda:N


def upper_bound(model: type[BaseModel], name: str) -> float:
    """The `le` bound a field declares: command-line options take their ranges from here."""
    for constraint in model.model_fields[name].metadata:
        bound = getattr(constraint, "le", None)
        if bound is not None:
            return bound
    raise LookupError(f"{model.__name__}.{name} declares no upper bound")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TaskSection(Strict):
    name: Name = Field(description="Identifier of the task; runs are stored under runs/<name>/.")
    description: str = Field("", max_length=2000, description="What the task trains, for people.")


class JointGains(Strict):
    stiffness: Real = Field(ge=0, le=1e5, description="PD stiffness kp [N·m/rad].")
    damping: Real = Field(ge=0, le=1e4, description="PD damping kd [N·m·s/rad].")
    effort: Real | None = Field(None, gt=0, le=1e5, description="Torque limit [N·m]; the URDF's when absent.")
    scale: Real | None = Field(
        None,
        gt=0,
        le=100.0,
        description="Action scale of these joints [rad per unit action]; robot.action_scale when absent.",
    )


class TorqueActuator(Strict):
    """An effort actuator: torque = scale × action, clipped to ±effort."""

    scale: Real = Field(gt=0, le=1e5, description="Torque per unit action [N·m or N].")
    effort: Real | None = Field(
        None, gt=0, le=1e5, description="Torque limit [N·m or N]; the URDF's when absent."
    )


class RobotSection(Strict):
    urdf: str = Field(
        max_length=512,
        description="A path relative to the spec, or package://<package>/<path> resolved against installed packages.",
    )
    base: NamePattern = Field(description="The floating-base link.")
    feet: list[NamePattern] = Field(default_factory=list, description="Foot links (the `feet` body group).")
    terminate_contacts: list[NamePattern] = Field(
        default_factory=list,
        description="Links whose contact ends an episode (the `terminate_contacts` group).",
    )
    penalize_contacts: list[NamePattern] = Field(
        default_factory=list, description="Links whose contact is penalized (the `penalize_contacts` group)."
    )
    init_height: Real = Field(gt=0, le=10.0, description="Initial base height above the ground [m].")
    default_joint_pos: dict[NamePattern, Real100] = Field(
        default_factory=dict,
        description="Default joint positions [rad or m] by joint name or glob pattern; later entries win. "
        "Each must lie within the joint's URDF limits.",
    )
    reset_joint_pos_scale: UnitRange = Field(
        (1.0, 1.0),
        description="A reset draws each joint's position as default × U(low, high) + U(-noise, noise), "
        "clamped into the joint's URDF limits. legged_gym draws [0.5, 1.5].",
    )
    reset_joint_pos_noise: Real = Field(
        0.0, ge=0, le=10.0, description="Additive uniform reset noise of each joint position [rad or m]."
    )
    pd: dict[NamePattern, JointGains] = Field(
        default_factory=dict,
        description="Position (PD) actuators: gains by joint name or glob pattern; later entries win.",
    )
    torque: dict[NamePattern, TorqueActuator] = Field(
        default_factory=dict,
        description="Effort actuators by joint name or glob pattern: torque = scale × action; later entries win.",
    )
    locked: list[NamePattern] = Field(
        default_factory=list,
        description="Joints welded at their default position: not simulated, not in the action.",
    )
    passive: list[NamePattern] = Field(
        default_factory=list,
        description="Joints without an actuator: simulated (in joint_pos) but not in the action.",
    )
    reset_joint_offset: dict[NamePattern, Range] = Field(
        default_factory=dict,
        description="Uniform offset [low, high] added to these joints' positions at reset [rad or m].",
    )
    reset_joint_vel: dict[NamePattern, Range] = Field(
        default_factory=dict, description="Uniform joint velocity [low, high] at reset [rad/s or m/s]."
    )
    action_scale: Real = Field(
        0.5,
        gt=0,
        le=100.0,
        description="PD target = default + action_scale × action (a [robot.pd] entry's scale wins).",
    )
    self_collision: Flag = Field(False, description="Collide the robot's links with each other.")
    cylinders_as_capsules: Flag = Field(
        False,
        description="Collide the URDF's cylinders as capsules of the same radius and length (legged_gym's "
        "default; on MuJoCo Warp's heightfield it measured no faster, bench/README.md).",
    )
    fixed_base: Flag = Field(False, description="Weld the base link to the world (arms, cart-poles).")
    repair_inertia: Literal["none", "diagonal"] = Field(
        "none",
        description="How to repair a link inertia that is not physical: 'none' reports an error, "
        "'diagonal' keeps the principal moments made to satisfy the triangle inequality and says so.",
    )


Vector3 = tuple[Real1e3, Real1e3, Real1e3]
Range3 = tuple[Range, Range, Range]
UnitInterval = Real0To1
PositiveFloat = Annotated[float, StrictType(), Field(gt=0, le=1e4)]
NonNegativeFloat = Annotated[float, StrictType(), Field(ge=0, le=1e4)]


class SceneObject(Strict):
    """A primitive body beside the robot: fixed to the world, or free (6-DoF) and drawn per env at reset."""

    shape: Literal["box", "sphere", "cylinder", "capsule"] = Field(description="Primitive shape.")
    size: list[PositiveFloat] = Field(
        min_length=1,
        max_length=3,
        description="box: full extents [x, y, z]; sphere: [radius]; cylinder, capsule: [radius, length] [m].",
    )
    mass: PositiveFloat = Field(1.0, description="Mass [kg] (inertia from the shape, uniform density).")
    friction: NonNegativeFloat = Field(1.0, description="Sliding friction coefficient.")
    color: tuple[UnitInterval, UnitInterval, UnitInterval, UnitInterval] = Field(
        (0.8, 0.4, 0.1, 1.0), description="RGBA, each in [0, 1]."
    )
    fixed: Flag = Field(False, description="Welded to the world at `position` (no joint); else free.")
    position: Vector3 = Field(description="Nominal position of the centre in the world frame [m].")
    position_range: Range3 = Field(
        ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
        description="Free objects: offset [[xlo, xhi], [ylo, yhi], [zlo, zhi]] added at reset, per env [m].",
    )
    yaw_range: Range = Field((0.0, 0.0), description="Free objects: yaw drawn at reset [rad].")
    lin_vel_range: Range3 = Field(
        ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),
        description="Free objects: linear velocity drawn at reset [m/s].",
    )
    mass_scale: ScaleRange | None = Field(None, description="Randomization: scale of the mass (and inertia).")
    friction_range: NonNegativeRange | None = Field(None, description="Randomization: friction coefficient.")
    size_scale: ScaleRange | None = Field(
        None,
        description="Randomization of free objects: every dimension scaled by one draw (mass kept, inertia "
        "follows); the object is raised so its lowest point stays where the nominal object's is.",
    )

    @model_validator(mode="after")
    def _size_fits_shape(self) -> SceneObject:
        needed = {"box": 3, "sphere": 1, "cylinder": 2, "capsule": 2}[self.shape]
        if len(self.size) != needed:
            raise ValueError(
                f"a {self.shape} has {needed} size value{'s' if needed > 1 else ''}, not {len(self.size)}"
            )
        moving = self.position_range != ((0.0, 0.0),) * 3 or self.yaw_range != (0.0, 0.0)
        if self.fixed and (moving or self.lin_vel_range != ((0.0, 0.0),) * 3):
            raise ValueError("a fixed object has one pose: drop position_range, yaw_range and lin_vel_range")
        if self.fixed and self.size_scale is not None:
            raise cross_field(
                ("size_scale",), "a fixed object has one size: drop size_scale or make the object free"
            )
        return self

    @property
    def half_height(self) -> float:
        """Half its vertical extent when upright (cylinders and capsules stand on their axis)."""
        if self.shape == "box":
            return self.size[2] / 2
        if self.shape == "sphere":
            return self.size[0]
        return self.size[1] / 2 + (self.size[0] if self.shape == "capsule" else 0.0)


class ContactPair(Strict):
    """The net contact force on one named body from another (`contact_force[<pair name>]`)."""

    body: Name = Field(description="A frame or object name: the body the force acts on.")
    other: Name = Field(description="A frame or object name: the body that pushes.")


class SceneUrdf(Strict):
    """A second URDF beside the robot (a table, a cabinet): no actuators, its joints passive; its links
    are bodies named `<name>/<link>` that frames and contact pairs can name."""

    urdf: str = Field(
        max_length=512,
        description="A path relative to the spec, or package://<package>/<path> resolved against installed packages.",
    )
    position: Vector3 = Field(
        (0.0, 0.0, 0.0), description="Position of its root link in the world frame [m]."
    )
    rpy: Vector3 = Field(
        (0.0, 0.0, 0.0), description="Orientation of its root link (roll, pitch, yaw) [rad]."
    )
    fixed: Flag = Field(
        True, description="Root link welded to the world; else free (6-DoF), back at its pose at every reset."
    )


class SceneSection(Strict):
    objects: dict[Name, SceneObject] = Field(
        default_factory=dict, max_length=256, description="Primitive bodies by name (at most 256)."
    )
    urdfs: dict[Name, SceneUrdf] = Field(
        default_factory=dict,
        max_length=8,
        description="Further URDFs by name (e.g. a table); each link is a body named <name>/<link>.",
    )
    contacts: dict[Name, ContactPair] = Field(
        default_factory=dict, description="Contact forces between two named bodies, by name."
    )


class Frame(Strict):
    """A named frame: a robot link or an object, optionally with a fixed offset (a fingertip)."""

    body: NamePattern = Field(description="A robot link or a scene object.")
    offset: Vector3 = Field((0.0, 0.0, 0.0), description="Position in the body's frame [m].")
    rpy: Vector3 = Field(
        (0.0, 0.0, 0.0), description="Orientation in the body's frame (roll, pitch, yaw) [rad]."
    )


class SimSection(Strict):
    dt: Real = Field(0.005, gt=0, le=0.05, description="Physics step [s].")
    decimation: Integer = Field(4, ge=1, le=100, description="Physics steps per policy step.")
    num_envs: Integer = Field(4096, ge=1, le=1 << 22, description="Parallel environments.")
    episode_length_s: Real = Field(
        20.0, gt=0, le=3600.0, description="Episode length before a time-out [s]; at least one policy step."
    )
    backend: BackendName = Field("mujoco", description="Physics backend.")
    device: str = Field("cpu", pattern=DEVICE_PATTERN, description="Torch device of the runtime.")
    max_contacts_per_env: Integer | None = Field(
        None, ge=1, le=4096, description="GPU backends: contact buffer per env (default: from the model)."
    )
    max_constraints_per_env: Integer | None = Field(
        None, ge=1, le=65536, description="GPU backends: constraint rows per env (default: from contacts)."
    )

    @property
    def policy_dt(self) -> float:
        """The policy step [s]: physics steps per policy step times the physics step."""
        return self.dt * self.decimation

    @model_validator(mode="after")
    def _episode_at_least_one_step(self) -> SimSection:
        if self.episode_length_s < self.policy_dt:
            raise cross_field(
                ("episode_length_s",),
                f"an episode of {self.episode_length_s} s is shorter than one policy step "
                f"(dt × decimation = {self.policy_dt:g} s)",
                ("dt",),
                ("decimation",),
            )
        return self


class CategoricalCommand(Strict):
    choices: list[Name] = Field(
        min_length=1, max_length=256, description="Names of the categories, e.g. gaits."
    )
    values: dict[Name, list[Real1e3]] = Field(
        default_factory=dict,
        description="Per-choice value of other commands, e.g. lin_vel_x = [0.5, 1.5, 3.0].",
    )

    @model_validator(mode="after")
    def _one_value_per_choice(self) -> CategoricalCommand:
        for name, values in self.values.items():
            if len(values) != len(self.choices):
                raise cross_field(
                    ("values", name),
                    f"values.{name} has {len(values)} entries but there are {len(self.choices)} choices",
                    ("choices",),
                )
        return self


POSITION_AXES = ("x", "y", "z")
ORIENTATION_AXES = ("roll", "pitch", "yaw")


class TargetCommand(Strict):
    """A target drawn uniformly per env: a position (x, y, z ranges) or an orientation (roll, pitch,
    yaw ranges, z-y-x Euler angles). The spec reads it as one vector: `commands.<name>` is a 3-vector
    (x, y, z) or a quaternion (w, x, y, z), always in world coordinates."""

    frame: Literal["world", "base"] = Field(
        "world",
        description="'world': the ranges are world coordinates; 'base': they are in the robot base's frame "
        "at the moment of the draw (at reset: the base's initial pose), stored as world coordinates.",
    )
    x: Range | None = Field(None, description="Position range along x [m] (0 when absent).")
    y: Range | None = Field(None, description="Position range along y [m] (0 when absent).")
    z: Range | None = Field(None, description="Position range along z [m] (0 when absent).")
    roll: Range | None = Field(None, description="Orientation: roll range [rad] (0 when absent).")
    pitch: Range | None = Field(None, description="Orientation: pitch range [rad] (0 when absent).")
    yaw: Range | None = Field(None, description="Orientation: yaw range [rad] (0 when absent).")

    @model_validator(mode="after")
    def _position_or_orientation(self) -> TargetCommand:
        position = [a for a in POSITION_AXES if getattr(self, a) is not None]
        orientation = [a for a in ORIENTATION_AXES if getattr(self, a) is not None]
        if position and orientation:
            raise ValueError(
                "a target is a position (x, y, z) or an orientation (roll, pitch, yaw), not both; "
                "declare two targets"
            )
        if not position and not orientation:
            raise ValueError(
                "a target needs ranges: x, y, z for a position or roll, pitch, yaw for an orientation"
            )
        return self

    @property
    def is_orientation(self) -> bool:
        return any(getattr(self, a) is not None for a in ORIENTATION_AXES)

    def bounds(self) -> list[tuple[float, float]]:
        """The range of each axis in order (x, y, z or roll, pitch, yaw); an absent axis is [0, 0]."""
        axes = ORIENTATION_AXES if self.is_orientation else POSITION_AXES
        return [tuple(getattr(self, a) or (0.0, 0.0)) for a in axes]


class CommandsSection(Strict):
    resample: Literal["reset", "interval", "both"] = Field(
        "both",
        description="When commands are drawn: 'reset' at each episode's start (held for the episode), "
        "'interval' every resample_s of the episode (kept across resets), 'both'.",
    )
    resample_s: Real = Field(
        10.0, gt=0, le=3600.0, description="Commands are resampled every resample_s seconds."
    )
    ranges: dict[Name, Range] = Field(default_factory=dict, description="Uniform command ranges [low, high].")
    categorical: dict[Name, CategoricalCommand] = Field(
        default_factory=dict, description="Categorical commands (e.g. a gait id) and the values they set."
    )
    targets: dict[Name, TargetCommand] = Field(
        default_factory=dict,
        description="Target commands: positions or orientations drawn in a frame, read as vectors.",
    )
    computed: dict[Name, Annotated[str, StringConstraints(max_length=4000)]] = Field(
        default_factory=dict,
        description="Commands computed from the state each step by an expression (e.g. a yaw rate from a heading).",
    )

    @model_validator(mode="after")
    def _categorical_values_name_ranges(self) -> CommandsSection:
        for cat_name, cat in self.categorical.items():
            if cat_name in self.ranges:
                raise cross_field(
                    ("categorical", cat_name),
                    f"command '{cat_name}' is both a range and categorical",
                    ("ranges", cat_name),
                )
            for name in cat.values:
                if name not in self.ranges:
                    raise cross_field(
                        ("categorical", cat_name, "values", name),
                        f"categorical.{cat_name}.values.{name} sets a command that [commands.ranges] does not define",
                        ("ranges",),
                    )
        return self

    @model_validator(mode="after")
    def _names_unique(self) -> CommandsSection:
        seen: dict[str, str] = {}
        for kind in ("ranges", "categorical", "targets", "computed"):
            for name in getattr(self, kind):
                if name in seen and not (kind == "categorical" and seen[name] == "ranges"):
                    raise ValueError(f"command '{name}' is defined twice: in {seen[name]} and in {kind}")
                seen.setdefault(name, kind)
        return self


class ObservationTerm(Strict):
    name: Name = Field(description="Name of the term in the observation layout.")
    expr: str = Field(max_length=4000, description="Expression over the signal catalog.")
    scale: Real = Field(1.0, ge=-1e4, le=1e4, description="Multiplies the value.")
    clip: Real | None = Field(None, gt=0, le=1e6, description="Clip the scaled value to [-clip, clip].")
    noise: Real = Field(0.0, ge=0, le=1e3, description="Additive uniform noise amplitude, in scaled units.")


class RewardTerm(Strict):
    expr: str = Field(max_length=4000, description="Expression reducing to one number per env.")
    weight: Real = Field(ge=-1e4, le=1e4, description="Weight of the term in the total (|weight| <= 1e4).")


class RewardsSection(Strict):
    scale_by_dt: Flag = Field(True, description="Multiply every weight by the policy step (legged_gym does).")
    only_positive: Flag = Field(
        False, description="Clip the total at zero (legged_gym's only_positive_rewards)."
    )
    terms: dict[Name, RewardTerm] = Field(min_length=1, description="Named reward terms.")


class TerminationTerm(Strict):
    expr: str = Field(max_length=4000, description="Boolean expression; true ends the episode.")


class TerminationsSection(Strict):
    time_out: Flag = Field(True, description="End episodes after sim.episode_length_s (value bootstrapped).")
    terms: dict[Name, TerminationTerm] = Field(default_factory=dict, description="Named termination rules.")


class PushSection(Strict):
    interval_s: Real = Field(15.0, gt=0, le=3600.0, description="Push every env every interval_s seconds.")
    max_vel: Real = Field(
        1.0, ge=0, le=100.0, description="Pushes set a random base xy velocity up to this [m/s]."
    )


class RandomizationSection(Strict):
    enabled: Flag = Field(True, description="Master switch (eval can turn it off).")
    base_mass_add: Range | None = Field(None, description="Added base mass [kg].")
    link_mass_scale: ScaleRange | None = Field(None, description="Scale of every other link's mass.")
    friction: UnitRange | None = Field(None, description="Ground-contact friction coefficient.")
    motor_strength: PositiveUnitRange | None = Field(None, description="Scale of the PD torque.")
    joint_damping: NonNegativeRange | None = Field(None, description="Passive joint damping [N·m·s/rad].")
    latency_s: LatencyRange | None = Field(None, description="Control latency [s], rounded to physics steps.")
    observation_noise: Flag = Field(True, description="Apply the observation terms' noise.")
    push: PushSection | None = Field(None, description="Random pushes of the base.")


# -- terrain ----------------------------------------------------------------------------------------
# The tile types of `type = "tiles"`, in the order their proportions fill the columns.
TerrainType = Literal[
    "random_rough",
    "slope_up",
    "slope_down",
    "stairs_up",
    "stairs_down",
    "discrete_obstacles",
    "stepping_stones",
    "waves",
]
TERRAIN_TYPES: tuple[str, ...] = get_args(TerrainType)
# The tallest feature a tile may have [m]: beyond it a legged robot cannot walk and the heightfield's
# elevation range (and MuJoCo Warp's per-pair prism budget) is spent on cliffs.
MAX_FEATURE_HEIGHT_M = 2.0
Height = Annotated[float, StrictType(), Field(ge=0.0, le=MAX_FEATURE_HEIGHT_M)]
Slope = Annotated[float, StrictType(), Field(ge=0.0, le=1.5)]  # rise over run
Length = Annotated[float, StrictType(), Field(gt=0, le=100.0)]
# [at difficulty 0, at difficulty 1]: a tile of difficulty d uses the linear interpolation.
HeightScaling = tuple[Height, Height]
LengthScaling = tuple[Length, Length]


class TerrainDifficulty(Strict):
    """How each tile type grows from the easiest row (difficulty 0) to the hardest (difficulty 1).

    Each pair is [value at difficulty 0, value at difficulty 1]; row i of R has difficulty i / R,
    as in legged_gym, whose numbers are the defaults.
    """

    slope: tuple[Slope, Slope] = Field(
        (0.0, 0.4), description="Slopes: rise over run of the pyramid's faces."
    )
    step_height: HeightScaling = Field((0.05, 0.23), description="Stairs: height of one step [m].")
    step_width: Length = Field(0.31, description="Stairs: depth of one step [m].")
    obstacle_height: HeightScaling = Field(
        (0.05, 0.25), description="Discrete obstacles: the tallest block [m]."
    )
    rough_height: HeightScaling = Field(
        (0.02, 0.1), description="Random rough ground: peak-to-peak height of the noise [m]."
    )
    stone_size: LengthScaling = Field((1.5, 0.3), description="Stepping stones: side of one stone [m].")
    stone_gap: LengthScaling = Field((0.05, 0.2), description="Stepping stones: gap between stones [m].")
    pit_depth: Height = Field(1.0, description="Stepping stones: depth of the ground between stones [m].")
    wave_amplitude: HeightScaling = Field((0.0, 0.2), description="Waves: amplitude of the sine waves [m].")
    wave_length: Length = Field(2.0, description="Waves: wavelength [m].")
    platform_size: Length = Field(
        3.0, description="Side of the flat platform at each tile's centre, where robots start [m]."
    )


class TerrainCurriculum(Strict):
    """legged_gym's game-inspired curriculum with the rule written as expressions.

    At the end of each episode both rules are evaluated on the final state: `promote` moves the
    env one row (difficulty level) up, else `demote` moves it one down; an env promoted past the
    hardest row is sent to a random row.
    """

    enabled: Flag = Field(True, description="Move envs between rows; without it envs keep their first row.")
    promote: str | None = Field(
        None,
        max_length=4000,
        description="Boolean expression at the episode's end; default (legged_gym): walked more than half "
        "a tile, norm(base_pos.xy - episode_start_pos.xy) > tile_length / 2.",
    )
    demote: str | None = Field(
        None,
        max_length=4000,
        description="Boolean expression; default (legged_gym): walked less than half the commanded "
        "distance, norm(base_pos.xy - episode_start_pos.xy) < 0.5 * episode_length_s * |commanded xy speed|.",
    )
    max_init_level: Integer = Field(
        5, ge=0, le=1000, description="Envs start at a random row up to this one."
    )


Real50 = Annotated[float, StrictType(), Field(ge=-50.0, le=50.0)]
ScanExtent = Annotated[tuple[Real50, Real50], _ordered()]


class HeightScan(Strict):
    """The points of `height_scan`: a grid in the base's yaw frame (x forward, y left), centred on the base."""

    x: ScanExtent = Field((-0.8, 0.8), description="Extent along the heading [m].")
    y: ScanExtent = Field((-0.5, 0.5), description="Extent to the left [m].")
    resolution: Real = Field(0.1, ge=0.01, le=10.0, description="Grid spacing [m].")

    @property
    def shape(self) -> tuple[int, int]:
        """Points along x and along y (legged_gym's 17 x 11 = 187 by default)."""
        return _count(self.x, self.resolution), _count(self.y, self.resolution)

    @property
    def size(self) -> int:
        """Points of the scan: the `P` of the `height_scan` signal's shape."""
        nx, ny = self.shape
        return nx * ny

    def points(self) -> list[tuple[float, float]]:
        """The scan points, x-major: every y of the rearmost x first. Check `shape` before: it can be large."""
        nx, ny = self.shape
        xs = [round(self.x[0] + i * self.resolution, 9) for i in range(nx)]
        ys = [round(self.y[0] + i * self.resolution, 9) for i in range(ny)]
        return [(x, y) for x in xs for y in ys]


def _count(extent: tuple[float, float], step: float) -> int:
    return int(round((extent[1] - extent[0]) / step + 1e-9)) + 1


class TerrainSection(Strict):
    type: Literal["plane", "tiles"] = Field(
        "plane", description="'plane': flat ground; 'tiles': a generated heightfield of tiles."
    )
    seed: Integer = Field(0, ge=0, lt=1 << 32, description="The same seed gives the same heights.")
    tile_size: tuple[Length, Length] = Field(
        (8.0, 8.0), description="[length along x (rows), width along y (columns)] of one tile [m]."
    )
    rows: Integer = Field(
        10, ge=1, le=100, description="Difficulty levels, along x: row i has difficulty i / rows."
    )
    cols: Integer = Field(20, ge=1, le=200, description="Columns, along y; each holds one tile type.")
    border: Real = Field(5.0, ge=0, le=100.0, description="Flat ground around the tiles [m].")
    horizontal_scale: Real = Field(0.1, ge=0.01, le=1.0, description="Heightfield grid spacing [m].")
    vertical_scale: Real = Field(
        0.005, gt=0, le=0.1, description="Heights are rounded to multiples of this [m]."
    )
    proportions: dict[TerrainType, Real0To1e4] = Field(
        default_factory=lambda: {kind: 1.0 for kind in get_args(TerrainType)},
        description="Share of the columns of each tile type (normalized); default: all types alike.",
    )
    difficulty: TerrainDifficulty = TerrainDifficulty()
    curriculum: TerrainCurriculum = TerrainCurriculum()
    height_scan: HeightScan | None = Field(None, description="The points of the `height_scan` signal.")

    @model_validator(mode="after")
    def _some_proportion(self) -> TerrainSection:
        if self.type == "tiles" and not any(v > 0 for v in self.proportions.values()):
            raise cross_field(
                ("proportions",), "terrain.proportions gives every tile type zero share", ("type",)
            )
        return self


# Hidden layer widths of an MLP.
HiddenDims = list[Annotated[int, StrictType(), Field(ge=1, le=8192)]]


class PPOSection(Strict):
    """PPO as rsl_rl runs it; the defaults are rsl_rl's (and legged_gym's ANYmal C task's)."""

    num_steps_per_env: Integer = Field(24, ge=1, le=4096, description="Rollout length per iteration.")
    max_iterations: Integer = Field(1500, ge=1, le=10_000_000, description="Training iterations.")
    actor_hidden_dims: HiddenDims = Field(
        [512, 256, 128], min_length=1, max_length=16, description="Hidden layer sizes of the policy MLP."
    )
    critic_hidden_dims: HiddenDims = Field(
        [512, 256, 128], min_length=1, max_length=16, description="Hidden layer sizes of the value MLP."
    )
    activation: Literal["elu", "relu", "tanh"] = Field("elu", description="Activation of both MLPs.")
    init_noise_std: Real = Field(
        1.0, gt=0, le=100.0, description="Initial standard deviation of the Gaussian policy, per action."
    )
    learning_rate: Real = Field(1e-3, gt=0, le=1.0, description="Adam learning rate (the adaptive start).")
    schedule: Literal["adaptive", "fixed"] = Field(
        "adaptive", description="'adaptive' scales the learning rate to keep the KL near desired_kl."
    )
    desired_kl: Real = Field(
        0.01, gt=0, le=10.0, description="Target KL divergence per update of the adaptive schedule."
    )
    gamma: Real = Field(0.99, ge=0, le=1, description="Discount factor.")
    lam: Real = Field(0.95, ge=0, le=1, description="GAE lambda.")
    clip_param: Real = Field(0.2, gt=0, le=10.0, description="PPO's clip range of the probability ratio.")
    value_loss_coef: Real = Field(1.0, ge=0, le=1e3, description="Weight of the value loss.")
    use_clipped_value_loss: Flag = Field(
        True, description="Clip the value update to clip_param around the old value, as rsl_rl does."
    )
    entropy_coef: Real = Field(0.01, ge=0, le=10.0, description="Weight of the entropy bonus.")
    num_learning_epochs: Integer = Field(5, ge=1, le=1000, description="Passes over each rollout.")
    num_mini_batches: Integer = Field(
        4, ge=1, le=1 << 20, description="Mini-batches per epoch; at most num_envs × num_steps_per_env."
    )
    max_grad_norm: Real = Field(1.0, gt=0, le=1e3, description="Gradient norm clip.")
    empirical_normalization: Flag = Field(True, description="Normalize observations by running statistics.")
    save_interval: Integer = Field(
        50, ge=1, le=10_000_000, description="Checkpoint every save_interval iterations."
    )
    clip_actions: Real = Field(
        100.0, gt=0, le=1e3, description="Actions are clipped to [-clip_actions, clip_actions]."
    )


class AlgorithmSection(Strict):
    name: Literal["ppo", "sac"] = Field(
        "ppo",
        description="The learning algorithm: 'ppo' (on-policy, the [ppo] table) or 'sac' (off-policy, "
        "the [sac] table). A spec writes only the table of the algorithm it chooses.",
    )


class SACSection(Strict):
    """Soft actor-critic for thousands of parallel envs on one device, with the settings of fast
    massively parallel off-policy work (FastTD3 / FastSAC, Seo et al. 2025): large batches, several
    updates per env step, n-step returns, layer norm in the critics, fast target critics."""

    max_iterations: Integer = Field(1500, ge=1, le=10_000_000, description="Training iterations.")
    num_steps_per_env: Integer = Field(
        1, ge=1, le=4096, description="Env steps per iteration (each env adds one transition per step)."
    )
    updates_per_step: Integer = Field(
        2, ge=1, le=1024, description="Gradient updates per env step of all envs (the replay ratio)."
    )
    batch_size: Integer = Field(8192, ge=1, le=1 << 20, description="Transitions per gradient update.")
    buffer_size_per_env: Integer = Field(
        1024,
        ge=1,
        le=1 << 20,
        description="Replay capacity in steps of every env, preallocated on the device.",
    )
    learning_starts: Integer = Field(
        10, ge=0, le=1_000_000, description="Env steps with uniformly random actions before updates start."
    )
    actor_hidden_dims: HiddenDims = Field(
        [512, 256, 128], min_length=1, max_length=16, description="Hidden layer sizes of the policy MLP."
    )
    critic_hidden_dims: HiddenDims = Field(
        [768, 384, 192], min_length=1, max_length=16, description="Hidden layer sizes of each Q MLP."
    )
    activation: Literal["elu", "relu", "tanh"] = Field("relu", description="Activation of every MLP.")
    layer_norm: Flag = Field(True, description="Layer norm after each hidden layer of the critics.")
    actor_learning_rate: Real = Field(3e-4, gt=0, le=1.0, description="Adam learning rate of the policy.")
    critic_learning_rate: Real = Field(3e-4, gt=0, le=1.0, description="Adam learning rate of the critics.")
    alpha_learning_rate: Real = Field(
        3e-4, gt=0, le=1.0, description="Adam learning rate of the log entropy temperature."
    )
    gamma: Real = Field(
        0.99,
        ge=0,
        le=1,
        description="Discount factor; its horizon 1 / (1 - gamma) policy steps must span the task's "
        "slowest failure (0.97 is 0.66 s at 50 Hz: too short for a cart that drifts off its rail).",
    )
    n_step: Integer = Field(
        3, ge=1, le=64, description="Steps of reward summed in the Q target (stopped at an episode's end)."
    )
    tau: Real = Field(
        0.1,
        gt=0,
        le=1,
        description="Polyak rate of the target critics per update; FastTD3's 0.1, not the 0.005 of "
        "one-env SAC, whose slow targets bootstrap values too slowly for a few thousand updates.",
    )
    init_alpha: Real = Field(0.01, gt=0, le=100.0, description="Initial entropy temperature.")
    target_entropy_per_action: Real = Field(
        -0.5,
        ge=-100.0,
        le=100.0,
        description="Target entropy per action dimension of the automatic temperature (SAC's is -1).",
    )
    action_bound: Real = Field(
        1.0, gt=0, le=1e3, description="Actions are action_bound × tanh(Gaussian): the squashed range."
    )
    reward_scale: Real = Field(
        1.0,
        gt=0,
        le=1e4,
        description="Multiplies rewards in the Q targets: keeps Q values near 1 when rewards are scaled "
        "by the policy dt (the temperature is relative to them).",
    )
    policy_frequency: Integer = Field(
        1,
        ge=1,
        le=64,
        description="Actor and temperature updates once every policy_frequency critic updates.",
    )
    max_grad_norm: Real = Field(0.0, ge=0, le=1e3, description="Clip gradient norms (0: no clipping).")
    empirical_normalization: Flag = Field(True, description="Normalize observations by running statistics.")
    save_interval: Integer = Field(
        50, ge=1, le=10_000_000, description="Checkpoint every save_interval iterations."
    )
    clip_actions: Real = Field(
        100.0, gt=0, le=1e3, description="Actions are clipped to [-clip_actions, clip_actions]."
    )

    @model_validator(mode="after")
    def _n_steps_fit_the_buffer(self) -> SACSection:
        if self.n_step > self.buffer_size_per_env:
            raise cross_field(
                ("n_step",),
                f"a {self.n_step}-step return needs {self.n_step} steps of every env in the replay buffer, "
                f"which holds {self.buffer_size_per_env}",
                ("buffer_size_per_env",),
            )
        return self


class DistillSection(Strict):
    """Teacher-student distillation (`specc distill SPEC --teacher CKPT`, DAgger): the student acts,
    the teacher labels the states it visits, the student regresses the teacher's mean actions."""

    student_hidden_dims: HiddenDims = Field(
        [128], min_length=1, max_length=16, description="Hidden layer sizes of the student's MLP."
    )
    activation: Literal["elu", "relu", "tanh"] = Field("elu", description="Activation of the student's MLP.")
    max_iterations: Integer = Field(200, ge=1, le=10_000_000, description="Distillation iterations.")
    num_steps_per_env: Integer = Field(24, ge=1, le=4096, description="Student rollout length per iteration.")
    num_learning_epochs: Integer = Field(5, ge=1, le=1000, description="Passes over each rollout.")
    num_mini_batches: Integer = Field(4, ge=1, le=1 << 20, description="Mini-batches per epoch.")
    learning_rate: Real = Field(1e-3, gt=0, le=1.0, description="Adam learning rate of the student.")
    max_grad_norm: Real = Field(1.0, gt=0, le=1e3, description="Gradient norm clip.")
    teacher_action_probability: Real = Field(
        0.0,
        ge=0,
        le=1,
        description="Chance an env steps with the teacher's action instead of the student's "
        "(0: pure DAgger on the student's own states).",
    )
    save_interval: Integer = Field(
        50, ge=1, le=10_000_000, description="Checkpoint every save_interval iterations."
    )


class EvalSection(Strict):
    """How `specc eval` judges an episode: success and failure are boolean expressions per env."""

    episodes: Integer = Field(100, ge=1, le=1_000_000, description="Episodes to evaluate.")
    success: str | None = Field(
        None,
        max_length=4000,
        description="Boolean expression: the episode succeeded (judged as `judge` says). "
        "Absent: an episode succeeds when it does not fail.",
    )
    failure: str | None = Field(
        None,
        max_length=4000,
        description="Boolean expression: the episode failed the first step it is true (nothing can undo it).",
    )
    judge: Literal["end", "first"] = Field(
        "end",
        description="'end': success is read on the episode's last state; "
        "'first': the episode succeeds at the first step success is true, unless it failed before.",
    )
    termination_fails: Flag = Field(
        True, description="A termination term ending the episode is a failure (a time-out never is)."
    )
    commands: dict[Name, Real1e3 | Name] = Field(
        default_factory=dict,
        description="Commands held fixed during evaluation: a ranged command at a value (lin_vel_x = 1.5), "
        'a categorical one at one of its choices (gait = "trot").',
    )


# Observation groups: the name the runtime knows a group by -> the spec's array of tables.
# Every group has the [[observations]] table shape; only the policy group is exported.
OBSERVATION_GROUPS = {
    "policy": "observations",
    "critic": "critic_observations",
    "teacher": "teacher_observations",
}
ALGORITHMS = ("ppo", "sac")

# Keys of earlier specc versions and what replaces them: the unknown-key diagnostic says so.
REMOVED_KEYS: dict[tuple[str, ...], str] = {
    (
        "eval",
        "min_distance_m",
    ): 'write the criterion: success = "norm(base_pos.xy - episode_start_pos.xy) >= 10.0"',
    (
        "eval",
        "require_no_termination",
    ): "terminations fail by default (termination_fails = true); remove the key",
}

ValueExpression = Annotated[str, StringConstraints(max_length=4000)]


class Spec(Strict):
    """A whole task spec file."""

    task: TaskSection
    robot: RobotSection
    sim: SimSection = SimSection()
    scene: SceneSection = SceneSection()
    frames: dict[Name, Frame] = Field(
        default_factory=dict, description="Named frames: links, objects, offsets."
    )
    commands: CommandsSection = CommandsSection()
    values: dict[Name, ValueExpression] = Field(
        default_factory=dict,
        description="Named intermediate values: name = expression; read as value.<name> in any expression.",
    )
    observations: list[ObservationTerm] = Field(min_length=1)
    critic_observations: list[ObservationTerm] = Field(
        default_factory=list,
        description="Privileged observations of the critic (asymmetric actor-critic); "
        "the policy's when empty. Never exported.",
    )
    teacher_observations: list[ObservationTerm] = Field(
        default_factory=list,
        description="Observations of the teacher in `specc distill`; the policy's when empty. Never exported.",
    )
    rewards: RewardsSection
    terminations: TerminationsSection = TerminationsSection()
    randomization: RandomizationSection = RandomizationSection()
    terrain: TerrainSection = TerrainSection()
    algorithm: AlgorithmSection = AlgorithmSection()
    ppo: PPOSection = PPOSection()
    sac: SACSection = SACSection()
    distill: DistillSection = DistillSection()
    eval: EvalSection = EvalSection()
    profile: dict[Literal["cpu", "cuda"], dict[str, Any]] = Field(
        default_factory=dict,
        description='Overrides applied by device, as dotted keys: [profile.cpu] "sim.num_envs" = 64. '
        "Each is checked like the key it overrides (specc.spec.load).",
    )

    @model_validator(mode="after")
    def _eval_commands_exist(self) -> Spec:
        """Each held command is a ranged one at a number or a categorical one at one of its choices; a
        ranged command a held choice sets cannot be held as well (the choice would overwrite it)."""
        ranges, categorical = self.commands.ranges, self.commands.categorical
        for name, value in self.eval.commands.items():
            at = ("eval", "commands", name)
            if name in categorical:
                choices = categorical[name].choices
                listed = ", ".join(choices)
                if not isinstance(value, str):
                    raise cross_field(
                        at,
                        f"eval.commands.{name} is categorical: hold it at one of its choices ({listed})",
                        ("commands", "categorical", name, "choices"),
                        fix=f'write {name} = "{choices[0]}"',
                    )
                if value not in choices:
                    guess = suggest(value, choices)
                    raise cross_field(
                        at,
                        f"'{value}' is not a choice of commands.categorical.{name} ({listed})",
                        ("commands", "categorical", name, "choices"),
                        fix=f"did you mean '{guess}'?" if guess else f"one of: {listed}",
                    )
                for other in categorical[name].values:
                    if other in self.eval.commands:
                        raise cross_field(
                            ("eval", "commands", other),
                            f"eval.commands.{other} is set by the held choice eval.commands.{name} = '{value}'",
                            at,
                            fix=f"remove eval.commands.{other}",
                        )
            elif name in ranges:
                if isinstance(value, str):
                    raise cross_field(
                        at,
                        f"eval.commands.{name} is a ranged command: hold it at a number, not '{value}'",
                        ("commands", "ranges", name),
                    )
            else:
                guess = suggest(name, [*ranges, *categorical])
                raise cross_field(
                    at,
                    f"eval.commands.{name} is not a command of [commands.ranges] or [commands.categorical]",
                    ("commands",),
                    fix=f"did you mean '{guess}'?" if guess else None,
                )
        return self

    @model_validator(mode="after")
    def _observation_names_unique(self) -> Spec:
        for group in OBSERVATION_GROUPS.values():
            seen: set[str] = set()
            for index, term in enumerate(getattr(self, group)):
                if term.name in seen:
                    raise cross_field((group, index, "name"), f"observation '{term.name}' is defined twice")
                seen.add(term.name)
        return self

    @model_validator(mode="after")
    def _settings_of_the_chosen_algorithm(self) -> Spec:
        chosen = self.algorithm.name
        for other in ALGORITHMS:
            if other != chosen and other in self.model_fields_set:
                raise cross_field(
                    (other,),
                    f"[{other}] settings on a spec whose algorithm is '{chosen}'; they would be ignored",
                    ("algorithm", "name"),
                )
        return self

    @property
    def learner(self) -> PPOSection | SACSection:
        """The settings table of the chosen algorithm."""
        return getattr(self, self.algorithm.name)

    @model_validator(mode="after")
    def _mini_batches_fit_the_rollout(self) -> Spec:
        samples = self.sim.num_envs * self.ppo.num_steps_per_env
        if self.algorithm.name == "ppo" and self.ppo.num_mini_batches > samples:
            raise cross_field(
                ("ppo", "num_mini_batches"),
                f"{self.ppo.num_mini_batches} mini-batches do not fit a rollout of {samples} samples "
                f"(sim.num_envs × ppo.num_steps_per_env = {self.sim.num_envs} × {self.ppo.num_steps_per_env})",
                ("sim", "num_envs"),
                ("ppo", "num_steps_per_env"),
            )
        return self
