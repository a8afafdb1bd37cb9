"""How Isaac Gym Preview 4 turns a URDF into rigid bodies and DOFs, as its documentation describes it.

This is the stand-in's model of `Gym.load_asset`, written from the documented semantics only
(the AssetOptions docstrings, the DOF property descriptions), independently of specc's target, so
that the parity check compares specc's MuJoCo model against what Isaac Gym is documented to build:

- A link with an `<inertial>` keeps its mass, centre of mass and inertia (override_com and
  override_inertia off). A link without one gets `AssetOptions.density` x the volume of its
  collision shapes: mass, centre of mass and inertia of those solids.
- PhysX has no cylinder: a URDF cylinder becomes a convex prism of `slices_per_cylinder` side faces
  (a regular polygon inscribed in the circle), or a capsule with `replace_cylinder_with_capsule`.
- `collapse_fixed_joints` merges every link welded by a fixed joint into its parent (masses summed,
  centres of mass and inertias combined about the merged centre), unless the joint says
  `dont_collapse="true"`.
- DOF properties come from `<limit>` and `<dynamics>`: limits (none for a continuous joint),
  velocity, effort, damping and friction; the drive mode is `default_dof_drive_mode` and the
  armature `AssetOptions.armature`.

A mesh on a link without `<inertial>` would need its convex hull: the stand-in refuses it rather
than guess (NotImplementedError), and a merged body of zero mass is refused too (PhysX needs a mass).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MOVABLE = ("revolute", "continuous", "prismatic")


@dataclass
class MassProperties:
    """Mass [kg], centre of mass (3,) and inertia about it (3, 3), in a body's frame."""

    mass: float = 0.0
    com: np.ndarray = field(default_factory=lambda: np.zeros(3))
    inertia: np.ndarray = field(default_factory=lambda: np.zeros((3, 3)))

    def moved(self, rotation: np.ndarray, position: np.ndarray) -> MassProperties:
        """The same solid seen from a frame in which this one sits at (rotation, position)."""
        return MassProperties(self.mass, rotation @ self.com + position, rotation @ self.inertia @ rotation.T)


def combine(parts: list[MassProperties]) -> MassProperties:
    """The mass properties of rigidly joined solids (all in one frame): parallel-axis theorem."""
    mass = sum(p.mass for p in parts)
    if mass <= 0:
        return MassProperties()
    com = sum(p.mass * p.com for p in parts) / mass
    inertia = np.zeros((3, 3))
    for p in parts:
        d = p.com - com
        inertia += p.inertia + p.mass * (float(d @ d) * np.eye(3) - np.outer(d, d))
    return MassProperties(mass, com, inertia)


def rotation_from_rpy(rpy) -> np.ndarray:
    r, p, y = (float(v) for v in rpy)
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _floats(text: str | None, default: list[float]) -> np.ndarray:
    return np.array([float(v) for v in text.split()]) if text else np.array(default, dtype=float)


def _origin(element) -> tuple[np.ndarray, np.ndarray]:
    origin = element.find("origin") if element is not None else None
    if origin is None:
        return np.eye(3), np.zeros(3)
    return rotation_from_rpy(_floats(origin.get("rpy"), [0, 0, 0])), _floats(origin.get("xyz"), [0, 0, 0])


@dataclass
class Shape:
    kind: str  # box, sphere, capsule, prism (a cylinder as PhysX has it), mesh
    size: tuple[float, ...]  # box (x, y, z); sphere (r,); capsule, prism (r, length); mesh: scale
    rotation: np.ndarray
    position: np.ndarray
    slices: int = 0  # prism: side faces
    link: str = ""  # the URDF link it belongs to, and its place among that link's collisions
    index: int = 0


def shape_solid(shape: Shape, density: float) -> MassProperties:
    """Mass properties of one collision shape of uniform `density`, in its link's frame."""
    if shape.kind == "box":
        x, y, z = shape.size
        mass = density * x * y * z
        local = np.diag([y * y + z * z, x * x + z * z, x * x + y * y]) * mass / 12
    elif shape.kind == "sphere":
        (r,) = shape.size
        mass = density * 4 / 3 * math.pi * r**3
        local = np.eye(3) * 0.4 * mass * r * r
    elif shape.kind == "prism":  # regular polygon of `slices` sides inscribed in radius r, axis z
        r, length = shape.size
        angle = 2 * math.pi / shape.slices
        mass = density * shape.slices / 2 * r * r * math.sin(angle) * length
        axial = mass * r * r * (2 + math.cos(angle)) / 6
        side = axial / 2 + mass * length * length / 12
        local = np.diag([side, side, axial])
    elif shape.kind == "capsule":  # a cylinder of `length` with two hemispheres, axis z
        r, length = shape.size
        cylinder = density * math.pi * r * r * length
        ball = density * 4 / 3 * math.pi * r**3
        mass = cylinder + ball
        axial = cylinder * r * r / 2 + ball * 0.4 * r * r
        hemisphere = ball * (0.4 * r * r) + ball * (length * length / 4 + 3 * length * r / 8)
        side = cylinder * (3 * r * r + length * length) / 12 + hemisphere
        local = np.diag([side, side, axial])
    else:
        raise NotImplementedError(
            "the stand-in does not model density on a mesh (Isaac Gym uses its convex hull): "
            "give the link an <inertial>"
        )
    return MassProperties(mass, np.zeros(3), local).moved(shape.rotation, shape.position)


