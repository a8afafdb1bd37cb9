"""Plain data the runtime needs about a task, beyond its kernels.

The CLI builds these from a checked spec (`specc.assemble`); the runtime never reads a
spec itself, so the env and PPO can be driven by any front end.
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
    def policy_dt(self) -> float:
        return self.physics_dt * self.decimation

    @property
    def max_episode_steps(self) -> int:
        return max(1, round(self.episode_length_s / self.policy_dt))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PPOConfig:
    """rsl_rl's PPO hyper-parameters, built from the spec's [ppo] table (specc.assemble.ppo_config):
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

    def to_dict(self) -> dict:
        return asdict(self)
