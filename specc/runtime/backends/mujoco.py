"""The MuJoCo CPU backend: N independent worlds stepped by `mujoco.rollout` on a thread pool.

Each env has its own MjModel copy, so per-env randomized masses, friction, gains and
damping really differ per env. The physics state of all envs is one (N, nstate)
array; a step hands it to rollout with an (N, S, J) array of PD targets and reads the
final state and sensors back, with no per-env Python loop (bench/backend.py compares
this with a thread pool over mj_step and with a plain single-threaded loop).
"""

from __future__ import annotations

import copy
import os

import mujoco
import numpy as np
import torch
from mujoco import rollout

from specc.model.urdf import Urdf
from specc.runtime.backends.base import BackendOptions, PhysicsParams, RobotState
from specc.runtime.backends.frames import frame_pose, frame_velocity
from specc.runtime.backends.mujoco_model import CompiledRobot, scale_objects
from specc.runtime.divergence import EXPLODING
from specc.runtime.rotations import quat_rotate, quat_rotate_inverse

FULL = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)


def state_offset(model: mujoco.MjModel, component: int) -> int:
    """Offset of one state component inside a FULLPHYSICS state vector (components are laid out by bit)."""
    offset = 0
    bit = 1
    while bit < component:
        if FULL & bit:
            offset += mujoco.mj_stateSize(model, bit)
        bit <<= 1
    return offset


def _rows(env_mask: torch.Tensor) -> np.ndarray:
    """The env indices a mask selects (a host array: this backend's state lives on the host)."""
    return env_mask.cpu().numpy().nonzero()[0]


def _np(values: torch.Tensor) -> np.ndarray:
    return values.detach().to(torch.float64).cpu().numpy()


