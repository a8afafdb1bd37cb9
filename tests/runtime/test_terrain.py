"""Rough terrain: the generated heights, MuJoCo's collision with them, the height sampler, placement
and the curriculum rule, each against numbers worked out by hand or real MuJoCo physics."""

from __future__ import annotations

import math
from dataclasses import replace

import mujoco
import numpy as np
import pytest
import torch
from kernel_support import TASKS, load_task
from runtime_support import assemble_task

from specc.runtime.backends.base import masked_write
from specc.runtime.backends.mujoco_model import add_ground
from specc.runtime.evaluate import terrain_breakdown
from specc.runtime.terrain import (
    TILE_FUNCTIONS,
    Difficulty,
    HeightSampler,
    Terrain,
    TerrainConfig,
    generate,
    tile_grid,
)

STAIRS = TerrainConfig(
    kind="tiles", rows=2, cols=2, border=1.0, proportions=(("stairs_down", 1.0), ("stairs_up", 1.0))
)
MIXED = TerrainConfig(
    kind="tiles", rows=3, cols=8, border=1.0, proportions=tuple((k, 1.0) for k in TILE_FUNCTIONS)
)


def test_same_seed_gives_the_same_heights_and_another_seed_other_heights():
    first = generate(MIXED).heights.copy()
    generate.cache_clear()
    assert np.array_equal(generate(MIXED).heights, first)
    assert not np.array_equal(generate(replace(MIXED, seed=1)).heights, first)


def test_each_tile_type_is_a_pure_function_of_difficulty_rng_and_shape():
    grid = tile_grid((80, 80), 0.1)
    for name, make in TILE_FUNCTIONS.items():
        a = make(0.7, np.random.default_rng(3), grid, Difficulty())
        b = make(0.7, np.random.default_rng(3), grid, Difficulty())
        assert a.shape == (80, 80) and np.array_equal(a, b), name
        easy = np.abs(make(0.1, np.random.default_rng(3), grid, Difficulty())).mean()
        assert np.abs(a).mean() > easy, f"{name}: a harder tile is not rougher"


def test_rows_get_harder_and_heights_are_what_the_difficulty_says():
    """Stairs of row i: steps of 0.05 + 0.18 * i / rows, 0.31 m deep, rising to a 3 m platform."""
    terrain = generate(STAIRS)
    p = Difficulty()
    for row in range(2):
        step = p.at("step_height", row / 2)
        steps_to_platform = math.floor((4.0 - 1.5) / 0.31)
        assert terrain.column_types == ("stairs_down", "stairs_up")
        assert terrain.origins[row, 0, 2] == pytest.approx(step * steps_to_platform, abs=0.003)
        assert terrain.origins[row, 1, 2] == pytest.approx(-step * steps_to_platform, abs=0.003)
    assert (np.abs(terrain.heights / 0.005 - np.round(terrain.heights / 0.005)) < 1e-3).all()


def _drop_boxes(config: TerrainConfig, points: list[tuple[float, float, float]], half: float) -> np.ndarray:
    """Drop a box from each (x, y, z) onto the terrain in real MuJoCo; return where each comes to rest."""
    spec = mujoco.MjSpec()
    add_ground(spec, config)
    for x, y, z in points:
        body = spec.worldbody.add_body(pos=[x, y, z])
        body.add_freejoint()
        geom = body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[half] * 3)
        geom.mass = 1.0
    model = spec.compile()
    data = mujoco.MjData(model)
    for _ in range(1500):
        mujoco.mj_step(model, data)
    return data.xpos[1:].copy()


