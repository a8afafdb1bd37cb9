"""The MuJoCo Warp GPU backend: one MuJoCo Warp model with nworld = num_envs, viewed from torch.

The model is the one `mujoco_model.build_model` builds for the CPU backend, so both see
the same robot, but without MuJoCo sensors: joint torques are the actuator forces, and
contact forces are read from the solver's constraint forces, by one warp kernel after the
substeps that also flags diverged worlds (`mujoco_warp_read_back`); that is much cheaper than
MuJoCo Warp's sensors, and it computes only the torques and contact forces the spec reads. State and controls are warp arrays on
the GPU that torch reads and writes in place (`wp.to_torch`, no copies, no host round trips). Randomized
parameters live in MuJoCo Warp's batched model fields (one row per world). The physics
substeps of a policy step are captured once in a CUDA graph and replayed, or recorded
into the env's graph of its whole step.

Contact and constraint buffers are sized from the model and the env count. MuJoCo Warp
drops what does not fit and counts on; the backend keeps the peak counts on the device,
and `check_health` (once per rollout) turns an overflow into an error that names the
setting that fixes it (`OVERFLOW_ADVICE`). Some overflows are limits of one world, not shared
buffers (`PER_ENV_OVERFLOWS`): a geom over more heightfield prisms than a pair may have contacts, an
EPA polytope whose horizon outgrew mujoco_warp's fixed size, and the world's constraint rows. They
drop that world's contacts or rows of that step, typically a fallen robot's on the terrain: the
env's step counts as diverged (the env resets, as for a NaN), the share is logged, and only a share
above `PER_ENV_OVERFLOW_LIMIT` of a rollout's env steps stops the run. MuJoCo Warp computes in float32
and is not bit-deterministic on a GPU: the same seed gives statistically equal, not identical, curves.
"""

from __future__ import annotations

from typing import Any

import torch

from specc.model.urdf import Urdf
from specc.runtime.backends.base import BackendOptions, PhysicsLost, PhysicsParams, RobotState, masked_write
from specc.runtime.backends.frames import frame_pose, frame_velocity
from specc.runtime.backends.mujoco_model import CompiledRobot
from specc.runtime.backends.warp_compile import CompileReport, precompile
from specc.runtime.rotations import quat_rotate, quat_rotate_inverse

# What each of MuJoCo Warp's overflow flags (mujoco_warp OverflowType) means for a spec, and what fixes
# it. Iteration limits (ITERATIONS, LS_ITERATIONS) are the solver's business and not reported.
OVERFLOW_ADVICE = {
    "NEFC": "constraint rows of one env did not fit: raise sim.max_constraints_per_env",
    "NJMAX_NNZ": "constraint Jacobian entries did not fit: raise sim.max_constraints_per_env",
    "BROADPHASE": "colliding geom pairs did not fit the contact buffer: raise sim.max_contacts_per_env",
    "NARROWPHASE": "contacts did not fit the contact buffer: raise sim.max_contacts_per_env",
    "CCD": "convex (GJK/EPA) collisions did not fit their slots, which the contact buffer sizes: "
    "raise sim.max_contacts_per_env",
    "HFIELD": "a robot geom lay over more heightfield prisms than one geom pair may have contacts "
    "(MuJoCo's mjMAXCONPAIR = 50), so that world dropped contacts: raise terrain.horizontal_scale "
    "(a coarser heightfield), or give the robot smaller collision geoms",
    "EPA_HORIZON": "a convex collision's EPA polytope outgrew mujoco_warp's horizon (MJ_MAX_EPAHORIZON "
    "= 24 edges, a constant of mujoco_warp, not a model option), so that world dropped the contact of "
    "one heightfield prism or geom pair; it happens in deep, flat-on-flat contacts (a box or a "
    "cylinder's cap on a prism): fewer box and cylinder geoms touching the terrain, or a coarser "
    "terrain.horizontal_scale, make it rarer",
    "NVMAX": "constraint islands did not fit: raise sim.max_constraints_per_env",
    "CONTACT_MATCH": "contact sensors matched more contacts than fit (specc reads no contact sensors)",
    "TACTILE": "tactile sensors collided more pairs than fit (specc reads no tactile sensors)",
}
# Limits of one world, not buffers shared by the worlds: a world that hits one lost contacts or
# constraint rows in that step only, and specc treats its step as diverged (the env resets). The
# constraint rows are one: a robot lying on a heightfield needs several times the rows of one that
# walks (550-600 against 60-134 for ANYmal C), and sizing every world for that slows every step.
PER_ENV_OVERFLOWS = ("HFIELD", "EPA_HORIZON", "NEFC", "NJMAX_NNZ")
# A run stops when more than this share of one rollout's env steps hit a per-env overflow: at that rate
# the resets distort what the policy sees, and the geometry or terrain needs the fix the advice names.
PER_ENV_OVERFLOW_LIMIT = 0.01


