"""Read a URDF into plain data, with the line of every element, without any simulator.

The linter uses this to check joint patterns and link names, and the MuJoCo import
uses the same data to build its model, so both see one robot. Semantics follow the
URDF specification: a link without `<inertial>` is massless (nothing is inferred from
geometry). DTDs are refused outright: a URDF needs none, and refusing them closes
entity-expansion attacks when linting untrusted pull requests.
"""

from __future__ import annotations

import math
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from specc.robot.resolve import resolve_uri

MAX_URDF_BYTES = 32 << 20
MOVABLE = ("revolute", "continuous", "prismatic")
MESH_FORMATS = (".stl", ".obj", ".msh")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)

    def find(self, tag: str) -> Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def findall(self, tag: str) -> list[Element]:
        return [c for c in self.children if c.tag == tag]


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
        out = [link]
        for joint in self.joints:
            if joint.parent == link and joint.kind == "fixed" and joint.child not in stop:
                out.extend(self.rigid_group(joint.child, stop))
        return out


def _depth_first_joints(root: str, by_parent: dict[str, list[Joint]]) -> list[Joint]:
    out: list[Joint] = []
    for joint in by_parent.get(root, []):
        if joint.movable:
            out.append(joint)
        out.extend(_depth_first_joints(joint.child, by_parent))
    return out


