"""The robot as the emitted Isaac Gym asset will simulate it, computed at compile time from the checked task.

The emitted URDF is loaded with `collapse_fixed_joints`: every link welded to its parent (a URDF
fixed joint, or a joint the spec locks, which the URDF writes as a fixed joint at its locked
position) becomes part of its parent's rigid body, except the links the task tracks contact on
(marked `dont_collapse`). This module computes that partition once (`isaacgym_bodies`): each body's
links and their poses in it, and its mass properties twice, as specc's MuJoCo import has them
(`<inertial>` only; a link without one is massless) and as Isaac Gym will (a link without one
weighs AssetOptions.density x the volume of its collision shapes; PhysX has no cylinder and uses a
prism of `slices_per_cylinder` sides unless cylinders become capsules). The frames the kernels
read are re-expressed in the bodies that hold their links. The difference of the two masses is
what the emitted README lists (`isaacgym_differences.py`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specc.model.urdf import Geometry, Inertial, Joint, Urdf, repaired_moments
from specc.robot.kinematics import axis_angle, rpy_matrix
from specc.task import CheckedTask

DENSITY = 0.001  # kg/m^3: AssetOptions.density of the emitted task (legged_gym's and IsaacGymEnvs')
CYLINDER_SLICES = 20  # Isaac Gym's default slices_per_cylinder: side faces of a cylinder's prism


@dataclass(frozen=True)
class Solid:
    """Mass [kg], centre of mass (3,) and inertia about it (3, 3), in one frame."""

    mass: float
    com: np.ndarray
    inertia: np.ndarray

    def moved(self, rotation: np.ndarray, position: np.ndarray) -> Solid:
        """The same solid in a frame where its own frame sits at (rotation, position)."""
        return Solid(self.mass, rotation @ self.com + position, rotation @ self.inertia @ rotation.T)


NOTHING = Solid(0.0, np.zeros(3), np.zeros((3, 3)))


def combine(parts: list[Solid]) -> Solid:
    """Rigidly joined solids in one frame (parallel-axis theorem); no mass: NOTHING."""
    mass = sum(p.mass for p in parts)
    if mass <= 0:
        return NOTHING
    com = sum((p.mass * p.com for p in parts), np.zeros(3)) / mass
    inertia = np.zeros((3, 3))
    for p in parts:
        d = p.com - com
        inertia = inertia + p.inertia + p.mass * (float(d @ d) * np.eye(3) - np.outer(d, d))
    return Solid(mass, com, inertia)


def inertial_tensor(inertial: Inertial, repair: str) -> tuple[np.ndarray, bool]:
    """A link's inertia in its link frame (about its centre of mass), as the MuJoCo import uses it:
    as written, or with the nearest physical principal moments (`repair_inertia = "diagonal"`); and
    whether it was repaired."""
    frame = np.array(rpy_matrix(inertial.origin_rpy))
    ixx, ixy, ixz, iyy, iyz, izz = inertial.inertia
    tensor = frame @ np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]]) @ frame.T
    if repair == "diagonal":
        moments, axes = np.linalg.eigh(tensor)
        fixed = np.array(repaired_moments(inertial.inertia))
        if not np.allclose(moments, fixed, rtol=1e-9, atol=0):
            return axes @ np.diag(fixed) @ axes.T, True  # eigh and repaired_moments both sort ascending
    return tensor, False


def specc_solid(inertial: Inertial | None, repair: str) -> Solid | None:
    """A link's solid as specc imports it; None for a massless link (no `<inertial>`, or mass 0)."""
    if inertial is None or inertial.mass <= 0:
        return None
    tensor, _ = inertial_tensor(inertial, repair)
    return Solid(inertial.mass, np.array(inertial.origin_xyz, dtype=float), tensor)


