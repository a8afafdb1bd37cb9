"""The task spec: one pydantic model per TOML table.

Every model forbids unknown keys, every name that can reach generated code is an
identifier checked here, and every range is checked for order and physical sign.
Defaults of `[ppo]` are rsl_rl's; defaults elsewhere follow legged_gym's ANYmal C
flat-ground task, which is also the task of the Isaac Gym chapter.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


def _ordered(low_min: float | None = None, low_exclusive: bool = False):
    def check(value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if low > high:
            raise ValueError(f"range is reversed: low {low} > high {high}; write [{high}, {low}]")
        if low_min is not None and (low < low_min or (low_exclusive and low <= low_min)):
            bound = ">" if low_exclusive else ">="
            raise ValueError(f"range must be {bound} {low_min} (a physical quantity); got low {low}")
        return value

    return AfterValidator(check)


Range = Annotated[tuple[float, float], _ordered()]
NonNegativeRange = Annotated[tuple[float, float], _ordered(0.0)]
ScaleRange = Annotated[tuple[float, float], _ordered(0.0, low_exclusive=True)]
PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSection(Strict):
    name: Name = Field(description="Identifier of the task; runs are stored under runs/<name>/.")
    description: str = Field("", max_length=2000, description="What the task trains, for people.")


class JointGains(Strict):
    stiffness: NonNegativeFloat = Field(description="PD stiffness kp [N·m/rad].")
    damping: NonNegativeFloat = Field(description="PD damping kd [N·m·s/rad].")
    effort: PositiveFloat | None = Field(None, description="Torque limit [N·m]; the URDF's when absent.")


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
    init_height: PositiveFloat = Field(description="Initial base height above the ground [m].")
    default_joint_pos: dict[NamePattern, float] = Field(
        default_factory=dict,
        description="Default joint positions [rad] by joint name or glob pattern; later entries win.",
    )
    pd: dict[NamePattern, JointGains] = Field(
        description="PD gains by joint name or glob pattern; later entries win."
    )
    action_scale: PositiveFloat = Field(0.5, description="PD target = default + action_scale × action.")
    self_collision: bool = Field(False, description="Collide the robot's links with each other.")
    fixed_base: bool = Field(False, description="Weld the base link to the world (arms, cart-poles).")
    repair_inertia: Literal["none", "diagonal"] = Field(
        "none",
        description="How to repair a link inertia that is not physical: 'none' reports an error, "
        "'diagonal' keeps the principal moments made to satisfy the triangle inequality and says so.",
    )


class SimSection(Strict):
    dt: PositiveFloat = Field(0.005, le=0.05, description="Physics step [s].")
    decimation: int = Field(4, ge=1, le=100, description="Physics steps per policy step.")
    num_envs: int = Field(4096, ge=1, le=1 << 22, description="Parallel environments.")
    episode_length_s: PositiveFloat = Field(20.0, description="Episode length before a time-out [s].")
    backend: Literal["mujoco", "mujoco-warp", "isaacgym"] = Field("mujoco", description="Physics backend.")
    device: str = Field("cpu", pattern=r"^(cpu|cuda(:\d+)?)$", description="Torch device of the runtime.")
    max_contacts_per_env: int | None = Field(
        None, ge=1, le=4096, description="GPU backends: contact buffer per env (default: from the model)."
    )
    max_constraints_per_env: int | None = Field(
        None, ge=1, le=65536, description="GPU backends: constraint rows per env (default: from contacts)."
    )


class CategoricalCommand(Strict):
    choices: list[Name] = Field(min_length=1, description="Names of the categories, e.g. gaits.")
    values: dict[Name, list[float]] = Field(
        default_factory=dict,
        description="Per-choice value of other commands, e.g. lin_vel_x = [0.5, 1.5, 3.0].",
    )

    @model_validator(mode="after")
    def _one_value_per_choice(self) -> CategoricalCommand:
        for name, values in self.values.items():
            if len(values) != len(self.choices):
                raise ValueError(
                    f"values.{name} has {len(values)} entries but there are {len(self.choices)} choices"
                )
        return self


class CommandsSection(Strict):
    resample_s: PositiveFloat = Field(10.0, description="Commands are resampled every resample_s seconds.")
    ranges: dict[Name, Range] = Field(default_factory=dict, description="Uniform command ranges [low, high].")
    categorical: dict[Name, CategoricalCommand] = Field(
        default_factory=dict, description="Categorical commands (e.g. a gait id) and the values they set."
    )

    @model_validator(mode="after")
    def _categorical_values_name_ranges(self) -> CommandsSection:
        for cat_name, cat in self.categorical.items():
            if cat_name in self.ranges:
                raise ValueError(f"command '{cat_name}' is both a range and categorical")
            for name in cat.values:
                if name not in self.ranges:
                    raise ValueError(
                        f"categorical.{cat_name}.values.{name} sets a command that [commands.ranges] does not define"
                    )
        return self


class ObservationTerm(Strict):
    name: Name = Field(description="Name of the term in the observation layout.")
    expr: str = Field(max_length=4000, description="Expression over the signal catalog.")
    scale: float = Field(1.0, description="Multiplies the value.")
    clip: PositiveFloat | None = Field(None, description="Clip the scaled value to [-clip, clip].")
    noise: NonNegativeFloat = Field(0.0, description="Additive uniform noise amplitude, in scaled units.")


class RewardTerm(Strict):
    expr: str = Field(max_length=4000, description="Expression reducing to one number per env.")
    weight: float = Field(description="Weight of the term in the total.")


class RewardsSection(Strict):
    scale_by_dt: bool = Field(True, description="Multiply every weight by the policy step (legged_gym does).")
    only_positive: bool = Field(
        False, description="Clip the total at zero (legged_gym's only_positive_rewards)."
    )
    terms: dict[Name, RewardTerm] = Field(min_length=1, description="Named reward terms.")


class TerminationTerm(Strict):
    expr: str = Field(max_length=4000, description="Boolean expression; true ends the episode.")


class TerminationsSection(Strict):
    time_out: bool = Field(True, description="End episodes after sim.episode_length_s (value bootstrapped).")
    terms: dict[Name, TerminationTerm] = Field(default_factory=dict, description="Named termination rules.")


class PushSection(Strict):
    interval_s: PositiveFloat = Field(15.0, description="Push every env every interval_s seconds.")
    max_vel: NonNegativeFloat = Field(
        1.0, description="Pushes set a random base xy velocity up to this [m/s]."
    )


class RandomizationSection(Strict):
    enabled: bool = Field(True, description="Master switch (eval can turn it off).")
    base_mass_add: Range | None = Field(None, description="Added base mass [kg].")
    link_mass_scale: ScaleRange | None = Field(None, description="Scale of every other link's mass.")
    friction: NonNegativeRange | None = Field(None, description="Ground-contact friction coefficient.")
    motor_strength: ScaleRange | None = Field(None, description="Scale of the PD torque.")
    joint_damping: NonNegativeRange | None = Field(None, description="Passive joint damping [N·m·s/rad].")
    latency_s: NonNegativeRange | None = Field(
        None, description="Control latency [s], rounded to physics steps."
    )
    observation_noise: bool = Field(True, description="Apply the observation terms' noise.")
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
Height = Annotated[float, Field(ge=0, le=MAX_FEATURE_HEIGHT_M, allow_inf_nan=False)]
Length = Annotated[float, Field(gt=0, le=100.0, allow_inf_nan=False)]
# [at difficulty 0, at difficulty 1]: a tile of difficulty d uses the linear interpolation.
HeightScaling = tuple[Height, Height]
LengthScaling = tuple[Length, Length]


class TerrainDifficulty(Strict):
    """How each tile type grows from the easiest row (difficulty 0) to the hardest (difficulty 1).

    Each pair is [value at difficulty 0, value at difficulty 1]; row i of R has difficulty i / R,
    as in legged_gym, whose numbers are the defaults.
    """

    slope: tuple[Annotated[float, Field(ge=0, le=1.5)], Annotated[float, Field(ge=0, le=1.5)]] = Field(
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

    enabled: bool = Field(True, description="Move envs between rows; without it envs keep their first row.")
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
    max_init_level: int = Field(5, ge=0, le=1000, description="Envs start at a random row up to this one.")


ScanCoordinate = Annotated[float, Field(ge=-50.0, le=50.0)]
ScanExtent = Annotated[tuple[ScanCoordinate, ScanCoordinate], _ordered()]


class HeightScan(Strict):
    """The points of `height_scan`: a grid in the base's yaw frame (x forward, y left), centred on the base."""

    x: ScanExtent = Field((-0.8, 0.8), description="Extent along the heading [m].")
    y: ScanExtent = Field((-0.5, 0.5), description="Extent to the left [m].")
    resolution: Annotated[float, Field(ge=0.01, le=10.0)] = Field(0.1, description="Grid spacing [m].")

    @property
    def shape(self) -> tuple[int, int]:
        """Points along x and along y (legged_gym's 17 x 11 = 187 by default)."""
        return _count(self.x, self.resolution), _count(self.y, self.resolution)

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
    seed: int = Field(0, ge=0, lt=1 << 32, description="The same seed gives the same heights.")
    tile_size: tuple[Length, Length] = Field(
        (8.0, 8.0), description="[length along x (rows), width along y (columns)] of one tile [m]."
    )
    rows: int = Field(
        10, ge=1, le=100, description="Difficulty levels, along x: row i has difficulty i / rows."
    )
    cols: int = Field(20, ge=1, le=200, description="Columns, along y; each holds one tile type.")
    border: Annotated[float, Field(ge=0, le=100.0)] = Field(
        5.0, description="Flat ground around the tiles [m]."
    )
    horizontal_scale: Annotated[float, Field(ge=0.01, le=1.0)] = Field(
        0.1, description="Heightfield grid spacing [m]."
    )
    vertical_scale: Annotated[float, Field(gt=0, le=0.1)] = Field(
        0.005, description="Heights are rounded to multiples of this [m]."
    )
    proportions: dict[TerrainType, Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]] = Field(
        default_factory=lambda: dict.fromkeys(TERRAIN_TYPES, 1.0),
        description="Share of the columns of each tile type (normalized); default: all types alike.",
    )
    difficulty: TerrainDifficulty = TerrainDifficulty()
    curriculum: TerrainCurriculum = TerrainCurriculum()
    height_scan: HeightScan | None = Field(None, description="The points of the `height_scan` signal.")

    @model_validator(mode="after")
    def _some_proportion(self) -> TerrainSection:
        if self.type == "tiles" and not any(v > 0 for v in self.proportions.values()):
            raise ValueError("terrain.proportions gives every tile type zero share")
        return self


class PPOSection(Strict):
    num_steps_per_env: int = Field(24, ge=1, description="Rollout length per iteration.")
    max_iterations: int = Field(1500, ge=1, description="Training iterations.")
    actor_hidden_dims: list[Annotated[int, Field(ge=1, le=8192)]] = Field([512, 256, 128], min_length=1)
    critic_hidden_dims: list[Annotated[int, Field(ge=1, le=8192)]] = Field([512, 256, 128], min_length=1)
    activation: Literal["elu", "relu", "tanh"] = "elu"
    init_noise_std: PositiveFloat = 1.0
    learning_rate: PositiveFloat = 1e-3
    schedule: Literal["adaptive", "fixed"] = "adaptive"
    desired_kl: PositiveFloat = 0.01
    gamma: float = Field(0.99, ge=0, le=1)
    lam: float = Field(0.95, ge=0, le=1)
    clip_param: PositiveFloat = 0.2
    value_loss_coef: NonNegativeFloat = 1.0
    use_clipped_value_loss: bool = True
    entropy_coef: NonNegativeFloat = 0.01
    num_learning_epochs: int = Field(5, ge=1)
    num_mini_batches: int = Field(4, ge=1)
    max_grad_norm: PositiveFloat = 1.0
    empirical_normalization: bool = Field(True, description="Normalize observations by running statistics.")
    save_interval: int = Field(50, ge=1, description="Checkpoint every save_interval iterations.")
    clip_actions: PositiveFloat = Field(
        100.0, description="Actions are clipped to [-clip_actions, clip_actions]."
    )


