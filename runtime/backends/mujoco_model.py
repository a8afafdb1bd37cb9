"""Build a MuJoCo model from URDF data with MjSpec: exactly what the file says, plus what RL needs.

What the file says: bodies, joint axes and limits, masses and inertias as written (a
link without <inertial> is massless; nothing is inferred from geometry), joint damping
and friction, collision geometry (visuals are dropped). What RL needs: a floating base
(unless the spec fixes it), a ground plane, one PD actuator per movable joint with the
spec's gains and effort limit, and (for backends that read them) torque sensors and
net-contact-force sensors on the bodies that rewards and terminations read.

Fixed links stay bodies of their own, so a foot welded to its shank is still a foot;
a tracked body's contact force includes the welded links below it that no group names.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from specc.runtime.divergence import JointStability

from specc.robot.urdf import Geometry, Urdf, repaired_moments

GROUND = "ground"


@dataclass
class ModelLayout:
    """Where things are in the compiled model, by the names the env uses."""

    qpos_addr: np.ndarray  # (J,) qpos index of each actuated joint
    dof_addr: np.ndarray  # (J,) qvel index of each actuated joint
    actuator_ids: np.ndarray  # (J,) actuator of each actuated joint
    contact_members: list[list[int]]  # per tracked body: the body ids whose contact forces it sums
    # Without sensors (build_model(sensors=False)) the next two are empty.
    torque_sensor_addr: np.ndarray  # (J,) sensordata index of each joint's actuator force
    contact_sensor_addr: list[list[int]]  # per tracked body: sensordata indices (3 each) to sum
    base_body: int
    robot_geoms: np.ndarray
    ground_geom: int
    base_group_bodies: np.ndarray  # the base link and the links welded to it
    limb_bodies: np.ndarray  # every other link of the robot
    repairs: list[str]


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
        self.physics_dt = options.physics_dt
        self.fixed_base = options.fixed_base
        self.model, self.layout = build_model(
            urdf, self.joint_names, options, self.contact_bodies, sensors=self.reads_sensors
        )
        self.total_mass = float(self.model.body_subtreemass[1])
        self.repairs = self.layout.repairs
        self._stiffness = tuple(options.stiffness)
        # Joint name of every DOF, for reports of where the physics blew up (a free base: its body's name).
        self.dof_joint_names = [
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_JOINT, int(j))
            or mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_BODY, int(self.model.jnt_bodyid[j]))
            for j in self.model.dof_jntid
        ]
        self.blown_up_joints: Counter[str] = (
            Counter()
        )  # joint name -> envs that blew up there (backends fill)

    def joint_stability(self) -> list[JointStability]:
        """Each actuated joint's PD stiffness against the inertia it moves at the initial pose."""
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
                    stiffness=float(self._stiffness[index]),
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
        config.logto_file = path is not None and len(str(path.absolute()).encode()) < 1000
        if config.logto_file:
            config.logfile = str(path.absolute())
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
    ground = spec.worldbody.add_geom(name=GROUND, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1])
    ground.contype, ground.conaffinity = 0, 1
    ground.friction = [1.0, 0.005, 0.0001]
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1])
    repairs: list[str] = []
    by_parent: dict[str, list] = {}
    for joint in urdf.joints:
        by_parent.setdefault(joint.parent, []).append(joint)

    def add_link(parent_body, name: str, pos, quat, joint=None) -> None:
        body = parent_body.add_body(name=name, pos=list(pos), quat=list(quat))
        link = urdf.links[name]
        _set_inertial(body, link, options.repair_inertia, repairs)
        if joint is not None and joint.movable:
            kind = mujoco.mjtJoint.mjJNT_SLIDE if joint.kind == "prismatic" else mujoco.mjtJoint.mjJNT_HINGE
            j = body.add_joint(name=joint.name, type=kind, axis=list(joint.axis))
            if joint.lower is not None and joint.upper is not None and joint.lower < joint.upper:
                j.range = [joint.lower, joint.upper]
                j.limited = mujoco.mjtLimited.mjLIMITED_TRUE
            j.damping = [joint.damping, 0.0, 0.0]  # MuJoCo 4: linear, quadratic, cubic coefficients
            j.frictionloss = joint.friction
        for geom in link.collisions:
            _add_geom(spec, body, geom, options.self_collision)
        for child_joint in by_parent.get(name, []):
            add_link(
                body,
                child_joint.child,
                child_joint.origin_xyz,
                _quat_from_rpy(child_joint.origin_rpy),
                child_joint,
            )

    root = spec.worldbody.add_body(
        name="__floating_base__" if not options.fixed_base else "__fixed_base__",
        pos=[0, 0, options.init_height],
    )
    if not options.fixed_base:
        root.add_freejoint(name="__root__")
    # The URDF root sits at the origin of the base frame.
    base = root.add_body(name=urdf.root, pos=[0, 0, 0])
    _fill_root(spec, base, urdf, options, repairs)
    for child_joint in by_parent.get(urdf.root, []):
        add_link(
            base,
            child_joint.child,
            child_joint.origin_xyz,
            _quat_from_rpy(child_joint.origin_rpy),
            child_joint,
        )

    for name, kp, kd, effort in zip(joint_names, options.stiffness, options.damping, options.effort):
        actuator = spec.add_actuator(name=f"pd_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        actuator.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        actuator.gainprm = [kp] + [0.0] * 9
        actuator.biasprm = [0.0, -kp, -kd] + [0.0] * 7
        actuator.forcerange = [-effort, effort]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        if sensors:
            spec.add_sensor(
                name=f"torque_{name}",
                type=mujoco.mjtSensor.mjSENS_ACTUATORFRC,
                objtype=mujoco.mjtObj.mjOBJ_ACTUATOR,
                objname=f"pd_{name}",
            )
    contact_members = _contact_members(urdf, tracked_bodies)
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
    try:
        model = spec.compile()
    except ValueError as err:
        raise ModelError(str(err).replace("\n", " ")) from None
    base_group = [model.body(name).id for name in urdf.rigid_group(urdf.root, stop=set())]
    layout = ModelLayout(
        qpos_addr=np.array([model.jnt_qposadr[model.joint(n).id] for n in joint_names], dtype=np.int64),
        dof_addr=np.array([model.jnt_dofadr[model.joint(n).id] for n in joint_names], dtype=np.int64),
        actuator_ids=np.array([model.actuator(f"pd_{n}").id for n in joint_names], dtype=np.int64),
        contact_members=[[model.body(name).id for name in members] for members in contact_members],
        torque_sensor_addr=np.array(
            [model.sensor_adr[model.sensor(f"torque_{n}").id] for n in joint_names if sensors], dtype=np.int64
        ),
        contact_sensor_addr=[
            [int(model.sensor_adr[model.sensor(s).id]) for s in names] for names in sensor_names
        ],
        base_body=model.body(urdf.root).id,
        robot_geoms=np.array([g for g in range(model.ngeom) if model.geom_bodyid[g] != 0], dtype=np.int64),
        ground_geom=model.geom(GROUND).id,
        base_group_bodies=np.array(base_group, dtype=np.int64),
        limb_bodies=np.array([b for b in range(2, model.nbody) if b not in base_group], dtype=np.int64),
        repairs=repairs,
    )
    return model, layout


def _fill_root(spec, base, urdf: Urdf, options, repairs) -> None:
    """The URDF root link's own inertia and geometry (its children are added by the caller)."""
    link = urdf.links[urdf.root]
    _set_inertial(base, link, options.repair_inertia, repairs)
    for geom in link.collisions:
        _add_geom(spec, base, geom, options.self_collision)


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


def _add_geom(spec, body, geom: Geometry, self_collision: bool) -> None:
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
    elif geom.kind == "cylinder":
        g.type = mujoco.mjtGeom.mjGEOM_CYLINDER
        g.size = [geom.size[0], geom.size[1] / 2, 0]
    elif geom.kind == "capsule":
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
    """Each tracked body with the welded links below it that no group names, keeping only links with geometry."""
    named = set(tracked)
    out = []
    for body in tracked:
        group = urdf.rigid_group(body, stop=named - {body})
        members = [name for name in group if urdf.links[name].collisions]
        out.append(members or [body])
    return out
