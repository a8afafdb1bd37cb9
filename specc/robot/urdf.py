"""Read a URDF into plain data, with the line of every element, without any simulator.

The linter uses this to check joint patterns and link names, and the MuJoCo import
uses the same data to build its model, so both see one robot. Semantics follow the
URDF specification: a link without `<inertial>` is massless (nothing is inferred from
geometry). DTDs are refused outright: a URDF needs none, and refusing them closes
entity-expansion attacks when linting untrusted pull requests.
"""

from __future__ import annotations

import hashlib
import math
import os
import xml.parsers.expat
from dataclasses import dataclass, field
from pathlib import Path

from specc.robot.resolve import resolve_uri
from specc.untrusted_files import FileRefused, check_regular, read_limited

MAX_URDF_BYTES = 32 << 20
# Bounds that keep reading a hostile 32 MB URDF under a second and 100 MB: a real robot has tens
# of links, a few thousand elements, and a kinematic tree a few dozen links deep.
MAX_XML_ELEMENTS = 200_000  # every element counts, kept or not: parsing stops past this
MAX_LINKS = 5_000  # links, and joints likewise
MAX_COLLISIONS = 20_000  # <collision> elements in all
MAX_TREE_DEPTH = 256  # links from the root to the deepest leaf
MAX_NAME_CHARS = 256  # a link or joint name
# What the reader keeps: the children of <robot> it uses, and inside them the elements it reads.
# Everything else (<visual>, <gazebo> plugins, <transmission> bodies) is counted and dropped.
_KEPT_BELOW = {
    "link": {"inertial", "collision"},
    "inertial": {"mass", "inertia", "origin"},
    "collision": {"origin", "geometry"},
    "geometry": {"box", "cylinder", "sphere", "capsule", "mesh", "*"},
    "joint": {"parent", "child", "origin", "axis", "limit", "dynamics"},
}
MOVABLE = ("revolute", "continuous", "prismatic")
MESH_FORMATS = (".stl", ".obj", ".msh")


@dataclass(slots=True)
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


