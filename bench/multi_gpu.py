"""Samples per second of anymal_walk on 1, 2 and 4 GPUs of one host, as `specc run --gpus N` trains.

For each GPU count, `specc run tasks/anymal_walk.toml --backend mujoco-warp --device cuda --gpus N`
runs as a fresh process (torchrun, one process per GPU, NCCL with NVLink multicast off) with the same
number of envs on every GPU, for --warmup + --iterations iterations. Samples/s is the mean of the
last --iterations iterations' Perf/steps_per_second: every rank's samples over rank 0's wall time
of the iteration (collection and update, gradient all-reduces included). "scaling" is that rate
over the 1-GPU rate (the multi-GPU issue's floor: 1.8x at 2 GPUs). GPU counts the host lacks are
skipped. 1 GPU runs the single-process path (no process group), as `specc run` without --gpus.

    python bench/multi_gpu.py --out /tmp/multi_gpu --gpus 1 2 4 --num-envs 4096 --iterations 20
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tasks" / "anymal_walk.toml"
FLOOR_AT_2 = 1.8


def train(gpus: int, args: argparse.Namespace) -> dict:
    """One `specc run` on `gpus` GPUs; the mean rates of its measured iterations."""
    run_dir = args.out / f"gpus{gpus}"
    iterations = args.warmup + args.iterations
    command = [
        sys.executable, "-m", "specc", "run", str(SPEC), "--backend", "mujoco-warp", "--device", "cuda",
        "--gpus", str(gpus), "--num-envs", str(args.num_envs), "--max-iterations", str(iterations),
        "--set", f"ppo.save_interval={iterations}", "--run-dir", str(run_dir), "--no-tensorboard",
    ]  # fmt: skip
    environ = {**os.environ, "NCCL_NVLS_ENABLE": "0"}  # NVLink multicast off (the launcher sets it too)
    # Outside the source tree, which would shadow the installed package.
    done = subprocess.run(command, cwd=args.out, env=environ, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"specc run --gpus {gpus} failed:\n{done.stderr[-4000:]}")
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    measured = metrics[args.warmup :]

    def mean(key: str) -> float:
        return sum(m[key] for m in measured) / len(measured)

    first = metrics[0]
    return {
        "gpus": gpus,
        "envs_per_gpu": args.num_envs,
        "samples_per_s": mean("Perf/steps_per_second"),
        "collection_s": mean("Perf/collection_s"),
        "learning_s": mean("Perf/learning_s"),
        "set_up_s": first["Perf/wall_s"] - first["Perf/collection_s"] - first["Perf/learning_s"],
        "iterations": len(measured),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the runs and multi_gpu.json.")
    parser.add_argument("--gpus", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--num-envs", type=int, default=4096, help="Envs per GPU.")
    parser.add_argument("--iterations", type=int, default=20, help="Measured iterations.")
    parser.add_argument("--warmup", type=int, default=5, help="Iterations before measuring (compilation).")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    available = torch.cuda.device_count()
    print(f"{available} x {torch.cuda.get_device_name()}, torch {torch.__version__}, NCCL_NVLS_ENABLE=0")
    print(
        f"{'GPUs':>4} {'envs/GPU':>9} {'envs':>7} {'samples/s':>12} {'per GPU':>10} {'scaling':>8} "
        f"{'collect s':>10} {'learn s':>8} {'set-up s':>9}"
    )
    rows: list[dict] = []
    for gpus in args.gpus:
        if gpus > available:
            print(f"{gpus:>4} skipped: this host has {available} GPU(s)")
            continue
        row = train(gpus, args)
        base = rows[0]["samples_per_s"] if rows and rows[0]["gpus"] == 1 else None
        row["scaling"] = row["samples_per_s"] / base if base else (1.0 if gpus == 1 else None)
        rows.append(row)
        scaling = f"{row['scaling']:.2f}x" if row["scaling"] is not None else "-"
        print(
            f"{gpus:>4} {args.num_envs:>9} {gpus * args.num_envs:>7} {row['samples_per_s']:>12,.0f} "
            f"{row['samples_per_s'] / gpus:>10,.0f} {scaling:>8} {row['collection_s']:>10.3f} "
            f"{row['learning_s']:>8.3f} {row['set_up_s']:>9.1f}",
            flush=True,
        )
    two = next((r for r in rows if r["gpus"] == 2 and r["scaling"] is not None), None)
    if two:
        verdict = "met" if two["scaling"] >= FLOOR_AT_2 else "NOT met"
        print(f"2 GPUs / 1 GPU: {two['scaling']:.2f}x the samples/s (floor {FLOOR_AT_2}x: {verdict})")
    (args.out / "multi_gpu.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
