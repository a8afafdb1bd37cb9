"""Scene binding: objects, scene URDFs, named frames and contact pairs against the robot's links.

Object names must be unique and objects must not spawn below the ground nor inside the robot; a scene
URDF is read like the robot's (its links are bodies `<name>/<link>`); a frame sits on a robot link, a
scene URDF's link or an object; a contact pair joins two frames. Returns the `SceneModel`, or None on errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from specc.bind.robot import RobotModel, read_spec_urdf
from specc.diagnostics import DiagnosticSink, suggest
from specc.model.urdf import Urdf
from specc.robot.kinematics import PlacedSolid, overlap_with_primitive, placed_solids
from specc.spec.load import SpecDocument
from specc.spec.schema import SceneObject, Spec


@dataclass(frozen=True)
class FrameModel:
    """A named frame: a body of the model (robot link or object) and a fixed offset in its frame."""

    body: str
    offset: tuple[float, float, float]
    quat: tuple[float, float, float, float]  # w first


@dataclass
class SceneModel:
    """Objects, named frames (each object is one too, by its name) and contact pairs, checked."""

    objects: dict[str, SceneObject]
    frames: dict[str, FrameModel]
    pairs: dict[str, tuple[str, str]]  # name -> (body, other): model body names
    urdfs: dict[str, Urdf] = field(default_factory=dict)  # [scene.urdfs], read; links are <name>/<link>

    def group_body(self, name: str) -> str | None:
        """The body a `contact_force[<name>]` of an object or a frame reads."""
        frame = self.frames.get(name)
        return frame.body if frame else None


def bind_scene(
    document: SpecDocument, spec: Spec, robot: RobotModel, sink: DiagnosticSink, within: Path | None = None
) -> SceneModel | None:
    """Objects (names unique, above the ground), scene URDFs (readable; their links are bodies
    `<name>/<link>`), frames (on a link, a scene URDF's link or an object) and contact pairs."""
    positions = document.positions
    links = list(robot.urdf.links)
    objects = dict(spec.scene.objects)
    frames: dict[str, FrameModel] = {}
    urdfs: dict[str, Urdf] = {}
    for name, entry in spec.scene.urdfs.items():
        if name in objects or name in links or name in spec.frames or name in robot.body_groups:
            document.report(
                sink,
                "SPC404",
                f"scene URDF '{name}' has the name of an object, a link, a frame or a body group",
                ("scene", "urdfs", name),
                key=True,
                fix="rename it",
            )
        urdf = read_spec_urdf(document, spec, sink, entry.urdf, ("scene", "urdfs", name, "urdf"), within)
        if urdf is not None:
            urdfs[name] = urdf
    scene_links = [f"{name}/{link}" for name, urdf in urdfs.items() for link in urdf.links]
    joint_pos = {j.name: d for j, d in zip(robot.joints, robot.default_joint_pos)} | robot.locked
    solids: list[PlacedSolid] | None = None
    for name, obj in objects.items():
        where = ("scene", "objects", name)
        if name in links or name in spec.frames or name in robot.body_groups:
            sink.add(
                "SPC404",
                f"object '{name}' has the name of a link, a frame or a body group",
                positions.key(where),
                fix="rename the object",
            )
        lowest = obj.position[2] + obj.position_range[2][0] - obj.half_height
        if lowest < -1e-6:
            sink.add(
                "SPC402",
                f"object '{name}' can spawn {-lowest:.3g} m below the ground (centre z {obj.position[2]}"
                f"{obj.position_range[2][0]:+g}, half height {obj.half_height:g})",
                positions.value(where + ("position",)),
                fix=f"raise position z to at least {obj.half_height - obj.position_range[2][0]:g}",
            )
        if lowest >= -1e-6:
            if solids is None:  # the robot's collision geometry at its default pose, placed once
                solids = placed_solids(robot.urdf, joint_pos, spec.robot.init_height)
            _check_object_clear_of_robot(name, obj, spec, solids, document, sink)
        frames[name] = FrameModel(name, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    if len(urdfs) < len(spec.scene.urdfs):
        return None  # frames on the links of a URDF that could not be read would only repeat its error
    for name, frame in spec.frames.items():
        if frame.body not in links and frame.body not in objects and frame.body not in scene_links:
            guess = suggest(frame.body, [*links, *objects, *scene_links])
            sink.add(
                "SPC401",
                f"frame '{name}' is attached to '{frame.body}', which is no link of "
                f"{robot.urdf.path.name}{', no scene URDF link' if urdfs else ''} and no object",
                positions.value(("frames", name, "body")),
                fix=f"did you mean '{guess}'?"
                if guess
                else "name a robot link, a scene URDF's link (<name>/<link>) or a [scene.objects] entry",
            )
            continue
        frames[name] = FrameModel(frame.body, frame.offset, quat_from_rpy(frame.rpy))
    pairs: dict[str, tuple[str, str]] = {}
    for name, pair in spec.scene.contacts.items():
        if name in frames or name in robot.body_groups:
            document.report(
                sink,
                "SPC404",
                f"contact pair '{name}' has the name of a frame or a body group",
                ("scene", "contacts", name),
                key=True,
                fix="rename the pair",
            )
        bodies = []
        for key in ("body", "other"):
            target = getattr(pair, key)
            if target not in frames:
                guess = suggest(target, list(frames))
                sink.add(
                    "SPC401",
                    f"'{target}' is no frame or object",
                    positions.value(("scene", "contacts", name, key)),
                    fix=f"did you mean '{guess}'?" if guess else "declare it in [frames] or [scene.objects]",
                )
            else:
                bodies.append(frames[target].body)
        if len(bodies) == 2:
            pairs[name] = (bodies[0], bodies[1])
    if sink.has_errors:
        return None
    return SceneModel(objects, frames, pairs, urdfs)


def _check_object_clear_of_robot(
    name: str,
    obj: SceneObject,
    spec: Spec,
    solids: list[PlacedSolid],
    document: SpecDocument,
    sink: DiagnosticSink,
) -> None:
    """Report an object whose nominal pose (at its largest size) is inside the robot's default pose."""
    scale = obj.size_scale[1] if obj.size_scale and spec.randomization.enabled else 1.0
    x, y, z = obj.position
    center = (x, y, z + (scale - 1.0) * obj.half_height)  # raised as the reset raises a scaled object
    overlap = overlap_with_primitive(solids, obj.shape, tuple(v * scale for v in obj.size), center)
    if overlap is not None:
        largest = " at its largest size" if scale != 1.0 else ""
        document.report(
            sink,
            "SPC403",
            f"object '{name}' spawns inside the robot{largest}: link '{overlap.link}' reaches at least "
            f"{overlap.depth * 1000:.0f} mm into it in the default pose",
            ("scene", "objects", name, "position"),
            fix="move the object clear of the robot",
        )


def quat_from_rpy(rpy) -> tuple[float, float, float, float]:
    """Fixed-axis roll-pitch-yaw (R = Rz Ry Rx) as a w-first quaternion."""

    r, p, y = (a / 2 for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )
