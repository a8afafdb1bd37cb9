"""Time to walk: train anymal_walk from a cold start and find the first checkpoint that walks.

Runs `specc run` as a user would (a fresh process: imports, warp and inductor compilation
and set-up all count), then evaluates the run's checkpoint series with one `specc eval`
(the spec's [eval] criterion: 1.5 m/s held, 10 m without a termination) and prints, per
checkpoint, the iteration, the samples, the wall time since the command started and the
success rate. "Time to walk" is the wall time of the first checkpoint at >= 90 %.
`--algorithm ppo sac` trains and measures each algorithm in turn, in the same invocation, and
prints their times to walk side by side (SAC trains a copy of the spec whose [ppo] table is
replaced by the [algorithm] and [sac] tables of SAC_TABLES).
Then the first walking checkpoint and the last one are evaluated with randomization on,
and on the CPU MuJoCo backend with and without it (sim-to-sim: the GPU-trained policy in
another simulator).

    python bench/time_to_walk.py --out /tmp/ttw --num-envs 4096 --iterations 300 --save-interval 25
    python bench/time_to_walk.py --out /tmp/ttw --algorithm ppo sac --iterations 160 --save-interval 20 \\
        --sac-iterations 1000 --sac-save-interval 50 --episodes 50 --no-sim-to-sim

On a host whose calls are time-limited: `--time-limit S` stops training after S seconds (the run
saves a checkpoint), `--only train` then `--only evaluate` split training and evaluation over two
calls, and `--cold-caches` trains with empty kernel caches (a start as on a fresh machine).

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
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from specc.cli.app import parse_set
from specc.spec.load import tomllib  # tomli on Python 3.10

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tasks" / "anymal_walk.toml"
WALKING = 0.9
# SAC on anymal_walk with the settings of fast massively parallel off-policy work (FastTD3 /
# FastSAC, Seo et al. 2025) on one GPU: 4,096 envs, an iteration of 8 steps of every env (32,768
# samples) and 2 updates of 16,384 transitions per step, layer-normed twin critics wider than the
# actor, n-step returns; rewards x 50 undo the policy-dt scaling so that the temperature (0.01 at
# the start) does not outweigh them. Four settings differ from the schema's defaults, found by a
# sweep on the H100 (bench/README.md, "Round of issues 14 and 15"): with the last round's bound 2.0
# (+-1 rad around the default pose), gamma 0.99, tau 0.1 and an actor update per critic update SAC
# stood but never walked in 600 iterations; with these it walks in 700.
SAC_TABLES = """[algorithm]
name = "sac"

[sac]
max_iterations = 600
num_steps_per_env = 8
updates_per_step = 2
batch_size = 16384
buffer_size_per_env = 1024
learning_starts = 10
actor_hidden_dims = [512, 256, 128]
critic_hidden_dims = [768, 384, 192]
n_step = 3
reward_scale = 50.0
init_alpha = 0.01
action_bound = 1.5
gamma = 0.98
tau = 0.02
policy_frequency = 2
"""


def sac_tables(overrides: list[str]) -> str:
    """SAC_TABLES with KEY=VALUE settings of its [sac] table replaced or added (values in TOML)."""
    settings = tomllib.loads(SAC_TABLES)["sac"]
    try:
        changes = parse_set(tuple(overrides))
    except click.BadParameter as error:
        raise SystemExit(f"--sac-set: {error.message}") from None
    for key, value in changes.items():
        settings[key.removeprefix("sac.")] = value
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return '[algorithm]\nname = "sac"\n\n[sac]\n' + "\n".join(lines) + "\n"


def spec_for(algorithm: str, out: Path, spec: Path, sac_sets: list[str] | None = None) -> Path:
    """The spec an algorithm trains: the spec itself for PPO; for SAC a copy with SAC's tables."""
    if algorithm == "ppo":
        return spec
    text = spec.read_text()
    start, end = text.index("[ppo]\n"), text.index("[eval]\n")
    text = text[:start] + sac_tables(sac_sets or []) + "\n" + text[end:]
    # [profile.*] entries of the PPO table (iterations, the CPU profile's networks) become SAC's: a
    # SAC spec with [ppo] settings is an error (SPC104) once a run resolves that profile.
    text = text.replace('"ppo.', '"sac.')
    text = (
        text.replace('urdf = "', f'urdf = "{spec.parent}/', 1) if 'urdf = "package://' not in text else text
    )
    path = out / f"{spec.stem}_{algorithm}.toml"
    path.write_text(text)
    return path


