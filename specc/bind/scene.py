"""Scene binding: objects, named frames and contact pairs against the robot's links.

Object names must be unique and objects must not spawn below the ground; a frame sits on a robot
link or an object; a contact pair joins two frames. Returns the `SceneModel`, or None on errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from specc.bind.robot import RobotModel
from specc.diagnostics import DiagnosticSink, suggest
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

    def group_body(self, name: str) -> str | None:
        """The body a `contact_force[<name>]` of an object or a frame reads."""
        frame = self.frames.get(name)
        return frame.body if frame else None


def bind_scene(
    document: SpecDocument, spec: Spec, robot: RobotModel, sink: DiagnosticSink
) -> SceneModel | None:
    """Objects (names unique, above the ground), frames (on a link or an object) and contact pairs."""
    positions = document.positions
    links = list(robot.urdf.links)
    objects = dict(spec.scene.objects)
    frames: dict[str, FrameModel] = {}
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
        frames[name] = FrameModel(name, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0))
    for name, frame in spec.frames.items():
        if frame.body not in links and frame.body not in objects:
            guess = suggest(frame.body, [*links, *objects])
            sink.add(
                "SPC401",
                f"frame '{name}' is attached to '{frame.body}', which is no link of "
                f"{robot.urdf.path.name} and no object",
                positions.value(("frames", name, "body")),
                fix=f"did you mean '{guess}'?" if guess else "name a robot link or a [scene.objects] entry",
            )
            continue
        frames[name] = FrameModel(frame.body, frame.offset, _quat_from_rpy(frame.rpy))
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
    return SceneModel(objects, frames, pairs)


def _quat_from_rpy(rpy) -> tuple[float, float, float, float]:
    """Fixed-axis roll-pitch-yaw (R = Rz Ry Rx) as a w-first quaternion."""

    r, p, y = (a / 2 for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )
