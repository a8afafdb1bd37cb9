"""Plain data the runtime needs about a task, beyond its kernels.

`specc.runtime.assemble` builds these from the generated module's tables (ENV, RANDOMIZATION, PPO,
BACKEND); the runtime never reads a spec itself, so the env and PPO can be driven by any front end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from specc.runtime.terrain import TerrainConfig


@dataclass(frozen=True)
class CategoricalConfig:
    name: str
    values: dict[str, tuple[float, ...]]  # command name -> value per choice
    num_choices: int
    choices: tuple[str, ...] = ()  # the choices' names, in index order (evaluation reports by them)
    held: int | None = None  # evaluation holds this choice in every env; None draws one per env


@dataclass(frozen=True)
class ObjectResetConfig:
    """How a free object is placed at reset (all ranges uniform, per env)."""

    position: tuple[float, float, float]
    position_range: tuple[tuple[float, float], ...]  # offset per axis
    yaw_range: tuple[float, float]
    lin_vel_range: tuple[tuple[float, float], ...]
    nominal_friction: float = 1.0
    mass_scale: tuple[float, float] | None = None
    friction: tuple[float, float] | None = None
    size_scale: tuple[float, float] | None = None  # every dimension × one draw; free objects only
    half_height: float = 0.0  # half the vertical extent: a scaled object is raised by (scale - 1) × this


@dataclass(frozen=True)
class TargetConfig:
    """A target command: uniform ranges per axis (x, y, z or roll, pitch, yaw) drawn in a frame."""

    name: str
    orientation: bool  # a quaternion (w, x, y, z) from z-y-x Euler angles; else a position (x, y, z)
    frame: str  # "world" or "base" (the base's pose at the draw)
    bounds: tuple[tuple[float, float], ...]  # one (low, high) per axis


@dataclass(frozen=True)
class RandomizationConfig:
    base_mass_add: tuple[float, float] | None = None
    link_mass_scale: tuple[float, float] | None = None
    friction: tuple[float, float] | None = None
    motor_strength: tuple[float, float] | None = None
    joint_damping: tuple[float, float] | None = None
    latency_s: tuple[float, float] | None = None
    observation_noise: bool = False
    push_interval_s: float | None = None
    push_max_vel: float = 0.0


@dataclass(frozen=True)
class EnvConfig:
    num_envs: int
    physics_dt: float
    decimation: int
    policy_dt: float  # physics_dt × decimation, computed once, by the spec (the module's POLICY_DT)
    episode_length_s: float
    time_out: bool
    action_scale: tuple[float, ...]  # (A,) per driven joint: rad (m) or N·m (N) per unit action
    action_offset: tuple[float, ...]  # (A,) control of a zero action: the default position, or no torque
    action_joints: tuple[int, ...]  # (A,) index of each driven joint among the simulated joints
    action_is_position: tuple[bool, ...]  # (A,) PD actuator (else effort)
    clip_actions: float
    default_joint_pos: tuple[float, ...]  # (J,) per simulated joint
    init_height: float
    fixed_base: bool
    command_ranges: dict[str, tuple[float, float]]
    categorical: tuple[CategoricalConfig, ...]
    resample_s: float
    randomization: RandomizationConfig = field(default_factory=RandomizationConfig)
    reset_joint_offset: tuple[tuple[float, float], ...] = ()  # (J,) uniform offset at reset; () for none
    reset_joint_vel: tuple[tuple[float, float], ...] = ()  # (J,) uniform velocity at reset; () for none
    joint_lower: tuple[float, ...] = ()  # (J,) position limits relative to the default (-inf: none)
    joint_upper: tuple[float, ...] = ()  # (J,)
    objects: tuple[ObjectResetConfig, ...] = ()  # every object, in the backend's order
    free_objects: tuple[int, ...] = ()  # indices of the free ones among `objects`
    resample: str = "both"  # "reset", "interval" or "both"
    targets: tuple[TargetConfig, ...] = ()
    # Reset pose: default × U(scale) + U(-noise, noise), clamped into each joint's limits
    # (None: unlimited, e.g. a continuous joint). Defaults: exactly the default pose.
    reset_joint_pos_scale: tuple[float, float] = (1.0, 1.0)
    reset_joint_pos_noise: float = 0.0
    joint_pos_limits: tuple[tuple[float, float] | None, ...] = ()
    terrain: TerrainConfig = field(default_factory=TerrainConfig)

    @property
    def max_episode_steps(self) -> int:
        return max(1, round(self.episode_length_s / self.policy_dt))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PPOConfig:
    """rsl_rl's PPO hyper-parameters, from the generated module's PPO table (the spec's [ppo]):
    their defaults, bounds and meaning are the schema's (`specc schema`), written there only."""

    num_steps_per_env: int
    max_iterations: int
    actor_hidden_dims: tuple[int, ...]
    critic_hidden_dims: tuple[int, ...]
    activation: str
    init_noise_std: float
    learning_rate: float
    schedule: str
    desired_kl: float
    gamma: float
    lam: float
    clip_param: float
    value_loss_coef: float
    use_clipped_value_loss: bool
    entropy_coef: float
    num_learning_epochs: int
    num_mini_batches: int
    max_grad_norm: float
    empirical_normalization: bool
    save_interval: int
    clip_actions: float

    name = "ppo"  # the algorithm, as [algorithm] names it (a class attribute, not a field)

    @property
    def networks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The hidden sizes of the policy and of the critic (checkpoints are stamped with them)."""
        return self.actor_hidden_dims, self.critic_hidden_dims

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SACConfig:
    """Soft actor-critic for thousands of parallel envs, built from the spec's [sac] table: its
    defaults, bounds and meaning are the schema's (`specc schema`), written there only."""

    max_iterations: int
    num_steps_per_env: int
    updates_per_step: int
    batch_size: int
    buffer_size_per_env: int
    learning_starts: int
    actor_hidden_dims: tuple[int, ...]
    critic_hidden_dims: tuple[int, ...]
    activation: str
    layer_norm: bool
    actor_learning_rate: float
    critic_learning_rate: float
    alpha_learning_rate: float
    gamma: float
    n_step: int
    tau: float
    init_alpha: float
    target_entropy_per_action: float
    action_bound: float
    reward_scale: float
    policy_frequency: int
    max_grad_norm: float
    empirical_normalization: bool
    save_interval: int
    clip_actions: float

    name = "sac"

    @property
    def networks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The hidden sizes of the policy and of the critic (checkpoints are stamped with them)."""
        return self.actor_hidden_dims, self.critic_hidden_dims

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DistillConfig:
    """Teacher-student distillation, built from the spec's [distill] table: its defaults, bounds
    and meaning are the schema's (`specc schema`), written there only."""

    student_hidden_dims: tuple[int, ...]
    activation: str
    max_iterations: int
    num_steps_per_env: int
    num_learning_epochs: int
    num_mini_batches: int
    learning_rate: float
    max_grad_norm: float
    teacher_action_probability: float
    save_interval: int

    name = "distill"

    @property
    def empirical_normalization(self) -> bool:
        """A student always normalizes its observations (as PPO and SAC do by default)."""
        return True

    @property
    def networks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The hidden sizes of the policy and of the critic (checkpoints are stamped with them)."""
        return self.student_hidden_dims, ()  # a student has no critic

    def to_dict(self) -> dict:
        return asdict(self)


# What trains a policy: the config's `name` picks the algorithm (specc/runtime/runner.py).
LearnerConfig = PPOConfig | SACConfig | DistillConfig