def test_a_box_dropped_on_a_step_lands_at_the_steps_height():
    terrain = generate(STAIRS)
    sampler = HeightSampler(terrain, "cpu")
    origin = terrain.origins[1, 0]
    # The platform; the third step down (its flat run spans 2.15-2.35 m from the centre: grid points lie
    # at 0.05 + 0.1 k); a step of the stairs-up pit in the next column (flat from 1.85 to 2.05 m).
    points = [
        (origin[0], origin[1]),
        (origin[0] + 2.25, origin[1]),
        (origin[0], origin[1] + 8.0 - 1.95),
    ]
    claimed = [float(sampler.sample(torch.tensor(x), torch.tensor(y))) for x, y in points]
    # 0.2 m boxes dropped from 5 cm above the claimed height (a taller drop may tip them over).
    rest = _drop_boxes(STAIRS, [(x, y, z + 0.15) for (x, y), z in zip(points, claimed)], half=0.1)
    for z, landed in zip(claimed, rest):
        assert landed[2] - 0.1 == pytest.approx(z, abs=0.003)
    assert rest[0, 2] - rest[1, 2] == pytest.approx(3 * Difficulty().at("step_height", 0.5), abs=0.003)


def test_the_robot_starts_on_its_tile_and_stands_at_the_terrain_height():
    task = load_task(
        TASKS / "anymal_rough.toml",
        {
            "sim.backend": "mujoco",
            "sim.device": "cpu",
            "terrain.rows": 2,
            "terrain.cols": 6,
            "terrain.border": 1.0,
        },
    )
    env = assemble_task(task, num_envs=6, kernels="eager", randomize=False, capture_graph=False).env
    origins = torch.tensor(env.terrain.origins, dtype=torch.float32)
    expected = origins[env.terrain_level, env.terrain_column]
    assert torch.allclose(env.start_pos[:, :2], expected[:, :2])
    assert torch.allclose(env.start_pos[:, 2], expected[:, 2] + 0.6)
    hold = torch.zeros(6, env.num_actions)
    for _ in range(50):  # one second in the default pose
        env.step(hold)
    state = env.backend.state()
    height = state.root_pos[:, 2] - env.heights.sample(state.root_pos[:, 0], state.root_pos[:, 1])
    assert ((height > 0.45) & (height < 0.62)).all(), height  # standing on the tile, not in or above it
    feet = state.body_pos[:, env.feet_index]
    under = env.heights.sample(feet[..., 0], feet[..., 1])
    assert (feet[..., 2] - under).abs().max() < 0.06  # feet (0.03 m spheres) on the ground


def test_on_the_shipped_terrain_robots_start_above_their_tile_and_no_base_contact_fires_at_reset():
    """anymal_rough's own terrain (10 x 20 tiles at its horizontal_scale), the two easiest rows, every
    column (so every tile type), randomized as in training: the base starts 0.6 m above the highest point
    of its footprint (not inside a step or an obstacle), and half a second of holding the default pose
    ends no episode (a base touching the heightfield at reset would end it as base contact)."""
    task = load_task(
        TASKS / "anymal_rough.toml",
        {
            "sim.backend": "mujoco",
            "sim.device": "cpu",
            "sim.num_envs": 10,
            "terrain.curriculum.max_init_level": 1,
        },
    )
    n = task.spec.terrain.cols // 2
    env = assemble_task(task, num_envs=n, kernels="eager", capture_graph=False).env
    assert set(env.terrain_level.tolist()) <= {0, 1} and len(set(env.terrain_types)) == 5
    # The base's footprint: its 0.58 m x 0.14 m box (and the legs under it) fit in a 1 m square.
    offsets = torch.linspace(-0.5, 0.5, 11)
    dx, dy = torch.meshgrid(offsets, offsets, indexing="ij")
    start = env.start_pos
    under = env.heights.sample(start[:, 0, None] + dx.reshape(1, -1), start[:, 1, None] + dy.reshape(1, -1))
    assert (start[:, 2] - under.max(dim=1).values > 0.59).all()
    for _ in range(25):
        result = env.step(torch.zeros(n, env.num_actions))
        assert not result.done.any(), env.termination_names
    assert env.stats.termination_counts.sum() == 0


def _hand_made(heights: np.ndarray, scale: float = 0.5) -> Terrain:
    return Terrain(
        heights=heights.astype(np.float32),
        x0=0.0,
        y0=0.0,
        horizontal_scale=scale,
        origins=np.zeros((1, 1, 3)),
        column_types=("waves",),
    )


