"""Everything the env reads from MuJoCo Warp after the physics substeps, in one warp kernel.

The env reads joint torques and net contact forces after each step, and needs to know which worlds
diverged and how full the contact and constraint buffers got. MuJoCo's sensors would report torques
and contact forces, but in MuJoCo Warp they cost about a third of the physics time of specc's ANYmal
model (bench/physics_profile.py); the solver has already computed every contact's force, so this
reads it back instead. A first version did that with torch ops on every row of the contact buffer
(nconmax x nworld rows, most of them unused): dozens of kernels that cost 14 % of the physics time
(bench/gpu.py, "raw" against plain MuJoCo Warp). Now one kernel, one thread per contact row and per
world, does it all:

- a contact thread (rows below `nacon` only; the others return at once) decodes its contact's force
  with MuJoCo Warp's own `contact_force_fn` (pyramidal or elliptic cone, less adhesion), rotates it
  into the world frame, and adds it to the tracked bodies of its second geom and subtracts it from
  those of its first (the contact normal points from geom 0 to geom 1), and to the contact pairs it
  belongs to, with atomic adds;
- a world thread gathers its joint torques (actuator forces), flags its state as diverged (a
  non-finite position or velocity, or a clock that went back) and raises the peak-use counters.

Only what the spec reads is computed: tracked bodies whose force no term (nor the env's feet)
reads get no adds and stay zero, a spec that reads no contact force launches no contact threads,
and one that reads no torques leaves them zero. A second, tiny kernel writes each substep's
controls and raises the peak-use counters after every substep. Both are plain warp launches, so
they are recorded in the backend's CUDA graph or in the env's graph of its whole step.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np
import torch
import warp as wp
from mujoco_warp._src.support import contact_force_fn
from mujoco_warp._src.types import vec5

# Peak-use counters, as `MujocoWarpBackend.usage` reports them.
PEAK_CONTACTS, PEAK_PAIRS, PEAK_ROWS = wp.constant(0), wp.constant(1), wp.constant(2)


@wp.func
def _raise_peaks(
    world: int,
    nacon: wp.array(dtype=int),
    ncollision: wp.array(dtype=int),
    nefc: wp.array(dtype=int),
    peak_use: wp.array(dtype=int),
):
    """MuJoCo Warp's counters run past their buffers when something does not fit: keep their peaks."""
    wp.atomic_max(peak_use, PEAK_ROWS, nefc[world])
    if world == 0:
        wp.atomic_max(peak_use, PEAK_CONTACTS, nacon[0])
        wp.atomic_max(peak_use, PEAK_PAIRS, ncollision[0])


@wp.kernel
def _substep_controls(
    substep: int,
    targets: wp.array3d(dtype=float),
    nacon: wp.array(dtype=int),
    ncollision: wp.array(dtype=int),
    nefc: wp.array(dtype=int),
    ctrl: wp.array2d(dtype=float),
    peak_use: wp.array(dtype=int),
):
    """Before a substep: its controls, and the peak use of the substep before it."""
    world = wp.tid()
    for a in range(ctrl.shape[1]):
        ctrl[world, a] = targets[world, substep, a]
    _raise_peaks(world, nacon, ncollision, nefc, peak_use)


