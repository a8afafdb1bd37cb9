"""Build a MuJoCo model from URDF data with MjSpec: exactly what the file says, plus what RL needs.

What the file says: bodies, joint axes and limits, masses and inertias as written (a
link without <inertial> is massless; nothing is inferred from geometry), joint damping
and friction, collision geometry (visuals are dropped). What RL needs: a floating base
(unless the spec fixes it), a ground plane, one actuator per driven joint (PD position or
effort, with the spec's gains and effort limit; passive joints get none; locked joints are
welded at their default position, so they cost the solver nothing), and (for backends that read them) torque sensors and
net-contact-force sensors on the bodies that rewards and terminations read.

Fixed links stay bodies of their own, so a foot welded to its shank is still a foot;
a tracked body's contact force includes the welded links below it that no group names.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import mujoco
import numpy as np

from specc.model.urdf import Geometry, Urdf, repaired_moments
from specc.runtime.divergence import JointStability
from specc.runtime.terrain import TerrainConfig, generate

GROUND = "ground"
TERRAIN_HFIELD = "terrain"
TERRAIN_BASE_M = 1.0  # depth of the heightfield's solid base below its lowest point


@dataclass
class ModelLayout:
    """Where things are in the compiled model, by the names the env uses."""

    qpos_addr: np.ndarray  # (J,) qpos index of each simulated joint
    dof_addr: np.ndarray  # (J,) qvel index of each simulated joint
    actuator_ids: np.ndarray  # (A,) actuator of each driven joint, in action order
    driven: np.ndarray  # (A,) index into the simulated joints of each driven joint
    contact_members: list[list[int]]  # per tracked body: the body ids whose contact forces it sums
    # Without sensors (build_model(sensors=False)) the next two are empty.
    torque_sensor_addr: np.ndarray  # (A,) sensordata index of each actuator's force
    contact_sensor_addr: list[list[int]]  # per tracked body: sensordata indices (3 each) to sum
    position_sensor_addr: np.ndarray  # (B,) per tracked body: sensordata index of its world position
    tracked_body_ids: np.ndarray  # (B,) body id of each tracked body
    base_body: int
    robot_geoms: np.ndarray
    ground_geom: int
    base_group_bodies: np.ndarray  # the base link and the links welded to it
    limb_bodies: np.ndarray  # every other link of the robot
    repairs: list[str]
    object_bodies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (M,) per object
    object_geoms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (M,) per object
    object_bvh: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (M,) BVH root node
    free_qpos_addr: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )  # (M_free,) 7 each
    free_dof_addr: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (M_free,) 6 each
    pair_sensor_addr: list[int] = field(default_factory=list)  # per contact pair (sensors only)
    pair_members: list[tuple[list[int], list[int]]] = field(default_factory=list)  # body ids of each side
    frame_bodies: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (K,)


class ModelError(Exception):
    """A URDF that MuJoCo cannot simulate, with the link or joint to blame."""


# Model fields that domain randomization changes per env; backends keep one copy per env of each.
RANDOMIZED_FIELDS = (
    "body_mass",
    "body_inertia",
    "geom_friction",
    "actuator_gainprm",
    "actuator_biasprm",
    "dof_damping",
)
# Geometry that a per-env object size changes: the shape and the bounds collision detection tests
# first (bounding sphere and box). Backends keep them per env only when a spec randomizes sizes.
GEOMETRY_FIELDS = ("geom_size", "geom_rbound", "geom_aabb")


class CompiledRobot:
    """What every MuJoCo-based backend shares: the compiled model, its layout, the protocol's descriptions."""

    # Whether the backend reads joint torques and contact forces from MuJoCo sensors (the CPU backend,
    # through rollout's sensordata) or computes them itself (MuJoCo Warp, where sensors cost a third of
    # the physics time: bench/physics_profile.py).
    reads_sensors = True

    def __init__(self, urdf: Urdf, joint_names: list[str], options) -> None:
        self.num_envs = options.num_envs
        self.joint_names = list(joint_names)
        self.contact_bodies = list(options.contact_bodies)
        self.contact_pairs = list(options.contact_pairs)
        self.frames = [f.name for f in options.frames]
        self.physics_dt = options.physics_dt
        self.fixed_base = options.fixed_base
        self.model, self.layout = build_model(
            urdf, self.joint_names, options, self.contact_bodies, sensors=self.reads_sensors
        )
        self.sizes_vary = options.object_sizes_vary
        self.randomized_fields = RANDOMIZED_FIELDS + (GEOMETRY_FIELDS if self.sizes_vary else ())
        self.total_mass = float(self.model.body_subtreemass[1])
        self.repairs = self.layout.repairs
        # PD stiffness of each simulated joint (0 for effort-driven and passive ones).
        self._stiffness = {a.joint: a.stiffness if a.kind == "position" else 0.0 for a in options.actuators}
        # Joint name of every DOF, for reports of where the physics blew up (a free base: its body's name).
        self.dof_joint_names = [
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_JOINT, int(j))
            or mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, int(self.model.jnt_bodyid[j]))
            for j in self.model.dof_jntid
        ]
        self.blown_up_joints: Counter[str] = (
            Counter()
        )  # joint name -> envs that blew up there (backends fill)
        self.counters: dict[str, float] = {}  # what check_health counted for the log (backends fill)

    def joint_stability(self) -> list[JointStability]:
        """Each simulated joint's PD stiffness (0 when not PD-driven) against the inertia it moves at the
        initial pose."""
        out = []
        for index, name in enumerate(self.joint_names):
            joint = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
            body = int(self.model.jnt_bodyid[joint])
            out.append(
                JointStability(
                    joint=name,
                    body=mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, body) or str(body),
                    mass=float(self.model.body_subtreemass[body]),
                    inertia=float(self.model.dof_M0[self.layout.dof_addr[index]]),
                    stiffness=float(self._stiffness.get(name, 0.0)),
                    linear=int(self.model.jnt_type[joint]) == int(mujoco.mjtJoint.mjJNT_SLIDE),
                )
            )
        return out


def route_engine_log(path: Path | None) -> None:
    """Send MuJoCo's own warnings and errors to `path` (None: nowhere), never to the console or the
    working folder (MuJoCo's default: stdout and ./MUJOCO_LOG.TXT). The setting is per process."""
    if hasattr(mujoco, "MjLogConfig"):
        config = mujoco.MjLogConfig.get()
        config.logto_console = False
        logfile = str(path.absolute()) if path is not None else ""
        config.logto_file = 0 < len(logfile.encode()) < 1000
        if config.logto_file:
            config.logfile = logfile
        config.set()
        return

    def append(message: str) -> None:  # MuJoCo before 3.4: the warning callback
        if path is not None:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(f"WARNING: {message}\n")

    mujoco.set_mju_user_warning(append)


def _quat_from_rpy(rpy: tuple[float, float, float]) -> list[float]:
    """URDF's fixed-axis roll-pitch-yaw (R = Rz Ry Rx) as a w-first quaternion."""
    r, p, y = (a / 2 for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return [
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    ]


def _inertia_matrix(values: tuple[float, ...]) -> np.ndarray:
    ixx, ixy, ixz, iyy, iyz, izz = values
    return np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])


def _rotation_from_rpy(rpy: tuple[float, float, float]) -> np.ndarray:
    quat = np.array(_quat_from_rpy(rpy))
    mat = np.zeros(9)
    mujoco.mju_quat2Mat(mat, quat)
    return mat.reshape(3, 3)