class BufferOverflow(PhysicsLost):
    """A contact or constraint buffer of MuJoCo Warp was too small."""


class MujocoWarpBackend(CompiledRobot):
    """See `runtime.backends.base.Backend` for the meaning of every method."""

    capturable = True
    reads_sensors = False

    def __init__(self, urdf: Urdf, joint_names: list[str], options: BackendOptions) -> None:
        import mujoco_warp as mjw
        import warp as wp

        self._wp, self._mjw = wp, mjw
        if wp.config.log_level < wp.LOG_WARNING:  # warp's greeting and per-module load times would mix into
            wp.config.log_level = wp.LOG_WARNING  # specc's output (and into `specc eval --json`)
        wp.init()
        # The GPU is what this backend is for; warp's CPU device runs it too (slowly: tests, no CUDA graphs).
        self.device = torch.device(options.device)
        self._wp_device = "cpu" if self.device.type == "cpu" else f"cuda:{self.device.index or 0}"
        super().__init__(urdf, joint_names, options)
        n = self.num_envs
        # A geom touching a heightfield gets up to 4 contacts (MuJoCo Warp's hfield collision), 2 elsewhere.
        per_geom = 4 if self.model.nhfield else 2
        self.nconmax = options.max_contacts_per_env or max(16, per_geom * len(self.layout.robot_geoms))
        self.njmax = options.max_constraints_per_env or 4 * self.nconmax + 2 * self.model.nv
        with wp.ScopedDevice(self._wp_device):
            self._m = mjw.put_model(self.model, batch_sizes={name: n for name in self.randomized_fields})
            self._d = mjw.make_data(self.model, nworld=n, nconmax=self.nconmax, njmax=self.njmax)
            # No overflow prints from the GPU: specc counts every overflow and reports it in the spec's terms
            # (`check_health`), while MuJoCo Warp's device printf writes into specc's stdout, once per
            # world and step, and so into the JSON of `specc eval --json`.
            self._m.opt.warn_overflow = 0
            if self.device.type == "cuda":
                # torch and warp share one stream, so their work is ordered and the step can be captured.
                torch.cuda.set_stream(wp.stream_to_torch(wp.get_stream(self._wp_device)))
        view = wp.to_torch
        d, m = self._d, self._m
        self.qpos, self.qvel, self.ctrl = view(d.qpos), view(d.qvel), view(d.ctrl)
        self.time, self.warmstart = view(d.time), view(d.qacc_warmstart)
        self._xpos = view(d.xpos)
        self.overflow = view(d.overflow)
        self.params = {name: view(getattr(m, name)) for name in self.randomized_fields}
        self.nominal = {name: value[0].clone() for name, value in self.params.items()}
        from specc.runtime.backends.mujoco_warp_params import ParamsWriter

        self._params_writer = ParamsWriter(self, self.params, self.nominal)
        dev = self.device
        self._qpos0 = torch.tensor(self.model.qpos0, dtype=torch.float32, device=dev)
        self._qpos_addr = torch.as_tensor(self.layout.qpos_addr, device=dev)
        self._dof_addr = torch.as_tensor(self.layout.dof_addr, device=dev)
        self._tracked_bodies = torch.as_tensor(self.layout.tracked_body_ids, device=dev)
        # What the last physics step's state reports, kept so that checkpoints restore it.
        self.contact_force = torch.zeros(
            n, len(self.contact_bodies) + len(self.layout.pair_members), 3, device=dev
        )
        self._frames = FrameReader(self, options) if options.frames else None
        empty = torch.zeros(n, 0, 3, device=dev)
        self._no_frames = (empty, torch.zeros(n, 0, 4, device=dev), empty, empty)
        self._free_qpos = torch.as_tensor(self.layout.free_qpos_addr, device=dev)
        self._free_dof = torch.as_tensor(self.layout.free_dof_addr, device=dev)
        self._object_bodies = torch.as_tensor(self.layout.object_bodies, device=dev)
        self._object_geoms = torch.as_tensor(self.layout.object_geoms, device=dev)
        self.joint_torque = torch.zeros(n, len(self.joint_names), device=dev)  # passive joints: zero
        identity = torch.zeros(n, 4, device=dev)
        identity[:, 0] = 1.0
        self._fixed_root = (
            torch.zeros(n, 3, device=dev),
            identity,
            torch.zeros(n, 3, device=dev),
            torch.zeros(n, 3, device=dev),
        )
        self._targets = torch.empty(0, device=dev)  # PD targets of the step; sized by the first step
        self._graph = None
        self.graph_mode = "none"
        self._outer_captures: list = []
        self._diverged = torch.zeros(n, dtype=torch.bool, device=dev)
        self._start_time = torch.zeros_like(self.time)
        self._peak_use = torch.zeros(3, dtype=torch.int32, device=dev)
        from specc.runtime.backends.mujoco_warp_read_back import ReadBack

        slots = self.contact_force.shape[1]
        self._read_back = ReadBack(
            self.model,
            d,
            self._wp_device,
            self.layout.contact_members,
            self.layout.pair_members,
            options.contacts_read or (True,) * slots,
            self.layout.actuator_ids,
            self.layout.driven if options.torques_read else None,
            {
                "contact_force": self.contact_force,
                "joint_torque": self.joint_torque,
                "diverged": self._diverged,
                "start_time": self._start_time,
                "peak_use": self._peak_use,
            },
        )
        self._targets_wp: Any = None  # a warp view of _targets
        kinds = {f.name: int(f.value) for f in mjw._src.types.OverflowType if f.name in OVERFLOW_ADVICE}
        self._overflow_kinds = kinds
        self._per_env_bits = [kinds[name] for name in PER_ENV_OVERFLOWS]
        self._per_env_mask = sum(self._per_env_bits)
        self._flag_bits = torch.tensor(list(kinds.values()), dtype=self.overflow.dtype, device=dev)
        # Env steps that hit each per-env overflow, and policy steps, since the last check_health.
        self._per_env_counts = torch.zeros(len(PER_ENV_OVERFLOWS), dtype=torch.long, device=dev)
        self._steps = torch.zeros((), dtype=torch.long, device=dev)
        self.compiled = self._compile_kernels()
        self.reset(
            torch.ones(n, dtype=torch.bool, device=dev),
            self._qpos0[0:3].repeat(n, 1),
            identity,
            self._qpos0[self._qpos_addr].repeat(n, 1),
            torch.zeros(n, len(self.joint_names), device=dev),
        )

    def _compile_kernels(self) -> CompileReport:
        """Compile the step's warp kernels on all cores now, instead of one by one at the first step."""
        wp = self._wp
        with wp.ScopedDevice(self._wp_device):
            self._targets_wp = wp.zeros((self.num_envs, 1, self.model.nu), dtype=float)
            report = precompile(self._first_substep)
            self._targets_wp = None
        return report

    def _first_substep(self) -> None:
        self._physics(1)
        if self._frames is not None:
            self._frames.compute()

    # -- protocol -----------------------------------------------------------------------------
    def reset(
        self, env_mask, root_pos, root_quat, joint_pos, joint_vel, object_pose=None, object_vel=None
    ) -> None:
        rows = self._qpos0.repeat(self.num_envs, 1)
        if not self.fixed_base:
            rows[:, 0:3] = root_pos
            rows[:, 3:7] = root_quat
        rows[:, self._qpos_addr] = joint_pos
        velocities = torch.zeros_like(self.qvel)
        velocities[:, self._dof_addr] = joint_vel
        for k in range(len(self.layout.free_qpos_addr)):
            qa, da = int(self.layout.free_qpos_addr[k]), int(self.layout.free_dof_addr[k])
            if object_pose is not None:
                rows[:, qa : qa + 7] = object_pose[:, k]
            if object_vel is not None:
                velocities[:, da : da + 3] = object_vel[:, k, 0:3]
                # A free joint stores its angular velocity in the body frame.
                velocities[:, da + 3 : da + 6] = quat_rotate_inverse(
                    rows[:, qa + 3 : qa + 7], object_vel[:, k, 3:6]
                )
        rows_mask = env_mask[:, None]
        masked_write(self.qpos, env_mask, rows)
        masked_write(self.qvel, env_mask, velocities)
        self.warmstart.masked_fill_(rows_mask, 0.0)
        self.time.masked_fill_(env_mask, 0.0)
        self.contact_force.masked_fill_(env_mask[:, None, None], 0.0)
        self.joint_torque.masked_fill_(rows_mask, 0.0)
        self.ctrl.masked_fill_(env_mask[:, None], 0.0)  # each physics step writes its controls first
        self._diverged &= ~env_mask
        # The first observation of a new episode reads its frames (the box where it was just placed),
        # not the last step's: recompute them, as the CPU backend's reset does.
        if self._frames is not None:
            self._frames.compute()

    def set_root_velocity(self, env_mask, lin_vel, ang_vel) -> None:
        if self.fixed_base:
            return
        root_vel = torch.cat([lin_vel, quat_rotate_inverse(self.qpos[:, 3:7], ang_vel)], dim=-1)
        masked_write(self.qvel[:, 0:6], env_mask, root_vel)

    def set_params(self, env_mask, params: PhysicsParams) -> None:
        self._params_writer.write(env_mask, params)  # one warp launch per batched field
        if self.sizes_vary:
            self._write_object_geometry(env_mask, params.object_size_scale)

    def _write_object_geometry(self, env_mask, scale: torch.Tensor | None) -> None:
        """Per-world geometry of the objects scaled by `scale` (N, M): shape, bounding sphere and box
        (which the broadphase tests), and their inertia times size² on top of what the parameter
        writer just wrote (the mass is kept). Only specs that draw object sizes pay for it."""
        n, nominal, p = self.num_envs, self.nominal, self.params
        values = {
            "geom_size": nominal["geom_size"].repeat(n, 1, 1),
            "geom_rbound": nominal["geom_rbound"].repeat(n, 1),
            "geom_aabb": nominal["geom_aabb"].repeat(n, 1, 1, 1),
        }
        if scale is not None:
            geoms = self._object_geoms
            values["geom_size"][:, geoms] *= scale[:, :, None]
            values["geom_rbound"][:, geoms] *= scale
            values["geom_aabb"][:, geoms] *= scale[:, :, None, None]
            inertia = p["body_inertia"].clone()
            inertia[:, self._object_bodies] *= (scale * scale)[:, :, None]
            values["body_inertia"] = inertia
        for name, value in values.items():
            masked_write(p[name], env_mask, value)

    def step(self, targets: torch.Tensor) -> None:
        if self._targets.shape != targets.shape:
            self._targets = torch.empty_like(targets)
            self._targets_wp = self._wp.from_torch(self._targets)
            self._graph = None
        self._targets.copy_(targets)
        self._start_time.copy_(self.time)
        count = targets.shape[1]
        if self.device.type == "cpu":
            self._physics(count)  # warp's CPU device: plain launches
        elif torch.cuda.is_current_stream_capturing():
            self._physics_in_callers_graph(count)  # the env is capturing its whole step around this one
        else:
            if self._graph is None:
                self._capture(count)
            if self._graph is not None:
                self._wp.capture_launch(self._graph)
            else:
                self._physics(count)
        if self._frames is not None:
            self._frames.compute()
        self._diverged |= self._take_per_env_overflows()

    def _take_per_env_overflows(self) -> torch.Tensor:
        """(N,) the worlds whose collisions overflowed a per-env limit in this step; counts them and clears
        their flags (which MuJoCo Warp keeps until a reset), so the next step's flags are its own."""
        flags = self.overflow
        hit = torch.stack([(flags & bit) != 0 for bit in self._per_env_bits])  # (kinds, N)
        self._per_env_counts += hit.sum(dim=1)
        self._steps += 1
        flags &= ~self._per_env_mask
        return hit.any(dim=0)

    def _physics(self, count: int) -> None:
        """The substeps, each after its controls, then the read-back: warp launches only."""
        for s in range(count):
            self._read_back.controls(self._targets_wp, s)  # also keeps the peak use of the last substep
            self._mjw.step(self._m, self._d)
        self._read_back.compute()  # torques, contact forces, diverged worlds, peak buffer use

    def _capture(self, count: int) -> None:
        """Record the physics in a CUDA graph on the shared stream; plain launches if capture fails."""
        wp = self._wp
        self._physics(count)  # warm-up: kernels compiled and loaded before capture
        try:
            with wp.ScopedCapture(device=self._wp_device) as capture:
                self._physics(count)
            self._graph = capture.graph
            self.graph_mode = "cuda-graph"
        except Exception as err:  # noqa: BLE001 - any capture failure falls back, and says so
            self._graph = None
            self.graph_mode = f"plain launches ({str(err).splitlines()[0][:120]})"

    def _physics_in_callers_graph(self, count: int) -> None:
        """Record the physics into a CUDA graph that torch is capturing on the shared stream."""
        wp = self._wp
        stream = wp.get_stream(self._wp_device)
        with wp.ScopedCapture(stream=stream, external=True, capture_mode=wp.CaptureMode.GLOBAL) as capture:
            self._physics(count)
        self._outer_captures.append(capture.graph)  # keeps whatever warp allocated for the graph alive

    def usage(self) -> dict[str, int]:
        """Peak buffer use since the last call (contacts, broadphase pairs, constraint rows per world)."""
        contacts, pairs, rows = self._peak_use.tolist()
        self._peak_use.zero_()
        return {"contacts": contacts, "pairs": pairs, "rows_per_env": rows}

    def check_health(self) -> None:
        capacity = self.nconmax * self.num_envs
        use = self.usage()
        contacts = max(use["contacts"], use["pairs"])
        if contacts > capacity:
            needed = -(-contacts // self.num_envs)
            raise BufferOverflow(
                f"MuJoCo Warp's contact buffer overflowed: {contacts} contacts in one physics step, room for "
                f"{capacity} ({self.nconmax} per env), so contacts were dropped; "
                f"raise sim.max_contacts_per_env to at least {2 * needed}"
            )
        # Flags are bits: a world's max would hide another world's lower bit, so test each bit over all.
        raised = ((self.overflow[:, None] & self._flag_bits) != 0).any(dim=0).tolist()
        buffers = [
            name for name, hit in zip(self._overflow_kinds, raised) if hit and name not in PER_ENV_OVERFLOWS
        ]
        if buffers:
            raise BufferOverflow(
                "MuJoCo Warp dropped contacts or constraints: "
                + "; ".join(f"{name}: {OVERFLOW_ADVICE[name]}" for name in buffers)
                + f" (now sim.max_contacts_per_env = {self.nconmax}, "
                f"sim.max_constraints_per_env = {self.njmax})"
            )
        counts = self._per_env_counts.tolist()
        env_steps = max(1, int(self._steps.item()) * self.num_envs)
        self._per_env_counts.zero_()
        self._steps.zero_()
        shares = {name: count / env_steps for name, count in zip(PER_ENV_OVERFLOWS, counts)}
        self.counters = {f"Physics/overflow_share_{name.lower()}": share for name, share in shares.items()}
        # What the buffers held at their fullest since the last check: what to size them by.
        self.counters["Physics/peak_contacts_per_env"] = use["contacts"] / self.num_envs
        self.counters["Physics/peak_rows_per_env"] = float(use["rows_per_env"])
        worst = max(shares, key=lambda name: shares[name])
        if shares[worst] > PER_ENV_OVERFLOW_LIMIT:
            rows = (
                f" to at least {2 * use['rows_per_env']} (now {self.njmax})"
                if worst in ("NEFC", "NJMAX_NNZ")
                else ""
            )
            raise BufferOverflow(
                f"MuJoCo Warp's {worst} overflow hit {shares[worst]:.1%} of the env steps of a rollout "
                f"(more than {PER_ENV_OVERFLOW_LIMIT:.0%}; each such step is reset like a diverged one): "
                f"{OVERFLOW_ADVICE[worst]}{rows}"
            )

    def state(self) -> RobotState:
        if self.fixed_base:
            root_pos, root_quat, lin, ang = self._fixed_root
        else:
            root_pos, root_quat = self.qpos[:, 0:3], self.qpos[:, 3:7]
            lin, ang = self.qvel[:, 0:3], quat_rotate(root_quat, self.qvel[:, 3:6])
        return RobotState(
            root_pos=root_pos,
            root_quat=root_quat,
            root_lin_vel=lin,
            root_ang_vel=ang,
            joint_pos=self.qpos[:, self._qpos_addr],
            joint_vel=self.qvel[:, self._dof_addr],
            joint_torque=self.joint_torque,
            contact_force=self.contact_force,
            diverged=self._diverged,
            body_pos=self._xpos[:, self._tracked_bodies],
            **dict(
                zip(
                    ("frame_pos", "frame_quat", "frame_lin_vel", "frame_ang_vel"),
                    self._frames.values if self._frames is not None else self._no_frames,
                )
            ),
        )

    def save_state(self) -> dict[str, torch.Tensor]:
        saved = {
            "qpos": self.qpos.clone(),
            "qvel": self.qvel.clone(),
            "time": self.time.clone(),
            "contact_force": self.contact_force.clone(),
            "joint_torque": self.joint_torque.clone(),
        }
        saved.update({name: value.clone() for name, value in self.params.items()})
        return saved

    def load_state(self, saved: dict[str, torch.Tensor]) -> None:
        self.qpos.copy_(saved["qpos"])
        self.qvel.copy_(saved["qvel"])
        self.time.copy_(saved["time"])
        if self._frames is not None:
            self._frames.compute()
        for name in ("contact_force", "joint_torque"):
            if name in saved:  # checkpoints of the earlier, sensor-reading backend lack them
                getattr(self, name).copy_(saved[name])
        for name, value in self.params.items():
            value.copy_(saved[name])


class FrameReader:
    """The named frames the kernels read, from MuJoCo Warp's kinematics of the state after the step.

    The step's own kinematics describe the state before its last integration; so, only when a spec
    reads frames, this recomputes body poses (and com velocities when velocities are read) and gathers
    the frames' bodies: one read-back of those rows, not of every body. Specs without frames never
    create one, so their step is unchanged.
    """

    def __init__(self, backend: MujocoWarpBackend, options: BackendOptions) -> None:
        import warp as wp

        view = wp.to_torch
        d, dev = backend._d, backend.device
        self._backend = backend
        self._velocities = options.frame_velocities
        self._xpos, self._xquat = view(d.xpos), view(d.xquat)
        self._cvel, self._subtree_com = view(d.cvel), view(d.subtree_com)
        self._bodies = torch.as_tensor(backend.layout.frame_bodies, device=dev)
        self._roots = torch.as_tensor(backend.model.body_rootid[backend.layout.frame_bodies], device=dev)
        self._offset = torch.tensor([f.offset for f in options.frames], device=dev).view(1, -1, 3)
        self._quat = torch.tensor([f.quat for f in options.frames], device=dev).view(1, -1, 4)
        n, k = backend.num_envs, len(options.frames)
        self.values = tuple(torch.zeros(n, k, size, device=dev) for size in (3, 4, 3, 3))

    def compute(self) -> None:
        b, m, d = self._backend, self._backend._m, self._backend._d
        b._mjw.kinematics(m, d)
        pos, quat = frame_pose(
            self._xpos[:, self._bodies], self._xquat[:, self._bodies], self._offset, self._quat
        )
        self.values[0].copy_(pos)
        self.values[1].copy_(quat)
        if self._velocities:
            b._mjw.com_pos(m, d)
            b._mjw.com_vel(m, d)
            lin, ang = frame_velocity(pos, self._cvel[:, self._bodies], self._subtree_com[:, self._roots])
            self.values[2].copy_(lin)
            self.values[3].copy_(ang)
