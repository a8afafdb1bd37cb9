"""Physics divergence in the user's terms: which joint blew up, and which spec setting to look at.

An engine reports a blow-up by degree-of-freedom index ("Nan, Inf or huge value in QACC at DOF 25").
The backends map that to joint names (`blown_up_joints`), and `JointStability` relates each actuated
joint's PD stiffness to the inertia it moves and to the physics step: a PD joint of stiffness kp on
an inertia M oscillates with period T = 2*pi*sqrt(M / kp), and an explicit (semi-implicit Euler)
step of sim.dt is stable only while sqrt(kp / M) * dt < 2, that is kp < 4 * M / dt**2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from specc.runtime.backends.base import PhysicsLost

EXPLODING = 1e4  # a state component beyond this (m, m/s, rad/s) means the simulation blew up
STABLE_OMEGA_DT = 2.0  # semi-implicit Euler on an undamped oscillator is stable for omega * dt below this


class PhysicsDiverged(PhysicsLost):
    """Most env steps diverged for several iterations in a row; the message diagnoses why."""


@dataclass(frozen=True)
class JointStability:
    """One actuated joint's PD gain against the inertia it moves (at the initial pose)."""

    joint: str
    body: str  # the link the joint moves (with everything attached below it)
    mass: float  # kg of that link and its subtree
    inertia: float  # the joint's diagonal of the mass matrix: kg (prismatic) or kg m^2 (hinge)
    stiffness: float  # [robot.pd] stiffness
    linear: bool  # prismatic: stiffness in N/m, else N m/rad

    def omega_dt(self, dt: float) -> float:
        return math.sqrt(self.stiffness / self.inertia) * dt if self.inertia > 0 else math.inf

    def max_stable_stiffness(self, dt: float) -> float:
        return STABLE_OMEGA_DT**2 * self.inertia / dt**2


def diagnose(
    joints: list[JointStability],
    blown_up: dict[str, int],
    physics_dt: float,
    decimation: int,
) -> str:
    """A paragraph for the user: where it blew up, which joints are too stiff for sim.dt, what to change."""
    lines = []
    unstable = sorted(
        (j for j in joints if j.omega_dt(physics_dt) >= STABLE_OMEGA_DT),
        key=lambda j: -j.omega_dt(physics_dt),
    )
    for j in unstable[:3]:
        unit = "N/m" if j.linear else "N m/rad"
        inertia = f"{j.inertia:.3g} kg" if j.linear else f"{j.inertia:.3g} kg m^2"
        period_ms = 2 * math.pi / (j.omega_dt(physics_dt) / physics_dt) * 1e3
        lines.append(
            f"Joint '{j.joint}' (moves '{j.body}', {j.mass:.3g} kg with what hangs on it; inertia {inertia}): "
            f"[robot.pd] stiffness {j.stiffness:.3g} {unit} makes it oscillate with a period of "
            f"{period_ms:.3g} ms, too short for sim.dt = {physics_dt:g} s (stable below "
            f"{j.max_stable_stiffness(physics_dt):.3g} {unit})."
        )
    if blown_up:
        # Coupled joints run away together: the one with the most energy is where it shows, not
        # necessarily where it starts (a too-stiff pole whips its cart); the stiffness check names that.
        ranked = sorted(blown_up.items(), key=lambda item: -item[1])
        total = sum(blown_up.values())
        named = ", ".join(f"'{name}' ({count} of {total})" for name, count in ranked[:3])
        lines.append(f"The runaway motion was largest at joint {named}.")
    policy_hz = 1.0 / (physics_dt * decimation)
    if unstable:
        lines.append(
            "Fix: lower that stiffness, make the link heavier, or lower sim.dt "
            f"(and raise sim.decimation = {decimation} to keep the policy at {policy_hz:.3g} Hz)."
        )
    else:
        lines.append(
            "No joint's PD stiffness is unstable at this sim.dt by itself: look at links of very small mass "
            "or inertia in the URDF, at damping against mass, at effort limits, or lower sim.dt "
            f"(raising sim.decimation = {decimation} to keep the policy at {policy_hz:.3g} Hz); and at "
            "observation or reward expressions that are NaN by themselves (a division by zero)."
        )
    return " ".join(lines)
