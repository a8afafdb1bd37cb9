"""MuJoCo Warp collides with the generated heightfield as CPU MuJoCo does (on warp's CPU device here,
slowly; skipped where MuJoCo Warp is not installed, as in CI), and reports a geom too large for it."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from specc.runtime.backends.mujoco_model import add_ground
from specc.runtime.terrain import HeightSampler, TerrainConfig, generate

mjw = pytest.importorskip("mujoco_warp")
wp = pytest.importorskip("warp")

STAIRS = TerrainConfig(kind="tiles", rows=2, cols=1, border=1.0, proportions=(("stairs_down", 1.0),))


def _model(half_sizes: list[float], points: list[tuple[float, float, float]]) -> mujoco.MjModel:
    spec = mujoco.MjSpec()
    add_ground(spec, STAIRS)
    for half, (x, y, z) in zip(half_sizes, points):
        body = spec.worldbody.add_body(pos=[x, y, z])
        body.add_freejoint()
        geom = body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[half, half, 0.1])
        geom.mass = 1.0
    return spec.compile()


def _warp_rest(model: mujoco.MjModel, steps: int) -> tuple[np.ndarray, int]:
    wp.init()
    with wp.ScopedDevice("cpu"):
        m = mjw.put_model(model)
        d = mjw.make_data(model, nworld=1, nconmax=64, njmax=256)
        m.opt.warn_overflow = 0  # the flag is what this test reads
        for _ in range(steps):
            mjw.step(m, d)
        return d.qpos.numpy()[0].reshape(-1, 7)[:, :3], int(d.overflow.numpy().max())


def test_mujoco_warp_lands_a_box_on_the_platform_and_on_a_step():
    terrain = generate(STAIRS)
    origin = terrain.origins[1, 0]
    sampler = HeightSampler(terrain, "cpu")
    xy = [(origin[0], origin[1]), (origin[0] + 2.25, origin[1])]
    claimed = [float(sampler.sample(torch.tensor(x), torch.tensor(y))) for x, y in xy]
    model = _model([0.1, 0.1], [(x, y, z + 0.15) for (x, y), z in zip(xy, claimed)])
    rest, overflow = _warp_rest(model, 300)
    assert overflow == 0
    for z, landed in zip(claimed, rest):
        assert landed[2] - 0.1 == pytest.approx(z, abs=0.005)


def test_a_geom_wider_than_the_prism_budget_sets_the_hfield_overflow_flag():
    """A 3 m box sunk into the ground covers ~900 cells of a 0.1 m heightfield: more than MuJoCo Warp's contacts per pair, which
    the backend reports as 'raise terrain.horizontal_scale' (backends/mujoco_warp.py)."""
    terrain = generate(STAIRS)
    origin = terrain.origins[0, 0]
    _, overflow = _warp_rest(_model([1.5], [(origin[0], origin[1], origin[2] + 0.05)]), 3)
    assert overflow & int(mjw._src.types.OverflowType.HFIELD)


def _rough_backend(num_envs: int):
    """The anymal_rough robot in MuJoCo Warp on warp's CPU device, over a 5 cm heightfield (its base box
    covers ~12 x 3 cells there: more prisms than MuJoCo's 50 contacts per pair once it lies on them)."""
    from kernel_support import TASKS, load_task
    from runtime_support import task_backend_options

    from specc.runtime.backends.mujoco_warp import MujocoWarpBackend

    overrides = {
        "sim.backend": "mujoco-warp",
        "sim.device": "cpu",
        "terrain.rows": 1,
        "terrain.cols": 1,
        "terrain.border": 1.0,
        "terrain.horizontal_scale": 0.05,
        # Buffers for a lying robot in two envs: the HFIELD limit is the one hit.
        "sim.max_contacts_per_env": 180,
        "sim.max_constraints_per_env": 800,
    }
    task = load_task(TASKS / "anymal_rough.toml", overrides)
    options = task_backend_options(task, num_envs, "cpu")
    backend = MujocoWarpBackend(task.robot.urdf, task.robot.joint_names, options)
    return task, backend, generate(options.terrain)


def test_a_base_lying_on_a_fine_heightfield_resets_its_env_and_is_counted_not_fatal(monkeypatch):
    """Env 0's base box sinks 2 cm into the platform (an HFIELD overflow in its world only); env 1 stands.
    The overflowing env's step counts as diverged, the other is untouched, and check_health reports the
    share; only a share above PER_ENV_OVERFLOW_LIMIT stops the run, with advice that names the setting."""
    from specc.runtime.backends import mujoco_warp as backend_module

    task, backend, terrain = _rough_backend(2)
    top = float(terrain.origins[0, 0, 2])
    default = torch.tensor(task.robot.default_joint_pos)
    backend.reset(
        torch.ones(2, dtype=torch.bool),
        torch.tensor([[*terrain.origins[0, 0, :2], top + 0.07], [*terrain.origins[0, 0, :2], top + 0.6]]),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2),
        default.repeat(2, 1),
        torch.zeros(2, len(default)),
    )
    backend.step(default.repeat(2, 1, 1))
    assert backend.state().diverged.tolist() == [True, False]
    assert int(backend.overflow[0]) & backend._per_env_mask == 0  # cleared: the next step's flags are its own
    with pytest.raises(backend_module.BufferOverflow, match="HFIELD.*50.0% .*terrain.horizontal_scale"):
        backend.check_health()  # one env step in two: far above the limit
    assert backend.counters["Physics/overflow_share_hfield"] == pytest.approx(0.5)
    # The fullest the buffers were, per env: what a spec's sim.max_contacts_per_env is sized by.
    assert 0 < backend.counters["Physics/peak_contacts_per_env"] <= backend.nconmax
    # Rows are counted past the buffer (anymal_rough's 200; a lying base takes more): what to size it by.
    assert backend.counters["Physics/peak_rows_per_env"] > 0
    backend.step(default.repeat(2, 1, 1))  # env 0 still lies there: counted again
    monkeypatch.setattr(backend_module, "PER_ENV_OVERFLOW_LIMIT", 0.6)
    backend.check_health()  # below the (raised) limit: counted, not fatal
    assert backend.counters["Physics/overflow_share_hfield"] == pytest.approx(0.5)