def build_model(
    urdf: Urdf, joint_names: list[str], options, tracked_bodies: list[str], sensors: bool = True
) -> tuple[mujoco.MjModel, ModelLayout]:
    spec = mujoco.MjSpec()
    spec.modelname = urdf.name
    spec.option.timestep = options.physics_dt
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.iterations = 10
    spec.option.ls_iterations = 20
    spec.compiler.autolimits = True
    spec.compiler.degree = False  # URDF angles (joint limits) are radians; MjSpec defaults to degrees
    spec.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_FALSE  # <inertial> only
    spec.stat.extent = 2.0
    add_ground(spec, getattr(options, "terrain", None))
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1])
    repairs: list[str] = []
    root = spec.worldbody.add_body(
        name="__floating_base__" if not options.fixed_base else "__fixed_base__",
        pos=[0, 0, options.init_height],
    )
    if not options.fixed_base:
        root.add_freejoint(name="__root__")
    # The URDF root sits at the origin of the base frame.
    robot = _UrdfTree(
        spec, urdf, "", options.repair_inertia, repairs, dict(options.locked), options.cylinders_as_capsules
    )
    robot.add(root, urdf.root, [0, 0, 0], [1, 0, 0, 0], collide_with_itself=options.self_collision)
    scene_bodies: list[str] = []
    for extra in getattr(options, "scene_urdfs", ()):
        tree = _UrdfTree(spec, extra.urdf, f"{extra.name}/", options.repair_inertia, repairs, {})
        holder = spec.worldbody
        if not extra.fixed:
            holder = spec.worldbody.add_body(name=f"{extra.name}/__free_base__", pos=list(extra.position))
            holder.quat = list(extra.quat)
            holder.add_freejoint(name=f"{extra.name}/__free__")
            scene_bodies.append(holder.name)
        pos, quat = ([0, 0, 0], [1, 0, 0, 0]) if not extra.fixed else (extra.position, extra.quat)
        tree.add(holder, extra.urdf.root, pos, quat, collide_with_itself=True)
        scene_bodies.extend(tree.bodies)
        # Its links collide with each other, but not across a joint (as URDF tools assume): MuJoCo's own
        # parent-child filter does not apply to a link whose parent is welded to the world.
        for joint in extra.urdf.joints:
            spec.add_exclude(
                bodyname1=f"{extra.name}/{joint.parent}", bodyname2=f"{extra.name}/{joint.child}"
            )

    for act in options.actuators:
        actuator = spec.add_actuator(
            name=f"act_{act.joint}", target=act.joint, trntype=mujoco.mjtTrn.mjTRN_JOINT
        )
        actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        if act.kind == "position":  # force = kp * ctrl - kp * q - kd * dq
            actuator.biastype = mujoco.mjtBias.mjBIAS_AFFINE
            actuator.gainprm = [act.stiffness] + [0.0] * 9
            actuator.biasprm = [0.0, -act.stiffness, -act.damping] + [0.0] * 7
        else:  # force = ctrl
            actuator.biastype = mujoco.mjtBias.mjBIAS_NONE
            actuator.gainprm = [1.0] + [0.0] * 9
            actuator.biasprm = [0.0] * 10
        actuator.forcerange = [-act.effort, act.effort]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        if sensors:
            spec.add_sensor(
                name=f"torque_{act.joint}",
                type=mujoco.mjtSensor.mjSENS_ACTUATORFRC,
                objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                objname=f"act_{act.joint}",
            )
    object_names = [obj.name for obj in options.objects]
    for obj in options.objects:
        _add_object(spec, obj)
    contact_members = _contact_members(urdf, tracked_bodies)
    pair_members = [
        (_contact_members(urdf, [body])[0], _contact_members(urdf, [other])[0])
        for body, other in options.contact_pairs
    ]
    sensor_names: list[list[str]] = []
    for index, members in enumerate(contact_members if sensors else []):
        names = []
        for member in members:
            sensor_name = f"contact_{index}_{member}"
            sensor = spec.add_sensor(
                name=sensor_name,
                type=mujoco.mjtSensor.mjSENS_CONTACT,
                objtype=mujoco.mjtObj.mjOBJ_BODY,
                objname=member,
            )
            sensor.intprm = [
                1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE),
                3,
                1,
            ]  # force, netforce, 1 slot
            names.append(sensor_name)
        sensor_names.append(names)
    for index, body in enumerate(tracked_bodies if sensors else []):
        spec.add_sensor(
            name=f"position_{index}",
            type=mujoco.mjtSensor.mjSENS_FRAMEPOS,
            objtype=mujoco.mjtObj.mjOBJ_XBODY,
            objname=body,
        )
    pair_sensors: list[str] = []
    for index in range(len(options.contact_pairs) if sensors else 0):
        # One sensor per pair of bodies whose contacts it sums (welded links count as their group's).
        for a in pair_members[index][0]:
            for b in pair_members[index][1]:
                sensor_name = f"pair_{index}_{a}_{b}"
                sensor = spec.add_sensor(
                    name=sensor_name,
                    type=mujoco.mjtSensor.mjSENS_CONTACT,
                    objtype=mujoco.mjtObj.mjOBJ_BODY,
                    objname=a,
                    reftype=mujoco.mjtObj.mjOBJ_BODY,
                    refname=b,
                )
                sensor.intprm = [1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE), 3, 1]
                pair_sensors.append(sensor_name)
    try:
        model = spec.compile()
    except ValueError as err:
        raise ModelError(str(err).replace("\n", " ")) from None
    base_group = [model.body(name).id for name in urdf.rigid_group(urdf.root, stop=set())]
    object_bodies = [model.body(name).id for name in object_names]
    # Bodies that are not the robot's: its randomization (link masses, friction) leaves them alone.
    others = {0, *object_bodies, *(model.body(name).id for name in scene_bodies)}
    free = [obj.name for obj in options.objects if not obj.fixed]
    free_joints = [model.joint(f"{name}__free").id for name in free]
    layout = ModelLayout(
        qpos_addr=np.array([model.jnt_qposadr[model.joint(n).id] for n in joint_names], dtype=np.int64),
        dof_addr=np.array([model.jnt_dofadr[model.joint(n).id] for n in joint_names], dtype=np.int64),
        actuator_ids=np.array(
            [model.actuator(f"act_{a.joint}").id for a in options.actuators], dtype=np.int64
        ),
        driven=np.array([list(joint_names).index(a.joint) for a in options.actuators], dtype=np.int64),
        contact_members=[[model.body(name).id for name in members] for members in contact_members],
        torque_sensor_addr=np.array(
            [model.sensor_adr[model.sensor(f"torque_{a.joint}").id] for a in options.actuators if sensors],
            dtype=np.int64,
        ),
        contact_sensor_addr=[
            [int(model.sensor_adr[model.sensor(s).id]) for s in names] for names in sensor_names
        ],
        position_sensor_addr=np.array(
            [
                model.sensor_adr[model.sensor(f"position_{i}").id]
                for i in range(len(tracked_bodies))
                if sensors
            ],
            dtype=np.int64,
        ),
        tracked_body_ids=np.array([model.body(name).id for name in tracked_bodies], dtype=np.int64),
        base_body=model.body(urdf.root).id,
        robot_geoms=np.array(
            [g for g in range(model.ngeom) if model.geom_bodyid[g] not in others], dtype=np.int64
        ),
        ground_geom=model.geom(GROUND).id,
        base_group_bodies=np.array(base_group, dtype=np.int64),
        limb_bodies=np.array(
            [b for b in range(2, model.nbody) if b not in base_group and b not in others],
            dtype=np.int64,
        ),
        repairs=repairs,
        object_bodies=np.array(object_bodies, dtype=np.int64),
        object_geoms=np.array([model.body_geomadr[b] for b in object_bodies], dtype=np.int64),
        object_bvh=np.array([model.body_bvhadr[b] for b in object_bodies], dtype=np.int64),
        free_qpos_addr=np.array([model.jnt_qposadr[j] for j in free_joints], dtype=np.int64),
        free_dof_addr=np.array([model.jnt_dofadr[j] for j in free_joints], dtype=np.int64),
        pair_sensor_addr=[int(model.sensor_adr[model.sensor(n).id]) for n in pair_sensors],
        pair_members=[
            ([model.body(a).id for a in sa], [model.body(b).id for b in sb]) for sa, sb in pair_members
        ],
        frame_bodies=np.array([model.body(f.body).id for f in options.frames], dtype=np.int64),
    )
    if options.objects or scene_bodies:
        _check_spawn(model, layout, joint_names, options, scene_bodies)
    return model, layout