class UrdfError(Exception):
    def __init__(self, code: str, message: str, line: int = 1, fix: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.fix = code, message, line, fix


def _parse_xml(data: bytes) -> Element:
    parser = xml.parsers.expat.ParserCreate()
    stack: list[Element] = []
    root: list[Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        element = Element(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(element)
        stack.append(element)

    def end(tag: str) -> None:
        stack.pop()

    def doctype(*_: object) -> None:
        raise UrdfError(
            "SPC302",
            "URDF has a DOCTYPE; DTDs are not allowed",
            parser.CurrentLineNumber,
            "remove the <!DOCTYPE ...> declaration",
        )

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as err:
        raise UrdfError(
            "SPC302", f"URDF is not well-formed XML: {xml.parsers.expat.ErrorString(err.code)}", err.lineno
        ) from None
    if not root:
        raise UrdfError("SPC302", "URDF is empty")
    return root[0]


def _floats(text: str | None, count: int, default: float, line: int, what: str) -> tuple[float, ...]:
    if text is None:
        return (default,) * count
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        raise UrdfError("SPC302", f"{what}: '{text}' is not {count} numbers", line) from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise UrdfError("SPC302", f"{what}: expected {count} finite numbers, got '{text}'", line)
    return values


def _number(element: Element, attr: str, what: str, default: float | None = None) -> float | None:
    text = element.attrs.get(attr)
    if text is None:
        return default
    return _floats(text, 1, 0.0, element.line, f"{what} {attr}")[0]


def _origin(element: Element) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    origin = element.find("origin")
    if origin is None:
        return (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)
    xyz = _floats(origin.attrs.get("xyz"), 3, 0.0, origin.line, "origin xyz")
    rpy = _floats(origin.attrs.get("rpy"), 3, 0.0, origin.line, "origin rpy")
    return xyz, rpy  # type: ignore[return-value]


def read_urdf(path: Path) -> Urdf:
    """Parse a URDF file. Raises UrdfError (with a code and line) when it cannot be used at all."""
    try:
        if not path.is_file():
            raise UrdfError("SPC301", f"URDF not found: {path}")
        if path.stat().st_size > MAX_URDF_BYTES:
            raise UrdfError("SPC302", f"URDF is larger than {MAX_URDF_BYTES >> 20} MiB")
        data = path.read_bytes()
    except OSError as err:  # a name too long, a folder without permission, ...
        raise UrdfError("SPC301", f"cannot read URDF: {err.strerror or err}") from None
    root = _parse_xml(data)
    if root.tag != "robot":
        raise UrdfError("SPC302", f"the root element is <{root.tag}>, not <robot>", root.line)
    issues: list[UrdfIssue] = []
    links: dict[str, Link] = {}
    for element in root.findall("link"):
        name = element.attrs.get("name")
        if not name:
            raise UrdfError("SPC302", "a <link> has no name", element.line)
        links[name] = Link(
            name, element.line, _inertial(element, name, issues), _collisions(element, path, issues)
        )
    joints = [_joint(element) for element in root.findall("joint")]
    children = {j.child for j in joints}
    for joint in joints:
        for end in (joint.parent, joint.child):
            if end not in links:
                raise UrdfError(
                    "SPC302", f"joint '{joint.name}' names link '{end}', which does not exist", joint.line
                )
    roots = [name for name in links if name not in children]
    if len(roots) != 1:
        raise UrdfError(
            "SPC302", f"URDF must have exactly one root link, found {len(roots)}: {', '.join(roots[:5])}"
        )
    for element in root.children:
        if element.tag in ("transmission", "gazebo", "material", "link", "joint"):
            continue
        issues.append(
            UrdfIssue("SPC307", f"<{element.tag}> is not used by specc", element.line, severity="warning")
        )
    return Urdf(path, root.attrs.get("name", path.stem), links, joints, roots[0], issues)


def _inertial(link: Element, name: str, issues: list[UrdfIssue]) -> Inertial | None:
    element = link.find("inertial")
    if element is None:
        return None
    mass_el = element.find("mass")
    mass = _number(mass_el, "value", f"link '{name}' mass", 0.0) if mass_el is not None else 0.0
    inertia_el = element.find("inertia")
    keys = ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")
    inertia = tuple(
        (_number(inertia_el, k, f"link '{name}' inertia", 0.0) or 0.0) if inertia_el is not None else 0.0
        for k in keys
    )
    xyz, rpy = _origin(element)
    if mass is None or mass < 0:
        raise UrdfError("SPC302", f"link '{name}' has a negative mass", element.line)
    result = Inertial(mass, xyz, rpy, inertia, element.line)  # type: ignore[arg-type]
    problem = inertia_problem(result.inertia)
    if mass > 0 and problem:
        issues.append(
            UrdfIssue(
                "SPC305",
                f"link '{name}': inertia is not physical ({problem})",
                element.line,
                'set robot.repair_inertia = "diagonal" to use the nearest valid principal moments',
            )
        )
    return result


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


def _collisions(link: Element, urdf_path: Path, issues: list[UrdfIssue]) -> list[Geometry]:
    out: list[Geometry] = []
    for collision in link.findall("collision"):
        geometry = collision.find("geometry")
        if geometry is None or not geometry.children:
            continue
        shape = geometry.children[0]
        xyz, rpy = _origin(collision)
        where = f"link '{link.attrs.get('name')}'"
        if shape.tag == "box":
            size = _floats(shape.attrs.get("size"), 3, 0.0, shape.line, f"{where} box size")
            out.append(Geometry("box", size, xyz, rpy, None, shape.line))
        elif shape.tag in ("cylinder", "capsule"):
            radius = _number(shape, "radius", where) or 0.0
            length = _number(shape, "length", where) or 0.0
            out.append(Geometry(shape.tag, (radius, length), xyz, rpy, None, shape.line))
        elif shape.tag == "sphere":
            out.append(
                Geometry("sphere", (_number(shape, "radius", where) or 0.0,), xyz, rpy, None, shape.line)
            )
        elif shape.tag == "mesh":
            uri = shape.attrs.get("filename", "")
            scale = _floats(shape.attrs.get("scale"), 3, 1.0, shape.line, f"{where} mesh scale")
            resolved = resolve_uri(uri, urdf_path.parent)
            if resolved is None or not resolved.is_file():
                issues.append(
                    UrdfIssue(
                        "SPC306",
                        f"{where}: collision mesh '{uri}' not found",
                        shape.line,
                        "install the package that provides it or set SPECC_PACKAGE_PATH; "
                        "the collision geometry is left out",
                        severity="warning",
                    )
                )
                continue
            if resolved.suffix.lower() not in MESH_FORMATS:
                issues.append(
                    UrdfIssue(
                        "SPC306",
                        f"{where}: collision mesh '{resolved.name}' is {resolved.suffix}, which "
                        f"the physics backends cannot read ({', '.join(MESH_FORMATS)})",
                        shape.line,
                        "convert it to STL or OBJ; the collision geometry is left out",
                        severity="warning",
                    )
                )
                continue
            out.append(Geometry("mesh", scale, xyz, rpy, str(resolved), shape.line))
        else:
            issues.append(
                UrdfIssue(
                    "SPC307",
                    f"{where}: unsupported collision geometry <{shape.tag}>",
                    shape.line,
                    "use box, cylinder, sphere, capsule or mesh",
                    severity="warning",
                )
            )
    return out


def _joint(element: Element) -> Joint:
    name = element.attrs.get("name", "")
    kind = element.attrs.get("type", "")
    if kind not in (*MOVABLE, "fixed", "floating", "planar"):
        raise UrdfError("SPC302", f"joint '{name}' has unknown type '{kind}'", element.line)
    if kind in ("floating", "planar"):
        raise UrdfError(
            "SPC307",
            f"joint '{name}': type '{kind}' is not supported inside a robot",
            element.line,
            "specc adds the floating base itself; make the joint fixed",
        )
    parent = element.find("parent")
    child = element.find("child")
    if parent is None or child is None:
        raise UrdfError("SPC302", f"joint '{name}' needs <parent> and <child>", element.line)
    xyz, rpy = _origin(element)
    axis_el = element.find("axis")
    axis = (
        _floats(axis_el.attrs.get("xyz") if axis_el is not None else None, 3, 0.0, element.line, "axis")
        if axis_el is not None
        else (1.0, 0.0, 0.0)
    )
    limit = element.find("limit")
    dynamics = element.find("dynamics")
    what = f"joint '{name}' limit"
    lower = _number(limit, "lower", what) if limit is not None else None
    upper = _number(limit, "upper", what) if limit is not None else None
    if kind == "continuous":
        lower = upper = None
    return Joint(
        name=name,
        kind=kind,
        parent=parent.attrs.get("link", ""),
        child=child.attrs.get("link", ""),
        origin_xyz=xyz,
        origin_rpy=rpy,
        axis=axis,  # type: ignore[arg-type]
        lower=lower,
        upper=upper,
        effort=_number(limit, "effort", what) if limit is not None else None,
        velocity=_number(limit, "velocity", what) if limit is not None else None,
        damping=(_number(dynamics, "damping", f"joint '{name}' dynamics", 0.0) or 0.0)
        if dynamics is not None
        else 0.0,
        friction=(_number(dynamics, "friction", f"joint '{name}' dynamics", 0.0) or 0.0)
        if dynamics is not None
        else 0.0,
        line=element.line,
    )