@dataclass
class Dof:
    name: str
    kind: str
    has_limits: bool
    lower: float
    upper: float
    velocity: float
    effort: float
    damping: float
    friction: float


@dataclass
class ImportedAsset:
    """What `load_asset` built: bodies after the collapse (URDF order), their mass properties and shapes,
    DOFs in Isaac Gym's order (here: by name, so that a task must map them by name)."""

    body_names: list[str]
    body_mass: dict[str, MassProperties]
    body_shapes: dict[str, list[Shape]]
    dofs: list[Dof]
    root: str
    # For each URDF link: the body it was merged into and its pose in that body (rotation, position).
    link_frames: dict[str, tuple[str, np.ndarray, np.ndarray]]


def import_urdf(path: Path, options) -> ImportedAsset:
    """The asset Isaac Gym builds from the URDF at `path` with AssetOptions `options`."""
    root = ElementTree.parse(path).getroot()
    links = {link.get("name"): link for link in root.findall("link")}
    joints = root.findall("joint")
    parent_joint = {j.find("child").get("link"): j for j in joints}
    root_link = next(name for name in links if name not in parent_joint)

    def merged(joint) -> bool:
        return (
            bool(options.collapse_fixed_joints)
            and joint.get("type") == "fixed"
            and joint.get("dont_collapse") != "true"
        )

    # Each link's body and its pose in that body, walking down from the root (parents come first).
    link_frames: dict[str, tuple[str, np.ndarray, np.ndarray]] = {
        root_link: (root_link, np.eye(3), np.zeros(3))
    }
    order = [root_link]
    children: dict[str, list] = {}
    for joint in joints:
        children.setdefault(joint.find("parent").get("link"), []).append(joint)
    stack = [root_link]
    while stack:
        parent = stack.pop()
        for joint in children.get(parent, []):
            child = joint.find("child").get("link")
            if merged(joint):
                body, rotation, position = link_frames[parent]
                joint_rotation, joint_position = _origin(joint)
                link_frames[child] = (body, rotation @ joint_rotation, rotation @ joint_position + position)
            else:
                link_frames[child] = (child, np.eye(3), np.zeros(3))
            order.append(child)
            stack.append(child)
    body_names = [name for name in links if link_frames[name][0] == name]

    parts: dict[str, list[MassProperties]] = {name: [] for name in body_names}
    shapes: dict[str, list[Shape]] = {name: [] for name in body_names}
    for name, link in links.items():
        body, rotation, position = link_frames[name]
        link_shapes = [_shape(c, options) for c in link.findall("collision")]
        for k, s in enumerate(link_shapes):
            shapes[body].append(
                Shape(
                    s.kind, s.size, rotation @ s.rotation, rotation @ s.position + position, s.slices, name, k
                )
            )
        inertial = link.find("inertial")
        if inertial is not None:
            mass = float(inertial.find("mass").get("value"))
            i = inertial.find("inertia")
            ixx, ixy, ixz, iyy, iyz, izz = (
                float(i.get(k, 0.0)) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")
            )
            frame_rotation, com = _origin(inertial)
            tensor = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
            solid = MassProperties(mass, com, frame_rotation @ tensor @ frame_rotation.T)
        else:
            solid = combine([shape_solid(s, float(options.density)) for s in link_shapes])
        parts[body].append(solid.moved(rotation, position))
    body_mass = {name: combine(parts[name]) for name in body_names}
    for name, props in body_mass.items():
        if props.mass <= 0:
            raise ValueError(f"body '{name}' has no mass after the import: PhysX cannot simulate it")

    dofs = []
    for joint in joints:
        kind = joint.get("type")
        if kind not in MOVABLE:
            continue
        limit = joint.find("limit")
        dynamics = joint.find("dynamics")

        def attr(element, key: str, default: float) -> float:
            return float(element.get(key, default)) if element is not None else default

        has_limits = (
            kind != "continuous" and limit is not None and "lower" in limit.attrib and "upper" in limit.attrib
        )
        dofs.append(
            Dof(
                joint.get("name"),
                kind,
                has_limits,
                attr(limit, "lower", 0.0) if has_limits else 0.0,
                attr(limit, "upper", 0.0) if has_limits else 0.0,
                attr(limit, "velocity", 0.0),
                attr(limit, "effort", 0.0),
                attr(dynamics, "damping", 0.0),
                attr(dynamics, "friction", 0.0),
            )
        )
    dofs.sort(key=lambda d: d.name)
    return ImportedAsset(body_names, body_mass, shapes, dofs, root_link, link_frames)


def _shape(collision, options) -> Shape:
    rotation, position = _origin(collision)
    geometry = list(collision.find("geometry"))[0]
    if geometry.tag == "box":
        return Shape("box", tuple(_floats(geometry.get("size"), [0, 0, 0])), rotation, position)
    if geometry.tag == "sphere":
        return Shape("sphere", (float(geometry.get("radius")),), rotation, position)
    if geometry.tag == "mesh":
        return Shape("mesh", tuple(_floats(geometry.get("scale"), [1, 1, 1])), rotation, position)
    radius_length = (float(geometry.get("radius")), float(geometry.get("length")))
    if geometry.tag == "capsule" or (geometry.tag == "cylinder" and options.replace_cylinder_with_capsule):
        return Shape("capsule", radius_length, rotation, position)
    if geometry.tag == "cylinder":
        return Shape("prism", radius_length, rotation, position, int(options.slices_per_cylinder))
    raise ValueError(f"<{geometry.tag}> is no collision geometry Isaac Gym's URDF importer reads")