class MujocoBackend(CompiledRobot):
    """See `runtime.backends.base.Backend` for the meaning of every method."""

    capturable = False  # the state lives on the host

    def __init__(self, urdf: Urdf, joint_names: list[str], options: BackendOptions) -> None:
        super().__init__(urdf, joint_names, options)
        self.device = torch.device("cpu")
        self.models = [copy.deepcopy(self.model) for _ in range(self.num_envs)]
        threads = options.num_threads or min(os.cpu_count() or 1, max(1, self.num_envs))
        # The env keeps torch on one thread while this pool steps (TaskEnv.cores_for_physics).
        self.host_threads = threads
        self._datas = [mujoco.MjData(self.model) for _ in range(threads)]
        self._rollout = rollout.Rollout(nthread=threads) if threads > 1 else None
        self._nominal = {
            "body_mass": self.model.body_mass.copy(),
            "body_inertia": self.model.body_inertia.copy(),
            "gainprm": self.model.actuator_gainprm.copy(),
            "biasprm": self.model.actuator_biasprm.copy(),
            "dof_damping": self.model.dof_damping.copy(),
            "geom_friction": self.model.geom_friction.copy(),
        }
        # Per-env object sizes: each env's model keeps its geometry and collision bounds (the BVH too,
        # which MuJoCo on the CPU reads in its broadphase).
        self._geometry = ("geom_size", "geom_rbound", "geom_aabb", "bvh_aabb") if self.sizes_vary else ()
        self._nominal.update({name: getattr(self.model, name).copy() for name in self._geometry})
        self._saved_fields = tuple(dict.fromkeys(self.randomized_fields + self._geometry))
        data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, data)
        self._template = np.empty(mujoco.mj_stateSize(self.model, FULL))
        mujoco.mj_getState(self.model, data, self._template, FULL)
        self._qpos0 = state_offset(self.model, int(mujoco.mjtState.mjSTATE_QPOS))
        self._qvel0 = state_offset(self.model, int(mujoco.mjtState.mjSTATE_QVEL))
        self._root_pos = np.array(data.xpos[self.layout.base_body])
        self._root_quat = np.array(data.xquat[self.layout.base_body])
        self._state = np.tile(self._template, (self.num_envs, 1))
        self._sensors = np.zeros((self.num_envs, self.model.nsensordata))
        self._out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._diverged = np.zeros(self.num_envs, dtype=bool)
        self._passive_joints = len(self.layout.driven) != len(self.joint_names)
        self._frames = options.frames
        self._frame_velocities = options.frame_velocities
        self._frame_offset = torch.tensor([f.offset for f in self._frames], dtype=torch.float64).view(
            1, -1, 3
        )
        self._frame_quat = torch.tensor([f.quat for f in self._frames], dtype=torch.float64).view(1, -1, 4)
        self._frame_roots = self.model.body_rootid[self.layout.frame_bodies]
        self._kinematics = mujoco.MjData(self.model)
        # Each pair has one sensor per (body member, other member); they all add into the pair's slot.
        self._pair_index = [
            i for i, (a, b) in enumerate(self.layout.pair_members) for _ in range(len(a) * len(b))
        ]
        self._last = self._read()

    # -- protocol -----------------------------------------------------------------------------
    def reset(
        self, env_mask, root_pos, root_quat, joint_pos, joint_vel, object_pose=None, object_vel=None
    ) -> None:
        ids = _rows(env_mask)
        if len(ids) == 0:
            return
        rows = np.tile(self._template, (len(ids), 1))
        q0, v0 = self._qpos0, self._qvel0
        if not self.fixed_base:
            rows[:, q0 : q0 + 3] = _np(root_pos)[ids]
            rows[:, q0 + 3 : q0 + 7] = _np(root_quat)[ids]
        rows[:, q0 + self.layout.qpos_addr] = _np(joint_pos)[ids]
        rows[:, v0 + self.layout.dof_addr] = _np(joint_vel)[ids]
        for k, (qa, da) in enumerate(zip(self.layout.free_qpos_addr, self.layout.free_dof_addr)):
            if object_pose is not None:
                rows[:, q0 + qa : q0 + qa + 7] = _np(object_pose[:, k])[ids]
            if object_vel is not None:
                pose = torch.from_numpy(rows[:, q0 + qa + 3 : q0 + qa + 7])
                velocity = _np(object_vel[:, k])[ids]
                rows[:, v0 + da : v0 + da + 3] = velocity[:, 0:3]
                # A free joint stores its angular velocity in the body frame.
                rows[:, v0 + da + 3 : v0 + da + 6] = quat_rotate_inverse(
                    pose, torch.from_numpy(velocity[:, 3:6])
                ).numpy()
        self._state[ids] = rows
        self._sensors[ids] = 0.0
        self._diverged[ids] = False
        self._last = self._read()

    def set_root_velocity(self, env_mask, lin_vel, ang_vel) -> None:
        if self.fixed_base:
            return
        ids = _rows(env_mask)
        if len(ids) == 0:
            return
        q = torch.from_numpy(self._state[ids, self._qpos0 + 3 : self._qpos0 + 7])
        # A free joint stores its angular velocity in the body frame.
        local = quat_rotate_inverse(q, torch.from_numpy(_np(ang_vel)[ids]))
        self._state[ids, self._qvel0 : self._qvel0 + 3] = _np(lin_vel)[ids]
        self._state[ids, self._qvel0 + 3 : self._qvel0 + 6] = local.numpy()
        self._last = self._read()

    def set_params(self, env_mask, params: PhysicsParams) -> None:
        nominal = self._nominal
        lay = self.layout
        values = {k: (_np(v) if v is not None else None) for k, v in vars(params).items()}
        for env in _rows(env_mask).tolist():
            m = self.models[env]
            mass = nominal["body_mass"].copy()
            inertia = nominal["body_inertia"].copy()
            if values["link_mass_scale"] is not None:
                mass[lay.limb_bodies] *= values["link_mass_scale"][env]
                inertia[lay.limb_bodies] *= values["link_mass_scale"][env]
            if values["base_mass_add"] is not None:
                # The base is its link and everything welded to it; the added mass scales them all alike.
                group = lay.base_group_bodies
                scale = (mass[group].sum() + values["base_mass_add"][env]) / mass[group].sum()
                mass[group] *= scale
                inertia[group] *= scale
            m.body_mass[:] = mass
            m.body_inertia[:] = inertia
            m.geom_friction[:] = nominal["geom_friction"]
            if values["friction"] is not None:
                m.geom_friction[lay.robot_geoms, 0] = values["friction"][env]
                m.geom_friction[lay.ground_geom, 0] = values["friction"][env]
            m.actuator_gainprm[:] = nominal["gainprm"]
            m.actuator_biasprm[:] = nominal["biasprm"]
            if values["motor_strength"] is not None:
                s = values["motor_strength"][env]
                m.actuator_gainprm[:, 0] = nominal["gainprm"][:, 0] * s
                m.actuator_biasprm[:, 1:3] = nominal["biasprm"][:, 1:3] * s
            m.dof_damping[:] = nominal["dof_damping"]
            if values["joint_damping"] is not None:
                m.dof_damping[lay.dof_addr] = values["joint_damping"][env]
            if values["object_mass_scale"] is not None:
                m.body_mass[lay.object_bodies] *= values["object_mass_scale"][env]
                m.body_inertia[lay.object_bodies] *= values["object_mass_scale"][env][:, None]
            if values["object_friction"] is not None:
                m.geom_friction[lay.object_geoms, 0] = values["object_friction"][env]
            for name in self._geometry:
                getattr(m, name)[:] = nominal[name]
            if self._geometry and values["object_size_scale"] is not None:
                scale_objects(m, lay, values["object_size_scale"][env])

    def step(self, targets: torch.Tensor) -> None:
        steps = targets.shape[1]
        if steps not in self._out:
            self._out[steps] = (
                np.empty((self.num_envs, steps, self._state.shape[1])),
                np.empty((self.num_envs, steps, self.model.nsensordata)),
            )
        state_out, sensor_out = self._out[steps]
        control = np.ascontiguousarray(targets.detach().to(torch.float64).cpu().numpy())
        runner = self._rollout.rollout if self._rollout is not None else rollout.rollout
        runner(
            self.models,
            self._datas,
            self._state,
            control,
            state=state_out,
            sensordata=sensor_out,
            nstep=steps,
            skip_checks=True,
        )
        # MuJoCo resets a world whose state turned NaN or huge; its clock then runs from zero again.
        expected = self._state[:, 0] + steps * self.physics_dt
        self._diverged = state_out[:, -1, 0] < expected - 0.5 * self.physics_dt
        self._note_blowups(state_out)
        self._state[:] = state_out[:, -1]
        self._sensors[:] = sensor_out[:, -1]
        self._last = self._read()

    def state(self) -> RobotState:
        return self._last

    def _note_blowups(self, state_out: np.ndarray) -> None:
        """Count, per joint, the worlds that blew up this step: MuJoCo reset them, or their state exploded.

        The culprit is the DOF with the most kinetic energy (0.5 * M_ii * v^2) in the last substep
        before the reset, or in the final state of a world that exploded without one.
        """
        v0, nv = self._qvel0, self.model.nv
        final_qvel = state_out[:, -1, v0 : v0 + nv]
        exploded = ~np.isfinite(final_qvel).all(axis=1) | (np.abs(final_qvel) > EXPLODING).any(axis=1)
        rows = np.flatnonzero(self._diverged | exploded)
        if len(rows) == 0:
            return
        dt = self.physics_dt
        for row in rows.tolist():
            times = state_out[row, :, 0]
            expected = self._state[row, 0] + dt * np.arange(1, len(times) + 1)
            reset = np.flatnonzero(times < expected - 0.5 * dt)
            if len(reset) == 0:
                before = state_out[row, -1]
            else:
                before = state_out[row, reset[0] - 1] if reset[0] > 0 else self._state[row]
            qvel = before[v0 : v0 + nv]
            energy = np.where(np.isfinite(qvel), 0.5 * self.model.dof_M0 * qvel**2, np.inf)
            self.blown_up_joints[self.dof_joint_names[int(np.argmax(energy))]] += 1

    def check_health(self) -> None:
        """MuJoCo on the CPU grows its contact and constraint arrays as needed: nothing can be lost."""

    def save_state(self) -> dict[str, torch.Tensor]:
        """Physics state and per-env parameters, for checkpoints that resume exactly."""
        saved = {
            "state": torch.from_numpy(self._state.copy()),
            "sensors": torch.from_numpy(self._sensors.copy()),
        }
        for field in self._saved_fields:
            saved[field] = torch.from_numpy(np.stack([getattr(m, field) for m in self.models]))
        return saved

    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        self._state[:] = saved["state"].numpy()
        self._sensors[:] = saved["sensors"].numpy()
        for field in self._saved_fields:
            values = saved[field].numpy()
            for m, v in zip(self.models, values):
                getattr(m, field)[:] = v
        self._last = self._read()

    # -- reading ------------------------------------------------------------------------------
    def _read(self) -> RobotState:
        state = torch.from_numpy(self._state)
        sensors = torch.from_numpy(self._sensors)
        q0, v0, lay = self._qpos0, self._qvel0, self.layout
        n = self.num_envs
        if self.fixed_base:
            root_pos = torch.from_numpy(self._root_pos).expand(n, 3)
            root_quat = torch.from_numpy(self._root_quat).expand(n, 4)
            lin_vel = torch.zeros(n, 3, dtype=torch.float64)
            ang_vel = torch.zeros(n, 3, dtype=torch.float64)
        else:
            root_pos = state[:, q0 : q0 + 3]
            root_quat = state[:, q0 + 3 : q0 + 7]
            lin_vel = state[:, v0 : v0 + 3]
            ang_vel = quat_rotate(root_quat, state[:, v0 + 3 : v0 + 6])
        torque = sensors[:, torch.from_numpy(lay.torque_sensor_addr)]
        if self._passive_joints:
            torque = torch.zeros(n, len(self.joint_names), dtype=torch.float64).index_copy_(
                1, torch.from_numpy(lay.driven), torque
            )
        contact = torch.zeros(n, len(self.contact_bodies) + len(lay.pair_members), 3, dtype=torch.float64)
        for i, addrs in enumerate(lay.contact_sensor_addr):
            for a in addrs:
                contact[:, i] -= sensors[:, a : a + 3]  # the sensor reports the force the body exerts
        for i, addr in enumerate(lay.pair_sensor_addr):
            pair = len(lay.contact_sensor_addr) + self._pair_index[i]
            contact[:, pair] -= sensors[:, addr : addr + 3]
        frames = self._read_frames(state)
        f32 = torch.float32
        return RobotState(
            root_pos=root_pos.to(f32),
            root_quat=root_quat.to(f32),
            root_lin_vel=lin_vel.to(f32),
            root_ang_vel=ang_vel.to(f32),
            joint_pos=state[:, q0 + torch.from_numpy(lay.qpos_addr)].to(f32),
            joint_vel=state[:, v0 + torch.from_numpy(lay.dof_addr)].to(f32),
            joint_torque=torque.to(f32),
            contact_force=contact.to(f32),
            diverged=torch.from_numpy(self._diverged.copy()),
            body_pos=sensors[:, torch.from_numpy(lay.position_sensor_addr)[:, None] + torch.arange(3)].to(
                f32
            ),
            frame_pos=frames[0].to(f32),
            frame_quat=frames[1].to(f32),
            frame_lin_vel=frames[2].to(f32),
            frame_ang_vel=frames[3].to(f32),
        )

    def _read_frames(self, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The named frames of every env, from MuJoCo's kinematics of the current state (no lag)."""
        n, k = self.num_envs, len(self._frames)
        if k == 0:
            empty = torch.zeros(n, 0, 3, dtype=torch.float64)
            return empty, torch.zeros(n, 0, 4, dtype=torch.float64), empty, empty
        xpos = np.empty((n, k, 3))
        xquat = np.empty((n, k, 4))
        cvel = np.zeros((n, k, 6))
        com = np.zeros((n, k, 3))
        data, model, bodies = self._kinematics, self.model, self.layout.frame_bodies
        q0, v0 = self._qpos0, self._qvel0
        for env in range(n):
            data.qpos[:] = self._state[env, q0 : q0 + model.nq]
            data.qvel[:] = self._state[env, v0 : v0 + model.nv]
            mujoco.mj_kinematics(model, data)
            xpos[env], xquat[env] = data.xpos[bodies], data.xquat[bodies]
            if self._frame_velocities:
                mujoco.mj_comPos(model, data)
                mujoco.mj_comVel(model, data)
                cvel[env], com[env] = data.cvel[bodies], data.subtree_com[self._frame_roots]
        pos, quat = frame_pose(
            torch.from_numpy(xpos), torch.from_numpy(xquat), self._frame_offset, self._frame_quat
        )
        if not self._frame_velocities:
            return pos, quat, torch.zeros_like(pos), torch.zeros_like(pos)
        lin, ang = frame_velocity(pos, torch.from_numpy(cvel), torch.from_numpy(com))
        return pos, quat, lin, ang

    def close(self) -> None:
        if self._rollout is not None:
            self._rollout.close()
            self._rollout = None

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass
