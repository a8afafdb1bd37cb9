"""Benchmark on a CUDA GPU: env throughput against raw MuJoCo Warp, PPO training throughput, memory.

In one run, for each env count:
  - raw physics: MuJoCo Warp stepping the same ANYmal C model (decimation x mjw.step, graph-captured
    by the backend), in physics steps per second;
  - env: specc's full env step (PD targets, physics, compiled kernels, resets) in physics steps per
    second, and its ratio to raw physics (the issue's floor: 0.9);
  - PPO: collection + update, in env samples per second, and peak GPU memory of torch.

    python bench/gpu.py --envs 4096 16384 65536 --ppo-envs 4096 16384
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from kernel_support import load_task  # noqa: E402
from specc.runtime.runner import Runner  # noqa: E402

from specc.assemble import assemble  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[4096, 16384, 65536])
    parser.add_argument("--ppo-envs", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--kernels", default="inductor")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    task = load_task(ROOT / "tasks" / "anymal_walk.toml")
    decimation = task.spec.sim.decimation
    print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}, kernels {args.kernels}")
    print(f"{'envs':>7} {'raw physics/s':>15} {'env physics/s':>15} {'ratio':>7}  graph")
    for n in args.envs:
        start = time.perf_counter()
        parts = assemble(task, backend="mujoco-warp", device="cuda", num_envs=n, kernels=args.kernels)
        setup = time.perf_counter() - start
        env, backend = parts.env, parts.backend
        targets = env.default_joint_pos.repeat(n, decimation, 1)
        raw = timed(lambda backend=backend, targets=targets: backend.step(targets), args.repeats)
        actions = torch.zeros(n, env.num_actions, device=env.device)
        full = timed(lambda env=env, actions=actions: env.step(actions), args.repeats)
        rate_raw, rate_env = n * decimation / raw, n * decimation / full
        print(
            f"{n:>7} {rate_raw:>15,.0f} {rate_env:>15,.0f} {rate_env / rate_raw:>7.2f}  {backend.graph_mode} "
            f"(set-up {setup:.0f} s)"
        )
        parts = env = backend = None
        torch.cuda.empty_cache()
    print(f"{'envs':>7} {'samples/s':>12} {'collect s':>10} {'learn s':>9} {'peak torch GB':>14}")
    for n in args.ppo_envs:
        parts = assemble(task, backend="mujoco-warp", device="cuda", num_envs=n, kernels=args.kernels)
        runner = Runner(parts.env, parts.ppo_config, seed=0)
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
