"""Runtime commands of the CLI: run, eval, export, play, plot.

Each checks its options (a usage error, exit 2, naming the option), then the spec
(diagnostics and exit 1 on errors, never a traceback), and imports torch and the runtime
only then. A checkpoint that cannot serve, a file that cannot be written, physics that
diverges: one `error:` line and exit 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from specc import __version__
from specc.cli.app import layout_rows, load_checked_task, main, parse_set
from specc.model.backends import BACKENDS
from specc.spec.schema import DEVICE_PATTERN, PPOSection, SimSection, upper_bound

MAX_SEED = 2**32 - 1  # numpy's and most simulators' seed range; the runner derives seed + 1 and seed + 2
MAX_NUM_ENVS = int(upper_bound(SimSection, "num_envs"))
MAX_ITERATIONS = int(upper_bound(PPOSection, "max_iterations"))
MAX_EPISODES = 1 << 20
DEVICE = re.compile(DEVICE_PATTERN)
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal's number, as shells report it


def _device_option(ctx, param, value: str | None) -> str | None:
    if value is not None and not DEVICE.match(value):
        raise click.BadParameter(f"'{value}' is not a device: cpu, cuda or cuda:N", ctx, param)
    return value


def _positive_seconds(ctx, param, value: float | None) -> float | None:
    if value is not None and not (0 < value <= 24 * 3600):
        raise click.BadParameter(
            f"{value} is not a length in seconds (more than 0, at most a day)", ctx, param
        )
    return value


def _common(function):
    options = [
        click.option(
            "--backend",
            type=click.Choice(BACKENDS),
            default=None,
            help="Physics backend (default: the spec's sim.backend).",
        ),
        click.option(
            "--device",
            default=None,
            callback=_device_option,
            help="Torch device: cpu, cuda or cuda:N (default: the spec's).",
        ),
        click.option(
            "--kernels",
            type=click.Choice(["eager", "torchscript", "inductor"]),
            default=None,
            help="Kernel form (default: the fastest for the device, see bench/README.md).",
        ),
        click.option(
            "--set",
            "sets",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override a spec value, e.g. --set sim.num_envs=64 (repeatable).",
        ),
        click.option(
            "--threads", type=click.IntRange(1, 4096), default=None, help="CPU threads of the MuJoCo backend."
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _task(spec: Path, device: str | None, sets: tuple[str, ...], extra: dict[str, Any] | None = None):
    overrides = parse_set(sets)
    overrides.update(extra or {})
    return load_checked_task(spec, overrides, run_on=device or "spec")


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _require_physics(task, backend: str | None, device: str | None) -> None:
    """Refuse a backend or device that is not there, naming what to install (exit 2 for an option,
    1 for the spec's own setting), before anything is built."""
    name = backend or task.spec.sim.backend
    source = "--backend" if backend else f'sim.backend = "{name}" in the spec'
    code = 2 if backend else 1
    if name == "isaacgym":
        _fail(
            f"{source}: Isaac Gym cannot be imported by specc (it needs Python 3.8 and its own torch). "
            "Generate a standalone Isaac Gym task instead: specc compile SPEC --target isaacgym --emit DIR",
            code,
        )
    if name == "mujoco-warp":
        missing = [m for m in ("warp", "mujoco_warp") if importlib.util.find_spec(m) is None]
        if missing:
            _fail(
                f"{source}: the MuJoCo Warp backend needs the package(s) {', '.join(missing)}, not installed "
                'here: pip install -e ".[gpu]" (in a checkout of specc) or pip install "specc[gpu]"',
                code,
            )
    wanted = device or task.spec.sim.device
    if wanted.startswith("cuda"):
        import torch

        source = f"--device {device}" if device else f'sim.device = "{wanted}" in the spec'
        if not torch.cuda.is_available():
            _fail(
                f"{source}: torch sees no CUDA GPU (torch {torch.__version__}, CUDA build "
                f"{torch.version.cuda or 'none'}); run with --device cpu, or install a CUDA build of torch "
                "on a machine with an NVIDIA GPU and driver",
                2 if device else 1,
            )
        index = int(wanted.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            _fail(f"{source}: there are {torch.cuda.device_count()} CUDA devices", 2 if device else 1)


def _load_policy(runner, checkpoint: Path, allow_spec_change: bool = False) -> None:
    """Load a checkpoint's policy into `runner` (eval, export, play); one clear error if it cannot serve."""
    from specc.runtime.checkpoint import CheckpointError

    try:
        notes = runner.load(checkpoint, restore_env=False, allow_spec_change=allow_spec_change)
    except CheckpointError as err:
        _fail(str(err))
    for note in notes:
        click.echo(f"note: {note}", err=True)


_allow_spec_change = click.option(
    "--allow-spec-change",
    is_flag=True,
    help="Load a checkpoint made for another version of the spec, when the sizes still match.",
)


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_common
@click.option(
    "--num-envs",
    type=click.IntRange(1, MAX_NUM_ENVS),
    default=None,
    help="Parallel envs (default: the spec's, per device profile).",
)
@click.option(
    "--max-iterations",
    type=click.IntRange(1, MAX_ITERATIONS),
    default=None,
    help="Training iterations (default: the spec's).",
)
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write the run: a new or empty folder (default: runs/<task>/<timestamp>; "
    "with --resume, the checkpoint's own run folder).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue from a checkpoint: optimizer, learning rate, normalizer, iteration and env state.",
)
@_allow_spec_change
@click.option("--no-tensorboard", is_flag=True, help="Write metrics.jsonl only.")
@click.option(
    "--gpus",
    type=click.IntRange(min=1),
    default=None,
    help="Train with N processes, one per GPU of this host, started through torchrun; "
    "sim.num_envs is per process. With --device cpu: N CPU processes (gloo), for tests.",
)
def run(
    spec: Path,
    backend,
    device,
    kernels,
    sets,
    threads,
    num_envs,
    max_iterations,
    seed,
    run_dir,
    resume,
    allow_spec_change,
    no_tensorboard,
    gpus,
) -> None:
    """Train a policy for SPEC with the algorithm of its [algorithm] table (PPO by default).

    Ctrl-C or SIGTERM finishes the iteration, saves a checkpoint and exits with 130 (SIGINT) or
    143 (SIGTERM). A run whose physics diverges in most env steps stops with exit 1 and a diagnosis.
    """
    _run(spec, backend, device, kernels, sets, threads, num_envs, max_iterations, seed, run_dir, resume,
         allow_spec_change, no_tensorboard, gpus=gpus)  # fmt: skip


def _run(spec, backend, device, kernels, sets, threads, num_envs, max_iterations, seed, run_dir, resume,
         allow_spec_change, no_tensorboard, algorithm=None, make_teacher=None, teacher_check=None,
         gpus=None) -> None:  # fmt: skip
    """`run` and `distill`: the run folder, then training with `algorithm` (default: the spec's)."""
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if num_envs is not None:
        extra["sim.num_envs"] = num_envs
    task = _task(spec, device, sets, extra)
    if max_iterations is not None:  # in the table of the algorithm that trains
        extra[f"{algorithm or task.spec.algorithm.name}.max_iterations"] = max_iterations
        task = _task(spec, device, sets, extra)
    if teacher_check is not None:
        teacher_check(task)
    _require_physics(task, backend, device)
    rank, place = _join_processes(gpus, device or task.spec.sim.device, started)
    if rank.world_size > 1:  # wall time from the `--gpus` command's start, before torchrun
        started = min(started, float(os.environ.get("SPECC_RUN_STARTED", started)))
    from specc.runtime.run_folder import RunFolderError, choose_run_folder

    default_dir = Path("runs") / task.spec.task.name / time.strftime("%Y-%m-%d_%H-%M-%S")
    if not rank.is_main:  # the run folder is rank 0's; the other ranks only take part in its checkpoints
        _train(task, spec, run_dir or default_dir, False, backend, place, kernels, threads, seed, resume,
               allow_spec_change, no_tensorboard, started, rank, algorithm, make_teacher)  # fmt: skip
        return
    try:
        run_dir, continuing = choose_run_folder(run_dir, default_dir, resume)
    except RunFolderError as err:
        raise click.UsageError(str(err)) from None
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except (NotADirectoryError, FileExistsError):
        raise click.UsageError(
            f"--run-dir {run_dir}: a file stands where a folder of that path should be"
        ) from None
    except OSError as err:
        _fail(f"cannot create the run folder {run_dir}: {err.strerror or err}")
    try:
        final = _train(task, spec, run_dir, continuing, backend, place, kernels, threads, seed, resume,
                       allow_spec_change, no_tensorboard, started, rank, algorithm, make_teacher)  # fmt: skip
    except _SetupFailed as err:
        if created:
            _remove_new_run_folder(run_dir)
        _fail(str(err), err.code)
    _report_run(spec, run_dir, final, backend, device, place, sets, threads, not no_tensorboard)


class _SetupFailed(Exception):
    """The run could not start; the run folder it created is removed again."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _remove_new_run_folder(run_dir: Path) -> None:
    import shutil

    shutil.rmtree(run_dir, ignore_errors=True)


def _train(task, spec, run_dir, continuing, backend, device, kernels, threads, seed, resume,
           allow_spec_change, no_tensorboard, started, rank, algorithm=None, make_teacher=None) -> Path:  # fmt: skip
    """Train; rank 0 returns its final checkpoint (a stop signal exits instead)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from specc.assemble import assemble
    from specc.runtime import distributed
    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.backends.mujoco_model import route_engine_log
    from specc.runtime.checkpoint import (
        CheckpointError,
        WriteFailed,
        remove_stale_temporaries,
        write_atomically,
    )
    from specc.runtime.divergence import PhysicsDiverged
    from specc.runtime.run_folder import (
        RunFolderError,
        checkpoint_run_folder,
        continue_metrics,
        lock_run_folder,
        supersede_checkpoints,
    )
    from specc.runtime.run_log import RunLog
    from specc.runtime.runner import Runner

    console = Console(stderr=True, quiet=not rank.is_main)  # rank 0 speaks for all
    if not rank.is_main:
        _train_quietly(task, backend, device, kernels, threads, seed, resume, allow_spec_change, run_dir,
                       algorithm, make_teacher)  # fmt: skip
        return run_dir
    try:
        lock = lock_run_folder(run_dir)
    except RunFolderError as err:
        raise _SetupFailed(str(err), 2) from None
    except OSError as err:
        raise _SetupFailed(f"cannot write the run folder {run_dir}: {err.strerror or err}") from None
    checkpoints = run_dir / "checkpoints"
    for stale in remove_stale_temporaries(checkpoints) + remove_stale_temporaries(run_dir):
        console.print(f"removed {stale}, left by a run that was killed while writing it")
    route_engine_log(run_dir / "mujoco.log")  # MuJoCo's warnings: into the run, not stdout or the cwd
    parts = assemble(
        task,
        backend=backend,
        device=device,
        kernels=kernels,
        seed=distributed.rank_seed(seed),
        num_threads=threads,
    )
    env = parts.env
    from specc.assemble import learner_config

    config = learner_config(task, algorithm)
    runner = Runner(
        env,
        config,
        seed=seed,
        metadata={"spec_hash": task.spec_hash, "task": task.spec.task.name},
        teacher=make_teacher(env.device) if make_teacher is not None else None,
    )
    if resume is not None:
        try:
            notes = runner.load(resume, allow_spec_change=allow_spec_change)
        except CheckpointError as err:
            raise _SetupFailed(str(err)) from None
        for note in notes:
            console.print(f"note: {note}", markup=False, highlight=False)
        console.print(f"resumed from {resume} at iteration {runner.iteration}")
    try:
        if resume is not None:
            source = checkpoint_run_folder(resume)
            if source is not None:
                dropped = continue_metrics(
                    source / "metrics.jsonl", run_dir / "metrics.jsonl", runner.iteration
                )
                if dropped and continuing:
                    console.print(f"metrics.jsonl: dropped {dropped} iterations after {runner.iteration}")
            if continuing:
                moved = supersede_checkpoints(run_dir, runner.iteration)
                if moved is not None:
                    console.print(f"checkpoints after iteration {runner.iteration} moved to {moved}")
        write_atomically(run_dir / "spec.toml", spec.read_bytes())
        write_atomically(run_dir / "kernels.py", parts.module_source.encode())
        resolved = {
            "specc": __version__,
            "spec": str(spec),
            "spec_hash": task.spec_hash,
            "seed": seed,
            "backend": backend or task.spec.sim.backend,
            "device": str(env.device),
            "kernels": parts.kernels.kind,
            "env": env.config.to_dict(),
            "algorithm": config.name,
            config.name: config.to_dict(),
            "joint_names": task.robot.joint_names,
            "action_names": task.robot.action_names,
            "observation_layout": [vars(s) for s in task.observation_layout],
            "inertia_repairs": getattr(parts.backend, "repairs", []),
            "processes": rank.world_size,  # sim.num_envs envs each
        }
        write_atomically(run_dir / "config.json", json.dumps(resolved, indent=2).encode())
        log = RunLog(run_dir, tensorboard=not no_tensorboard, first_iteration=runner.iteration + 1)
    except OSError as err:  # WriteFailed included
        raise _SetupFailed(str(err) if isinstance(err, WriteFailed) else f"{run_dir}: {err}") from None
    for repair in resolved["inertia_repairs"]:
        console.print(f"[yellow]inertia repaired[/yellow] {repair}")
    total = config.max_iterations
    stop: dict[str, Any] = {"signal": None}

    def on_signal(signum, frame):
        if stop["signal"] is not None:
            raise KeyboardInterrupt
        stop["signal"] = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        console.print(
            f"[yellow]{name}: finishing this iteration, then saving a checkpoint (again to abort)[/yellow]"
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in EXIT_SIGNAL}
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    processes = f" x {rank.world_size} processes" if rank.world_size > 1 else ""
    console.print(
        f"training {task.spec.task.name}: {env.num_envs} envs{processes} on {parts.backend.__class__.__name__} "
        f"({env.device}), {parts.kernels.kind} kernels, {env.num_obs} observations, "
        f"{env.num_actions} actions -> {run_dir}"
    )
    if env.device.type == "cuda":
        console.print(f"env step: {env.graph.mode}")
    start_iteration = runner.iteration
    warned = {"diverged": False}
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            bar = progress.add_task(
                "iterations", total=start_iteration + total, completed=start_iteration, info=""
            )

            def on_iteration(entry) -> None:
                # Wall time from the command's start (compilation and set-up included): time-to-result.
                log.write(entry.iteration, {**entry.scalars, "Perf/wall_s": time.monotonic() - started})
                ret = (
                    f"{entry.mean_episode_return:8.3f}"
                    if entry.mean_episode_return is not None
                    else "       -"
                )
                length = (
                    f"{entry.mean_episode_length:6.1f}" if entry.mean_episode_length is not None else "     -"
                )
                diverged = f"  diverged {entry.diverged_share:.1%}" if entry.diverged_share > 0 else ""
                progress.update(
                    bar,
                    completed=entry.iteration,
                    info=f"{entry.steps_per_second:8.0f} steps/s  reward {entry.mean_reward:7.4f}  "
                    f"return {ret}  length {length}{diverged}",
                )
                if entry.diverged_share > 0.01 and not warned["diverged"]:
                    warned["diverged"] = True
                    progress.console.print(
                        f"warning: the physics diverged in {entry.diverged_share:.1%} of the env steps (those "
                        f"envs are reset). {env.divergence_diagnosis()}{_engine_log_note(run_dir)}",
                        markup=False,
                        highlight=False,
                    )

            runner.train(total, on_iteration, checkpoints, should_stop=lambda: stop["signal"] is not None)
    except PhysicsDiverged as err:
        _fail(f"{spec}: {err}{_engine_log_note(run_dir)}")
    except PhysicsLost as err:
        _fail(f"{spec}: {err} (the last checkpoint in {checkpoints} is intact; --resume from it)")
    except WriteFailed as err:
        _fail(f"{err} (the last checkpoint in {checkpoints} is intact; free space and --resume from it)")
    except KeyboardInterrupt:
        _fail(f"aborted without saving (the last checkpoint in {checkpoints} is intact)", 130)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.close()
    try:
        final = runner.save(checkpoints / f"model_{runner.iteration:06d}.pt")
    except WriteFailed as err:
        _fail(f"{err} (the last checkpoint in {checkpoints} is intact)")
    lock.close()
    console.print(f"checkpoint {final}")
    distributed.teardown()
    if stop["signal"] is not None:
        sys.exit(EXIT_SIGNAL[stop["signal"]])
    return final


# The end-of-run evaluation: enough episodes to see what was learned in seconds, on eager kernels
# (compiling the evaluation env's kernels would take longer than stepping them); `specc eval` runs
# the spec's own count.
REPORT_EPISODES = 16


def _report_run(spec, run_dir, checkpoint, backend, device, place, sets, threads, tensorboard) -> None:
    """Tell the user what the run made: the final policy judged by the spec's [eval] criterion on a
    few episodes, where its checkpoint and curves are, and the commands that evaluate and film it."""
    import shlex

    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.evaluate import evaluate

    task, parts, runner = _evaluation_env(
        spec,
        place,
        backend,
        "eager",
        sets,
        threads,
        REPORT_EPISODES,
        False,
        _checkpoint_algorithm(checkpoint),
    )
    _load_policy(runner, checkpoint)
    criteria = task.spec.eval
    held = "".join(f", {name} = {value:g}" for name, value in criteria.commands.items())
    click.echo(
        f"\nThe final policy on {REPORT_EPISODES} episodes of the spec's [eval] (randomization off{held}; "
        f"specc eval runs {criteria.episodes}):"
    )
    try:
        result = evaluate(parts.env, lambda obs: runner.policy.act_deterministic(runner.normalize(obs)))
    except PhysicsLost as err:
        click.echo(f"  not evaluated: {err}")
    else:
        low, high = result.success_ci95
        seconds = task.spec.sim.episode_length_s
        speed = result.mean_distance_m / seconds
        click.echo(f"  success rate      {result.success_rate:.1%} (95% CI {low:.1%} - {high:.1%})")
        click.echo(f"  criterion         {criterion_text(criteria)}")
        if task.spec.terminations.time_out:
            click.echo(
                f"  reached time-out  {1 - result.terminated_rate:.1%} (the rest ended by a termination)"
            )
        if not task.spec.robot.fixed_base:  # how far the base went, start to end: a walker's speed
            click.echo(
                f"  mean distance     {result.mean_distance_m:.2f} m ({speed:.2f} m/s over {seconds:g} s)"
            )
    options = [*(["--backend", backend] if backend else []), *(["--device", device] if device else [])]
    overrides = [f"--set={value}" for value in sets]
    film = run_dir / f"{task.spec.task.name}.mp4"
    click.echo(f"policy    {checkpoint}")
    where = shlex.quote(str(run_dir))
    curves = (
        f"tensorboard --logdir {where}   or   specc plot {where}" if tensorboard else f"specc plot {where}"
    )
    click.echo(f"curves    {curves}")
    evaluate_command = ["specc", "eval", str(spec), "--checkpoint", str(checkpoint), *options, *overrides]
    click.echo(f"evaluate  {shlex.join(evaluate_command)}")
    # play films on the CPU whatever device trained (no --backend or --device), with the run's networks
    # where the spec's [profile.cpu] has others
    on_cpu = _task(spec, "cpu", sets).spec.ppo
    networks = [
        f"--set=ppo.{key}={list(getattr(task.spec.ppo, key))}"
        for key in ("actor_hidden_dims", "critic_hidden_dims")
        if tuple(getattr(on_cpu, key)) != tuple(getattr(task.spec.ppo, key))
    ]
    play_command = [
        "specc",
        "play",
        str(spec),
        "--checkpoint",
        str(checkpoint),
        *overrides,
        *networks,
        "--video",
        str(film),
    ]
    click.echo(f"video     {shlex.join(play_command)}")


def _train_quietly(task, backend, device, kernels, threads, seed, resume, allow_spec_change, run_dir,
                   algorithm=None, make_teacher=None) -> None:  # fmt: skip
    """Rank r > 0 of `run --gpus N`: its own envs and learner, no files; rank 0 logs and saves for all."""
    from specc.assemble import assemble, learner_config
    from specc.runtime import distributed
    from specc.runtime.checkpoint import CheckpointError
    from specc.runtime.runner import Runner

    parts = assemble(
        task,
        backend=backend,
        device=device,
        kernels=kernels,
        seed=distributed.rank_seed(seed),
        num_threads=threads,
    )
    config = learner_config(task, algorithm)
    runner = Runner(
        parts.env,
        config,
        seed=seed,
        metadata={"spec_hash": task.spec_hash, "task": task.spec.task.name},
        teacher=make_teacher(parts.env.device) if make_teacher is not None else None,
    )
    if resume is not None:
        try:
            runner.load(resume, allow_spec_change=allow_spec_change)
        except CheckpointError as err:
            _fail(str(err))
    stop: dict[str, Any] = {"signal": None}

    def on_signal(signum, frame):
        if stop["signal"] is not None:
            raise KeyboardInterrupt
        stop["signal"] = signum

    for sig in EXIT_SIGNAL:
        signal.signal(sig, on_signal)
    runner.train(
        config.max_iterations,
        None,
        run_dir / "checkpoints",
        should_stop=lambda: stop["signal"] is not None,
    )
    runner.save(run_dir / "checkpoints" / f"model_{runner.iteration:06d}.pt")  # rank 0 writes it
    distributed.teardown()
    if stop["signal"] is not None:
        sys.exit(EXIT_SIGNAL[stop["signal"]])


def _join_processes(gpus: int | None, device: str, started: float):
    """`run --gpus N`: start N processes through torchrun, or, inside one of them, join the others.

    Returns this process's RankInfo and device (cuda:LOCAL_RANK on GPUs); a plain single-process
    run gets rank 0 of 1 and `device` unchanged, with no process group.
    """
    from specc.runtime import distributed

    try:
        rank = distributed.rank_info()
    except ValueError as err:
        _fail(str(err), 2)
    launched = "TORCHELASTIC_RUN_ID" in os.environ or rank.world_size > 1
    if gpus is not None and gpus > 1 and not launched:
        if device.startswith("cuda"):
            import torch

            if torch.cuda.device_count() < gpus:
                _fail(f"--gpus {gpus}, but this host has {torch.cuda.device_count()} CUDA device(s)", 2)
        os.environ["SPECC_RUN_STARTED"] = repr(started)  # time.monotonic() is one clock for the host
        distributed.launch(gpus, sys.argv[1:])
    if gpus is not None and launched and gpus != rank.world_size:
        _fail(f"--gpus {gpus}, but torchrun started {rank.world_size} processes", 2)
    try:
        return distributed.setup(device)
    except RuntimeError as err:
        _fail(str(err))


def _engine_log_note(run_dir: Path) -> str:
    log = run_dir / "mujoco.log"
    return f" MuJoCo's own messages: {log}" if log.is_file() else ""


def _one_algorithm(algorithms: set) -> str:
    """The one algorithm of a series of checkpoints (PPO, SAC or distill)."""
    known = {"ppo", "sac", "distill"}
    if len(algorithms) != 1 or not algorithms <= known:
        _fail(
            f"the checkpoints come from {', '.join(sorted(map(str, algorithms)))}: evaluate one algorithm at a time"
        )
    return next(iter(algorithms))


def _checkpoint_algorithm(checkpoint: Path) -> str:
    from specc.runtime.checkpoint import CheckpointError, load_checkpoint

    try:
        return _one_algorithm({load_checkpoint(checkpoint).state.get("algorithm", "ppo")})
    except CheckpointError as err:
        _fail(str(err))
        raise


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--teacher",
    type=click.Path(path_type=Path),
    required=True,
    help="A checkpoint of `specc run` (PPO or SAC) to distill.",
)
@click.option(
    "--teacher-spec",
    type=click.Path(path_type=Path),
    default=None,
    help="The spec the teacher was trained with (default: SPEC); its [[observations]] must match "
    "SPEC's [[teacher_observations]] (or SPEC's [[observations]] when it has none).",
)
@_common
@click.option("--num-envs", type=click.IntRange(1, MAX_NUM_ENVS), default=None, help="Parallel envs.")
@click.option("--max-iterations", type=click.IntRange(1, MAX_ITERATIONS), default=None, help="Iterations.")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option("--run-dir", type=click.Path(path_type=Path, file_okay=False), default=None, help="Run folder.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue a distillation.")
@_allow_spec_change
@click.option("--no-tensorboard", is_flag=True, help="Write metrics.jsonl only.")
def distill(spec, teacher, teacher_spec, backend, device, kernels, sets, threads, num_envs, max_iterations,
            seed, run_dir, resume, allow_spec_change, no_tensorboard) -> None:  # fmt: skip
    """Distill a teacher checkpoint into the smaller student of SPEC's [distill] table (DAgger)."""
    if not teacher.is_file():
        _fail(f"checkpoint not found: {teacher}")
    teacher_task = _task(teacher_spec, device, ()) if teacher_spec is not None else None
    algorithm = _checkpoint_algorithm(teacher)
    chosen: dict[str, Any] = {}

    def teacher_check(task) -> None:
        """Before anything is built: the teacher's observations are a group SPEC computes."""
        source = teacher_task or task
        group = "teacher" if "teacher" in task.extra_groups else None
        wanted = [(s.name, s.size) for s in task.group_layout(group or "policy")]
        given = [(s.name, s.size) for s in source.observation_layout]
        if wanted != given:
            _fail(
                f"the teacher reads {given} ([[observations]] of {teacher_spec or spec}) but {spec} gives it "
                f"{wanted}; list the teacher's observations as [[teacher_observations]]"
            )
        chosen.update(task=source, group=group)

    def make_teacher(on_device):
        from specc.assemble import learner_config
        from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity
        from specc.runtime.policies import load_teacher

        source = chosen["task"]
        config = learner_config(source, algorithm)
        actor, critic = config.networks
        expected = CheckpointIdentity(
            source.spec_hash,
            source.spec.task.name,
            source.num_observations,
            source.num_actions,
            actor,
            critic,
        )
        try:
            return load_teacher(
                teacher,
                config,
                expected,
                chosen["group"],
                on_device,
                source.group_size("critic") or None,
                allow_spec_change,
            )
        except CheckpointError as err:
            _fail(f"--teacher: {err}")

    _run(spec, backend, device, kernels, sets, threads, num_envs, max_iterations, seed, run_dir, resume,
         allow_spec_change, no_tensorboard, "distill", make_teacher, teacher_check)  # fmt: skip


def _evaluation_env(spec: Path, device, backend, kernels, sets, threads, episodes, randomize, algorithm=None):
    """The env with the spec's [eval] commands held, and a runner to load policies into."""
    task = _task(spec, device, sets)  # the judging env holds the spec's [eval] commands (assemble)
    from specc.assemble import assemble
    from specc.runtime.backends.mujoco_model import route_engine_log
    from specc.runtime.runner import Runner

    _require_physics(task, backend, device)
    count = episodes or task.spec.eval.episodes
    route_engine_log(None)  # no run folder to log into: MuJoCo's messages stay off the console and the cwd
    parts = assemble(
        task,
        backend=backend,
        device=device,
        kernels=kernels,
        num_envs=count,
        seed=12345,
        randomize=randomize,
        num_threads=threads,
        curriculum=False,  # every terrain row and tile type evaluated alike, none moved
        judge=True,
    )
    metadata = {"spec_hash": task.spec_hash, "task": task.spec.task.name}
    from specc.assemble import learner_config

    config = learner_config(task, algorithm)  # the checkpoints' algorithm: PPO, SAC or a distilled student
    return task, parts, Runner(parts.env, config, seed=0, metadata=metadata)


@main.command(name="eval")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option(
    "--checkpoint",
    "checkpoints",
    type=click.Path(path_type=Path),
    required=True,
    multiple=True,
    help="The checkpoint to evaluate; repeat it to evaluate several in one env (e.g. a run's series).",
)
@_common
@click.option(
    "--episodes",
    type=click.IntRange(1, MAX_EPISODES),
    default=None,
    help="Episodes (default: the spec's eval.episodes).",
)
@_allow_spec_change
@click.option(
    "--randomize/--no-randomize",
    default=False,
    show_default=True,
    help="Domain randomization during evaluation (robustness).",
)
@click.option("--json", "as_json", is_flag=True)
def eval_(
    spec,
    checkpoints,
    backend,
    device,
    kernels,
    sets,
    threads,
    episodes,
    allow_spec_change,
    randomize,
    as_json,
) -> None:
    """Evaluate checkpoints: success rate by the spec's [eval] criterion, return, tracking error."""
    import torch

    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.checkpoint import CheckpointError, load_checkpoint
    from specc.runtime.evaluate import evaluate

    algorithms = set()
    for checkpoint in checkpoints:  # before the env is built: a typo in a series should not wait for it
        try:
            algorithms.add(load_checkpoint(checkpoint).state.get("algorithm", "ppo"))
        except CheckpointError as err:
            _fail(str(err))
    algorithm = _one_algorithm(algorithms)
    task, parts, runner = _evaluation_env(
        spec, device, backend, kernels, sets, threads, episodes, randomize, algorithm
    )

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return runner.policy.act_deterministic(runner.normalize(obs))

    reports = []
    for checkpoint in checkpoints:
        _load_policy(runner, checkpoint, allow_spec_change)
        try:
            result = evaluate(parts.env, policy)
        except PhysicsLost as err:
            _fail(f"{spec}: {err}")
        reports.append({"checkpoint": str(checkpoint), "randomize": randomize, **result.to_dict()})
        if not as_json:
            _print_evaluation(task, checkpoint, result, randomize, several=len(checkpoints) > 1)
    if as_json:
        click.echo(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))