def shape_solid(geometry: Geometry, density: float, cylinders_as_capsules: bool) -> Solid | None:
    """The solid Isaac Gym makes of one collision shape at `density`, in its link's frame; None for a mesh
    (PhysX would use its convex hull, which specc does not compute)."""
    kind = "capsule" if geometry.kind == "cylinder" and cylinders_as_capsules else geometry.kind
    if kind == "box":
        x, y, z = geometry.size
        mass = density * x * y * z
        local = np.diag([y * y + z * z, x * x + z * z, x * x + y * y]) * mass / 12
    elif kind == "sphere":
        r = geometry.size[0]
        mass = density * 4 / 3 * math.pi * r**3
        local = np.eye(3) * 0.4 * mass * r * r
    elif kind == "cylinder":  # PhysX's prism: a regular polygon inscribed in the circle, axis z
        r, length = geometry.size
        angle = 2 * math.pi / CYLINDER_SLICES
        mass = density * CYLINDER_SLICES / 2 * r * r * math.sin(angle) * length
        axial = mass * r * r * (2 + math.cos(angle)) / 6
        local = np.diag([axial / 2 + mass * length * length / 12] * 2 + [axial])
    elif kind == "capsule":
        r, length = geometry.size
        tube, ball = density * math.pi * r * r * length, density * 4 / 3 * math.pi * r**3
        mass = tube + ball
        ends = ball * 0.4 * r * r + ball * (length * length / 4 + 3 * length * r / 8)
        local = np.diag(
            [tube * (3 * r * r + length * length) / 12 + ends] * 2 + [tube * r * r / 2 + ball * 0.4 * r * r]
        )
    else:
        return None
    return Solid(mass, np.zeros(3), local).moved(
        np.array(rpy_matrix(geometry.origin_rpy)), np.array(geometry.origin_xyz, dtype=float)
    )


def prism_volume_ratio() -> float:
    """Volume of PhysX's cylinder prism over the cylinder's (the same for every cylinder)."""
    angle = 2 * math.pi / CYLINDER_SLICES
    return CYLINDER_SLICES / 2 * math.sin(angle) / math.pi


@dataclass(frozen=True)
class Body:
    """One rigid body of the emitted asset after the collapse."""

    name: str  # the link that keeps its name
    links: tuple[str, ...]  # every URDF link merged into it, itself first
    specc: Solid  # its mass properties as specc's MuJoCo model has them, in the body's frame
    isaacgym: Solid  # as Isaac Gym will have them
    density_links: tuple[str, ...]  # massless links whose collision shapes got AssetOptions.density
    unmeasured_meshes: int  # meshes on those links: their convex hulls' mass is not in `isaacgym`


@dataclass(frozen=True)
class IsaacGymRobot:
    bodies: tuple[Body, ...]
    # Each URDF link: the body holding it and its pose there (rotation (3, 3), position (3,)).
    placement: dict[str, tuple[str, np.ndarray, np.ndarray]]
    kept: frozenset[str]  # links whose fixed joint is marked dont_collapse

    def body(self, name: str) -> Body:
        return next(b for b in self.bodies if b.name == name)


def welded_origin(joint: Joint, position: float) -> tuple[np.ndarray, np.ndarray]:
    """A locked joint's child frame in its parent's: the joint's origin moved by `position` along (about)
    its axis, as the MuJoCo import welds it."""
    rotation = np.array(rpy_matrix(joint.origin_rpy))
    origin = np.array(joint.origin_xyz, dtype=float)
    axis = np.array(joint.axis, dtype=float)
    norm = float(np.linalg.norm(axis))
    if joint.kind == "prismatic":
        return rotation, origin + rotation @ (axis / norm * position if norm > 0 else np.zeros(3))
    return rotation @ np.array(axis_angle(joint.axis, position)), origin


