"""The backend protocol: the one interface between the task env and a physics engine.

The env never imports a simulator; it creates a backend by name and talks to it
through these methods and attributes only. Backends are the only modules that import
`mujoco`, `mujoco_warp` or `isaacgym`. All tensors are float32 on `device`, with the
env batch as their first axis.

Writes are masked, not indexed: `env_mask` is an (N,) bool tensor and the values are
full-batch tensors whose rows are used only where the mask is set. Finding the ids of
finished envs would need `nonzero()`, which waits for the GPU; a mask keeps the env step
free of host synchronisation, so a GPU backend can run a whole rollout step, resets
included, from one CUDA graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from specc.runtime.terrain import TerrainConfig


class PhysicsLost(RuntimeError):
    """The engine silently dropped something (contacts, constraints); the message names the spec setting
    that fixes it. `check_health` raises it; the commands report it as an error on the spec."""


def masked_write(target: torch.Tensor, env_mask: torch.Tensor, values: torch.Tensor) -> None:
    """target[i] = values[i] where env_mask[i], in place and without a host sync: the protocol's write."""
    mask = env_mask.view(-1, *([1] * (target.dim() - 1)))
    target.copy_(torch.where(mask, values, target))


@dataclass
class RobotState:
    """The state the env reads after each step (all in the world frame unless named otherwise)."""

    root_pos: torch.Tensor  # (N, 3) base position [m]
    root_quat: torch.Tensor  # (N, 4) base orientation, w first
    root_lin_vel: torch.Tensor  # (N, 3) base linear velocity [m/s]
    root_ang_vel: torch.Tensor  # (N, 3) base angular velocity [rad/s]
    joint_pos: torch.Tensor  # (N, J) positions of the simulated joints [rad or m] (`joint_names` order)
    joint_vel: torch.Tensor  # (N, J) joint velocities
    joint_torque: torch.Tensor  # (N, J) actuator torque of the last physics step (zero on passive joints)
    contact_force: torch.Tensor  # (N, B + P, 3) net contact force on each tracked body, then each pair [N]
    diverged: torch.Tensor  # (N,) bool: the simulation of this env blew up in the last step
    # Named frames the kernels read (`BackendOptions.frames`), world frame; (N, 0, .) when none.
    frame_pos: torch.Tensor  # (N, K, 3) [m]
    frame_quat: torch.Tensor  # (N, K, 4) w first
    frame_lin_vel: torch.Tensor  # (N, K, 3) velocity of the frame's origin [m/s] (zeros unless asked for)
    frame_ang_vel: torch.Tensor  # (N, K, 3) [rad/s] (zeros unless asked for)
    # (N, B, 3) world position of each contact body, as of the last physics step's start (the feet's
    # heights above the terrain); None where a backend does not provide it.
    body_pos: torch.Tensor | None = None


@dataclass
class PhysicsParams:
    """Per-env physical parameters for domain randomization; None leaves the nominal value."""

    base_mass_add: torch.Tensor | None = None  # (N,) kg added to the base link
    link_mass_scale: torch.Tensor | None = None  # (N,) scale of every other link's mass and inertia
    friction: torch.Tensor | None = None  # (N,) sliding friction of robot-ground contacts
    motor_strength: torch.Tensor | None = None  # (N,) scale of the PD torque
    joint_damping: torch.Tensor | None = None  # (N,) passive joint damping [N·m·s/rad]
    object_mass_scale: torch.Tensor | None = None  # (N, M) scale of each object's mass and inertia
    object_friction: torch.Tensor | None = None  # (N, M) each object's sliding friction
    # (N, M) scale of each object's dimensions (its mass is kept; its inertia scales with size²).
    # Only for backends built with `BackendOptions.object_sizes_vary`.
    object_size_scale: torch.Tensor | None = None


