"""Benchmark: the cost of rough terrain, side by side in one run.

1. Height scan: legged_gym's 187 points (1.6 m x 1.0 m at 0.1 m) for every env on anymal_rough's
   full terrain (10 x 20 tiles of 8 m, 25 m border: 1300 x 2100 heights), read by
   - specc's `HeightSampler.scan` (bilinear gathers in torch), eager and under torch.compile,
     and on CUDA replayed from a CUDA graph (as inside the env's captured step);
   - MuJoCo Warp's ray casts (`mujoco_warp.rays`, one ray straight down per point, terrain geoms only),
     where MuJoCo Warp is installed; on a CPU device warp is slow, the GPU is what counts.
   It prints microseconds per call, the ray/sampler ratio and the largest height difference between
   the two (MuJoCo's surface is triangles, the sampler bilinear: they agree at grid points).
2. Env throughput: env steps per second of anymal_rough (tiles, curriculum, height scan) and of
   anymal_walk (flat) on the same backend, device and env count, and their ratio. With --buffers
   C:R ..., anymal_rough again with sim.max_contacts_per_env = C and sim.max_constraints_per_env = R
   (MuJoCo Warp launches many of its kernels over the buffers' capacity, not over what is used), and
   for each the fullest the buffers were per env: standing (the timed zero actions), then under 50
   steps of random actions (robots stumbling and falling: what a training run must have room for).
   With --variant KEY=VALUE ... (repeatable), anymal_rough again with those spec settings changed
   (TOML values, as specc's --set: `terrain.horizontal_scale=0.1`, `robot.cylinders_as_capsules=true`).
   With --profile-physics ROWS, the GPU kernels of the tasks' physics (each variant's too), launched
   one by one, and the ROWS kernels where each costs most over the one before.

    python bench/terrain.py --device cuda --envs 4096 --backend mujoco-warp      # the GPU host
    python bench/terrain.py --device cpu --envs 64 --backend mujoco --steps 20   # here
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import click
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import TASKS, load_task  # noqa: E402
from runtime_support import assemble_task, task_backend_options, task_module  # noqa: E402

from specc.cli.app import parse_set  # noqa: E402
from specc.runtime.assemble import terrain_config  # noqa: E402
from specc.runtime.terrain import HeightSampler, generate  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int, batches: int = 5) -> float:
    """Microseconds per call of fn after a warm-up: the fastest of `batches` batches of `repeats` calls
    (on a shared machine the other batches measure the neighbours)."""
    for _ in range(3):
        fn()
    best = float("inf")
    for _ in range(batches):
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        best = min(best, (time.perf_counter() - start) / repeats * 1e6)
    return best


def _poses(n: int, terrain, device: torch.device, generator: torch.Generator):
    """Bases at random places on the tiles, 0.5 m above the ground, random headings."""
    size_x, size_y = terrain.size_m
    pos = torch.rand(n, 3, generator=generator, device=device)
    pos[:, 0] = terrain.x0 + 25.0 + pos[:, 0] * (size_x - 50.0)
    pos[:, 1] = terrain.y0 + 25.0 + pos[:, 1] * (size_y - 50.0)
    yaw = torch.rand(n, generator=generator, device=device) * 6.283
    quat = torch.stack([torch.cos(yaw / 2), 0 * yaw, 0 * yaw, torch.sin(yaw / 2)], dim=-1)
    return pos, quat


def scan_costs(task, n: int, device: torch.device, repeats: int) -> None:
    terrain = generate(terrain_config(task_module(task)))
    sampler = HeightSampler(terrain, device)
    points = torch.tensor(task.spec.terrain.height_scan.points(), device=device)
    generator = torch.Generator(device=device).manual_seed(0)
    pos, quat = _poses(n, terrain, device, generator)
    pos[:, 2] = sampler.sample(pos[:, 0], pos[:, 1]) + 0.5

    def eager():
        return sampler.scan(pos, quat, points)

    compiled_scan = torch.compile(sampler.scan, dynamic=False)

    def compiled():
        return compiled_scan(pos, quat, points)

    rows = {
        "sampler, eager": timed(eager, device, repeats),
        "sampler, torch.compile": timed(compiled, device, repeats),
    }
    if device.type == "cuda":
        graph = torch.cuda.CUDAGraph()
        compiled()
        with torch.cuda.graph(graph):
            compiled()
        rows["sampler, torch.compile + CUDA graph"] = timed(graph.replay, device, repeats)
    best = min(rows.values())
    ray = ray_costs(task, terrain, pos, quat, points, device, max(3, repeats // 10))
    print(
        f"height scan: {n} envs x {len(points)} points, heightfield {terrain.heights.shape[0]} x {terrain.heights.shape[1]}"
    )
    for name, us in rows.items():
        print(f"  {name:<40} {us:>12,.1f} µs")
    if ray is not None:
        us, diff = ray
        print(f"  {'MuJoCo Warp rays':<40} {us:>12,.1f} µs   ({us / best:,.1f}x the fastest sampler)")
        print(f"  largest |ray - sampler| height: {diff * 1000:.1f} mm (triangles vs bilinear)")


def ray_costs(task, terrain, pos, quat, points, device: torch.device, repeats: int):
    """MuJoCo Warp's ray casts straight down from 2 m above each scan point; None without MuJoCo Warp."""
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError:
        print("  (MuJoCo Warp not installed: no ray-cast comparison)")
        return None
    from specc.runtime.backends.mujoco_model import build_model

    wp.init()
    wp_device = f"cuda:{device.index or 0}" if device.type == "cuda" else "cpu"
    n, p = pos.shape[0], len(points)
    options = task_backend_options(task, n, "cpu")
    model, _ = build_model(task.robot.urdf, task.robot.joint_names, options, list(options.contact_bodies))
    with wp.ScopedDevice(wp_device):
        m = mjw.put_model(model)
        d = mjw.make_data(model, nworld=n)
        mjw.forward(m, d)
        sampler = HeightSampler(terrain, device)
        heights = sampler.scan(pos, quat, points) + pos[:, 2:3]  # world heights, for the comparison
        start = torch.zeros(n, p, 3, device=device)
        w, qz = quat[:, 0:1], quat[:, 3:4]
        c, s = w * w - qz * qz, 2 * w * qz
        start[..., 0] = pos[:, 0:1] + c * points[:, 0] - s * points[:, 1]
        start[..., 1] = pos[:, 1:2] + s * points[:, 0] + c * points[:, 1]
        start[..., 2] = heights.max() + 2.0
        down = torch.zeros_like(start)
        down[..., 2] = -1.0
        pnt = wp.from_torch(start.contiguous(), dtype=wp.vec3)
        vec = wp.from_torch(down.contiguous(), dtype=wp.vec3)
        dist = wp.zeros((n, p), dtype=float)
        geomid = wp.zeros((n, p), dtype=int)
        normal = wp.zeros((n, p), dtype=wp.vec3)
        exclude = wp.full(p, -1, dtype=int)
        terrain_only = mjw._src.types.vec6(1, 0, 0, 0, 0, 0)  # geom group 0: the ground

        def cast():
            mjw.rays(m, d, pnt, vec, terrain_only, True, exclude, dist, geomid, normal)

        us = timed(cast, device, repeats)
        hit = start[..., 2] - wp.to_torch(dist)
        return us, float((hit - heights).abs().max())