def success(report: dict, key: str) -> float:
    """The report's value at a dotted key (`success_rate`, `terrain.success_rate_from_middle_row`)."""
    value = report
    for part in key.split("."):
        value = value[part]
    return float(value)


def specc(*args: str, cwd: Path, time_limit: float | None = None, environ: dict | None = None) -> str:
    """Run the specc command line in a fresh interpreter (outside the source tree, which would shadow it).

    With `time_limit`, SIGTERM after that many seconds: `specc run` finishes its iteration, saves a
    checkpoint and exits with 143, which counts as done.
    """
    command = [sys.executable, "-m", "specc", *args]
    # NVLink multicast off for --gpus N (the launcher sets it too).
    environ = {**os.environ, "NCCL_NVLS_ENABLE": "0", **(environ or {})}
    with subprocess.Popen(
        command, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGTERM)
            stdout, stderr = child.communicate()
    stopped = time_limit is not None and child.returncode == 143
    if child.returncode != 0 and not stopped:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{(stdout + stderr)[-3000:]}")
    return stdout


def _number(value: float | None, form: str) -> str:
    """A report's figure, or '-' where the task has none (no distance on a cart-pole)."""
    return "-" if value is None else format(value, form)


def cold_caches(out: Path) -> dict[str, str]:
    """Empty kernel caches for the run (warp's, inductor's and triton's): a start as on a fresh machine."""
    folders = {name: out / "caches" / name for name in ("warp", "inductor", "triton")}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    return {
        "WARP_CACHE_PATH": str(folders["warp"]),
        "TORCHINDUCTOR_CACHE_DIR": str(folders["inductor"]),
        "TRITON_CACHE_DIR": str(folders["triton"]),
    }


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
    parser.add_argument(
        "--iterations", type=int, default=300, help="PPO's iterations (24 steps of every env)."
    )
    parser.add_argument("--save-interval", type=int, default=25, help="PPO's checkpoint interval.")
    parser.add_argument(
        "--sac-iterations", type=int, default=600, help="SAC's iterations (8 steps of every env)."
    )
    parser.add_argument("--sac-save-interval", type=int, default=100, help="SAC's checkpoint interval.")
    parser.add_argument(
        "--sac-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Replace a setting of SAC_TABLES' [sac] table (repeatable), e.g. --sac-set gamma=0.98.",
    )
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument(
        "--algorithm",
        nargs="+",
        choices=["ppo", "sac"],
        default=["ppo"],
        help="Algorithms to measure, in turn.",
    )
    parser.add_argument(
        "--cpu-threads", type=int, default=None, help="Threads of the sim-to-sim CPU backend."
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="Stop training after S seconds of wall time (SIGTERM: the run saves a checkpoint and ends).",
    )
    parser.add_argument(
        "--cold-caches",
        action="store_true",
        help="Train with empty warp, inductor and triton kernel caches (a cold start as on a fresh machine).",
    )
    parser.add_argument(
        "--only",
        choices=["train", "evaluate"],
        default=None,
        help="Only train, or only evaluate the run already in --out: on a host whose calls are time-limited, "
        "train in one call and evaluate in the next.",
    )
    parser.add_argument(
        "--no-sim-to-sim",
        action="store_true",
        help="Skip the randomized and CPU-backend evaluations (to fit both algorithms in one budget, or to run "
        "them later with specc eval in another call of a time-limited GPU host).",
    )
    args = parser.parse_args()
    # The commands run inside --out: paths given relative to here must not move with them.
    args.out, args.spec = args.out.resolve(), args.spec.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for algorithm in args.algorithm:
        print(f"== {algorithm}")
        results[algorithm] = measure(
            args, algorithm, args.out / algorithm if len(args.algorithm) > 1 else args.out
        )
    if len(results) > 1 and args.only != "train":
        print(f"{'algorithm':>9} {'time to walk s':>15} {'training s':>11} {'iteration':>9}")
        for algorithm, walked in results.items():
            if walked is None:
                print(f"{algorithm:>9} {'not walking':>15}")
            else:
                print(
                    f"{algorithm:>9} {walked['wall_s']:>15.1f} {walked['training_s']:>11.1f} {walked['iteration']:>9}"
                )
        (args.out / "time_to_walk_algorithms.json").write_text(json.dumps(results, indent=2))


def measure(args, algorithm: str, out: Path) -> dict | None:
    """Train with `algorithm`, evaluate its checkpoints; the first walking checkpoint's row, or None."""
    out.mkdir(parents=True, exist_ok=True)
    spec = spec_for(algorithm, out, args.spec, args.sac_set)
    run_dir = out / "run"
    place = ["--backend", args.backend, "--device", args.device]
    gpus = ["--gpus", str(args.gpus)] if args.gpus > 1 else []
    iterations, interval = (
        (args.sac_iterations, args.sac_save_interval)
        if algorithm == "sac"
        else (args.iterations, args.save_interval)
    )
    if args.only != "evaluate":
        shutil.rmtree(run_dir, ignore_errors=True)
        specc(
            "run", str(spec), *place, *gpus, "--num-envs", str(args.num_envs), "--max-iterations", str(iterations),
            "--set", f"{algorithm}.save_interval={interval}", "--run-dir", str(run_dir), "--no-tensorboard",
            cwd=out, time_limit=args.time_limit, environ=cold_caches(out) if args.cold_caches else None,
        )  # fmt: skip
    if args.only == "train":
        return None
    metrics = {
        m["iteration"]: m for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    }
    checkpoints = sorted((run_dir / "checkpoints").glob("model_*.pt"))
    flags = [item for c in checkpoints for item in ("--checkpoint", str(c))]
    reports = json.loads(
        specc("eval", str(spec), *place, *flags, "--episodes", str(args.episodes), "--json", cwd=out)
    )
    reports = reports if isinstance(reports, list) else [reports]
    first = metrics[1]
    set_up = first["Perf/wall_s"] - first["Perf/collection_s"] - first["Perf/learning_s"]
    samples_per_iteration = json.loads((run_dir / "config.json").read_text())[algorithm]["num_steps_per_env"]
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
            f"{_number(report.get('mean_distance_m'), '.2f'):>11} {_number(report.get('mean_tracking_error'), '.3f'):>13}"
            f" {'-' if level is None else f'{level:.2f}':>13}"
        )
        if walked is None and success(report, args.success_key) >= args.threshold:
            walked = rows[-1]
    if walked:
        print(
            f"time to walk: {walked['wall_s']:.1f} s of wall time from `specc run`'s start, untrained"
            f"{', empty kernel caches' if args.cold_caches else ''} (iteration {walked['iteration']}, "
            f"{walked['iteration'] * samples_per_iteration:,} samples), {walked['wall_s'] - set_up:.1f} s of training"
        )
    else:
        print(f"no checkpoint reached {args.threshold:.0%} success in {iterations} iterations")
    robustness = (
        []
        if args.no_sim_to_sim
        else sim_to_sim(
            args, spec, out, [walked["checkpoint"]] if walked else [], rows[-1]["checkpoint"], place, run_dir
        )
    )
    summary = {"algorithm": algorithm, "set_up_s": set_up, "checkpoints": rows, "sim_to_sim": robustness}
    (out / "time_to_walk.json").write_text(json.dumps(summary, indent=2))
    specc("plot", str(run_dir), "-o", str(out / "curves.png"), cwd=out)
    return {**walked, "training_s": walked["wall_s"] - set_up} if walked else None


def sim_to_sim(
    args, spec: Path, out: Path, walking: list[str], last: str, place: list[str], run_dir: Path
) -> list[dict]:
    """The walking and the last checkpoint, randomized on the training backend, and on the CPU backend."""
    checkpoints = list(dict.fromkeys([*walking, last]))
    flags = [item for c in checkpoints for item in ("--checkpoint", c)]
    # The CPU evaluations resolve [profile.cpu], whose networks may be smaller: use the run's.
    config = json.loads((run_dir / "config.json").read_text())
    algorithm = config["algorithm"]
    networks = [
        f"{algorithm}.{key}={config[algorithm][key]}"
        for key in ("actor_hidden_dims", "critic_hidden_dims")
        if key in config[algorithm]
    ]
    cpu_sets = [*networks, *args.cpu_set]
    cpu = ["--backend", "mujoco", "--device", "cpu", *[a for kv in cpu_sets for a in ("--set", kv)]]
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
    results = []
    for backend, where, randomize in settings:
        text = specc(
            "eval",
            str(spec),
            *where,
            *flags,
            randomize,
            "--episodes",
            str(args.episodes),
            "--json",
            cwd=out,
        )
        reports = json.loads(text)
        for report in reports if isinstance(reports, list) else [reports]:
            name = Path(report["checkpoint"]).name
            print(
                f"{name:>16} {backend:>14} {str(report['randomize']):>10} "
                f"{success(report, args.success_key):>8.1%} "
                f"{report['mean_distance_m']:>11.2f} {report['terminated_rate']:>10.1%}"
            )
            results.append({"backend": backend, **{k: v for k, v in report.items() if k != "per_episode"}})
    return results


if __name__ == "__main__":
    main()