class Backend(Protocol):
    num_envs: int
    """Number of independent worlds."""
    device: torch.device
    """Where every tensor this backend returns or takes lives."""
    joint_names: list[str]
    """Simulated joints (driven and passive; locked joints are welded), the order of joint_pos."""
    contact_bodies: list[str]
    """Bodies whose net contact force `state().contact_force` reports, in order (then the pairs')."""
    contact_pairs: list[tuple[str, str]]
    """(body, other) pairs whose contact force follows the bodies' in `state().contact_force`."""
    frames: list[str]
    """Named frames `state().frame_*` report, in order."""
    physics_dt: float
    """One physics step [s]."""
    total_mass: float
    """Nominal mass of the robot [kg]."""
    capturable: bool
    """`step` (and the masked writes) can be recorded into the caller's CUDA graph."""
    counters: dict[str, float]
    """What the last `check_health` counted that the run's log shows (metric name -> value), e.g. the
    share of env steps a per-env contact overflow reset; empty where a backend counts nothing."""

    def reset(
        self,
        env_mask: torch.Tensor,
        root_pos: torch.Tensor,
        root_quat: torch.Tensor,
        joint_pos: torch.Tensor,
        joint_vel: torch.Tensor,
        object_pose: torch.Tensor | None = None,
        object_vel: torch.Tensor | None = None,
    ) -> None:
        """Put the masked envs in the given state (base velocities zero); others are untouched.

        object_pose (N, M, 7: position, w-first quaternion) and object_vel (N, M, 6: linear, angular,
        world frame) set the free objects (`BackendOptions.objects` with fixed False, in order);
        None leaves them at their nominal pose, at rest."""

    def set_root_velocity(self, env_mask: torch.Tensor, lin_vel: torch.Tensor, ang_vel: torch.Tensor) -> None:
        """Set the base velocity of the masked envs (pushes)."""

    def set_params(self, env_mask: torch.Tensor, params: PhysicsParams) -> None:
        """Set the physical parameters of the masked envs."""

    def step(self, targets: torch.Tensor) -> None:
        """Advance all envs by targets.shape[1] physics steps.

        targets: (N, S, A) actuator controls, one column per actuator (`BackendOptions.actuators`
        order) and one row per physics step (the env builds the rows, so control latency is a shift
        of the rows). A position actuator's control is its PD target: the backend applies
        kp * (target - q) - kd * dq every physics step; an effort actuator's control is its torque.
        Both are clipped to the actuator's effort limit.
        """

    def state(self) -> RobotState:
        """The state after the last step or reset."""

    def check_health(self) -> None:
        """Raise if the engine silently lost something since the last check (e.g. contacts that did not
        fit a buffer), and update `counters`. Reads the device, so the env calls it between rollouts,
        not inside a step."""

    def save_state(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue bit-identically: physics state and per-env parameters."""

    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        """Restore what `save_state` returned (same backend, same env count)."""


@dataclass(frozen=True)
class ActuatorOptions:
    """One actuator of a driven joint."""

    joint: str
    kind: str  # "position" (PD) or "torque" (effort)
    stiffness: float  # position only
    damping: float  # position only
    effort: float  # torque limit


@dataclass(frozen=True)
class ObjectOptions:
    """A primitive body of the scene."""

    name: str
    shape: str  # box | sphere | cylinder | capsule
    size: tuple[float, ...]  # box: full extents; sphere: radius; cylinder, capsule: radius, length
    mass: float
    friction: float
    color: tuple[float, float, float, float]
    fixed: bool
    position: tuple[float, float, float]
    half_height: float = (
        0.0  # half its vertical extent upright: a scaled object is raised by (scale - 1) × this
    )
    max_size_scale: float = 1.0  # the largest size scale randomization draws (spawn checks use it)


@dataclass(frozen=True)
class SceneUrdfOptions:
    """A further URDF of the scene: no actuators, passive joints; bodies and joints named `<name>/<link>`."""

    name: str
    urdf: object  # specc.model.urdf.Urdf, read and checked by the compiler
    position: tuple[float, float, float]
    quat: tuple[float, float, float, float]  # w first
    fixed: bool  # root welded to the world; else a free body, back at its pose at every reset


@dataclass(frozen=True)
class FrameOptions:
    """A frame the kernels read: a body (robot link or object) and a fixed offset in its frame."""

    name: str
    body: str
    offset: tuple[float, float, float]
    quat: tuple[float, float, float, float]


@dataclass(frozen=True)
class BackendOptions:
    """What every backend needs from a spec, as plain data."""

    num_envs: int
    physics_dt: float
    init_height: float
    fixed_base: bool
    self_collision: bool
    repair_inertia: str
    contact_bodies: tuple[str, ...]
    actuators: tuple[ActuatorOptions, ...]  # one per driven joint, in action order
    locked: tuple[tuple[str, float], ...] = ()  # joints welded at this position
    default_joint_pos: tuple[float, ...] = ()  # (J,) the pose objects must not overlap at spawn
    objects: tuple[ObjectOptions, ...] = ()
    scene_urdfs: tuple[SceneUrdfOptions, ...] = ()
    contact_pairs: tuple[tuple[str, str], ...] = ()  # (body, other): force on body from other
    frames: tuple[FrameOptions, ...] = ()  # the only frames the backend computes
    frame_velocities: bool = False  # also compute the frames' velocities
    object_sizes_vary: bool = False  # objects' sizes are randomized per env (geometry kept per env)
    device: str = "cpu"
    num_threads: int | None = None
    max_contacts_per_env: int | None = None  # GPU contact buffer per world (None: sized from the model)
    max_constraints_per_env: int | None = None  # GPU constraint rows per world (None: sized from contacts)
    # What the kernels and the env read; a backend may leave the rest zero (() and True: all of it).
    contacts_read: tuple[bool, ...] = ()  # per contact body, then per pair: its force is read
    torques_read: bool = True  # the joint torques are read
    terrain: TerrainConfig | None = None  # the ground: None or a plane config for flat ground
    cylinders_as_capsules: bool = False  # the robot's collision cylinders become capsules
