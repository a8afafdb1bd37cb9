"""The MuJoCo Warp backend's fused read-back kernel, on warp's CPU device (no GPU needed, so CI runs it).

After the substeps one warp kernel writes joint torques, net contact forces, divergence flags and peak
buffer use (specc/runtime/backends/mujoco_warp_read_back.py). These tests hold it to the torch implementation
it replaced (tests/support/warp_contacts_reference.py) on the same MuJoCo Warp Data, with robots dropped in
random poses so that feet, shanks, thighs and the base all touch the ground, and check that it
computes only what the spec reads.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

pytest.importorskip("mujoco_warp")

from kernel_support import TASKS, load_task  # noqa: E402
from runtime_support import task_backend_options  # noqa: E402
from warp_contacts_reference import ContactForces  # noqa: E402

from specc.codegen.layout import contacts_read, torques_read  # noqa: E402
from specc.runtime.backends import create_backend  # noqa: E402

NUM_ENVS = 32


def dropped_robots(**changes):
    """An ANYmal backend on warp's CPU device, its robots dropped from 0.3-0.7 m, half of them in any pose."""
    task = load_task(TASKS / "anymal_walk.toml")
    options = dataclasses.replace(task_backend_options(task, NUM_ENVS, "cpu"), **changes)
    backend = create_backend("mujoco-warp", task.robot.urdf, task.robot.joint_names, options)
    generator = torch.Generator().manual_seed(0)
    qpos = torch.as_tensor(backend.model.qpos0, dtype=torch.float32).repeat(NUM_ENVS, 1)
    qpos[:, 2] = 0.3 + 0.4 * torch.rand(NUM_ENVS, generator=generator)
    quat = torch.randn(NUM_ENVS, 4, generator=generator)
    quat[: NUM_ENVS // 2] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    qpos[:, 3:7] = quat / quat.norm(dim=1, keepdim=True)
    joints = torch.as_tensor(backend.layout.qpos_addr)
    qpos[:, joints] += 0.3 * torch.randn(NUM_ENVS, len(joints), generator=generator)
    backend.qpos.copy_(qpos)
    targets = qpos[:, joints][:, None].repeat(1, 4, 1)
    return task, backend, targets


def test_torques_and_contact_forces_equal_the_torch_read_back_they_replaced():
    task, backend, targets = dropped_robots()
    read = torch.tensor(contacts_read(task))
    assert not read[0] and read[1:].all()  # the 'base' group is tracked, but no term reads it
    reference = ContactForces(backend.model, backend._d, backend.layout.contact_members, backend.device)
    expected = torch.zeros_like(backend.contact_force)
    touching = torch.zeros(len(backend.contact_bodies), dtype=torch.bool)
    for step in range(40):  # 0.8 s: every robot lands, some on their backs
        backend.step(targets)
        if step % 8 == 7:
            state = backend.state()
            reference.compute(expected)
            torch.testing.assert_close(state.contact_force[:, read], expected[:, read], rtol=1e-4, atol=1e-3)
            assert torch.equal(state.contact_force[:, ~read], torch.zeros_like(expected[:, ~read]))
            forces = torch.as_tensor(backend._d.actuator_force.numpy())
            assert torch.equal(state.joint_torque, forces[:, backend.layout.actuator_ids])
            assert not state.diverged.any()
            touching |= (state.contact_force.norm(dim=-1) > 1.0).any(dim=0)
    missed = [b for b, t, r in zip(backend.contact_bodies, touching.tolist(), read.tolist()) if r and not t]
    assert not missed, missed


def test_what_no_term_reads_is_not_computed():
    task, backend, targets = dropped_robots(torques_read=False, contacts_read=(False,) * 14)
    assert torques_read(task)  # anymal_walk reads both; these options say nothing does
    for _ in range(20):
        backend.step(targets)
    state = backend.state()
    assert not state.joint_torque.any() and not state.contact_force.any()
    assert backend.usage()["contacts"] > 0  # the physics itself ran: the robots touch the ground


def test_a_world_with_a_non_finite_state_is_flagged_and_the_peak_use_is_kept():
    _, backend, targets = dropped_robots()
    for _ in range(20):
        backend.step(targets)
    use = backend.usage()
    contacts = int(backend._d.nacon.numpy()[0])
    rows = int(backend._d.nefc.numpy().max())
    assert 0 < contacts <= use["contacts"] and 0 < rows <= use["rows_per_env"] <= backend.njmax
    assert backend.usage()["contacts"] == 0  # usage() clears the peaks it reports
    backend.qvel[3, 7] = float("nan")
    backend.step(targets)
    assert backend.state().diverged.tolist() == [i == 3 for i in range(NUM_ENVS)]


def reference_params(backend, env_mask, params, before: dict) -> dict:
    """The batched fields as the backend's torch code wrote them before its warp kernel (its reference)."""
    nominal, n, layout = backend.nominal, backend.num_envs, backend.layout
    mass = nominal["body_mass"].repeat(n, 1)
    inertia = nominal["body_inertia"].repeat(n, 1, 1)
    limbs, group = torch.as_tensor(layout.limb_bodies), torch.as_tensor(layout.base_group_bodies)
    if params.link_mass_scale is not None:
        mass[:, limbs] *= params.link_mass_scale[:, None]
        inertia[:, limbs] *= params.link_mass_scale[:, None, None]
    if params.base_mass_add is not None:
        total = nominal["body_mass"][group].sum()
        scale = (total + params.base_mass_add) / total
        mass[:, group] *= scale[:, None]
        inertia[:, group] *= scale[:, None, None]
    friction = nominal["geom_friction"].repeat(n, 1, 1)
    if params.friction is not None:
        friction[:, torch.as_tensor(layout.robot_geoms), 0] = params.friction[:, None]
        friction[:, layout.ground_geom, 0] = params.friction
    gain = nominal["actuator_gainprm"].repeat(n, 1, 1)
    bias = nominal["actuator_biasprm"].repeat(n, 1, 1)
    if params.motor_strength is not None:
        gain[:, :, 0] *= params.motor_strength[:, None]
        bias[:, :, 1:3] *= params.motor_strength[:, None, None]
    damping = nominal["dof_damping"].repeat(n, 1)
    if params.joint_damping is not None:
        damping[:, torch.as_tensor(layout.dof_addr)] = params.joint_damping[:, None]
    fields = {
        "body_mass": mass,
        "body_inertia": inertia,
        "geom_friction": friction,
        "actuator_gainprm": gain,
        "actuator_biasprm": bias,
        "dof_damping": damping,
    }
    return {
        name: torch.where(env_mask.view(-1, *[1] * (value.dim() - 1)), value, before[name])
        for name, value in fields.items()
    }


def test_randomized_parameters_are_written_as_the_torch_code_wrote_them():
    from specc.runtime.backends.base import PhysicsParams

    _, backend, _ = dropped_robots()
    generator = torch.Generator().manual_seed(2)

    def draw(low, high):
        return low + (high - low) * torch.rand(NUM_ENVS, generator=generator)

    everything = PhysicsParams(
        base_mass_add=draw(-3.0, 3.0),
        link_mass_scale=draw(0.8, 1.2),
        friction=draw(0.5, 1.5),
        motor_strength=draw(0.9, 1.1),
        joint_damping=draw(0.2, 0.8),
    )
    some = PhysicsParams(friction=draw(0.5, 1.5), motor_strength=draw(0.9, 1.1))
    for params in (everything, some, PhysicsParams(), everything):
        mask = torch.rand(NUM_ENVS, generator=generator) < 0.5
        before = {name: value.clone() for name, value in backend.params.items()}
        expected = reference_params(backend, mask, params, before)
        backend.set_params(mask, params)
        for name, value in backend.params.items():
            torch.testing.assert_close(value, expected[name], rtol=1e-6, atol=0.0, msg=name)
    assert not torch.equal(backend.params["body_mass"][0], backend.nominal["body_mass"])
