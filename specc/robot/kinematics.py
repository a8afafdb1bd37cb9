"""Where the robot's collision geometry is at its initial pose, without a simulator.

Lint uses this to find an `init_height` that starts the robot inside the ground: forward
kinematics of the URDF at the spec's default joint positions, with the base link at
(0, 0, init_height) and level (as every backend places it), then the lowest point of each
collision geometry. Boxes, spheres, cylinders and capsules are exact; binary STL meshes are
read (vertices only, size-bounded, with numpy) and exact too; other meshes (ASCII STL, OBJ, larger
files) are skipped and counted, so the check never claims more than it saw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from specc.model.urdf import Geometry, Joint, Urdf
from specc.untrusted_files import FileRefused, read_limited

Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
Vector = tuple[float, float, float]
IDENTITY: Matrix = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

MAX_MESH_BYTES = 8 << 20  # a binary STL of ~170k triangles; larger meshes are skipped
MAX_MESH_BYTES_IN_ALL = 64 << 20  # per robot: thousands of links to distinct big meshes are not read


@dataclass(frozen=True)
class Pose:
    rotation: Matrix
    position: Vector

    def then(self, rotation: Matrix, position: Vector) -> Pose:
        """This pose followed by a motion expressed in its own frame."""
        return Pose(_matmul(self.rotation, rotation), _add(self.position, _apply(self.rotation, position)))


@dataclass(frozen=True)
class LowestPoint:
    """The lowest point of the robot's collision geometry: its height and the link it belongs to."""

    height: float
    link: str
    skipped_meshes: int  # meshes that could not be measured


def link_poses(urdf: Urdf, joint_pos: dict[str, float], base_height: float) -> dict[str, Pose]:
    """World pose of every link reachable from the root, the root level at (0, 0, base_height)."""
    by_parent: dict[str, list[Joint]] = {}
    for joint in urdf.joints:
        by_parent.setdefault(joint.parent, []).append(joint)
    poses = {urdf.root: Pose(IDENTITY, (0.0, 0.0, base_height))}
    stack = [urdf.root]
    while stack:  # iterative, and each link once: long chains and cycles cannot recurse or loop
        link = stack.pop()
        for joint in by_parent.get(link, []):
            if joint.child in poses:
                continue
            origin = poses[link].then(rpy_matrix(joint.origin_rpy), joint.origin_xyz)
            q = joint_pos.get(joint.name, 0.0)
            if joint.kind in ("revolute", "continuous"):
                origin = origin.then(axis_angle(joint.axis, q), (0.0, 0.0, 0.0))
            elif joint.kind == "prismatic":
                axis = _unit(joint.axis)
                origin = origin.then(IDENTITY, (axis[0] * q, axis[1] * q, axis[2] * q))
            poses[joint.child] = origin
            stack.append(joint.child)
    return poses


def lowest_point(urdf: Urdf, joint_pos: dict[str, float], base_height: float) -> LowestPoint | None:
    """The lowest collision point at the given pose; None when no geometry could be measured."""
    best: tuple[float, str] | None = None
    skipped = 0
    mesh_cache: dict[str, Any] = {}
    for name, pose in link_poses(urdf, joint_pos, base_height).items():
        for geometry in urdf.links[name].collisions:
            frame = pose.then(rpy_matrix(geometry.origin_rpy), geometry.origin_xyz)
            low = _geometry_low(geometry, frame, mesh_cache)
            if low is None:
                skipped += 1
            elif math.isfinite(low) and (best is None or low < best[0]):
                best = (low, name)
    return None if best is None else LowestPoint(best[0], best[1], skipped)


def _geometry_low(geometry: Geometry, frame: Pose, mesh_cache: dict[str, Any]) -> float | None:
    z = frame.position[2]
    row = frame.rotation[2]  # world z of each local axis
    if geometry.kind == "sphere":
        return z - geometry.size[0]
    if geometry.kind == "box":
        return z - sum(abs(row[i]) * geometry.size[i] / 2 for i in range(3))
    if geometry.kind in ("cylinder", "capsule"):
        radius, length = geometry.size
        axial = abs(row[2]) * length / 2
        if geometry.kind == "capsule":
            return z - axial - radius
        return z - axial - radius * math.sqrt(max(0.0, 1.0 - row[2] * row[2]))
    if geometry.kind == "mesh" and geometry.mesh_path:
        vertices = _mesh_vertices(geometry.mesh_path, mesh_cache)
        if vertices is None:
            return None
        sx, sy, sz = geometry.size
        return z + float((vertices @ (row[0] * sx, row[1] * sy, row[2] * sz)).min())
    return None


def _mesh_vertices(mesh_path: str, mesh_cache: dict[str, Any]):
    """A mesh's vertices, read once per check and within the check's byte budget (None: not readable)."""
    if mesh_path not in mesh_cache:
        budget = MAX_MESH_BYTES_IN_ALL - mesh_cache.get("__bytes_read__", 0)
        vertices = _stl_vertices(Path(mesh_path), min(budget, MAX_MESH_BYTES))
        mesh_cache[mesh_path] = vertices
        if vertices is not None:
            mesh_cache["__bytes_read__"] = (
                mesh_cache.get("__bytes_read__", 0) + 84 + 50 * (len(vertices) // 3)
            )
    return mesh_cache[mesh_path]


def _stl_vertices(path: Path, limit: int = MAX_MESH_BYTES):
    """The vertices of a binary STL file as an (n, 3) array, or None for anything else (or too large)."""
    import numpy as np

    if limit <= 0:
        return None
    try:  # as untrusted as the URDF: a regular file only (no FIFO, device, /proc), bounded
        data = read_limited(path, limit, "mesh")
    except FileRefused:
        return None
    if len(data) < 84:
        return None
    count = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
    if len(data) != 84 + 50 * count:  # ASCII STL, or a damaged file
        return None
    triangle = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
    vertices = np.frombuffer(data, dtype=triangle, count=count, offset=84)["vertices"].reshape(-1, 3)
    vertices = vertices[np.isfinite(vertices).all(axis=1)].astype(np.float64)
    return vertices if len(vertices) else None


def rpy_matrix(rpy: tuple[float, float, float]) -> Matrix:
    """URDF's fixed-axis roll, pitch, yaw: Rz(yaw) · Ry(pitch) · Rx(roll)."""
    roll, pitch, yaw = rpy
    cr, sr, cp, sp, cy, sy = (
        math.cos(roll),
        math.sin(roll),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(yaw),
        math.sin(yaw),
    )
    return (
        (cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr),
        (sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr),
        (-sp, cp * sr, cp * cr),
    )


def axis_angle(axis: Vector, angle: float) -> Matrix:
    """Rotation by `angle` about `axis` (Rodrigues); the identity for a zero axis."""
    x, y, z = _unit(axis)
    if (x, y, z) == (0.0, 0.0, 0.0):
        return IDENTITY
    c, s = math.cos(angle), math.sin(angle)
    t = 1.0 - c
    return (
        (t * x * x + c, t * x * y - s * z, t * x * z + s * y),
        (t * x * y + s * z, t * y * y + c, t * y * z - s * x),
        (t * x * z - s * y, t * y * z + s * x, t * z * z + c),
    )


def _unit(v: Vector) -> Vector:
    norm = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (
        (0.0, 0.0, 0.0) if norm == 0 or not math.isfinite(norm) else (v[0] / norm, v[1] / norm, v[2] / norm)
    )


def _matmul(a: Matrix, b: Matrix) -> Matrix:
    return tuple(tuple(sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)) for i in range(3))  # type: ignore[return-value]


def _apply(m: Matrix, v: Vector) -> Vector:
    return tuple(m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2] for i in range(3))  # type: ignore[return-value]


def _add(a: Vector, b: Vector) -> Vector:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@dataclass(frozen=True)
class Overlap:
    """A link whose collision geometry certainly reaches into a body placed beside the robot."""

    link: str
    depth: float  # how far one of its points lies inside the body [m] (at least this much)


# Spawn overlaps smaller than this are contact, not interpenetration (as the backends judge it).
OVERLAP_TOLERANCE = 1e-3


@dataclass(frozen=True)
class PlacedSolid:
    """One collision geometry of the robot where the default pose puts it, with points of its solid."""

    link: str
    geometry: Geometry
    rotation: Any  # (3, 3) array: the geometry's frame in the world
    position: Any  # (3,) array
    points: Any  # (n, 3) array in the geometry's frame, or None (a mesh that could not be read)


def placed_solids(urdf: Urdf, joint_pos: dict[str, float], base_height: float) -> list[PlacedSolid]:
    """The robot's collision geometry at a pose (base level at (0, 0, base_height)), each mesh read once
    and within the byte budget: `overlap_with_primitive` tests any number of bodies against it."""
    import numpy as np

    mesh_cache: dict[str, Any] = {}
    solids = []
    for name, pose in link_poses(urdf, joint_pos, base_height).items():
        for geometry in urdf.links[name].collisions:
            frame = pose.then(rpy_matrix(geometry.origin_rpy), geometry.origin_xyz)
            points = _solid_points(geometry, mesh_cache)
            solids.append(
                PlacedSolid(name, geometry, np.array(frame.rotation), np.array(frame.position), points)
            )
    return solids


def overlap_with_primitive(
    solids: list[PlacedSolid], shape: str, size: tuple[float, ...], center: Vector
) -> Overlap | None:
    """The robot's deepest link inside an upright primitive (box: full extents; sphere: radius; cylinder,
    capsule: radius and length along z) centred at `center`, or None.

    A check without false alarms: it tests points of the robot's solids (box corners, face and body
    centres, sphere, cylinder and capsule axes and rims, mesh vertices) against the primitive, and the
    primitive's centre against each robot primitive and closed mesh; an overlap that no such point shows
    (two bars crossing) is left to the backend's check when the model is built.
    """
    import numpy as np

    best: Overlap | None = None
    middle = np.array(center, dtype=float)
    for solid in solids:
        depths = []
        if solid.points is not None:
            world = solid.points @ solid.rotation.T + solid.position
            depths.append(_depth_inside(shape, size, world - middle))
        seen_from_it = (middle - solid.position) @ solid.rotation  # the centre in the geometry's frame
        kind = solid.geometry.kind
        if kind in ("box", "sphere", "cylinder", "capsule"):
            depths.append(_depth_inside(kind, solid.geometry.size, seen_from_it[None, :]))
        elif solid.points is not None and _inside_mesh(solid.points, seen_from_it):
            depths.append(min(size) / 2)  # the centre is inside: so is some of the primitive's own core
        depth = max(depths, default=-math.inf)
        if depth > OVERLAP_TOLERANCE and (best is None or depth > best.depth):
            best = Overlap(solid.link, depth)
    return best


def _solid_points(geometry: Geometry, mesh_cache: dict[str, Any]):
    """Points of a collision geometry's solid in its own frame (an (n, 3) array), or None (unread mesh)."""
    import numpy as np

    if geometry.kind == "box":
        extents = np.array(geometry.size, dtype=float) / 2
        corners = np.array(
            [[x, y, z] for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)], dtype=float
        )
        return corners * extents
    if geometry.kind in ("sphere", "cylinder", "capsule"):
        radius = geometry.size[0]
        half = geometry.size[1] / 2 if geometry.kind != "sphere" else 0.0
        rim = [
            (radius * math.cos(a), radius * math.sin(a))
            for a in np.linspace(0, 2 * math.pi, 16, endpoint=False)
        ]
        heights = (-half, 0.0, half)
        points = [(0.0, 0.0, z) for z in heights] + [(x, y, z) for x, y in rim for z in heights]
        if geometry.kind != "cylinder":  # the caps' poles
            points += [(0.0, 0.0, half + radius), (0.0, 0.0, -half - radius)]
        return np.array(points, dtype=float)
    if geometry.kind == "mesh" and geometry.mesh_path:
        vertices = _mesh_vertices(geometry.mesh_path, mesh_cache)
        return None if vertices is None else vertices * np.array(geometry.size, dtype=float)
    return None


def _inside_mesh(vertices, point) -> bool:
    """Whether `point` lies inside a closed triangle mesh (consecutive vertex triples): a ray from it crosses
    the surface an odd number of times (Möller-Trumbore, all triangles at once)."""
    import numpy as np

    if len(vertices) % 3 or len(vertices) > 3 * 200_000:
        return False
    triangles = vertices.reshape(-1, 3, 3)
    direction = np.array([0.5773, 0.5774, 0.5775])  # off every axis and diagonal: no edge-on hits by design
    a, e1, e2 = triangles[:, 0], triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    p = np.cross(direction, e2)
    det = (e1 * p).sum(axis=1)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    t = point - a
    u = (t * p).sum(axis=1) * inv
    q = np.cross(t, e1)
    v = (q @ direction) * inv
    distance = (e2 * q).sum(axis=1) * inv
    hits = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (distance > 0)
    return bool(hits.sum() % 2)


def _depth_inside(shape: str, size, points) -> float:
    """How deep the deepest of `points` (an (n, 3) array in the primitive's frame, z its axis) lies inside
    the primitive: its distance to the surface, negative when every point is outside."""
    import numpy as np

    if shape == "box":
        half = np.array(size, dtype=float) / 2
        return float((half - np.abs(points)).min(axis=1).max())
    radius = size[0]
    if shape == "sphere":
        return float((radius - np.linalg.norm(points, axis=1)).max())
    half = size[1] / 2
    radial = np.linalg.norm(points[:, :2], axis=1)
    if shape == "capsule":
        along = np.clip(points[:, 2], -half, half)
        return float(
            (radius - np.linalg.norm(points - np.stack([0 * along, 0 * along, along], 1), axis=1)).max()
        )
    return float(np.minimum(radius - radial, half - np.abs(points[:, 2])).max())
