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
    joint_pos: torch.Tensor  # (N, J) joint positions [rad or m], action order
    joint_vel: torch.Tensor  # (N, J) joint velocities
    joint_torque: torch.Tensor  # (N, J) torque the actuators applied in the last physics step
    contact_force: torch.Tensor  # (N, B, 3) net contact force on each tracked body [N]
    diverged: torch.Tensor  # (N,) bool: the simulation of this env blew up in the last step
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


class Backend(Protocol):
    num_envs: int
    """Number of independent worlds."""
    device: torch.device
    """Where every tensor this backend returns or takes lives."""
    joint_names: list[str]
    """Actuated joints, in action order."""
    contact_bodies: list[str]
    """Bodies whose net contact force `state().contact_force` reports, in order."""
    physics_dt: float
    """One physics step [s]."""
    total_mass: float
    """Nominal mass of the robot [kg]."""
    capturable: bool
    """`step` (and the masked writes) can be recorded into the caller's CUDA graph."""

    def reset(
        self,
        env_mask: torch.Tensor,
        root_pos: torch.Tensor,
        root_quat: torch.Tensor,
        joint_pos: torch.Tensor,
        joint_vel: torch.Tensor,
    ) -> None:
        """Put the masked envs in the given state at rest (base velocities zero); others are untouched."""

    def set_root_velocity(self, env_mask: torch.Tensor, lin_vel: torch.Tensor, ang_vel: torch.Tensor) -> None:
        """Set the base velocity of the masked envs (pushes)."""

    def set_params(self, env_mask: torch.Tensor, params: PhysicsParams) -> None:
        """Set the physical parameters of the masked envs."""

    def step(self, targets: torch.Tensor) -> None:
        """Advance all envs by targets.shape[1] physics steps.

        targets: (N, S, J) PD position targets, one row per physics step (the env builds
        the rows, so control latency is a shift of the rows). The backend computes the PD
        torque kp * (target - q) - kd * dq every physics step, clipped to the effort limit.
        """

    def state(self) -> RobotState:
        """The state after the last step or reset."""

    def check_health(self) -> None:
        """Raise if the engine silently lost something since the last check (e.g. contacts that did not
        fit a buffer). Reads the device, so the env calls it between rollouts, not inside a step."""

    def save_state(self) -> dict[str, torch.Tensor]:
        """Everything needed to continue bit-identically: physics state and per-env parameters."""

    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        """Restore what `save_state` returned (same backend, same env count)."""


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
    stiffness: tuple[float, ...]
    damping: tuple[float, ...]
    effort: tuple[float, ...]
    device: str = "cpu"
    num_threads: int | None = None
    max_contacts_per_env: int | None = None  # GPU contact buffer per world (None: sized from the model)
    max_constraints_per_env: int | None = None  # GPU constraint rows per world (None: sized from contacts)
    terrain: TerrainConfig | None = None  # the ground: None or a plane config for flat ground
