"""The URDF model: a robot as plain data (links, joints, inertials, collision geometry).

Shared by the compiler, whose reader (`specc.robot.urdf`) builds it from a file, and the runtime,
whose backends build their simulator models from it. It imports nothing from either side, and
nothing beyond the standard library: the runtime's only view of the compiler's robot import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

MOVABLE = ("revolute", "continuous", "prismatic")


@dataclass(frozen=True)
class Inertial:
    mass: float
    origin_xyz: tuple[float, float, float]
    origin_rpy: tuple[float, float, float]
    inertia: tuple[float, float, float, float, float, float]  # ixx ixy ixz iyy iyz izz
    line: int


@dataclass(frozen=True)
class Geometry:
    kind: str  # box | cylinder | sphere | capsule | mesh
    size: tuple[float, ...]  # box: sx sy sz; cylinder/capsule: radius length; sphere: radius; mesh: scale
    origin_xyz: tuple[float, float, float]
    origin_rpy: tuple[float, float, float]
    mesh_path: str | None
    line: int


@dataclass
class Link:
    name: str
    line: int
    inertial: Inertial | None
    collisions: list[Geometry]


@dataclass(frozen=True)
class Joint:
    name: str
    kind: str
    parent: str
    child: str
    origin_xyz: tuple[float, float, float]
    origin_rpy: tuple[float, float, float]
    axis: tuple[float, float, float]
    lower: float | None
    upper: float | None
    effort: float | None
    velocity: float | None
    damping: float
    friction: float
    line: int

    @property
    def movable(self) -> bool:
        return self.kind in MOVABLE


@dataclass(frozen=True)
class UrdfIssue:
    code: str
    message: str
    line: int
    fix: str | None = None
    severity: str = "error"


@dataclass
class Urdf:
    path: Path
    name: str
    links: dict[str, Link]
    joints: list[Joint]
    root: str
    issues: list[UrdfIssue]
    digest: str = ""  # sha256 of the file's bytes as read: the spec hash uses it, nobody reads the file twice

    @property
    def movable_joints(self) -> list[Joint]:
        """Movable joints in depth-first order from the root: the action order."""
        by_parent: dict[str, list[Joint]] = {}
        for joint in self.joints:
            by_parent.setdefault(joint.parent, []).append(joint)
        return _depth_first_joints(self.root, by_parent)

    @property
    def total_mass(self) -> float:
        return sum(link.inertial.mass for link in self.links.values() if link.inertial)

    def parent_joint(self, link: str) -> Joint | None:
        return next((j for j in self.joints if j.child == link), None)

    def rigid_group(self, link: str, stop: set[str]) -> list[str]:
        """`link` and the links fixed to it (through fixed joints), not descending into `stop` links."""
        fixed: dict[str, list[str]] = {}
        for joint in self.joints:
            if joint.kind == "fixed" and joint.child not in stop:
                fixed.setdefault(joint.parent, []).append(joint.child)
        out: list[str] = []
        stack = [link]
        while stack:  # depth-first, children in file order: the order the recursive form gave
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(fixed.get(current, [])))
        return out


def _depth_first_joints(root: str, by_parent: dict[str, list[Joint]]) -> list[Joint]:
    """Pre-order over the tree without recursion (the tree is checked acyclic when read)."""
    out: list[Joint] = []
    stack = list(reversed(by_parent.get(root, [])))
    while stack:
        joint = stack.pop()
        if joint.movable:
            out.append(joint)
        stack.extend(reversed(by_parent.get(joint.child, [])))
    return out


def principal_moments(inertia: tuple[float, ...]) -> tuple[float, float, float]:
    """Eigenvalues of the symmetric inertia tensor (Jacobi iterations; no numpy in the front end)."""
    ixx, ixy, ixz, iyy, iyz, izz = inertia
    a = [[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]]
    for _ in range(50):
        p, q = max(((0, 1), (0, 2), (1, 2)), key=lambda pq: abs(a[pq[0]][pq[1]]))
        if abs(a[p][q]) < 1e-18:
            break
        theta = 0.5 * math.atan2(2 * a[p][q], a[q][q] - a[p][p])
        c, s = math.cos(theta), math.sin(theta)
        rot = [[1.0 if i == j else 0.0 for j in range(3)] for i in range(3)]
        rot[p][p] = c
        rot[q][q] = c
        rot[p][q] = s
        rot[q][p] = -s
        rt_a = [[sum(rot[k][i] * a[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
        a = [[sum(rt_a[i][k] * rot[k][j] for k in range(3)) for j in range(3)] for i in range(3)]
    return (a[0][0], a[1][1], a[2][2])


def inertia_problem(inertia: tuple[float, ...]) -> str | None:
    moments = sorted(principal_moments(inertia))
    if moments[0] <= 0:
        return f"principal moment {moments[0]:.3g} is not positive"
    if moments[0] + moments[1] < moments[2] * (1 - 1e-9):
        return (
            f"principal moments {moments[0]:.3g} + {moments[1]:.3g} < {moments[2]:.3g} (triangle inequality)"
        )
    return None


def repaired_moments(inertia: tuple[float, ...]) -> tuple[float, float, float]:
    """The 'diagonal' repair: the nearest principal moments (ascending) that a rigid body can have.

    Moments are clamped positive; if the two smaller ones sum to less than the largest, each
    is raised by half the deficit. The largest moment is kept: for a thin disk written with
    zero in-plane moments this gives Ixx = Iyy = Izz / 2, the physical answer.
    """
    low, mid, high = sorted(max(m, 1e-9) for m in principal_moments(inertia))
    deficit = high * (1 + 1e-6) - low - mid  # a margin: simulators reject equality after rounding
    if deficit > 0:
        low, mid = low + deficit / 2, mid + deficit / 2
    return (low, mid, high)