def criterion_text(criteria) -> str:
    """The [eval] criteria in words, as `specc eval` prints them."""
    success = f'"{criteria.success}"' if criteria.success else "not failing"
    when = "at the episode's end" if criteria.judge == "end" else "at the first step it holds"
    fails = [f'"{criteria.failure}"'] if criteria.failure else []
    if criteria.termination_fails:
        fails.append("a termination")
    return f"success {success} {when}" + (f"; failure: {' or '.join(fails)}" if fails else "")


def _print_evaluation(task, checkpoint: Path, result, randomize: bool, several: bool) -> None:
    if several:
        click.echo(f"checkpoint        {checkpoint}")
    click.echo(f"episodes          {result.episodes}  (randomization {'on' if randomize else 'off'})")
    low, high = result.success_ci95
    click.echo(f"success rate      {result.success_rate:.1%}  (95% CI {low:.1%} - {high:.1%}, Wilson)")
    for command, rows in (result.by_command or {}).items():
        for choice, row in rows.items():
            low, high = row["success_ci95"]
            click.echo(
                f"  {command} = {choice:<10} {row['success_rate']:6.1%}  (95% CI {low:.1%} - {high:.1%})  "
                f"{row['episodes']} episodes, forward speed {row['mean_forward_speed_mps']:.2f} m/s"
            )
    click.echo(f"criterion         {criterion_text(task.spec.eval)}")
    click.echo(f"failed            {result.failed_rate:.1%}")
    click.echo(f"terminated        {result.terminated_rate:.1%}")
    click.echo(f"mean return       {result.mean_return:.3f}")
    width = max((len(name) for name in result.term_returns), default=0)
    for name, value in result.term_returns.items():
        click.echo(f"  {name:<{width}}  {value:10.3f}")
    click.echo(f"mean distance     {result.mean_distance_m:.2f} m")
    if result.mean_tracking_error is not None:
        click.echo(f"tracking error    {result.mean_tracking_error:.3f} (mean velocity-command error)")
    if result.terrain is not None:
        _print_terrain_breakdown(result.terrain)
    if several:
        click.echo("")