def test_the_sampler_reads_grid_heights_and_interpolates_between_them():
    a, c = np.meshgrid(np.arange(6), np.arange(4), indexing="ij")
    sampler = HeightSampler(_hand_made(0.1 * a + 0.02 * c), "cpu")  # a plane: z = 0.2 x + 0.04 y
    x = torch.tensor([0.0, 1.0, 1.25, 2.4, 0.7])
    y = torch.tensor([0.0, 0.5, 0.75, 1.3, 1.1])
    assert torch.allclose(sampler.sample(x, y), 0.2 * x + 0.04 * y, atol=1e-6)
    # Off the field: the nearest edge.
    assert sampler.sample(torch.tensor([-3.0]), torch.tensor([0.0])).item() == pytest.approx(0.0)
    # A diverged env's NaN or infinite position reads a height of the field, not outside its memory.
    odd = torch.tensor([float("nan"), float("inf"), -float("inf")])
    assert torch.isfinite(sampler.sample(odd, odd)).all()


def test_the_height_scan_reads_known_heights_in_the_base_yaw_frame():
    """A step of 0.3 m at x >= 2: a base at x = 1.5 facing +x sees it ahead, facing +y sees it on its right."""
    heights = np.zeros((10, 10))
    heights[4:, :] = 0.3  # x = 2.0 onwards (grid spacing 0.5)
    sampler = HeightSampler(_hand_made(heights), "cpu")
    points = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])  # ahead, behind, right, left
    base = torch.tensor([[1.0, 2.0, 0.8], [1.0, 2.0, 0.8]])
    yaw = math.pi / 2
    quats = torch.tensor([[1.0, 0.0, 0.0, 0.0], [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]])
    scan = sampler.scan(base, quats, points)
    assert torch.allclose(scan[0], torch.tensor([0.3, 0.0, 0.0, 0.0]) - 0.8, atol=1e-6)
    assert torch.allclose(scan[1], torch.tensor([0.0, 0.0, 0.3, 0.0]) - 0.8, atol=1e-6)
    # Roll and pitch do not move the points: the scan is in the yaw frame.
    tilted = torch.tensor([[math.cos(0.2), math.sin(0.2), 0.0, 0.0]])
    assert torch.allclose(sampler.scan(base[:1], tilted, points), scan[:1], atol=1e-6)


def test_a_plane_reads_zero_everywhere_and_flat_tasks_start_where_they_did():
    assert HeightSampler(None, "cpu").sample(torch.ones(3), torch.ones(3)).abs().sum() == 0
    task = load_task(TASKS / "anymal_walk.toml", {"sim.num_envs": 4})
    env = assemble_task(task, kernels="eager", randomize=False, capture_graph=False).env
    assert env.terrain is None and env.curriculum is False
    assert torch.equal(env.start_pos, torch.tensor([[0.0, 0.0, 0.6]]).repeat(4, 1))
    signals = env._signals(env.backend.state(), *env._feet(env.backend.state()))
    assert torch.equal(signals["terrain_height"], torch.zeros(4))


@pytest.fixture(scope="module")
def curriculum_env():
    task = load_task(
        TASKS / "anymal_rough.toml",
        {
            "sim.backend": "mujoco",
            "sim.device": "cpu",
            "terrain.rows": 4,
            "terrain.cols": 2,
            "terrain.border": 1.0,
        },
    )
    return assemble_task(task, num_envs=5, kernels="eager", randomize=False, capture_graph=False, seed=3).env


