"""The signal catalog: every name an expression may read, in one table.

A *primitive* signal is a tensor the runtime provides each policy step (from the
backend's state or its own bookkeeping). A *derived* signal is computed from
primitives inside the generated kernels, once per step, however many terms use it
(the base-frame rotation shared by many terms is the typical case).

Shapes are per env, after the batch axis N, with symbolic sizes:
``J`` simulated joints (every movable joint except the locked ones; passive joints included),
``A`` actions (the driven joints, in action order), ``C`` commands, ``F`` feet, ``G`` bodies of a selected group,
``P`` points of the height scan (`[terrain.height_scan]`).
The README's signal table is generated from this one (`specc signals`).
"""

from __future__ import annotations

from dataclasses import dataclass

XYZ = ("x", "y", "z")
WXYZ = ("w", "x", "y", "z")


@dataclass(frozen=True)
class Signal:
    name: str
    dtype: str  # "float" or "bool"
    shape: tuple[str | int, ...]
    doc: str
    components: tuple[str, ...] | None = None  # names of the last axis (None: index-free vector)
    derived_from: tuple[str, ...] = ()  # primitives a derived signal reads
    selectable: bool = False  # takes a body group (contact_force[feet]) or a frame (frame_pos[ee])
    selects: str = "group"  # what the brackets name: "group" or "frame"

    @property
    def primitive(self) -> bool:
        return not self.derived_from


SIGNALS: dict[str, Signal] = {
    s.name: s
    for s in [
        Signal("base_pos", "float", (3,), "Base position in the world frame [m].", XYZ),
        Signal("base_quat", "float", (4,), "Base orientation quaternion (w, x, y, z), world frame.", WXYZ),
        Signal("base_lin_vel_world", "float", (3,), "Base linear velocity in the world frame [m/s].", XYZ),
        Signal("base_ang_vel_world", "float", (3,), "Base angular velocity in the world frame [rad/s].", XYZ),
        Signal(
            "base_lin_vel",
            "float",
            (3,),
            "Base linear velocity in the base frame [m/s].",
            XYZ,
            derived_from=("base_quat", "base_lin_vel_world"),
        ),
        Signal(
            "base_ang_vel",
            "float",
            (3,),
            "Base angular velocity in the base frame [rad/s].",
            XYZ,
            derived_from=("base_quat", "base_ang_vel_world"),
        ),
        Signal(
            "projected_gravity",
            "float",
            (3,),
            "Unit gravity direction in the base frame.",
            XYZ,
            derived_from=("base_quat",),
        ),
        Signal(
            "terrain_height",
            "float",
            (),
            "Height of the terrain under the base, world frame [m] (zero on a plane).",
        ),
        Signal(
            "base_height",
            "float",
            (),
            "Base height above the terrain under it [m].",
            derived_from=("base_pos", "terrain_height"),
        ),
        Signal(
            "height_scan",
            "float",
            ("P",),
            "Terrain height at each point of [terrain.height_scan] minus the base height [m]; the points "
            "are a grid around the base in its yaw frame, x-major (all y of the rearmost x first).",
        ),
        Signal(
            "feet_height",
            "float",
            ("F",),
            "Height of each foot body above the terrain under it [m].",
        ),
        Signal("terrain_level", "float", (), "The env's terrain row (difficulty level), 0 = easiest."),
        Signal("joint_pos", "float", ("J",), "Joint positions relative to the default pose [rad]."),
        Signal("joint_vel", "float", ("J",), "Joint velocities [rad/s]."),
        Signal(
            "joint_acc",
            "float",
            ("J",),
            "Joint accelerations, finite difference over one policy step [rad/s²].",
        ),
        Signal("torques", "float", ("J",), "Applied joint torques [N·m]; zero for passive joints."),
        Signal("actions", "float", ("A",), "The policy's current actions (clipped), one per driven joint."),
        Signal("last_actions", "float", ("A",), "The policy's actions one step earlier."),
        Signal("commands", "float", ("C",), "Commands, by name: commands.lin_vel_x.", components=None),
        Signal(
            "contact_force",
            "float",
            ("G", 3),
            "Net contact force on each body of a group, an object, a frame's body or a contact pair, world frame [N].",
            XYZ,
            selectable=True,
        ),
        Signal(
            "frame_pos",
            "float",
            (3,),
            "Position of a named frame in the world frame [m].",
            XYZ,
            selectable=True,
            selects="frame",
        ),
        Signal(
            "frame_quat",
            "float",
            (4,),
            "Orientation of a named frame (w, x, y, z), world frame.",
            WXYZ,
            selectable=True,
            selects="frame",
        ),
        Signal(
            "frame_lin_vel",
            "float",
            (3,),
            "Linear velocity of a named frame's origin, world frame [m/s].",
            XYZ,
            selectable=True,
            selects="frame",
        ),
        Signal(
            "frame_ang_vel",
            "float",
            (3,),
            "Angular velocity of a named frame, world frame [rad/s].",
            XYZ,
            selectable=True,
            selects="frame",
        ),
        Signal(
            "joint_lower",
            "float",
            ("J",),
            "Lower position limit of each joint, relative to its default [rad].",
        ),
        Signal(
            "joint_upper",
            "float",
            ("J",),
            "Upper position limit of each joint, relative to its default [rad].",
        ),
        Signal("feet_air_time", "float", ("F",), "Time since each foot last touched the ground [s]."),
        Signal("feet_contact", "bool", ("F",), "Each foot touches the ground (vertical force > 1 N)."),
        Signal("feet_first_contact", "bool", ("F",), "Each foot touched down during this step."),
        Signal("episode_time", "float", (), "Time since the env's episode started [s]."),
        Signal(
            "episode_start_pos",
            "float",
            (3,),
            "Base position at the episode's start, world frame [m]: walked distance is "
            "norm(base_pos.xy - episode_start_pos.xy).",
            XYZ,
        ),
    ]
}

FRAME_SIGNALS = tuple(name for name, s in SIGNALS.items() if s.selects == "frame")

# Namespaces that are not signals: `term.<name>` reads another term of the same section.
TERM_NAMESPACE = "term"
# `value.<name>` reads a named intermediate value of the spec's [values] table.
VALUE_NAMESPACE = "value"

PRIMITIVE_SIGNALS = tuple(name for name, s in SIGNALS.items() if s.primitive)
# Every generated kernel takes these primitives, in this order, whether it reads them or not;
# episode_time also gives constant terms their per-env shape.
KERNEL_INPUTS = PRIMITIVE_SIGNALS