def standing_env(name: str, backend: str, device: torch.device, n: int, changes: dict | None = None):
    """Task `name` (spec settings `changes` changed) assembled and stepped 5 times under zero actions
    (compiled, captured, warmed up), saying how long that took; the task and its env."""
    overrides = {"sim.backend": backend, "sim.device": str(device), "sim.num_envs": n, **(changes or {})}
    if device.type == "cpu" and name == "anymal_rough":
        overrides.update({"terrain.rows": 4, "terrain.cols": 6, "terrain.border": 2.0})
    task = load_task(TASKS / f"{name}.toml", overrides)
    start = time.perf_counter()
    env = assemble_task(task, backend=backend, device=str(device), num_envs=n).env
    actions = torch.zeros(n, env.num_actions, device=device)
    for _ in range(5):
        env.step(actions)
    _sync(device)
    compiled = getattr(env.backend, "compiled", None)
    compiling = (
        f", of it {compiled.seconds:.1f} s compiling {compiled.modules} physics modules" if compiled else ""
    )
    print(f"  {name}: {time.perf_counter() - start:.1f} s from assembly to the 5th step{compiling}")
    return task, env


def throughput(
    name: str, backend: str, device: torch.device, n: int, steps: int, changes: dict | None = None
) -> tuple[float, str]:
    """Env steps per second under zero actions, and (MuJoCo Warp) the buffers' peak use per env;
    `changes`: spec settings changed from the shipped task."""
    _, env = standing_env(name, backend, device, n, changes)
    physics = env.backend
    actions = torch.zeros(n, env.num_actions, device=device)
    usage = getattr(physics, "usage", None)
    if usage is not None:
        usage()  # from here on: the timed steps
    rate = n * 1e6 / timed(lambda: env.step(actions), device, max(1, steps // 5))
    if usage is None:
        return rate, ""
    standing = usage()
    generator = torch.Generator(device=device).manual_seed(0)
    for _ in range(50):
        env.step(torch.randn(n, env.num_actions, device=device, generator=generator))
    per_env = physics._per_env_counts.sum().item() / max(1, physics._steps.item() * n)
    random = usage()
    capacity = f"capacity {physics.nconmax} contacts, {physics.njmax} rows per env"
    return rate, (
        f"{capacity}; peak contacts per env standing {standing['contacts'] / n:.1f}, random "
        f"{random['contacts'] / n:.1f}; rows in one env standing {standing['rows_per_env']}, random "
        f"{random['rows_per_env']}; env steps reset for a per-env overflow (all steps) {per_env:.2%}"
    )


def physics_kernels(name: str, n: int, overrides: dict | None = None, repeats: int = 10) -> dict[str, float]:
    """GPU microseconds per env step of the backend's physics (substeps and read-back), by kernel,
    launched one by one under torch's profiler, robots standing on their default pose."""
    import gpu

    task, env = standing_env(name, "mujoco-warp", torch.device("cuda"), n, overrides)
    return gpu.kernel_times(lambda: env.backend._physics(task.spec.sim.decimation), repeats)


def spec_changes(settings: list[str]) -> dict:
    """One --variant's `KEY=VALUE` settings as the spec changes they make (specc's `--set` parser)."""
    try:
        return dict(parse_set(tuple(settings)))
    except click.BadParameter as error:
        raise SystemExit(f"--variant: {error.message}") from None


def buffer_sizes(text: str) -> tuple[str, dict]:
    """--buffers' `C:R` as its label and the spec changes it makes (contacts, constraint rows per env)."""
    contacts, sep, rows = text.partition(":")
    if not (sep and contacts.isdigit() and rows.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not C:R (contacts:constraint rows per env)")
    return text, {"sim.max_contacts_per_env": int(contacts), "sim.max_constraints_per_env": int(rows)}


def _named(changes: dict) -> str:
    return ", ".join(f"{key} = {value}" for key, value in changes.items())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backend", default=None, help="default: mujoco-warp on CUDA, mujoco on the CPU")
    parser.add_argument("--envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200, help="env steps per throughput measurement")
    parser.add_argument("--repeats", type=int, default=100, help="calls per height-scan timing")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--buffers",
        nargs="*",
        default=[],
        type=buffer_sizes,
        metavar="C:R",
        help="anymal_rough again with these contacts:constraint rows per env (MuJoCo Warp)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="anymal_rough again with these spec settings (TOML values, as specc's --set); repeatable",
    )
    parser.add_argument(
        "--profile-physics",
        type=int,
        default=0,
        metavar="ROWS",
        help="the physics' GPU kernels on flat and rough terrain, and the ROWS kernels where rough costs most",
    )
    args = parser.parse_args()
    args.variant = [spec_changes(settings) for settings in args.variant]
    device = torch.device(args.device)
    backend = args.backend or ("mujoco-warp" if device.type == "cuda" else "mujoco")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}")
    if not args.skip_throughput:  # first: its set-up times are those of empty kernel caches, if they are
        env_throughput(args, device, backend)
    rough = load_task(TASKS / "anymal_rough.toml", {"sim.backend": "mujoco-warp", "sim.device": "cuda"})
    scan_costs(rough, args.envs, device, args.repeats)


def env_throughput(args: argparse.Namespace, device: torch.device, backend: str) -> None:
    flat, flat_use = throughput("anymal_walk", backend, device, args.envs, args.steps)
    rough_steps, rough_use = throughput("anymal_rough", backend, device, args.envs, args.steps)
    print(f"env throughput on {backend}, {args.envs} envs, {args.steps} steps:")
    print(f"  anymal_walk (flat)   {flat:>12,.0f} env steps/s   {flat_use}")
    print(
        f"  anymal_rough         {rough_steps:>12,.0f} env steps/s   ({rough_steps / flat:.2f}x flat)   {rough_use}"
    )
    for label, changes in [(_named(changes), changes) for changes in args.variant] + args.buffers:
        rate, use = throughput("anymal_rough", backend, device, args.envs, args.steps, changes)
        print(f"  anymal_rough, {label}  {rate:>12,.0f} env steps/s   ({rate / flat:.2f}x flat)   {use}")
    if args.profile_physics:
        import gpu

        stages = {"anymal_walk physics": physics_kernels("anymal_walk", args.envs)}
        for changes in args.variant:
            stages[f"anymal_rough physics, {_named(changes)}"] = physics_kernels(
                "anymal_rough", args.envs, changes
            )
        stages["anymal_rough physics"] = physics_kernels("anymal_rough", args.envs)
        gpu.print_physics_profile(args.envs, stages, args.profile_physics)


if __name__ == "__main__":
    main()