class EvalSection(Strict):
    episodes: int = Field(100, ge=1, description="Episodes to evaluate.")
    min_distance_m: NonNegativeFloat = Field(
        10.0, description="Success: the base travelled at least this far in the xy plane ..."
    )
    require_no_termination: bool = Field(
        True, description="... and no termination term fired (time-outs are fine)."
    )
    commands: dict[Name, float] = Field(
        default_factory=dict, description="Commands held fixed during evaluation, e.g. lin_vel_x = 1.5."
    )


class Spec(Strict):
    """A whole task spec file."""

    task: TaskSection
    robot: RobotSection
    sim: SimSection = SimSection()
    commands: CommandsSection = CommandsSection()
    observations: list[ObservationTerm] = Field(min_length=1)
    rewards: RewardsSection
    terminations: TerminationsSection = TerminationsSection()
    randomization: RandomizationSection = RandomizationSection()
    terrain: TerrainSection = TerrainSection()
    ppo: PPOSection = PPOSection()
    eval: EvalSection = EvalSection()
    profile: dict[Literal["cpu", "cuda"], dict[str, float | int | bool | str]] = Field(
        default_factory=dict,
        description='Overrides applied by device, as dotted keys: [profile.cpu] "sim.num_envs" = 64.',
    )

    @model_validator(mode="after")
    def _eval_commands_exist(self) -> Spec:
        for name in self.eval.commands:
            if name not in self.commands.ranges:
                raise ValueError(f"eval.commands.{name} is not a command of [commands.ranges]")
        return self

    @model_validator(mode="after")
    def _observation_names_unique(self) -> Spec:
        seen: set[str] = set()
        for term in self.observations:
            if term.name in seen:
                raise ValueError(f"observation '{term.name}' is defined twice")
            seen.add(term.name)
        return self