def _print_terrain_breakdown(terrain: dict) -> None:
    """Success per tile type (rows of the table) and difficulty row (columns)."""
    rows = sorted(terrain["by_row"], key=int)
    click.echo(
        f"from middle row   {terrain['success_rate_from_middle_row']:.1%}  "
        f"(rows {terrain['middle_row']}+ of {len(rows)})"
    )
    click.echo("success by terrain type and difficulty row:")
    click.echo(f"  {'type':<20}" + "".join(f"{r:>6}" for r in rows) + f"{'all':>8}")
    for kind, cells in terrain["by_type_and_row"].items():
        line = "".join(f"{cells[r]:>6.0%}" if r in cells else f"{'-':>6}" for r in rows)
        click.echo(f"  {kind:<20}{line}{terrain['by_type'][kind]['success_rate']:>8.0%}")
    line = "".join(f"{terrain['by_row'][r]['success_rate']:>6.0%}" for r in rows)
    click.echo(f"  {'all':<20}{line}")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The .onnx file to write (a TorchScript .pt is written beside it).",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@_allow_spec_change
def export(spec, checkpoint, output, sets, allow_spec_change) -> None:
    """Export the policy to ONNX (and TorchScript beside it), verified with onnxruntime."""
    if output.suffix.lower() != ".onnx":
        raise click.BadParameter(
            f"'{output}' does not end in .onnx: specc writes ONNX (build a TensorRT engine from it with "
            "trtexec --onnx=policy.onnx)",
            param_hint="'-o' / '--output'",
        )
    task = _task(spec, "cpu", sets, {"sim.num_envs": 1})
    import torch

    from specc.assemble import learner_config
    from specc.runtime.export import DeployedPolicy, export_policy
    from specc.runtime.normalizer import EmpiricalNormalizer
    from specc.runtime.policies import build_policy

    config = learner_config(task, _checkpoint_algorithm(checkpoint))
    policy = build_policy(config, task.num_observations, task.num_actions, task.group_size("critic") or None)
    normalizer = EmpiricalNormalizer(task.num_observations)

    from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity, load_checkpoint

    expected = CheckpointIdentity(
        spec_hash=task.spec_hash,
        task=task.spec.task.name,
        num_obs=task.num_observations,
        num_actions=task.num_actions,
        actor_hidden_dims=config.networks[0],
        critic_hidden_dims=config.networks[1],
    )
    try:
        loaded = load_checkpoint(checkpoint, expected, allow_spec_change=allow_spec_change)
        policy.load_state_dict(loaded.state["policy"])
        normalizer.load_state_dict(loaded.state["normalizer"])
    except CheckpointError as err:
        _fail(str(err))
    except (KeyError, RuntimeError, ValueError, TypeError) as err:
        _fail(
            f"{checkpoint}: the checkpoint does not fit this task ({str(err).strip().splitlines()[0][:200]})"
        )
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    deployed = DeployedPolicy(policy, normalizer if config.empirical_normalization else None).eval()
    robot = task.robot
    metadata = {
        "specc_version": __version__,
        "task": task.spec.task.name,
        "spec_hash": task.spec_hash,
        "joint_names": robot.joint_names,
        "default_joint_pos": robot.default_joint_pos,
        "action_names": robot.action_names,
        "actuator_kinds": [a.kind for a in robot.actuators],
        "stiffness": [a.stiffness for a in robot.actuators],
        "damping": [a.damping for a in robot.actuators],
        "effort": [a.effort for a in robot.actuators],
        "action_scale": robot.action_scale,
        "action_offset": robot.action_offset,
        "clip_actions": task.spec.learner.clip_actions,
        "observation_layout": layout_rows(task),
        # The other groups (critic, teacher) are training-time inputs, never the exported policy's:
        # listed so a reader knows what the critic or teacher saw.
        "observation_groups": {group: layout_rows(task, group) for group in task.extra_groups},
        "num_observations": task.num_observations,
        "command_names": list(task.command_names),
        "control_dt": task.spec.sim.policy_dt,
        "control_rate_hz": 1.0 / task.spec.sim.policy_dt,
        "controls": "action_offset + action_scale * actions (PD targets for position actuators, "
        "torques for torque actuators)",
    }
    generator = torch.Generator().manual_seed(0)
    mean = normalizer.mean
    std = normalizer.var.sqrt()
    samples = mean + std * torch.randn(256, task.num_observations, generator=generator)
    try:
        figures = export_policy(deployed, task.num_observations, metadata, output, samples)
    except OSError as err:
        _fail(f"cannot write {output}: {err.strerror or err}")
    click.echo(f"wrote {output} ({figures['onnx_bytes']} bytes) and {output.with_suffix('.pt')}")
    click.echo(
        f"onnxruntime vs torch: max abs difference {figures['max_abs_diff']:.2e} over 256 observations"
    )
    click.echo(f"batch-1 latency (onnxruntime, CPU): {figures['batch1_latency_us']:.1f} µs")
    if figures["max_abs_diff"] > 1e-5:
        _fail("the ONNX policy does not match torch within 1e-5")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True)