def add_ground(spec, terrain: TerrainConfig | None) -> None:
    """The ground geom: a plane, or the generated terrain as one heightfield (see specc/runtime/terrain.py).

    MuJoCo stores heightfield elevations normalized to [0, 1] times the field's z size, above the
    geom's position: the geom sits at the lowest height and the z size is the height range. Its
    columns run along x and its rows along y, so the data is the terrain array transposed.
    """
    if terrain is None or not terrain.tiles:
        ground = spec.worldbody.add_geom(name=GROUND, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1])
    else:
        field = generate(terrain)
        heights = field.heights.astype(np.float64)
        low, high = float(heights.min()), float(heights.max())
        span = max(high - low, 1e-3)  # MuJoCo needs a positive elevation range, even for flat tiles
        nx, ny = heights.shape
        half_x, half_y = field.size_m[0] / 2, field.size_m[1] / 2
        hfield = spec.add_hfield(
            name=TERRAIN_HFIELD,
            nrow=ny,
            ncol=nx,
            size=[half_x, half_y, span, TERRAIN_BASE_M],
            userdata=((heights - low) / span).T.reshape(-1).tolist(),
        )
        ground = spec.worldbody.add_geom(
            name=GROUND,
            type=mujoco.mjtGeom.mjGEOM_HFIELD,
            hfieldname=hfield.name,
            pos=[field.x0 + half_x, field.y0 + half_y, low],
        )
        # A checker of 1 m squares and a sun: slopes and steps are visible in `specc play`.
        spec.add_texture(
            name="terrain_checker",
            type=mujoco.mjtTexture.mjTEXTURE_2D,
            builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
            rgb1=[0.62, 0.6, 0.55],
            rgb2=[0.5, 0.48, 0.44],
            width=64,
            height=64,
        )
        material = spec.add_material(name="terrain_material", texrepeat=[1.0, 1.0], texuniform=True)
        material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "terrain_checker"
        ground.material = "terrain_material"
        sun = spec.worldbody.add_light(pos=[0, 0, 10], dir=[0.3, 0.2, -1.0], diffuse=[0.6] * 3)
        sun.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    ground.contype, ground.conaffinity = 0, 1
    ground.friction = [1.0, 0.005, 0.0001]


def _add_object(spec, obj) -> None:
    """A primitive body: its geom, explicit mass and inertia of a uniform solid, a free joint unless fixed."""
    body = spec.worldbody.add_body(name=obj.name, pos=list(obj.position))
    if not obj.fixed:
        body.add_freejoint(name=f"{obj.name}__free")
    geom = body.add_geom(name=obj.name)
    size = obj.size
    m = obj.mass
    if obj.shape == "box":
        geom.type = mujoco.mjtGeom.mjGEOM_BOX
        geom.size = [s / 2 for s in size]
        x, y, z = size
        inertia = [m * (y * y + z * z) / 12, m * (x * x + z * z) / 12, m * (x * x + y * y) / 12]
    elif obj.shape == "sphere":
        geom.type = mujoco.mjtGeom.mjGEOM_SPHERE
        geom.size = [size[0], 0, 0]
        inertia = [0.4 * m * size[0] ** 2] * 3
    else:  # cylinder, capsule (the capsule's inertia is its cylinder's of the full length: close enough)
        geom.type = (
            mujoco.mjtGeom.mjGEOM_CYLINDER if obj.shape == "cylinder" else mujoco.mjtGeom.mjGEOM_CAPSULE
        )
        radius, length = size
        geom.size = [radius, length / 2, 0]
        full = length + (2 * radius if obj.shape == "capsule" else 0.0)
        side = m * (3 * radius * radius + full * full) / 12
        inertia = [side, side, m * radius * radius / 2]
    geom.rgba = list(obj.color)
    geom.friction = [obj.friction, 0.005, 0.0001]
    # The object's friction is the friction of every contact it makes: without a priority MuJoCo
    # takes the larger of two geoms' coefficients, so any friction below the ground's (1.0) would be
    # ignored, and so would `friction_range` (a box meant to slide on ice would stick as on rubber).
    geom.priority = 1
    geom.contype, geom.conaffinity = 1, 1
    body.explicitinertial = True
    body.mass = m
    body.ipos = [0.0, 0.0, 0.0]  # MjSpec otherwise places an explicit inertia at the body's position
    body.iquat = [1.0, 0.0, 0.0, 0.0]
    body.inertia = inertia


def scale_objects(model: mujoco.MjModel, layout: ModelLayout, scale: np.ndarray) -> None:
    """Scale each object's geometry by `scale` (M,) in place: its shape, its collision bounds (bounding
    sphere, box and BVH node) and its inertia (size², the mass is kept). `model` holds the nominal sizes."""
    geoms, bodies = layout.object_geoms, layout.object_bodies
    model.geom_size[geoms] *= scale[:, None]
    model.geom_rbound[geoms] *= scale
    model.geom_aabb[geoms] *= scale[:, None]
    model.bvh_aabb[layout.object_bvh] *= scale[:, None]
    model.body_inertia[bodies] *= (scale * scale)[:, None]


