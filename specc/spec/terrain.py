"""The [terrain] table's checks beyond the schema: the heightfield's size (on the device, and per env on
the CPU backend), the height scan against a tile, the tiles' parts against the grid; and the curriculum
rule the spec writes or legged_gym's, written with the spec's numbers."""

from __future__ import annotations

from specc.diagnostics import DiagnosticSink
from specc.spec.load import SpecDocument
from specc.spec.schema import Spec

# The heightfield's bounds: MuJoCo keeps it as float32, the CPU backend once per env (one model
# copy each), MuJoCo Warp and the height sampler once on the device.
MAX_HEIGHTFIELD_POINTS = 1 << 24  # 64 MiB of heights


CPU_HEIGHTFIELD_BUDGET_BYTES = 2 << 30  # all per-env copies of the CPU backend together


MAX_SCAN_POINTS = 4096


def heightfield_points(spec: Spec) -> tuple[int, int]:
    """(nx, ny) of the heightfield of spec's tiles (specc/runtime/terrain.py's grid_shape, without numpy)."""
    t = spec.terrain
    tile_x = max(1, round(t.tile_size[0] / t.horizontal_scale))
    tile_y = max(1, round(t.tile_size[1] / t.horizontal_scale))
    border = round(t.border / t.horizontal_scale)
    return t.rows * tile_x + 2 * border, t.cols * tile_y + 2 * border


def curriculum_rule(spec: Spec, command_names: tuple[str, ...]) -> dict[str, str]:
    """The promote and demote expressions: the spec's, or legged_gym's rule written with its numbers.

    legged_gym moves an env up when it walked more than half a tile from its start, and down when it
    walked less than half the distance its commanded xy speed asks for over a whole episode.
    """
    t = spec.terrain
    if t.type != "tiles" or not t.curriculum.enabled:
        return {}
    walked = "norm(base_pos.xy - episode_start_pos.xy)"
    promote = t.curriculum.promote or f"{walked} > {t.tile_size[0] / 2!r}"
    speeds = [f"square(commands.{c})" for c in ("lin_vel_x", "lin_vel_y") if c in command_names]
    default_demote = (
        f"{walked} < {0.5 * spec.sim.episode_length_s!r} * sqrt({' + '.join(speeds)})" if speeds else "false"
    )
    return {"promote": promote, "demote": t.curriculum.demote or default_demote}


def check_terrain(document: SpecDocument, spec: Spec, sink: DiagnosticSink) -> None:
    """What the schema cannot see alone: the heightfield's size, the scan against a tile, the tile's parts."""
    t = spec.terrain
    scan = t.height_scan
    if scan is not None:
        count = scan.shape[0] * scan.shape[1]
        if count > MAX_SCAN_POINTS:
            document.report(
                sink,
                "SPC104",
                f"the height scan has {count} points, more than {MAX_SCAN_POINTS}",
                ("terrain", "height_scan", "resolution"),
                fix="raise terrain.height_scan.resolution or shrink x / y",
            )
        if t.type == "tiles":
            for axis, extent, side, what in (
                ("x", scan.x, t.tile_size[0], "length"),
                ("y", scan.y, t.tile_size[1], "width"),
            ):
                if extent[1] - extent[0] > side:
                    document.report(
                        sink,
                        "SPC104",
                        f"the height scan spans {extent[1] - extent[0]:g} m along {axis}, more than the "
                        f"tile {what} ({side:g} m): it would read the neighbouring tiles",
                        ("terrain", "height_scan", axis),
                        fix=f"shrink terrain.height_scan.{axis} or enlarge terrain.tile_size",
                    )
    if t.type != "tiles":
        return
    nx, ny = heightfield_points(spec)
    if nx * ny > MAX_HEIGHTFIELD_POINTS:
        document.report(
            sink,
            "SPC104",
            f"the terrain's heightfield has {nx} x {ny} = {nx * ny} points, more than "
            f"{MAX_HEIGHTFIELD_POINTS} ({MAX_HEIGHTFIELD_POINTS * 4 >> 20} MiB)",
            ("terrain", "horizontal_scale"),
            fix="raise terrain.horizontal_scale, or use fewer rows / cols or a narrower border",
        )
    elif spec.sim.backend == "mujoco" and nx * ny * 4 * spec.sim.num_envs > CPU_HEIGHTFIELD_BUDGET_BYTES:
        total = nx * ny * 4 * spec.sim.num_envs
        document.report(
            sink,
            "SPC104",
            f"the mujoco backend keeps one model per env: {spec.sim.num_envs} envs x {nx * ny * 4 >> 20} MiB "
            f"of heightfield = {total / (1 << 30):.1f} GiB, more than {CPU_HEIGHTFIELD_BUDGET_BYTES >> 30} GiB",
            ("terrain", "rows"),
            fix="use fewer rows / cols, a narrower border or a coarser horizontal_scale on the CPU "
            "([profile.cpu]), or fewer envs",
        )
    platform = t.difficulty.platform_size
    if platform > min(t.tile_size):
        document.report(
            sink,
            "SPC104",
            f"the start platform ({platform:g} m) is larger than a tile ({min(t.tile_size):g} m)",
            ("terrain", "difficulty", "platform_size"),
            fix="shrink terrain.difficulty.platform_size",
        )
    for name in ("step_height", "obstacle_height", "rough_height", "wave_amplitude"):
        low, high = getattr(t.difficulty, name)
        if 0 < max(low, high) < t.vertical_scale:
            document.report(
                sink,
                "SPC104",
                f"terrain.difficulty.{name} ({max(low, high):g} m) is below terrain.vertical_scale "
                f"({t.vertical_scale:g} m): its heights would round to zero",
                ("terrain", "difficulty", name),
                fix="lower terrain.vertical_scale",
            )
    stone = min(t.difficulty.stone_size)
    if t.proportions.get("stepping_stones", 0) > 0 and stone < 2 * t.horizontal_scale:
        document.report(
            sink,
            "SPC104",
            f"stepping stones of {stone:g} m are smaller than two heightfield cells "
            f"({2 * t.horizontal_scale:g} m)",
            ("terrain", "difficulty", "stone_size"),
            fix="raise terrain.difficulty.stone_size or lower terrain.horizontal_scale",
        )