def _episode_results(env, walked: list[float], speed: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """The compiled rule on fabricated episode ends: each env walked `walked` m along x at `speed` m/s."""
    signals = env._signals(env.backend.state(), *env._feet(env.backend.state()))
    start = torch.zeros(len(walked), 3)
    signals["episode_start_pos"] = start
    signals["base_pos"] = start + torch.tensor([[w, 0.0, 0.5] for w in walked])
    commands = torch.zeros_like(signals["commands"])
    commands[:, env.command_names.index("lin_vel_x")] = torch.tensor(speed)
    signals["commands"] = commands
    return env.kernels.compute_curriculum(*[signals[name] for name in env.inputs_order])


def test_the_curriculum_moves_levels_by_the_spec_rule(curriculum_env):
    env = curriculum_env
    assert env.curriculum
    # promote: walked > 4 m; demote: walked < 10 s x commanded speed (anymal_rough.toml).
    promote, demote = _episode_results(env, [5.0, 3.0, 4.5, 1.0, 0.5], [0.4, 1.0, 1.0, 0.5, 1.0])
    assert promote.tolist() == [True, False, True, False, False]
    assert demote.tolist() == [False, True, True, True, True]
    env.terrain_level.copy_(torch.tensor([1, 2, 2, 0, 2]))
    done = torch.tensor([True, True, True, True, False])
    env._move_levels(done, promote, demote)
    # up, down, up (promote wins), stays at the easiest row, not finished: untouched.
    assert env.terrain_level.tolist() == [2, 1, 3, 0, 2]


def test_envs_that_master_the_hardest_row_are_sent_to_random_rows(curriculum_env):
    env = curriculum_env
    rows = env.config.terrain.rows
    seen = set()
    for _ in range(40):
        env.terrain_level.fill_(rows - 1)
        promote = torch.ones(env.num_envs, dtype=torch.bool)
        env._move_levels(torch.ones(env.num_envs, dtype=torch.bool), promote, ~promote)
        seen.update(env.terrain_level.tolist())
    assert seen == set(range(rows))


def test_a_finished_env_restarts_on_the_tile_of_its_new_level(curriculum_env):
    env = curriculum_env
    env.terrain_level.copy_(torch.tensor([0, 1, 2, 3, 0]))
    mask = torch.tensor([False, False, True, False, False])
    masked_write(env.terrain_level, mask, torch.full((5,), 1))
    env._reset(mask)
    origin = torch.tensor(env.terrain.origins[1, int(env.terrain_column[2])], dtype=torch.float32)
    assert torch.allclose(env.start_pos[2], origin + torch.tensor([0.0, 0.0, 0.6]))


def test_evaluation_spreads_envs_over_every_row_and_tile_type():
    task = load_task(
        TASKS / "anymal_rough.toml",
        {
            "sim.backend": "mujoco",
            "sim.device": "cpu",
            "sim.num_envs": 36,
            "terrain.rows": 3,
            "terrain.cols": 20,
            "terrain.border": 1.0,
        },
    )
    env = assemble_task(task, num_envs=36, kernels="eager", randomize=False, capture_graph=False).env
    env_eval = type(env)(env.config, env.kernels, env.backend, curriculum=False, capture_graph=False)
    cells = set(zip(env_eval.terrain_level.tolist(), env_eval.terrain_types))
    assert cells == {(r, t) for r in range(3) for t in set(env.terrain.column_types)}
    assert not env_eval.curriculum


def test_the_eval_breakdown_groups_success_by_type_and_row():
    episodes = [
        {"success": True, "terrain_type": "stairs_up", "terrain_row": 0},
        {"success": False, "terrain_type": "stairs_up", "terrain_row": 3},
        {"success": True, "terrain_type": "stairs_up", "terrain_row": 3},
        {"success": False, "terrain_type": "waves", "terrain_row": 0},
    ]
    out = terrain_breakdown(episodes, rows=4)
    assert out["by_type"] == {
        "stairs_up": {"episodes": 3, "success_rate": 2 / 3},
        "waves": {"episodes": 1, "success_rate": 0.0},
    }
    assert out["by_row"]["3"] == {"episodes": 2, "success_rate": 0.5}
    assert out["by_type_and_row"] == {"stairs_up": {"0": 1.0, "3": 0.5}, "waves": {"0": 0.0}}
    assert out["middle_row"] == 2 and out["success_rate_from_middle_row"] == 0.5