def _check_spawn(
    model: mujoco.MjModel, layout: ModelLayout, joint_names: list[str], options, scene_bodies: list[str]
) -> None:
    """An object or a scene URDF whose nominal pose overlaps the robot in its default pose (or an object
    inside a scene URDF) cannot be simulated sensibly.

    An object whose size is randomized is checked at its largest, raised as the reset raises it.
    """
    largest = np.array([o.max_size_scale for o in options.objects])
    if (largest != 1.0).any():
        model = copy.deepcopy(model)
        scale_objects(model, layout, largest)
    data = mujoco.MjData(model)
    if options.default_joint_pos:
        data.qpos[layout.qpos_addr] = options.default_joint_pos
    free = [k for k, o in enumerate(options.objects) if not o.fixed]
    for qpos, k in zip(layout.free_qpos_addr, free):
        data.qpos[qpos + 2] += (largest[k] - 1.0) * options.objects[k].half_height
    mujoco.mj_forward(model, data)
    # Who owns each body that is not the robot's: (what it is, the spec table that places it).
    owners = {
        int(b): (f"object '{o.name}'", f"[scene.objects.{o.name}]")
        for b, o in zip(layout.object_bodies, options.objects)
    }
    for name in scene_bodies:
        urdf = name.split("/")[0]
        owners[model.body(name).id] = (f"scene URDF '{urdf}'", f"[scene.urdfs.{urdf}]")
    rank = {"object": 0, "scene": 1}  # an object inside a scene URDF is the object's to move
    for contact in data.contact[: data.ncon]:
        bodies = sorted(
            (int(model.geom_bodyid[g]) for g in contact.geom),
            key=lambda b: rank.get(owners[b][0].split()[0], 2) if b in owners else 2,
        )
        if 0 in bodies or bodies[0] not in owners or contact.dist >= -1e-3:
            continue
        what, table = owners[bodies[0]]
        other = owners.get(bodies[1])
        if other is not None and (other[0] == what or other[0].startswith("object")):
            continue  # a scene URDF's own links, or two objects: not checked
        inside = other[0] if other is not None else "the robot"
        raise ModelError(
            f"{what} spawns inside {inside}: it overlaps link '{model.body(bodies[1]).name}' "
            f"by {-contact.dist * 1000:.0f} mm in the default pose; move {table} position"
        )


def _welded_pose(joint, pos, quat, position: float) -> tuple[list[float], list[float]]:
    """A locked joint's child frame: the joint's origin moved by `position` along (about) its axis."""
    axis = np.asarray(joint.axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    quat = np.asarray(quat, dtype=float)
    if joint.kind == "prismatic":
        offset = np.zeros(3)
        mujoco.mju_rotVecQuat(offset, axis * position, quat)
        return (np.asarray(pos, dtype=float) + offset).tolist(), quat.tolist()
    turn = np.zeros(4)
    mujoco.mju_axisAngle2Quat(turn, axis, position)
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, quat, turn)
    return list(pos), out.tolist()


class _UrdfTree:
    """Adds one URDF's links as MuJoCo bodies (named `prefix + link`, joints `prefix + joint`): inertia and
    collision geometry as the file writes them, movable joints (locked ones welded at their position)."""

    def __init__(
        self,
        spec,
        urdf: Urdf,
        prefix: str,
        repair: str,
        repairs: list[str],
        locked: dict,
        cylinders_as_capsules: bool = False,
    ) -> None:
        self.spec, self.urdf, self.prefix = spec, urdf, prefix
        self.repair, self.repairs, self.locked = repair, repairs, locked
        self.by_parent: dict[str, list] = {}
        for joint in urdf.joints:
            self.by_parent.setdefault(joint.parent, []).append(joint)
        self.bodies: list[str] = []  # the MuJoCo names of the bodies added
        self.cylinders_as_capsules = cylinders_as_capsules

    def add(self, parent_body, name: str, pos, quat, joint=None, *, collide_with_itself: bool) -> None:
        if joint is not None and joint.name in self.locked:
            pos, quat = _welded_pose(joint, pos, quat, self.locked[joint.name])
        body = parent_body.add_body(name=self.prefix + name, pos=list(pos), quat=list(quat))
        self.bodies.append(self.prefix + name)
        link = self.urdf.links[name]
        _set_inertial(body, link, self.repair, self.repairs)
        if joint is not None and joint.movable and joint.name not in self.locked:
            kind = mujoco.mjtJoint.mjJNT_SLIDE if joint.kind == "prismatic" else mujoco.mjtJoint.mjJNT_HINGE
            j = body.add_joint(name=self.prefix + joint.name, type=kind, axis=list(joint.axis))
            if joint.lower is not None and joint.upper is not None and joint.lower < joint.upper:
                j.range = [joint.lower, joint.upper]
                j.limited = mujoco.mjtLimited.mjLIMITED_TRUE
            j.damping = [joint.damping, 0.0, 0.0]  # MuJoCo 4: linear, quadratic, cubic coefficients
            j.frictionloss = joint.friction
        for geom in link.collisions:
            _add_geom(self.spec, body, geom, collide_with_itself, self.cylinders_as_capsules)
        for child in self.by_parent.get(name, []):
            origin = _quat_from_rpy(child.origin_rpy)
            self.add(
                body, child.child, child.origin_xyz, origin, child, collide_with_itself=collide_with_itself
            )