@wp.kernel
def _read_back(
    # MuJoCo Warp's contacts and constraint forces
    opt_cone: int,
    contact_rows: int,
    contact_geom: wp.array(dtype=wp.vec2i),
    contact_worldid: wp.array(dtype=int),
    contact_frame: wp.array(dtype=wp.mat33),
    contact_friction: wp.array(dtype=vec5),
    contact_dim: wp.array(dtype=int),
    contact_efc_address: wp.array2d(dtype=int),
    contact_adhesion: wp.array(dtype=float),
    efc_force: wp.array2d(dtype=float),
    nacon: wp.array(dtype=int),
    ncollision: wp.array(dtype=int),
    nefc: wp.array(dtype=int),
    # what the spec reads of them
    geom_body: wp.array(dtype=int),
    body_slots_start: wp.array(dtype=int),
    body_slots: wp.array(dtype=int),
    pair_sides: wp.array3d(dtype=float),
    first_pair_column: int,
    # MuJoCo Warp's state and actuator forces
    nworld: int,
    qpos: wp.array2d(dtype=float),
    qvel: wp.array2d(dtype=float),
    time: wp.array(dtype=float),
    start_time: wp.array(dtype=float),
    actuator_force: wp.array2d(dtype=float),
    actuator_ids: wp.array(dtype=int),
    torque_columns: wp.array(dtype=int),
    # out (contact_force zeroed before the launch)
    contact_force: wp.array2d(dtype=wp.vec3),
    joint_torque: wp.array2d(dtype=float),
    diverged: wp.array(dtype=wp.bool),
    peak_use: wp.array(dtype=int),
):
    tid = wp.tid()
    if tid < nworld:
        world = tid
        for a in range(actuator_ids.shape[0]):
            joint_torque[world, torque_columns[a]] = actuator_force[world, actuator_ids[a]]
        bad = time[world] < start_time[world]
        for i in range(qpos.shape[1]):
            if not wp.isfinite(qpos[world, i]):
                bad = True
        for i in range(qvel.shape[1]):
            if not wp.isfinite(qvel[world, i]):
                bad = True
        diverged[world] = bad
        _raise_peaks(world, nacon, ncollision, nefc, peak_use)
    if tid >= contact_rows or tid >= nacon[0]:
        return
    geoms = contact_geom[tid]
    if geoms[0] < 0 or geoms[1] < 0 or contact_efc_address[tid, 0] < 0:
        return  # a flex contact, or one that is not a constraint
    world = contact_worldid[tid]
    force = contact_force_fn(
        opt_cone,
        contact_frame,
        contact_friction,
        contact_dim,
        contact_efc_address,
        contact_adhesion,
        efc_force,
        efc_force.shape[1],
        nacon,
        world,
        tid,
        True,
    )
    on_second = wp.spatial_top(force)  # the force on geom 1's body; geom 0's body gets its opposite
    first, second = geom_body[geoms[0]], geom_body[geoms[1]]
    for k in range(body_slots_start[second], body_slots_start[second + 1]):
        wp.atomic_add(contact_force, world, body_slots[k], on_second)
    for k in range(body_slots_start[first], body_slots_start[first + 1]):
        wp.atomic_add(contact_force, world, body_slots[k], -on_second)
    # The force on a pair's body from its other: +f where the body is the second geom's body and the
    # other the first's, -f the other way round.
    for p in range(pair_sides.shape[1]):
        sign = (
            pair_sides[1, p, first] * pair_sides[0, p, second]
            - pair_sides[0, p, first] * pair_sides[1, p, second]
        )
        if sign != 0.0:
            wp.atomic_add(contact_force, world, first_pair_column + p, sign * on_second)


def body_slots(
    nbody: int, members: Sequence[Sequence[int]], read: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """For each body, the tracked slots its contact forces add to (only slots that are read), as CSR:
    slots[start[b]:start[b + 1]] (a body can belong to several slots: the base in two groups)."""
    per_body: list[list[int]] = [[] for _ in range(nbody)]
    for slot, bodies in enumerate(members):
        if read[slot]:
            for body in bodies:
                per_body[body].append(slot)
    start = np.zeros(nbody + 1, dtype=np.int32)
    start[1:] = np.cumsum([len(s) for s in per_body])
    flat = np.array([s for slots in per_body for s in slots], dtype=np.int32)
    return start, flat


class ReadBack:
    """Writes torques, contact forces, divergence flags and peak buffer use of one MuJoCo Warp Data into
    the backend's torch buffers (zero-copy views), after the substeps; also each substep's controls."""

    def __init__(
        self,
        model: mujoco.MjModel,
        data,
        wp_device: str,
        members: Sequence[Sequence[int]],
        pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
        contacts_read: Sequence[bool],
        actuator_ids: np.ndarray,
        torque_columns: np.ndarray | None,
        out: dict[str, torch.Tensor],
    ) -> None:
        """`contacts_read`: per tracked body (then per pair), whether anything reads its force;
        `torque_columns`: the joint_torque column of each actuator, None when nothing reads torques;
        `out`: contact_force (N, B + P, 3), joint_torque (N, J), diverged (N,) bool, start_time (N,),
        peak_use (3,) int32, all on the device of `data`."""
        self._data = data
        self._wp_device = wp_device
        self.num_envs = data.nworld
        nbody, tracked = model.nbody, len(members)
        start, flat = body_slots(nbody, members, contacts_read[:tracked])
        pairs_read = [p for p, read in zip(pairs, contacts_read[tracked:]) if read]
        sides = np.zeros((2, len(pairs), nbody), dtype=np.float32)
        for index, (body, other) in enumerate(pairs):
            if contacts_read[tracked + index]:
                sides[0, index, list(body)] = 1.0
                sides[1, index, list(other)] = 1.0
        self.reads_contacts = bool(len(flat)) or bool(pairs_read)
        self.reads_torques = torque_columns is not None
        columns = torque_columns if torque_columns is not None else np.zeros(0, dtype=np.int32)
        ids = actuator_ids if torque_columns is not None else np.zeros(0, dtype=np.int32)
        with wp.ScopedDevice(wp_device):
            self._geom_body = wp.array(model.geom_bodyid.astype(np.int32), dtype=int)
            self._slots_start = wp.array(start, dtype=int)
            self._slots = wp.array(flat if len(flat) else np.zeros(1, dtype=np.int32), dtype=int)
            self._pair_sides = wp.array(sides, dtype=float)
            self._actuator_ids = wp.array(np.asarray(ids, dtype=np.int32), dtype=int)
            self._torque_columns = wp.array(np.asarray(columns, dtype=np.int32), dtype=int)
        self._outputs = [
            wp.from_torch(out["contact_force"], dtype=wp.vec3),
            wp.from_torch(out["joint_torque"]),
            wp.from_torch(out["diverged"], dtype=wp.bool),
            wp.from_torch(out["peak_use"], dtype=wp.int32),
        ]
        self._start_time = wp.from_torch(out["start_time"])
        self._peak_use = self._outputs[3]
        self._ctrl = data.ctrl
        self._cone = int(model.opt.cone)
        self._tracked = tracked
        # Threads: one per contact row when contacts are read, and at least one per world.
        self._contact_rows = data.contact.geom.shape[0] if self.reads_contacts else 0
        self._threads = max(self._contact_rows, self.num_envs)

    def controls(self, targets: wp.array, substep: int) -> None:
        """Write substep `substep` of targets (N, S, nu) into MuJoCo Warp's controls."""
        d = self._data
        wp.launch(
            _substep_controls,
            dim=self.num_envs,
            inputs=[substep, targets, d.nacon, d.ncollision, d.nefc],
            outputs=[self._ctrl, self._peak_use],
            device=self._wp_device,
        )

    def compute(self) -> None:
        """After the substeps: contact forces, joint torques, divergence flags, peak use."""
        d, c = self._data, self._data.contact
        if self.reads_contacts:
            self._outputs[0].zero_()  # a warp memset: the read-back is warp's alone, so warp can capture it
        wp.launch(
            _read_back,
            dim=self._threads,
            inputs=[
                self._cone,
                self._contact_rows,
                c.geom,
                c.worldid,
                c.frame,
                c.friction,
                c.dim,
                c.efc_address,
                c.adhesion,
                d.efc.force,
                d.nacon,
                d.ncollision,
                d.nefc,
                self._geom_body,
                self._slots_start,
                self._slots,
                self._pair_sides,
                self._tracked,
                self.num_envs,
                d.qpos,
                d.qvel,
                d.time,
                self._start_time,
                d.actuator_force,
                self._actuator_ids,
                self._torque_columns,
            ],
            outputs=self._outputs,
            device=self._wp_device,
        )
