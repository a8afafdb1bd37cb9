"""The torch implementation of MuJoCo Warp contact forces that the backend used before its fused
read-back kernel (specc/runtime/backends/mujoco_warp_read_back.py), kept as that kernel's reference.

It decodes each active contact's force from its constraint rows with masked torch ops over the whole
contact buffer, rotates it out of the contact frame, adds it to the contact's second body and
subtracts it from its first (the contact normal points from geom 0 to geom 1), and sums the bodies
of each tracked group.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import torch

# Contact force components read back: the normal and the two tangential directions (torques are not needed).
FORCE_COMPONENTS = 3


class ContactForces:
    """Computes (N, tracked bodies, 3) world-frame net contact forces from one MuJoCo Warp Data."""

    def __init__(
        self,
        model: mujoco.MjModel,
        data,
        members: list[list[int]],
        device: torch.device,
        pairs: Sequence[tuple[list[int], list[int]]] = (),
    ) -> None:
        import warp as wp

        view = wp.to_torch
        contact = data.contact
        self._nacon = view(data.nacon)
        self._geom = view(contact.geom)  # (C, 2) geom ids, -1 for flex
        self._world = view(contact.worldid)  # (C,)
        self._dim = view(contact.dim)  # (C,) condim
        self._frame = view(contact.frame)  # (C, 3, 3) rows: normal, tangent 1, tangent 2
        self._friction = view(contact.friction)  # (C, 5)
        self._efc_address = view(contact.efc_address)  # (C, rows of the widest contact); -1: not a constraint
        self._adhesion = view(contact.adhesion)  # (C,)
        self._efc_force = view(data.efc.force)  # (N, njmax)
        self._pyramidal = model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL
        self.num_envs, self.nbody = self._efc_force.shape[0], model.nbody
        self._geom_body = torch.as_tensor(model.geom_bodyid, dtype=torch.long, device=device)
        self._contact_ids = torch.arange(self._geom.shape[0], device=device)
        rows = max(self._efc_address.shape[1], 2 * (FORCE_COMPONENTS - 1))
        self._row_offsets = torch.arange(rows, device=device)
        membership = torch.zeros(model.nbody, len(members), device=device)
        for slot, bodies in enumerate(members):
            membership[bodies, slot] = 1.0
        self._membership = membership.T.contiguous()  # (tracked bodies, bodies)
        self._per_body = torch.zeros(self.num_envs * model.nbody, 3, device=device)
        # Rows past the active contacts add their zeros at distinct addresses: sent to one address, the
        # hundreds of thousands of atomic adds serialize (bench/gpu.py: 2.63M raw physics steps/s at 4,096
        # envs that way, 3.57M spread).
        self._spread = self._contact_ids % self._per_body.shape[0]
        # Contact pairs (force on one body group from another): which side each body is on, per pair.
        self._pairs = None
        if pairs:
            sides = torch.zeros(2, len(pairs), model.nbody, device=device)
            for index, (body, other) in enumerate(pairs):
                sides[0, index, body] = 1.0
                sides[1, index, other] = 1.0
            self._pairs = sides
            self._per_pair = torch.zeros(self.num_envs * len(pairs), 3, device=device)

    def compute(self, out: torch.Tensor) -> None:
        """Write the forces of the contacts of the last physics step into `out` (N, tracked bodies, 3)."""
        world = self._world.long().clamp(0, self.num_envs - 1)
        active, world_force = self._world_frame_forces(world)
        bodies = self._geom_body[self._geom.long().clamp(min=0)]  # (C, 2)
        on_second = torch.where(active, world * self.nbody + bodies[:, 1], self._spread)
        on_first = torch.where(active, world * self.nbody + bodies[:, 0], self._spread)
        self._per_body.zero_()
        self._per_body.index_add_(0, on_second, world_force)
        self._per_body.index_add_(0, on_first, -world_force)
        per_body = self._per_body.view(self.num_envs, self.nbody, 3)
        tracked = self._membership.shape[0]
        if self._pairs is None:
            torch.matmul(self._membership, per_body, out=out)
            return
        torch.matmul(self._membership, per_body, out=out[:, :tracked])
        # The force on a pair's body from its other: +f where the body is the contact's second geom's
        # body and the other the first's, -f the other way round.
        body_side, other_side = self._pairs[0], self._pairs[1]  # (P, nbody)
        first, second = bodies[:, 0], bodies[:, 1]
        sign = (
            other_side[:, first] * body_side[:, second] - body_side[:, first] * other_side[:, second]
        )  # (P, C)
        count = sign.shape[0]
        slots = world[None, :] * count + torch.arange(count, device=sign.device)[:, None]  # (P, C)
        self._per_pair.zero_()
        self._per_pair.index_add_(0, slots.reshape(-1), (sign[:, :, None] * world_force[None]).reshape(-1, 3))
        out[:, tracked:] = self._per_pair.view(self.num_envs, count, 3)

    def _world_frame_forces(self, world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Which rows are active contacts (C,), and each one's force on its second body (C, 3), zero if not;
        `world` is each row's world, clamped to a valid index."""
        first_row = self._efc_address[:, 0].long()
        active = (self._contact_ids < self._nacon[0]) & (first_row >= 0) & (self._geom >= 0).all(dim=1)
        njmax = self._efc_force.shape[1]
        dim = self._dim.long()
        if self._pyramidal:
            # Rows adr .. adr + 2 (condim - 1) - 1 hold the pyramid edges (one row for a frictionless contact).
            rows = first_row.clamp(min=0)[:, None] + self._row_offsets
            edges = torch.where(dim == 1, 1, 2 * (dim - 1))
            used = (self._row_offsets < edges[:, None]) & (rows < njmax)
            edge = torch.where(used, self._efc_force[world[:, None], rows.clamp(max=njmax - 1)], 0.0)
            normal = edge.sum(dim=1)
            tangent = [
                (edge[:, 2 * i] - edge[:, 2 * i + 1]) * self._friction[:, i] * (dim > i + 1)
                for i in range(FORCE_COMPONENTS - 1)
            ]
            local = torch.stack([normal, *tangent], dim=1)
        else:
            address = self._efc_address[:, :FORCE_COMPONENTS].long()
            width = address.shape[1]
            used = (address >= 0) & (address < njmax) & (self._row_offsets[:width] < dim[:, None])
            local = torch.where(used, self._efc_force[world[:, None], address.clamp(0, njmax - 1)], 0.0)
            if width < FORCE_COMPONENTS:
                local = torch.nn.functional.pad(local, (0, FORCE_COMPONENTS - width))
        local[:, 0] -= self._adhesion  # net interface force: the solver's force less the adhesive pull
        # Rows past the active contacts hold stale values (even NaN after a divergence): select, not multiply.
        world_force = (local[:, :, None] * self._frame).sum(dim=1)  # rows of the frame are its axes
        return active, torch.where(active[:, None], world_force, 0.0)
