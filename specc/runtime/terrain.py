"""Rough terrain: a grid of generated tiles as one heightfield, and its heights sampled in torch.

Generation (numpy, on the host, once): `generate(config)` lays `rows x cols` tiles of
`tile_length x tile_width` metres on a grid of spacing `horizontal_scale`, surrounded by a flat
border. Row i has difficulty i / rows (legged_gym's curriculum layout: difficulty grows along x);
each column holds one tile type, the columns shared out by the spec's proportions. Each tile is
made by one function per type, a pure function of (difficulty, rng, tile shape, parameters); the
rng of tile (i, j) is seeded from (seed, i, j), so the same seed gives the same heights whatever
the order of generation. Heights are rounded to `vertical_scale`. The backends turn the array into
one MuJoCo heightfield (`mujoco_model.add_ground`), so every backend collides with the same ground.

Sampling (torch, on the env's device, every step): `HeightSampler` holds the heights as one tensor
and reads them bilinearly at any batch of world points with gathers only: no host round trip, no
data-dependent shapes, so it runs inside the env's captured CUDA graph. The env uses it for the
terrain under the base and the feet and for the height scan (bench/terrain.py measures it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

# Side of the square at a tile's centre whose highest point sets the start height [m] (legged_gym: 2 m).
START_AREA_M = 2.0


@dataclass(frozen=True)
class Difficulty:
    """Per-type sizes as (value at difficulty 0, value at difficulty 1), and fixed sizes; see [terrain.difficulty]."""

    slope: tuple[float, float] = (0.0, 0.4)
    step_height: tuple[float, float] = (0.05, 0.23)
    step_width: float = 0.31
    obstacle_height: tuple[float, float] = (0.05, 0.25)
    rough_height: tuple[float, float] = (0.02, 0.1)
    stone_size: tuple[float, float] = (1.5, 0.3)
    stone_gap: tuple[float, float] = (0.05, 0.2)
    pit_depth: float = 1.0
    wave_amplitude: tuple[float, float] = (0.0, 0.2)
    wave_length: float = 2.0
    platform_size: float = 3.0

    def at(self, name: str, difficulty: float) -> float:
        low, high = getattr(self, name)
        return low + (high - low) * difficulty


@dataclass(frozen=True)
class TerrainConfig:
    """The [terrain] table as plain, hashable data (the runtime never reads a spec)."""

    kind: str = "plane"  # "plane" or "tiles"
    seed: int = 0
    tile_length: float = 8.0
    tile_width: float = 8.0
    rows: int = 10
    cols: int = 20
    border: float = 5.0
    horizontal_scale: float = 0.1
    vertical_scale: float = 0.005
    proportions: tuple[tuple[str, float], ...] = ()
    difficulty: Difficulty = field(default_factory=Difficulty)
    curriculum: bool = True
    max_init_level: int = 5

    @property
    def tiles(self) -> bool:
        return self.kind == "tiles"


@dataclass(frozen=True)
class Terrain:
    """A generated terrain: heights[a, c] is the height of the point (x0 + a·h, y0 + c·h)."""

    heights: np.ndarray  # (nx, ny) float32 [m]; x along the first axis (rows of tiles), y along the second
    x0: float
    y0: float
    horizontal_scale: float
    origins: np.ndarray  # (rows, cols, 3) start point of each tile: its centre, at the terrain height there
    column_types: tuple[str, ...]  # the tile type of each column

    @property
    def size_m(self) -> tuple[float, float]:
        nx, ny = self.heights.shape
        return (nx - 1) * self.horizontal_scale, (ny - 1) * self.horizontal_scale


@dataclass(frozen=True)
class TileGrid:
    """Where each vertex of one tile lies, relative to the tile's centre [m]."""

    dx: np.ndarray  # (lx, 1)
    dy: np.ndarray  # (1, ly)
    half_length: float
    half_width: float
    scale: float

    @property
    def shape(self) -> tuple[int, int]:
        return self.dx.shape[0], self.dy.shape[1]

    def edge_distance(self) -> np.ndarray:
        """Distance of each vertex to the nearest tile edge: pyramids rise or fall with it."""
        return np.minimum(self.half_length - np.abs(self.dx), self.half_width - np.abs(self.dy))

    def platform(self, side: float) -> np.ndarray:
        return (np.abs(self.dx) <= side / 2) & (np.abs(self.dy) <= side / 2)


def tile_grid(shape: tuple[int, int], scale: float) -> TileGrid:
    lx, ly = shape
    dx = ((np.arange(lx) + 0.5) * scale - lx * scale / 2)[:, None]
    dy = ((np.arange(ly) + 0.5) * scale - ly * scale / 2)[None, :]
    return TileGrid(dx, dy, lx * scale / 2, ly * scale / 2, scale)


# -- tile types: each a pure function of (difficulty, rng, grid, parameters) -> heights [m] ------------
def _pyramid_reach(grid: TileGrid, p: Difficulty) -> np.ndarray:
    """How far into the pyramid each vertex is, from the tile edge (0) to the platform's rim."""
    top = max(0.0, min(grid.half_length, grid.half_width) - p.platform_size / 2)
    return np.clip(grid.edge_distance(), 0.0, top)


def slope_up(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """A pyramid pit: the robot starts on the low platform and climbs walking out; the edges are at 0."""
    return -p.at("slope", difficulty) * _pyramid_reach(grid, p)


def slope_down(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """A pyramid: the robot starts on the high platform and walks down."""
    return p.at("slope", difficulty) * _pyramid_reach(grid, p)


def _stairs(grid: TileGrid, p: Difficulty, height: float) -> np.ndarray:
    return height * np.floor(_pyramid_reach(grid, p) / p.step_width)


def stairs_up(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """Pyramid stairs down into a pit: walking out from the platform climbs them."""
    return _stairs(grid, p, -p.at("step_height", difficulty))


def stairs_down(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """Pyramid stairs up to a platform: walking out from it descends them."""
    return _stairs(grid, p, p.at("step_height", difficulty))


def random_rough(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """Uniform noise on a 0.2 m lattice (or the grid's, if coarser), interpolated bilinearly."""
    amplitude = p.at("rough_height", difficulty)
    lx, ly = grid.shape
    step = max(1, round(0.2 / grid.scale))
    coarse = rng.uniform(-amplitude / 2, amplitude / 2, size=(lx // step + 2, ly // step + 2))
    u = np.arange(lx)[:, None] / step
    v = np.arange(ly)[None, :] / step
    i, j = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - i, v - j
    return (
        coarse[i, j] * (1 - fu) * (1 - fv)
        + coarse[i + 1, j] * fu * (1 - fv)
        + coarse[i, j + 1] * (1 - fu) * fv
        + coarse[i + 1, j + 1] * fu * fv
    )


def discrete_obstacles(
    difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty
) -> np.ndarray:
    """Twenty rectangular blocks and holes, 1-2 m a side, up to the difficulty's height; a flat platform."""
    height = p.at("obstacle_height", difficulty)
    lx, ly = grid.shape
    out = np.zeros(grid.shape)
    for _ in range(20):
        w = int(rng.uniform(1.0, 2.0) / grid.scale)
        d = int(rng.uniform(1.0, 2.0) / grid.scale)
        a = int(rng.integers(0, max(1, lx - w)))
        c = int(rng.integers(0, max(1, ly - d)))
        out[a : a + w, c : c + d] = rng.choice([-height, -height / 2, height / 2, height])
    out[grid.platform(p.platform_size)] = 0.0
    return out


def stepping_stones(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """Square stones at the ground's level over a pit, smaller and further apart as difficulty grows."""
    size = p.at("stone_size", difficulty)
    pitch = size + p.at("stone_gap", difficulty)
    offset = rng.uniform(0.0, pitch, size=2)
    on_x = np.mod(grid.dx + grid.half_length - offset[0], pitch) < size
    on_y = np.mod(grid.dy + grid.half_width - offset[1], pitch) < size
    out = np.where(on_x & on_y, 0.0, -p.pit_depth)
    out[grid.platform(p.platform_size)] = 0.0
    return out


def waves(difficulty: float, rng: np.random.Generator, grid: TileGrid, p: Difficulty) -> np.ndarray:
    """Crossed sine waves; the phase is random, the edges fade to zero so that tiles join."""
    amplitude = p.at("wave_amplitude", difficulty)
    k = 2 * math.pi / p.wave_length
    phase = rng.uniform(0, 2 * math.pi, size=2)
    surface = 0.5 * amplitude * (np.sin(k * grid.dx + phase[0]) + np.sin(k * grid.dy + phase[1]))
    fade = np.clip(grid.edge_distance() / max(grid.scale, p.wave_length / 4), 0.0, 1.0)
    return surface * fade


TILE_FUNCTIONS: dict[str, Callable[[float, np.random.Generator, TileGrid, Difficulty], np.ndarray]] = {
    "random_rough": random_rough,
    "slope_up": slope_up,
    "slope_down": slope_down,
    "stairs_up": stairs_up,
    "stairs_down": stairs_down,
    "discrete_obstacles": discrete_obstacles,
    "stepping_stones": stepping_stones,
    "waves": waves,
}


# -- the whole terrain ---------------------------------------------------------------------------------
def column_types(config: TerrainConfig) -> tuple[str, ...]:
    """The tile type of each column: the normalized proportions fill the columns in order."""
    kinds = [(name, share) for name, share in config.proportions if share > 0]
    total = sum(share for _, share in kinds)
    bounds = np.cumsum([share / total for _, share in kinds])
    out = []
    for j in range(config.cols):
        position = (j + 0.5) / config.cols
        index = int(np.searchsorted(bounds, position, side="right"))
        out.append(kinds[min(index, len(kinds) - 1)][0])
    return tuple(out)


def grid_shape(config: TerrainConfig) -> tuple[int, int, int, int, int]:
    """(nx, ny, tile pixels along x, along y, border pixels) of the heightfield `config` describes."""
    tile_x = max(1, round(config.tile_length / config.horizontal_scale))
    tile_y = max(1, round(config.tile_width / config.horizontal_scale))
    border = round(config.border / config.horizontal_scale)
    return config.rows * tile_x + 2 * border, config.cols * tile_y + 2 * border, tile_x, tile_y, border


@lru_cache(maxsize=4)
def generate(config: TerrainConfig) -> Terrain:
    """The terrain of `config`; cached, so the env and the backend share one array."""
    if not config.tiles:
        raise ValueError("a plane has no heightfield")
    nx, ny, tile_x, tile_y, border = grid_shape(config)
    scale = config.horizontal_scale
    heights = np.zeros((nx, ny), dtype=np.float64)
    origins = np.zeros((config.rows, config.cols, 3))
    types = column_types(config)
    grid = tile_grid((tile_x, tile_y), scale)
    start = grid.platform(START_AREA_M)
    for i in range(config.rows):
        difficulty = i / config.rows
        for j, kind in enumerate(types):
            rng = np.random.default_rng([config.seed, i, j])
            tile = TILE_FUNCTIONS[kind](difficulty, rng, grid, config.difficulty)
            tile = np.round(tile / config.vertical_scale) * config.vertical_scale
            a, c = border + i * tile_x, border + j * tile_y
            heights[a : a + tile_x, c : c + tile_y] = tile
            origins[i, j] = ((i + 0.5) * tile_x * scale, (j + 0.5) * tile_y * scale, tile[start].max())
    return Terrain(
        heights=heights.astype(np.float32),
        x0=-border * scale + 0.5 * scale,
        y0=-border * scale + 0.5 * scale,
        horizontal_scale=scale,
        origins=origins,
        column_types=types,
    )


# -- sampling in torch ---------------------------------------------------------------------------------
class HeightSampler:
    """Terrain heights at world points, bilinear between grid points, on one device.

    A point off the heightfield reads its nearest edge. On a plane (`terrain` None) every height is 0.
    """

    def __init__(self, terrain: Terrain | None, device: torch.device | str) -> None:
        self.flat = terrain is None
        if terrain is None:
            return
        self.heights = torch.as_tensor(terrain.heights, device=device).reshape(-1)
        self.nx, self.ny = terrain.heights.shape
        self.x0, self.y0 = terrain.x0, terrain.y0
        self.inverse_scale = 1.0 / terrain.horizontal_scale

    def sample(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Heights [m] at world points (x, y) of any (same) shape."""
        if self.flat:
            return torch.zeros_like(x)
        # nan_to_num first: a diverged env's NaN position would truncate to an index far outside
        # the field (a device-side assert on CUDA); its height is read at the corner until it resets.
        u = torch.nan_to_num((x - self.x0) * self.inverse_scale).clamp(0.0, self.nx - 1.001)
        v = torch.nan_to_num((y - self.y0) * self.inverse_scale).clamp(0.0, self.ny - 1.001)
        i, j = u.long(), v.long()  # truncation is floor here: u, v >= 0 (torch.floor is slower on CPUs)
        fu, fv = u - i, v - j
        index = i * self.ny + j
        h = self.heights  # take() on the flat array: CPU advanced indexing is ~100x slower
        low = torch.take(h, index) * (1 - fv) + torch.take(h, index + 1) * fv
        high = torch.take(h, index + self.ny) * (1 - fv) + torch.take(h, index + self.ny + 1) * fv
        return low * (1 - fu) + high * fu

    def scan(self, base_pos: torch.Tensor, base_quat: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Terrain height minus base height at `points` (P, 2), given in each base's yaw frame: (N, P)."""
        w, qx, qy, qz = base_quat.unbind(-1)
        yaw = torch.atan2(2 * (w * qz + qx * qy), 1 - 2 * (qy * qy + qz * qz))
        c, s = torch.cos(yaw)[:, None], torch.sin(yaw)[:, None]
        px, py = points[:, 0][None, :], points[:, 1][None, :]
        x = base_pos[:, 0:1] + c * px - s * py
        y = base_pos[:, 1:2] + s * px + c * py
        return self.sample(x, y) - base_pos[:, 2:3]
