"""The MuJoCo Warp GPU backend: one MuJoCo Warp model with nworld = num_envs, viewed from torch.

The model is the one `mujoco_model.build_model` builds for the CPU backend, so both see
the same robot. State, controls and sensors are warp arrays on the GPU that torch reads
and writes in place (`wp.to_torch`, no copies, no host round trips). Randomized
parameters live in MuJoCo Warp's batched model fields (one row per world). The physics
substeps of a policy step are captured once in a CUDA graph and replayed.

Contact and constraint buffers are sized from the model and the env count; an overflow
stops the run with the setting that fixes it. MuJoCo Warp computes in float32 and is not
bit-deterministic on a GPU: the same seed gives statistically equal, not identical, curves.
"""

from __future__ import annotations

import torch
from specc.runtime.backends.base import BackendOptions, PhysicsParams, RobotState
from specc.runtime.backends.mujoco_model import RANDOMIZED_FIELDS, CompiledRobot
from specc.runtime.rotations import quat_rotate, quat_rotate_inverse

from specc.robot.urdf import Urdf

# Overflows that mean lost contacts or constraints; iteration limits are the solver's business.
BUFFER_OVERFLOWS = (
    "NEFC",
    "NJMAX_NNZ",
    "BROADPHASE",
    "NARROWPHASE",
    "CCD",
    "HFIELD",
    "CONTACT_MATCH",
    "NVMAX",
    "EPA_HORIZON",
    "TACTILE",
)
OVERFLOW_CHECK_EVERY = 24  # steps between host reads of the overflow flags


class BufferOverflow(RuntimeError):
    pass