class UrdfError(Exception):
    def __init__(self, code: str, message: str, line: int = 1, fix: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.fix = code, message, line, fix


def _count(counts: dict[str, int], tag: str, limit: int, parser) -> None:
    counts[tag] += 1
    if counts[tag] > limit:
        raise UrdfError("SPC312", f"URDF has more than {limit} <{tag}> elements", parser.CurrentLineNumber)


def _parse_xml(data: bytes) -> Element:
    """The <robot> element with the parts specc reads; at most MAX_XML_ELEMENTS elements are looked at."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[Element | None] = []  # None: inside a dropped subtree
    root: list[Element] = []
    counts = {"elements": 0, "link": 0, "joint": 0, "collision": 0}

    def start(tag: str, attrs: dict[str, str]) -> None:
        counts["elements"] += 1
        if counts["elements"] > MAX_XML_ELEMENTS:
            raise UrdfError(
                "SPC312",
                f"URDF has more than {MAX_XML_ELEMENTS} XML elements",
                parser.CurrentLineNumber,
                "a robot needs a few thousand; remove generated or repeated content",
            )
        if not stack:
            element = Element(tag, attrs, parser.CurrentLineNumber)
            root.append(element)
            stack.append(element)
            return
        parent = stack[-1]
        if parent is None:  # the fast path: most of a hostile file is dropped here
            stack.append(None)
            return
        if len(stack) == 1:  # a child of <robot>: links and joints whole, others by name only
            if tag in ("link", "joint"):
                _count(counts, tag, MAX_LINKS, parser)
                element = Element(tag, attrs, parser.CurrentLineNumber)
                parent.children.append(element)
                stack.append(element)
                return
            if tag not in ("transmission", "gazebo", "material") and len(parent.children) < MAX_LINKS * 3:
                parent.children.append(Element(tag, {}, parser.CurrentLineNumber))  # for a warning
            stack.append(None)
            return
        kept = _KEPT_BELOW.get(parent.tag)
        if kept is None or (tag not in kept and "*" not in kept):
            stack.append(None)
            return
        if tag == "collision":
            _count(counts, tag, MAX_COLLISIONS, parser)
        element = Element(tag, attrs, parser.CurrentLineNumber)
        parent.children.append(element)
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
    except (LookupError, ValueError, UnicodeError):  # an unknown or broken encoding declaration
        raise UrdfError(
            "SPC302",
            "URDF declares an encoding that cannot be decoded",
            1,
            "save it as UTF-8 with <?xml version='1.0' encoding='utf-8'?>",
        ) from None
    if not root:
        raise UrdfError("SPC302", "URDF is empty")
    return root[0]


def _clip(text: str, keep: int = 64) -> str:
    """Attribute text for a message: a hostile file's 30 MB attribute is not echoed whole."""
    return text if len(text) <= keep else text[:keep] + "..."


def _floats(text: str | None, count: int, default: float, line: int, what: str) -> tuple[float, ...]:
    if text is None:
        return (default,) * count
    try:
        values = tuple(float(v) for v in text.split())
    except ValueError:
        raise UrdfError("SPC302", f"{what}: '{_clip(text)}' is not {count} numbers", line) from None
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise UrdfError("SPC302", f"{what}: expected {count} finite numbers, got '{_clip(text)}'", line)
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


_CACHE: dict[tuple[str, int, int, int, int], Urdf | UrdfError] = {}
_CACHE_ENTRIES = 4


def read_urdf(path: Path, *, within: Path | None = None) -> Urdf:
    """Parse a URDF file. Raises UrdfError (with a code and line) when it cannot be used at all.

    The file is read as untrusted (a regular file of at most MAX_URDF_BYTES; with `within`, not
    a symbolic link out of that folder) and parsed once per process for each version of it: specs
    naming the same URDF in one lint run share the result (keyed by real path, size and mtime).
    """
    try:
        info = check_regular(path, "URDF", within)
    except FileRefused as err:
        raise _refused(err, path) from None
    key = (os.path.realpath(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is None:
        try:
            cached = _read_urdf(path, read_limited(path, MAX_URDF_BYTES, "URDF", within))
        except FileRefused as err:
            cached = _refused(err, path)
        except UrdfError as err:
            cached = err
        while len(_CACHE) >= _CACHE_ENTRIES:
            del _CACHE[next(iter(_CACHE))]
        _CACHE[key] = cached
    if isinstance(cached, UrdfError):
        raise cached
    return cached


def _refused(err: FileRefused, path: Path) -> UrdfError:
    if err.reason == "missing":
        return UrdfError("SPC301", err.message)
    return UrdfError("SPC312" if err.reason == "too_large" else "SPC003", err.message)


def _read_urdf(path: Path, data: bytes) -> Urdf:
    root = _parse_xml(data)
    if root.tag != "robot":
        raise UrdfError("SPC302", f"the root element is <{_clip(root.tag)}>, not <robot>", root.line)
    issues: list[UrdfIssue] = []
    links: dict[str, Link] = {}
    link_elements = root.findall("link")
    joint_elements = root.findall("joint")
    for what, elements in (("links", link_elements), ("joints", joint_elements)):
        if len(elements) > MAX_LINKS:
            raise UrdfError("SPC312", f"URDF has {len(elements)} {what}; at most {MAX_LINKS} are read")
    for element in link_elements:
        name = _name(element, "link")
        if name in links:
            raise UrdfError("SPC302", f"link '{name}' is defined twice", element.line)
        links[name] = Link(
            name, element.line, _inertial(element, name, issues), _collisions(element, path, issues)
        )
    joints = [_joint(element) for element in joint_elements]
    parent_of: dict[str, Joint] = {}
    for joint in joints:
        for end in (joint.parent, joint.child):
            if end not in links:
                raise UrdfError(
                    "SPC302",
                    f"joint '{joint.name}' names link '{_clip(end)}', which does not exist",
                    joint.line,
                )
        if joint.child in parent_of:
            raise UrdfError(
                "SPC302",
                f"link '{joint.child}' is the child of two joints, '{parent_of[joint.child].name}' "
                f"and '{joint.name}'",
                joint.line,
                "a URDF is a tree: each link has one parent joint",
            )
        parent_of[joint.child] = joint
    roots = [name for name in links if name not in parent_of]
    if len(roots) != 1:
        raise UrdfError(
            "SPC302", f"URDF must have exactly one root link, found {len(roots)}: {', '.join(roots[:5])}"
        )
    _check_tree(roots[0], links, joints)
    for element in root.children:
        if element.tag in ("transmission", "gazebo", "material", "link", "joint"):
            continue
        issues.append(
            UrdfIssue(
                "SPC307", f"<{_clip(element.tag)}> is not used by specc", element.line, severity="warning"
            )
        )
        if len(issues) > 100:  # one warning per unknown element is useful; a million is not
            break
    return Urdf(
        path,
        root.attrs.get("name", path.stem)[:MAX_NAME_CHARS],
        links,
        joints,
        roots[0],
        issues,
        hashlib.sha256(data).hexdigest(),
    )


def _name(element: Element, what: str) -> str:
    name = element.attrs.get("name", "")
    if not name:
        raise UrdfError("SPC302", f"a <{what}> has no name", element.line)
    if len(name) > MAX_NAME_CHARS:
        raise UrdfError("SPC312", f"a <{what}> name is longer than {MAX_NAME_CHARS} characters", element.line)
    return name


def _check_tree(root: str, links: dict[str, Link], joints: list[Joint]) -> None:
    """Every link hangs from the root (no joint cycles), at most MAX_TREE_DEPTH links deep. Iterative."""
    by_parent: dict[str, list[str]] = {}
    for joint in joints:
        by_parent.setdefault(joint.parent, []).append(joint.child)
    depth = {root: 0}
    stack = [root]
    while stack:
        link = stack.pop()
        for child in by_parent.get(link, []):
            depth[child] = depth[link] + 1
            if depth[child] > MAX_TREE_DEPTH:
                raise UrdfError(
                    "SPC312",
                    f"the kinematic tree is more than {MAX_TREE_DEPTH} links deep (at link '{child}')",
                    links[child].line,
                )
            stack.append(child)
    unreached = [name for name in links if name not in depth]
    if unreached:
        raise UrdfError(
            "SPC302",
            f"joints form a cycle: link{'s' if len(unreached) > 1 else ''} "
            f"{', '.join(unreached[:5])}{', ...' if len(unreached) > 5 else ''} "
            f"cannot be reached from the root link '{root}'",
            links[unreached[0]].line,
            "a URDF is a tree: remove the joint that closes the loop",
        )


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
                        f"{where}: collision mesh '{_clip(uri, 200)}' not found",
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
                    f"{where}: unsupported collision geometry <{_clip(shape.tag)}>",
                    shape.line,
                    "use box, cylinder, sphere, capsule or mesh",
                    severity="warning",
                )
            )
    return out


def _joint(element: Element) -> Joint:
    name = _name(element, "joint")
    kind = element.attrs.get("type", "")
    if kind not in (*MOVABLE, "fixed", "floating", "planar"):
        raise UrdfError("SPC302", f"joint '{name}' has unknown type '{_clip(kind)}'", element.line)
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
