"""Per-world physical parameters of MuJoCo Warp's batched model fields, written by one warp kernel per field.

Domain randomization gives every env its own masses, inertias, frictions, actuator gains and joint
damping, and the env sets them in the envs it resets, at every step (a masked write, so that the step
waits for nothing and can be captured). Built from torch ops (repeat the nominal row, scale or set
columns, select by the mask) that was about 65 small kernels per step, a tenth of the env step's
kernels; here each field is one launch over (worlds, elements): an element's value is its nominal
value, or a per-world draw that replaces it, times a per-world draw that scales it.
"""

from __future__ import annotations

import numpy as np
import torch
import warp as wp

from specc.runtime.backends.base import PhysicsParams

# Fields written, in order, and the trailing shape of one element of each (per world).
FIELDS = ("body_mass", "body_inertia", "geom_friction", "actuator_gainprm", "actuator_biasprm", "dof_damping")


@wp.kernel
def _write_field(
    env_mask: wp.array(dtype=wp.bool),
    nominal: wp.array(dtype=float),
    set_column: wp.array(dtype=int),
    scale_column: wp.array(dtype=int),
    draws: wp.array2d(dtype=float),
    field: wp.array2d(dtype=float),
):
    world, element = wp.tid()
    if not env_mask[world]:
        return
    value = nominal[element]
    if set_column[element] >= 0:
        value = draws[world, set_column[element]]
    if scale_column[element] >= 0:
        value = value * draws[world, scale_column[element]]
    field[world, element] = value


class ParamsWriter:
    """Writes `PhysicsParams` into the masked worlds' rows of MuJoCo Warp's batched model fields."""

    def __init__(self, backend, fields: dict[str, torch.Tensor], nominal: dict[str, torch.Tensor]) -> None:
        self._backend = backend
        self._device = backend._wp_device
        n = backend.num_envs
        self._shapes = {name: fields[name].shape[1:] for name in FIELDS}
        self._fields = {name: wp.from_torch(fields[name].reshape(n, -1)) for name in FIELDS}
        self._nominal = {name: wp.from_torch(nominal[name].reshape(-1).contiguous()) for name in FIELDS}
        layout = backend.layout
        self._base_group_mass = nominal["body_mass"][torch.as_tensor(layout.base_group_bodies)].sum()
        self._maps: dict[tuple[bool, ...], dict[str, tuple[wp.array, wp.array]]] = {}

    def write(self, env_mask: torch.Tensor, params: PhysicsParams) -> None:
        columns, key = self._draws(params)
        if key not in self._maps:
            self._maps[key] = self._element_maps(params)
        draws = wp.from_torch(columns)
        mask = wp.from_torch(env_mask, dtype=wp.bool)
        for name in FIELDS:
            set_column, scale_column = self._maps[key][name]
            field = self._fields[name]
            wp.launch(
                _write_field,
                dim=field.shape,
                inputs=[mask, self._nominal[name], set_column, scale_column, draws],
                outputs=[field],
                device=self._device,
            )

    def _draws(self, p: PhysicsParams) -> tuple[torch.Tensor, tuple[bool, ...]]:
        """The per-world draws as columns (N, K), and which parameters are given (the maps' key)."""
        n = self._backend.num_envs
        given = [
            p.base_mass_add,
            p.link_mass_scale,
            p.friction,
            p.motor_strength,
            p.joint_damping,
            p.object_mass_scale,
            p.object_friction,
        ]
        columns = []
        if p.base_mass_add is not None:  # the base group's mass and inertia scale with its new mass
            columns.append((self._base_group_mass + p.base_mass_add) / self._base_group_mass)
        for value in (p.link_mass_scale, p.friction, p.motor_strength, p.joint_damping):
            if value is not None:
                columns.append(value)
        for value in (p.object_mass_scale, p.object_friction):
            if value is not None:
                columns.extend(value.unbind(dim=1))
        if not columns:
            columns.append(torch.zeros(n, device=self._backend.device))  # read by nothing
        return torch.stack(columns, dim=1).float().contiguous(), tuple(v is not None for v in given)

    def _element_maps(self, p: PhysicsParams) -> dict[str, tuple[wp.array, wp.array]]:
        """For each field's elements (flattened per world): the draw column that sets it and the one that
        scales it (-1: none), for the parameters `p` gives."""
        layout = self._backend.layout
        sets = {name: np.full(self._shapes[name], -1, dtype=np.int32) for name in FIELDS}
        scales = {name: np.full(self._shapes[name], -1, dtype=np.int32) for name in FIELDS}
        column = 0
        if p.base_mass_add is not None:
            scales["body_mass"][layout.base_group_bodies] = column
            scales["body_inertia"][layout.base_group_bodies] = column
            column += 1
        if p.link_mass_scale is not None:
            scales["body_mass"][layout.limb_bodies] = column
            scales["body_inertia"][layout.limb_bodies] = column
            column += 1
        if p.friction is not None:
            sets["geom_friction"][layout.robot_geoms, 0] = column
            sets["geom_friction"][layout.ground_geom, 0] = column
            column += 1
        if p.motor_strength is not None:
            scales["actuator_gainprm"][:, 0] = column
            scales["actuator_biasprm"][:, 1:3] = column
            column += 1
        if p.joint_damping is not None:
            sets["dof_damping"][layout.dof_addr] = column
            column += 1
        if p.object_mass_scale is not None:
            for k, body in enumerate(layout.object_bodies):
                scales["body_mass"][body] = column + k
                scales["body_inertia"][body] = column + k
            column += len(layout.object_bodies)
        if p.object_friction is not None:
            for k, geom in enumerate(layout.object_geoms):
                sets["geom_friction"][geom, 0] = column + k
            column += len(layout.object_geoms)
        with wp.ScopedDevice(self._device):
            return {
                name: (
                    wp.array(sets[name].reshape(-1), dtype=int),
                    wp.array(scales[name].reshape(-1), dtype=int),
                )
                for name in FIELDS
            }