class MujocoWarpBackend(CompiledRobot):
    """See `runtime.backends.base.Backend` for the meaning of every method."""

    def __init__(self, urdf: Urdf, joint_names: list[str], options: BackendOptions) -> None:
        import mujoco_warp as mjw
        import warp as wp

        self._wp, self._mjw = wp, mjw
        wp.init()
        self.device = torch.device(options.device if options.device.startswith("cuda") else "cuda")
        self._wp_device = f"cuda:{self.device.index or 0}"
        super().__init__(urdf, joint_names, options)
        n = self.num_envs
        self.nconmax = options.max_contacts_per_env or max(16, 2 * len(self.layout.robot_geoms))
        self.njmax = options.max_constraints_per_env or 4 * self.nconmax + 2 * self.model.nv
        with wp.ScopedDevice(self._wp_device):
            self._m = mjw.put_model(self.model, batch_sizes={name: n for name in RANDOMIZED_FIELDS})
            self._d = mjw.make_data(self.model, nworld=n, nconmax=self.nconmax, njmax=self.njmax)
            overflow_type = mjw._src.types.OverflowType
            self._m.opt.warn_overflow &= ~(overflow_type.ITERATIONS | overflow_type.LS_ITERATIONS)
            # torch and warp share one stream, so their work is ordered and the step can be captured.
            torch.cuda.set_stream(wp.stream_to_torch(wp.get_stream(self._wp_device)))
        view = wp.to_torch
        d, m = self._d, self._m
        self.qpos, self.qvel, self.ctrl = view(d.qpos), view(d.qvel), view(d.ctrl)
        self.time, self.sensordata, self.warmstart = view(d.time), view(d.sensordata), view(d.qacc_warmstart)
        self.overflow = view(d.overflow)
        self.params = {name: view(getattr(m, name)) for name in RANDOMIZED_FIELDS}
        self.nominal = {name: value[0].clone() for name, value in self.params.items()}
        dev = self.device
        self._qpos0 = torch.tensor(self.model.qpos0, dtype=torch.float32, device=dev)
        self._qpos_addr = torch.as_tensor(self.layout.qpos_addr, device=dev)
        self._dof_addr = torch.as_tensor(self.layout.dof_addr, device=dev)
        self._torque_addr = torch.as_tensor(self.layout.torque_sensor_addr, device=dev)
        self._contact_index = [
            torch.as_tensor([a + k for a in addrs for k in range(3)], device=dev).view(-1, 3)
            for addrs in self.layout.contact_sensor_addr
        ]
        self._base_group = torch.as_tensor(self.layout.base_group_bodies, device=dev)
        self._limbs = torch.as_tensor(self.layout.limb_bodies, device=dev)
        self._robot_geoms = torch.as_tensor(self.layout.robot_geoms, device=dev)
        self._targets: torch.Tensor | None = None
        self._graph = None
        self.graph_mode = "none"
        self._steps = 0
        self._diverged = torch.zeros(n, dtype=torch.bool, device=dev)
        self.reset(
            torch.arange(n, device=dev),
            self._qpos0[0:3].repeat(n, 1),
            torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=dev).repeat(n, 1),
            self._qpos0[self._qpos_addr].repeat(n, 1),
            torch.zeros(n, len(self.joint_names), device=dev),
        )

    # -- protocol -----------------------------------------------------------------------------
    def reset(self, env_ids, root_pos, root_quat, joint_pos, joint_vel) -> None:
        rows = self._qpos0.repeat(len(env_ids), 1)
        if not self.fixed_base:
            rows[:, 0:3] = root_pos
            rows[:, 3:7] = root_quat
        rows[:, self._qpos_addr] = joint_pos
        velocities = torch.zeros(len(env_ids), self.qvel.shape[1], device=self.device)
        velocities[:, self._dof_addr] = joint_vel
        self.qpos[env_ids] = rows
        self.qvel[env_ids] = velocities
        self.warmstart[env_ids] = 0.0
        self.time[env_ids] = 0.0
        self.sensordata[env_ids] = 0.0
        self.ctrl[env_ids] = joint_pos
        self._diverged[env_ids] = False

    def set_root_velocity(self, env_ids, lin_vel, ang_vel) -> None:
        if self.fixed_base:
            return
        self.qvel[env_ids, 0:3] = lin_vel
        self.qvel[env_ids, 3:6] = quat_rotate_inverse(self.qpos[env_ids, 3:7], ang_vel)

    def set_params(self, env_ids, params: PhysicsParams) -> None:
        p, nominal = self.params, self.nominal
        k = len(env_ids)
        mass = nominal["body_mass"].repeat(k, 1)
        inertia = nominal["body_inertia"].repeat(k, 1, 1)
        if params.link_mass_scale is not None:
            mass[:, self._limbs] *= params.link_mass_scale[:, None]
            inertia[:, self._limbs] *= params.link_mass_scale[:, None, None]
        if params.base_mass_add is not None:
            group = nominal["body_mass"][self._base_group].sum()
            scale = (group + params.base_mass_add) / group
            mass[:, self._base_group] *= scale[:, None]
            inertia[:, self._base_group] *= scale[:, None, None]
        p["body_mass"][env_ids] = mass
        p["body_inertia"][env_ids] = inertia
        friction = nominal["geom_friction"].repeat(k, 1, 1)
        if params.friction is not None:
            friction[:, self._robot_geoms, 0] = params.friction[:, None]
            friction[:, self.layout.ground_geom, 0] = params.friction
        p["geom_friction"][env_ids] = friction
        gain = nominal["actuator_gainprm"].repeat(k, 1, 1)
        bias = nominal["actuator_biasprm"].repeat(k, 1, 1)
        if params.motor_strength is not None:
            gain[:, :, 0] *= params.motor_strength[:, None]
            bias[:, :, 1:3] *= params.motor_strength[:, None, None]
        p["actuator_gainprm"][env_ids] = gain
        p["actuator_biasprm"][env_ids] = bias
        damping = nominal["dof_damping"].repeat(k, 1)
        if params.joint_damping is not None:
            damping[:, self._dof_addr] = params.joint_damping[:, None]
        p["dof_damping"][env_ids] = damping

    def step(self, targets: torch.Tensor) -> None:
        if self._targets is None or self._targets.shape != targets.shape:
            self._targets = torch.empty_like(targets)
            self._graph = None
        self._targets.copy_(targets)
        start = self.time.clone()
        if self._graph is None:
            self._capture(targets.shape[1])
        if self._graph is not None:
            self._wp.capture_launch(self._graph)
        else:
            self._substeps(targets.shape[1])
        state_bad = ~torch.isfinite(self.qvel).all(dim=-1) | ~torch.isfinite(self.qpos).all(dim=-1)
        self._diverged = state_bad | (self.time < start)
        self._steps += 1
        if self._steps % OVERFLOW_CHECK_EVERY == 0:
            self.check_overflow()

    def _substeps(self, count: int) -> None:
        for s in range(count):
            self.ctrl.copy_(self._targets[:, s])
            self._mjw.step(self._m, self._d)

    def _capture(self, count: int) -> None:
        """Record the substeps in a CUDA graph on the shared stream; plain launches if capture fails."""
        wp = self._wp
        self._substeps(count)  # warm-up: kernels compiled and loaded before capture
        try:
            with wp.ScopedCapture(device=self._wp_device) as capture:
                self._substeps(count)
            self._graph = capture.graph
            self.graph_mode = "cuda-graph"
        except Exception as err:  # noqa: BLE001 - any capture failure falls back, and says so
            self._graph = None
            self.graph_mode = f"plain launches ({str(err).splitlines()[0][:120]})"

    def check_overflow(self) -> None:
        flags = int(self.overflow.max().item())
        if flags:
            names = [
                f.name
                for f in self._mjw._src.types.OverflowType
                if f.name in BUFFER_OVERFLOWS and flags & f.value
            ]
            if not names:
                return
            fix = (
                f"raise sim.max_contacts_per_env (now {self.nconmax})"
                if any(n in ("NARROWPHASE", "BROADPHASE") for n in names)
                else f"raise sim.max_constraints_per_env (now {self.njmax})"
            )
            raise BufferOverflow(
                f"MuJoCo Warp buffers overflowed ({', '.join(names)}): contacts would be dropped; {fix}"
            )

    def state(self) -> RobotState:
        n = self.num_envs
        dev = self.device
        if self.fixed_base:
            root_pos = self._qpos0.new_zeros(n, 3)
            root_quat = torch.tensor([[1.0, 0.0, 0.0, 0.0]], device=dev).repeat(n, 1)
            lin = ang = torch.zeros(n, 3, device=dev)
        else:
            root_pos, root_quat = self.qpos[:, 0:3], self.qpos[:, 3:7]
            lin, ang = self.qvel[:, 0:3], quat_rotate(root_quat, self.qvel[:, 3:6])
        contact = torch.stack([-self.sensordata[:, index].sum(dim=1) for index in self._contact_index], dim=1)
        return RobotState(
            root_pos=root_pos,
            root_quat=root_quat,
            root_lin_vel=lin,
            root_ang_vel=ang,
            joint_pos=self.qpos[:, self._qpos_addr],
            joint_vel=self.qvel[:, self._dof_addr],
            joint_torque=self.sensordata[:, self._torque_addr],
            contact_force=contact,
            diverged=self._diverged,
        )

    def save_state(self) -> dict[str, torch.Tensor]:
        saved = {
            "qpos": self.qpos.clone(),
            "qvel": self.qvel.clone(),
            "time": self.time.clone(),
            "sensordata": self.sensordata.clone(),
        }
        saved.update({name: value.clone() for name, value in self.params.items()})
        return saved

    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        self.qpos.copy_(saved["qpos"])
        self.qvel.copy_(saved["qvel"])
        self.time.copy_(saved["time"])
        self.sensordata.copy_(saved["sensordata"])
        for name, value in self.params.items():
            value.copy_(saved[name])
