"""Benchmark on a CUDA GPU: env throughput against raw MuJoCo Warp, PPO training throughput, memory.

In one run, for each env count:
  - raw physics: MuJoCo Warp stepping the same ANYmal C model (decimation x mjw.step, graph-captured
    by the backend), in physics steps per second;
  - env: specc's full env step (PD targets, physics, compiled kernels, resets) in physics steps per
    second, run eagerly (one launch per op) and replayed from one CUDA graph, and the ratio of each
    to raw physics (the issue's floor: 0.9);
  - PPO: collection + update, in env samples per second, and peak GPU memory of torch;
  - buffer sizes: raw physics at several contact/constraint buffer sizes, with the peak use that a
    rollout of falling robots needed (the sizes bound the solver's work per world).

    python bench/gpu.py --envs 4096 16384 65536 --ppo-envs 4096 16384 --buffer-sizes 90:396 32:160
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import load_task  # noqa: E402
from runtime_support import assemble_task  # noqa: E402

from specc.runtime.runner import Runner  # noqa: E402
from specc.runtime.step_graph import WARMUP_STEPS  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def env_rates(n: int, kernels: str, repeats: int, overrides: dict | None = None) -> dict:
    """Raw physics, eager env and graph env steps for n envs, in physics steps per second."""
    task = load_task(ROOT / "tasks" / "anymal_walk.toml", overrides)
    decimation = task.spec.sim.decimation
    start = time.perf_counter()
    parts = assemble_task(task, backend="mujoco-warp", device="cuda", num_envs=n, kernels=kernels)
    setup = time.perf_counter() - start
    env, backend = parts.env, parts.backend
    targets = env.default_joint_pos.repeat(n, decimation, 1)
    raw = timed(lambda: backend.step(targets), repeats)
    actions = torch.zeros(n, env.num_actions, device=env.device)  # the robots fall and reset
    for _ in range(WARMUP_STEPS + 1):
        env.step(actions)
    backend.usage()
    graph = timed(lambda: env.step(actions), repeats)
    eager = timed(lambda: env.step_eagerly(actions), repeats)
    use = backend.usage()
    env.check_health()
    rates = {
        "raw": n * decimation / raw,
        "eager": n * decimation / eager,
        "graph": n * decimation / graph,
        "mode": env.graph.mode,
        "setup": setup,
        "contacts_per_env": use["contacts"] / n,
        "rows_per_env": use["rows_per_env"],
        "nconmax": backend.nconmax,
        "njmax": backend.njmax,
    }
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="*", default=[4096, 16384, 65536])
    parser.add_argument("--ppo-envs", type=int, nargs="*", default=[4096, 16384])
    parser.add_argument("--buffer-sizes", nargs="*", default=[], metavar="CONTACTS:ROWS")
    parser.add_argument("--buffer-envs", type=int, default=4096)
    parser.add_argument("--kernels", default="inductor")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}, kernels {args.kernels}")
    if args.envs:
        print(
            f"{'envs':>7} {'raw physics/s':>14} {'env eager/s':>13} {'env graph/s':>13} "
            f"{'eager/raw':>9} {'graph/raw':>9}  env step"
        )
    for n in args.envs:
        r = env_rates(n, args.kernels, args.repeats)
        torch.cuda.empty_cache()
        print(
            f"{n:>7} {r['raw']:>14,.0f} {r['eager']:>13,.0f} {r['graph']:>13,.0f} "
            f"{r['eager'] / r['raw']:>9.2f} {r['graph'] / r['raw']:>9.2f}  {r['mode']} (set-up {r['setup']:.0f} s)"
        )
    if args.buffer_sizes:
        print(f"buffer sizes at {args.buffer_envs} envs (zero actions: robots fall, lie and reset)")
        print(
            f"{'contacts/env':>12} {'rows/env':>9} {'raw physics/s':>14} {'env graph/s':>13} "
            f"{'peak contacts/env':>18} {'peak rows/env':>14}"
        )
    for size in args.buffer_sizes:
        contacts, rows = (int(v) for v in size.split(":"))
        overrides = {"sim.max_contacts_per_env": contacts, "sim.max_constraints_per_env": rows}
        r = env_rates(args.buffer_envs, args.kernels, args.repeats, overrides)
        torch.cuda.empty_cache()
        print(
            f"{r['nconmax']:>12} {r['njmax']:>9} {r['raw']:>14,.0f} {r['graph']:>13,.0f} "
            f"{r['contacts_per_env']:>18.2f} {r['rows_per_env']:>14}"
        )
    if args.ppo_envs:
        print(f"{'envs':>7} {'samples/s':>12} {'collect s':>10} {'learn s':>9} {'peak torch GB':>14}")
    task = load_task(ROOT / "tasks" / "anymal_walk.toml")
    for n in args.ppo_envs:
        parts = assemble_task(task, backend="mujoco-warp", device="cuda", num_envs=n, kernels=args.kernels)
        runner = Runner(parts.env, parts.learner_config, seed=0)
        runner.train(1)
        torch.cuda.reset_peak_memory_stats()
        logs = []
        runner.train(5, logs.append)
        rate = sum(log.steps_per_second for log in logs) / len(logs)
        collect = sum(log.scalars["Perf/collection_s"] for log in logs) / len(logs)
        learn = sum(log.scalars["Perf/learning_s"] for log in logs) / len(logs)
        print(
            f"{n:>7} {rate:>12,.0f} {collect:>10.3f} {learn:>9.3f} {torch.cuda.max_memory_allocated() / 1e9:>14.2f}"
        )
        parts = runner = None
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
