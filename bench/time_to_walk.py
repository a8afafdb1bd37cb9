"""Time to walk: train anymal_walk from a cold start and find the first checkpoint that walks.

Runs `specc run` as a user would (a fresh process: imports, warp and inductor compilation
and set-up all count), then evaluates the run's checkpoint series with one `specc eval`
(the spec's [eval] criterion: 1.5 m/s held, 10 m without a termination) and prints, per
checkpoint, the iteration, the samples, the wall time since the command started and the
success rate. "Time to walk" is the wall time of the first checkpoint at >= 90 %.
Then the first walking checkpoint and the last one are evaluated with randomization on,
and on the CPU MuJoCo backend with and without it (sim-to-sim: the GPU-trained policy in
another simulator).

    python bench/time_to_walk.py --out /tmp/ttw --num-envs 4096 --iterations 300 --save-interval 25

Other tasks: `--spec` and the success measure: `--threshold 0.8 --success-key
terrain.success_rate_from_middle_row` for anymal_rough (success on tiles of at least middle
difficulty); `--cpu-set KEY=VALUE` overrides the spec for the CPU evaluations (e.g. the full
terrain instead of the CPU profile's small one). Runs with a terrain also print the mean terrain
level of the curriculum at each checkpoint.

With --gpus N the run trains on N GPUs of the host (`specc run --gpus N`, --num-envs envs on each,
NCCL with NVLink multicast off); the evaluations run on one GPU as before.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tasks" / "anymal_walk.toml"
WALKING = 0.9


def success(report: dict, key: str) -> float:
    """The report's value at a dotted key (`success_rate`, `terrain.success_rate_from_middle_row`)."""
    value = report
    for part in key.split("."):
        value = value[part]
    return float(value)