def _set_inertial(body, link, repair: str, repairs: list[str]) -> None:
    """Mass and inertia exactly as the URDF writes them; a massless link stays massless."""
    body.explicitinertial = True
    inertial = link.inertial
    if inertial is None or inertial.mass == 0:
        body.mass = 0.0
        body.inertia = [0.0, 0.0, 0.0]
        return
    frame = _rotation_from_rpy(inertial.origin_rpy)
    inertia = frame @ _inertia_matrix(inertial.inertia) @ frame.T  # URDF inertias are in the inertial frame
    body.mass = inertial.mass
    body.ipos = list(inertial.origin_xyz)
    if repair == "diagonal":
        moments, axes = np.linalg.eigh(inertia)
        fixed = np.array(repaired_moments(inertial.inertia))
        if not np.allclose(moments, fixed, rtol=1e-9, atol=0):
            repairs.append(
                f"{link.name}: principal moments {np.round(moments, 9).tolist()} -> "
                f"{np.round(fixed, 9).tolist()}"
            )
            inertia = axes @ np.diag(fixed) @ axes.T  # eigh and repaired_moments both sort ascending
    body.fullinertia = [
        inertia[0, 0],
        inertia[1, 1],
        inertia[2, 2],
        inertia[0, 1],
        inertia[0, 2],
        inertia[1, 2],
    ]


def _add_geom(spec, body, geom: Geometry, self_collision: bool, cylinders_as_capsules: bool = False) -> None:
    g = body.add_geom()
    g.pos = list(geom.origin_xyz)
    g.quat = _quat_from_rpy(geom.origin_rpy)
    g.contype = 1
    g.conaffinity = 1 if self_collision else 0
    g.friction = [1.0, 0.005, 0.0001]
    g.group = 3
    if geom.kind == "box":
        g.type = mujoco.mjtGeom.mjGEOM_BOX
        g.size = [s / 2 for s in geom.size]
    elif geom.kind == "cylinder" and not cylinders_as_capsules:
        g.type = mujoco.mjtGeom.mjGEOM_CYLINDER
        g.size = [geom.size[0], geom.size[1] / 2, 0]
    elif geom.kind in ("capsule", "cylinder"):  # a cylinder's capsule: same radius and length, round ends
        g.type = mujoco.mjtGeom.mjGEOM_CAPSULE
        g.size = [geom.size[0], geom.size[1] / 2, 0]
    elif geom.kind == "sphere":
        g.type = mujoco.mjtGeom.mjGEOM_SPHERE
        g.size = [geom.size[0], 0, 0]
    else:
        mesh_name = f"mesh_{len(spec.meshes)}"
        mesh = spec.add_mesh(name=mesh_name, file=geom.mesh_path)
        mesh.scale = list(geom.size)
        g.type = mujoco.mjtGeom.mjGEOM_MESH
        g.meshname = mesh_name


def _contact_members(urdf: Urdf, tracked: list[str]) -> list[list[str]]:
    """Each tracked body with the welded links below it that no group names, keeping only links with geometry
    (an object is its own body)."""
    named = set(tracked)
    out = []
    for body in tracked:
        if body not in urdf.links:
            out.append([body])
            continue
        group = urdf.rigid_group(body, stop=named - {body})
        members = [name for name in group if urdf.links[name].collisions]
        out.append(members or [body])
    return out