def rpy_of(rotation: np.ndarray) -> tuple[float, float, float]:
    """URDF roll, pitch, yaw of a rotation matrix (R = Rz(yaw) Ry(pitch) Rx(roll))."""
    pitch = math.asin(max(-1.0, min(1.0, -float(rotation[2, 0]))))
    if abs(float(rotation[2, 0])) < 1.0 - 1e-12:
        roll = math.atan2(float(rotation[2, 1]), float(rotation[2, 2]))
        yaw = math.atan2(float(rotation[1, 0]), float(rotation[0, 0]))
    else:  # gimbal lock: put the whole turn about z
        roll = 0.0
        yaw = math.atan2(-float(rotation[0, 1]), float(rotation[1, 1]))
    return roll, pitch, yaw


def quat_of(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """The w-first unit quaternion of a rotation matrix."""
    m = rotation
    trace = float(m[0, 0] + m[1, 1] + m[2, 2])
    if trace > 0:
        s = math.sqrt(trace + 1.0) * 2
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = ((m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s)
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = ((m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s)
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = ((m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s)
    w, x, y, z = (float(v) for v in q)
    sign = -1.0 if w < 0 else 1.0
    return sign * w, sign * x, sign * y, sign * z


def quat_multiply(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float, float]:
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )


def isaacgym_robot(task: CheckedTask, tracked: set[str]) -> IsaacGymRobot:
    """The bodies Isaac Gym makes of the emitted URDF: welded links (fixed or locked joints) merged into
    their parent's body unless `tracked` (marked dont_collapse)."""
    urdf: Urdf = task.robot.urdf
    locked = task.robot.locked
    by_parent: dict[str, list[Joint]] = {}
    for joint in urdf.joints:
        by_parent.setdefault(joint.parent, []).append(joint)
    placement: dict[str, tuple[str, np.ndarray, np.ndarray]] = {
        urdf.root: (urdf.root, np.eye(3), np.zeros(3))
    }
    kept: set[str] = set()
    order = [urdf.root]
    stack = [urdf.root]
    while stack:  # iterative: the URDF reader bounds the depth, and this never recurses
        parent = stack.pop()
        for joint in by_parent.get(parent, []):
            welded = joint.kind == "fixed" or joint.name in locked
            if welded and joint.child in tracked:
                kept.add(joint.child)
            if welded and joint.child not in tracked:
                body, rotation, position = placement[parent]
                joint_rotation, joint_position = (
                    welded_origin(joint, locked[joint.name])
                    if joint.name in locked
                    else (np.array(rpy_matrix(joint.origin_rpy)), np.array(joint.origin_xyz, dtype=float))
                )
                placement[joint.child] = (
                    body,
                    rotation @ joint_rotation,
                    rotation @ joint_position + position,
                )
            else:
                placement[joint.child] = (joint.child, np.eye(3), np.zeros(3))
            order.append(joint.child)
            stack.append(joint.child)
    repair = task.spec.robot.repair_inertia
    capsules = task.spec.robot.cylinders_as_capsules
    bodies = []
    for name in [link for link in urdf.links if placement.get(link, (None,))[0] == link]:
        links = tuple([name] + [link for link in order if link != name and placement[link][0] == name])
        specc_parts, isaacgym_parts, density_links, meshes = [], [], [], 0
        for link_name in links:
            _, rotation, position = placement[link_name]
            link = urdf.links[link_name]
            solid = specc_solid(link.inertial, repair)
            if solid is not None:
                specc_parts.append(solid.moved(rotation, position))
                isaacgym_parts.append(solid.moved(rotation, position))
                continue
            shapes = [shape_solid(g, DENSITY, capsules) for g in link.collisions]
            if shapes:
                density_links.append(link_name)
            meshes += sum(1 for s in shapes if s is None)
            isaacgym_parts += [s.moved(rotation, position) for s in shapes if s is not None]
        bodies.append(
            Body(name, links, combine(specc_parts), combine(isaacgym_parts), tuple(density_links), meshes)
        )
    return IsaacGymRobot(tuple(bodies), placement, frozenset(kept))