def specc(*args: str, cwd: Path) -> str:
    """Run the specc command line in a fresh interpreter (outside the source tree, which would shadow it)."""
    command = [sys.executable, "-m", "specc", *args]
    # NVLink multicast off for --gpus N (the launcher sets it too).
    environ = {**os.environ, "NCCL_NVLS_ENABLE": "0"}
    done = subprocess.run(command, cwd=cwd, env=environ, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for the run and the results.")
    parser.add_argument("--spec", type=Path, default=SPEC, help="The task (default: anymal_walk).")
    parser.add_argument("--threshold", type=float, default=WALKING, help="Success that counts as solved.")
    parser.add_argument("--success-key", default="success_rate", help="Dotted key of the eval report.")
    parser.add_argument("--cpu-set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--backend", default="mujoco-warp")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--num-envs", type=int, default=4096, help="Envs (per GPU with --gpus).")
    parser.add_argument("--gpus", type=int, default=1, help="Train on this many GPUs of the host.")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--save-interval", type=int, default=25)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--cpu-threads", type=int, default=None, help="Threads of the sim-to-sim CPU backend."
    )
    parser.add_argument(
        "--no-sim-to-sim",
        action="store_true",
        help="Skip the randomized and CPU-backend evaluations (run them later with specc eval, e.g. in "
        "another call of a time-limited GPU host).",
    )
    args = parser.parse_args()
    # The commands run inside --out: paths given relative to here must not move with them.
    args.out, args.spec = args.out.resolve(), args.spec.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    run_dir = args.out / "run"
    place = ["--backend", args.backend, "--device", args.device]
    gpus = ["--gpus", str(args.gpus)] if args.gpus > 1 else []
    specc(
        "run", str(args.spec), *place, *gpus, "--num-envs", str(args.num_envs), "--max-iterations", str(args.iterations),
        "--set", f"ppo.save_interval={args.save_interval}", "--run-dir", str(run_dir), "--no-tensorboard",
        cwd=args.out,
    )  # fmt: skip
    metrics = {
        m["iteration"]: m for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    }
    checkpoints = sorted((run_dir / "checkpoints").glob("model_*.pt"))
    flags = [item for c in checkpoints for item in ("--checkpoint", str(c))]
    reports = json.loads(
        specc(
            "eval", str(args.spec), *place, *flags, "--episodes", str(args.episodes), "--json", cwd=args.out
        )
    )
    reports = reports if isinstance(reports, list) else [reports]
    first = metrics[1]
    set_up = first["Perf/wall_s"] - first["Perf/collection_s"] - first["Perf/learning_s"]
    samples_per_iteration = json.loads((run_dir / "config.json").read_text())["ppo"]["num_steps_per_env"]
    samples_per_iteration *= args.num_envs * args.gpus
    on = f" x {args.gpus} GPUs" if args.gpus > 1 else ""
    print(
        f"{args.num_envs} envs{on} on {args.backend} ({args.device}); set-up before the first iteration {set_up:.1f} s"
    )
    print(
        f"{'iteration':>9} {'samples':>12} {'wall s':>8} {'success':>8} {'distance m':>11} {'tracking err':>13}"
        f" {'terrain level':>13}"
    )
    walked = None
    rows = []
    for report in reports:
        iteration = int(Path(report["checkpoint"]).stem.split("_")[1])
        wall = metrics[iteration]["Perf/wall_s"]
        rows.append(
            {
                "iteration": iteration,
                "wall_s": wall,
                **{k: v for k, v in report.items() if k != "per_episode"},
            }
        )
        level = metrics[iteration].get("Curriculum/terrain_level")
        rows[-1]["terrain_level"] = level
        print(
            f"{iteration:>9} {iteration * samples_per_iteration:>12,} {wall:>8.1f} "
            f"{success(report, args.success_key):>8.1%} "
            f"{report['mean_distance_m']:>11.2f} {report['mean_tracking_error']:>13.3f}"
            f" {'-' if level is None else f'{level:.2f}':>13}"
        )
        if walked is None and success(report, args.success_key) >= args.threshold:
            walked = rows[-1]
    if walked:
        print(
            f"time to walk: {walked['wall_s']:.1f} s of wall time from a cold start (iteration {walked['iteration']}, "
            f"{walked['iteration'] * samples_per_iteration:,} samples), {walked['wall_s'] - set_up:.1f} s of training"
        )
    else:
        print(f"no checkpoint reached {args.threshold:.0%} success in {args.iterations} iterations")
    robustness = (
        []
        if args.no_sim_to_sim
        else sim_to_sim(args, [walked["checkpoint"]] if walked else [], rows[-1]["checkpoint"], place)
    )
    summary = {"set_up_s": set_up, "checkpoints": rows, "sim_to_sim": robustness}
    (args.out / "time_to_walk.json").write_text(json.dumps(summary, indent=2))
    specc("plot", str(run_dir), "-o", str(args.out / "curves.png"), cwd=args.out)


def sim_to_sim(args, walking: list[str], last: str, place: list[str]) -> list[dict]:
    """The walking and the last checkpoint, randomized on the training backend, and on the CPU backend."""
    checkpoints = list(dict.fromkeys([*walking, last]))
    flags = [item for c in checkpoints for item in ("--checkpoint", c)]
    cpu = ["--backend", "mujoco", "--device", "cpu", *[a for kv in args.cpu_set for a in ("--set", kv)]]
    if args.cpu_threads:
        cpu += ["--threads", str(args.cpu_threads)]
    settings = [
        (f"{args.backend}", place, "--randomize"),
        ("mujoco (cpu)", cpu, "--no-randomize"),
        ("mujoco (cpu)", cpu, "--randomize"),
    ]
    print(
        f"{'checkpoint':>16} {'backend':>14} {'randomized':>10} {'success':>8} {'distance m':>11} {'terminated':>10}"
    )
    out = []
    for backend, where, randomize in settings:
        text = specc(
            "eval",
            str(args.spec),
            *where,
            *flags,
            randomize,
            "--episodes",
            str(args.episodes),
            "--json",
            cwd=args.out,
        )
        reports = json.loads(text)
        for report in reports if isinstance(reports, list) else [reports]:
            name = Path(report["checkpoint"]).name
            print(
                f"{name:>16} {backend:>14} {str(report['randomize']):>10} "
                f"{success(report, args.success_key):>8.1%} "
                f"{report['mean_distance_m']:>11.2f} {report['terminated_rate']:>10.1%}"
            )
            out.append({"backend": backend, **{k: v for k, v in report.items() if k != "per_episode"}})
    return out


if __name__ == "__main__":
    main()
