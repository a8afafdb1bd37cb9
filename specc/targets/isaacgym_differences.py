"""Every way the emitted Isaac Gym package simulates a task differently from specc's MuJoCo runtime, with its size.

The emitted task removes what it can (density, damping, velocity caps, the PD law, the base velocity's
point, contact buffers, joint limits, unsupported settings: see the target's checks); this module
lists what remains, computed from the checked task alone (no simulator): the mass that
AssetOptions.density still gives massless links with collision shapes, PhysX's prism for a cylinder,
its speed caps, friction combined by averaging, physical parameters drawn once per env, and the
engines' own contact and solver models. The emitted README shows the list (`markdown_table`); each
entry with a spec position is also a positioned SPC501 warning. `tests/targets/test_isaacgym_parity.py`
measures the differences between specc's compiled MuJoCo model and the stand-in's model of Isaac Gym's
documented import of the emitted files, and fails on any that this list misses or mis-sizes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specc.targets.isaacgym_bodies import CYLINDER_SLICES, DENSITY, IsaacGymRobot, prism_volume_ratio
from specc.task import CheckedTask

KeyPath = tuple[str | int, ...]
# specc's MuJoCo import gives every robot geom and the ground this sliding friction (mujoco_model.py);
# the parity check reads it back from the compiled model.
SPECC_FRICTION = 1.0
# The emitted task's caps on body and joint speeds (its EXPLODING: beyond it both runtimes reset the env).
SPEED_CAP = 1e4
CREATION_TIME_RANDOMIZATION = (
    "base_mass_add",
    "link_mass_scale",
    "friction",
    "motor_strength",
    "joint_damping",
)


@dataclass(frozen=True)
class Difference:
    """One difference: what, where, each side's value, and how large it is."""

    quantity: str  # "mass", "centre of mass", "inertia", "collision shape", "speed cap", ...
    where: str  # a body, a link's shape, an object, "every body and joint", ...
    specc: str  # what specc's MuJoCo runtime simulates
    isaacgym: str  # what this package makes Isaac Gym simulate
    size: str  # how much, as text; numeric entries start with `value`
    value: float | None = None  # the size as a number (what the parity check compares), None for words
    at: KeyPath | None = None  # the spec key it comes from (a positioned warning); None: the engine's own


def _number(value: float, unit: str = "") -> str:
    return f"{value:+.4g} {unit}" if unit else f"{value:+.4g}"


def differences(task: CheckedTask, robot: IsaacGymRobot, ground_friction: float) -> list[Difference]:
    """What still differs between specc's runtime and the emitted package for this task, largest first
    within each kind; `ground_friction`: the ground plane's friction in the emitted task."""
    out: list[Difference] = []
    out += _density(robot)
    out += _cylinders(task)
    out += _friction(task, ground_friction)
    out += _randomization(task)
    spec = task.spec
    out.append(
        Difference(
            "speed cap",
            "every body and joint",
            "none",
            f"{SPEED_CAP:g} m/s and rad/s (PhysX needs a cap; the task resets an env beyond it, as specc's does)",
            _number(SPEED_CAP, "m/s, rad/s"),
            SPEED_CAP,
        )
    )
    out.append(
        Difference(
            "physics engine",
            "every contact, joint limit and damping force",
            "MuJoCo: implicitfast integrator (damping and PD damping implicit), Newton solver, soft contacts "
            "and limits",
            "PhysX TGS (4 position, 0 velocity iterations), contact offset 0.01 m, rest offset 0, torques "
            "applied explicitly once per physics step",
            "the same bodies, joints and torque laws; contact, limit and integration models differ",
        )
    )
    if spec.ppo.empirical_normalization and spec.algorithm.name == "ppo":
        out.append(
            Difference(
                "observation normalization",
                "ppo.empirical_normalization",
                "running mean and variance of every observation",
                "none: rsl_rl 1.0.2 has no normalizer",
                "the policy sees raw observations",
                at=("ppo", "empirical_normalization"),
            )
        )
    if spec.sim.max_constraints_per_env is not None:
        out.append(
            Difference(
                "constraint buffer",
                "sim.max_constraints_per_env",
                f"{spec.sim.max_constraints_per_env} constraint rows per env (MuJoCo Warp)",
                "PhysX sizes its constraint buffers itself",
                "ignored",
                at=("sim", "max_constraints_per_env"),
            )
        )
    return out


def _density(robot: IsaacGymRobot) -> list[Difference]:
    """Massless links with collision shapes: AssetOptions.density x their volume."""
    out: list[Difference] = []
    for body in robot.bodies:
        if not body.density_links:
            continue
        specc, isaacgym = body.specc, body.isaacgym
        links = ", ".join(body.density_links)
        hull = (
            f"; plus {DENSITY} kg/m^3 x the convex hull of {body.unmeasured_meshes} mesh(es), not computed"
            if body.unmeasured_meshes
            else ""
        )
        why = f"(AssetOptions.density {DENSITY} kg/m^3 x the collision shapes of {links}, massless in specc{hull})"
        mass = isaacgym.mass - specc.mass
        shift = float(np.linalg.norm(isaacgym.com - specc.com))
        inertia = float(np.abs(isaacgym.inertia - specc.inertia).max())
        out.append(
            Difference(
                "mass",
                body.name,
                f"{specc.mass:.10g} kg",
                f"{isaacgym.mass:.10g} kg",
                f"{_number(mass, 'kg')} {why}",
                mass,
                ("robot", "urdf"),
            )
        )
        out.append(
            Difference(
                "centre of mass",
                body.name,
                _vector(specc.com),
                _vector(isaacgym.com),
                f"{_number(shift, 'm')} {why}",
                shift,
                ("robot", "urdf"),
            )
        )
        out.append(
            Difference(
                "inertia",
                body.name,
                "about its centre of mass",
                "about its centre of mass",
                f"{_number(inertia, 'kg m^2')} (largest entry) {why}",
                inertia,
                ("robot", "urdf"),
            )
        )
    return out