@click.option("--video", type=click.Path(path_type=Path), required=True, help="The .mp4 file to write.")
@click.option(
    "--seconds", type=float, default=None, callback=_positive_seconds, help="Length (default: one episode)."
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@_allow_spec_change
def play(spec, checkpoint, video, seconds, sets, allow_spec_change) -> None:
    """Render an episode of the policy offscreen to a video."""
    from specc.runtime.video import choose_gl_platform

    choose_gl_platform()
    task = _task(spec, "cpu", sets)
    import torch

    from specc.runtime.video import record

    # One env for one episode: compiling the kernels would cost more than running them eagerly.
    _, parts, runner = _evaluation_env(
        spec, "cpu", "mujoco", "eager", sets, 1, 1, False, _checkpoint_algorithm(checkpoint)
    )
    _load_policy(runner, checkpoint, allow_spec_change)
    env = parts.env
    state = {"obs": env.reset_all()}

    @torch.no_grad()
    def step() -> None:
        state["obs"] = env.step(runner.policy.act_deterministic(runner.normalize(state["obs"]))).obs

    length = seconds if seconds is not None else task.spec.sim.episode_length_s
    frames = max(1, round(length / env.config.policy_dt))
    try:
        written = record(parts.backend, step, frames, video, fps=round(1 / env.config.policy_dt))
    except (RuntimeError, OSError) as err:
        _fail(str(err))
    click.echo(f"wrote {video}: {written} frames at {round(1 / env.config.policy_dt)} fps")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The PNG to write (default: RUN_DIR/curves.png).",
)
def plot(run_dir: Path, output: Path | None) -> None:
    """Plot a run's training curves to a PNG."""
    from specc.runtime.checkpoint import WriteFailed
    from specc.runtime.plot import plot_run
    from specc.runtime.run_log import MetricsError

    if not (run_dir / "metrics.jsonl").exists():
        _fail(f"{run_dir} has no metrics.jsonl: is it a run folder of specc run?")
    try:
        click.echo(f"wrote {plot_run(run_dir, output or run_dir / 'curves.png')}")
    except (MetricsError, WriteFailed) as err:
        _fail(str(err))