def _vector(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(x):.8g}" for x in v) + ") m"


def _cylinders(task: CheckedTask) -> list[Difference]:
    """PhysX has no cylinder: a prism of CYLINDER_SLICES sides inscribed in it (a capsule when the spec says so)."""
    ratio = prism_volume_ratio() - 1.0
    prism = f"a {CYLINDER_SLICES}-sided prism inscribed in it (slices_per_cylinder)"
    out: list[Difference] = []
    if not task.spec.robot.cylinders_as_capsules:
        for link in task.robot.urdf.links.values():
            for k, geometry in enumerate(link.collisions):
                if geometry.kind == "cylinder":
                    out.append(
                        Difference(
                            "collision shape",
                            f"{link.name} collision {k}",
                            _cylinder(geometry.size),
                            prism,
                            f"{_number(100 * ratio, '%')} volume, the circle's edge inside by up to "
                            f"{geometry.size[0] * (1 - math.cos(math.pi / CYLINDER_SLICES)):.3g} m",
                            100 * ratio,
                            ("robot", "urdf"),
                        )
                    )
    for name, obj in task.spec.scene.objects.items():
        if obj.shape == "cylinder":
            out.append(
                Difference(
                    "collision shape",
                    f"object {name}",
                    _cylinder(tuple(obj.size)),
                    prism,
                    f"{_number(100 * ratio, '%')} volume (mass and inertia as specc's: written explicitly)",
                    100 * ratio,
                    ("scene", "objects", name),
                )
            )
    return out


def _cylinder(size: tuple[float, ...]) -> str:
    return f"cylinder, radius {size[0]:g} m, length {size[1]:g} m"


def friction_bounds(task: CheckedTask) -> list[float]:
    """Every friction coefficient the task's shapes may take: the robot's (nominal and randomized) and the
    objects' (nominal and randomized)."""
    values = [SPECC_FRICTION]
    r = task.spec.randomization
    if r.enabled and r.friction is not None:
        values += list(r.friction)
    for obj in task.spec.scene.objects.values():
        values.append(obj.friction)
        if r.enabled and obj.friction_range is not None:
            values += list(obj.friction_range)
    return values


def ground_friction(task: CheckedTask) -> float:
    """The ground plane's friction: the lowest friction of the task, so that every shape can sit at
    2 f - ground >= 0 and PhysX's average gives each shape's own f against the ground."""
    return min(friction_bounds(task))


def _friction(task: CheckedTask, ground: float) -> list[Difference]:
    """Contacts other than with the ground: PhysX averages (2 f1 - g) and (2 f2 - g); specc's MuJoCo takes
    the larger coefficient, or an object's own (its geoms have priority)."""
    spec = task.spec
    r = spec.randomization
    robot_varies = r.enabled and r.friction is not None
    nominal = SPECC_FRICTION
    out: list[Difference] = []
    if spec.robot.self_collision and (robot_varies or ground != nominal):
        gap = nominal - ground
        out.append(
            Difference(
                "friction",
                "robot-robot contacts",
                "f (the robot's friction)",
                "2 f - g (g: the ground's, the lowest)",
                f"{_number(gap)} at the nominal friction (f - g)",
                gap,
                ("randomization", "friction") if robot_varies else ("robot", "self_collision"),
            )
        )
    objects = spec.scene.objects
    for name, obj in objects.items():
        varies = robot_varies or (r.enabled and obj.friction_range is not None)
        gap = nominal - ground  # (f + o - g) - o
        if varies or gap != 0:
            out.append(
                Difference(
                    "friction",
                    f"object {name} against the robot",
                    "o (the object's friction)",
                    "f + o - g (f: the robot's, g: the ground's)",
                    f"{_number(gap)} at nominal frictions (f - g)",
                    gap,
                    ("scene", "objects", name),
                )
            )
    names = list(objects)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            oa, ob = objects[a].friction, objects[b].friction
            gap = (oa + ob - ground) - max(oa, ob)
            varies = r.enabled and (
                objects[a].friction_range is not None or objects[b].friction_range is not None
            )
            if varies or gap != 0:
                out.append(
                    Difference(
                        "friction",
                        f"objects {a} and {b}",
                        "the larger of the two",
                        "o1 + o2 - g",
                        f"{_number(gap)} at nominal frictions",
                        gap,
                        ("scene", "objects", b),
                    )
                )
    return out


def _randomization(task: CheckedTask) -> list[Difference]:
    r = task.spec.randomization
    out: list[Difference] = []
    if not r.enabled:
        return out
    for name in CREATION_TIME_RANDOMIZATION:
        if getattr(r, name) is not None:
            out.append(
                Difference(
                    "randomization",
                    f"randomization.{name}",
                    "drawn again at every reset",
                    "drawn once per env when the envs are created (as legged_gym does)",
                    "each env keeps one draw",
                    at=("randomization", name),
                )
            )
    for name, obj in task.spec.scene.objects.items():
        for field in ("mass_scale", "friction_range"):
            if getattr(obj, field) is not None:
                out.append(
                    Difference(
                        "randomization",
                        f"object {name} {field}",
                        "drawn again at every reset",
                        "drawn once per env when the envs are created",
                        "each env keeps one draw",
                        at=("scene", "objects", name, field),
                    )
                )
    return out
