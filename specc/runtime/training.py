"""One training run in its run folder: what `specc run` does once the spec is checked and the folder chosen.

In order: lock the folder and remove temporaries a killed run left, send MuJoCo's messages into the
folder, build the env and learner, resume (cutting the metrics back and moving later checkpoints away),
record the run (spec.toml, kernels.py, config.json), then train with a progress line until the
iterations are done or a signal asks to stop, and save the last checkpoint. Everything that goes
wrong is a `RunFailed`: one line for the user and the exit code, never a traceback. Ranks > 0 of a
multi-process run (`train_quietly`) train their own envs and write nothing; rank 0 saves for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from specc import __version__
from specc.runtime import distributed
from specc.runtime.backends.base import PhysicsLost
from specc.runtime.backends.mujoco_model import route_engine_log
from specc.runtime.checkpoint import CheckpointError, WriteFailed, remove_stale_temporaries, write_atomically
from specc.runtime.divergence import PhysicsDiverged
from specc.runtime.run_folder import (
    RunFolderError,
    checkpoint_run_folder,
    continue_metrics,
    lock_run_folder,
    supersede_checkpoints,
)
from specc.runtime.run_log import RunLog
from specc.runtime.runner import IterationLog, Runner
from specc.runtime.stop_signals import StopRequest, signal_name

# Once more than this share of a run's env steps diverge, the run warns (once) with a diagnosis.
DIVERGED_WARNING_SHARE = 0.01


class RunFailed(Exception):
    """The run stopped on an error: `str(err)` is the line to print, `code` the process's exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class SetupFailed(RunFailed):
    """The run could not start: nothing was trained, and a run folder it created may be removed again."""


@dataclass(frozen=True)
class RunRequest:
    """What a training run was asked for, beyond the env and learner `build` makes."""

    spec: Path  # the spec file: copied into the run folder as spec.toml
    run_dir: Path
    continuing: bool  # run_dir is the resumed checkpoint's own run folder
    resume: Path | None = None
    allow_spec_change: bool = False
    tensorboard: bool = True
    started: float = 0.0  # time.monotonic() at the command's start: the wall time it logs counts from it
    seed: int = 0
    backend: str = ""  # the backend's name, as config.json records it


# Builds the run's parts: (assembly, runner). The assembly has env, learner_config, kernels, backend, module_source.
Build = Callable[[], tuple[Any, Runner]]


def train_in_folder(request: RunRequest, build: Build) -> tuple[Path, int | None]:
    """Train rank 0's run in `request.run_dir`; returns its final checkpoint and the exit code of the
    signal that stopped it early (130 Ctrl-C, 143 SIGTERM), None when it ran to the end. Raises `RunFailed`."""
    run_dir = request.run_dir
    console = Console(stderr=True)
    try:
        lock = lock_run_folder(run_dir)
    except RunFolderError as err:
        raise SetupFailed(str(err), 2) from None
    except OSError as err:
        raise SetupFailed(f"cannot write the run folder {run_dir}: {err.strerror or err}") from None
    checkpoints = run_dir / "checkpoints"
    for stale in remove_stale_temporaries(checkpoints) + remove_stale_temporaries(run_dir):
        console.print(f"removed {stale}, left by a run that was killed while writing it")
    route_engine_log(run_dir / "mujoco.log")  # MuJoCo's warnings: into the run, not stdout or the cwd
    parts, runner = build()
    env = parts.env
    if request.resume is not None:
        _resume(runner, request.resume, request.allow_spec_change, console)
    try:
        resolved = _record_run(request, parts, runner, console)
        log = RunLog(run_dir, tensorboard=request.tensorboard, first_iteration=runner.iteration + 1)
    except OSError as err:  # WriteFailed included
        raise SetupFailed(str(err) if isinstance(err, WriteFailed) else f"{run_dir}: {err}") from None
    for repair in resolved["inertia_repairs"]:
        console.print(f"[yellow]inertia repaired[/yellow] {repair}")
    total = parts.learner_config.max_iterations
    processes = f" x {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
    console.print(
        f"training {env.kernels.module.TASK_NAME}: {env.num_envs} envs{processes} "
        f"on {parts.backend.__class__.__name__} ({env.device}), {parts.kernels.kind} kernels, "
        f"{env.num_obs} observations, {env.num_actions} actions -> {run_dir}"
    )
    if env.device.type == "cuda":
        console.print(f"env step: {env.graph.mode}")

    def announce(signum: int) -> None:
        console.print(
            f"[yellow]{signal_name(signum)}: finishing this iteration, then saving a checkpoint "
            "(again to abort)[/yellow]"
        )

    stop = StopRequest(announce)
    try:
        with (
            stop,
            _ProgressLine(console, runner.iteration, total, log, request.started, env, run_dir) as line,
        ):
            runner.train(total, line.show, checkpoints, should_stop=lambda: stop.requested)
    except PhysicsDiverged as err:
        raise RunFailed(f"{request.spec}: {err}{engine_log_note(run_dir)}") from None
    except PhysicsLost as err:
        raise RunFailed(
            f"{request.spec}: {err} (the last checkpoint in {checkpoints} is intact; --resume from it)"
        ) from None
    except WriteFailed as err:
        raise RunFailed(
            f"{err} (the last checkpoint in {checkpoints} is intact; free space and --resume from it)"
        ) from None
    except KeyboardInterrupt:
        raise RunFailed(
            f"aborted without saving (the last checkpoint in {checkpoints} is intact)", 130
        ) from None
    finally:
        log.close()
    try:
        final = runner.save(checkpoints / f"model_{runner.iteration:06d}.pt")
    except WriteFailed as err:
        raise RunFailed(f"{err} (the last checkpoint in {checkpoints} is intact)") from None
    lock.close()
    console.print(f"checkpoint {final}")
    distributed.teardown()
    return final, stop.exit_code


def train_quietly(request: RunRequest, build: Build) -> int | None:
    """Rank r > 0 of a multi-process run: its own envs and learner, no files; rank 0 logs and saves for all."""
    parts, runner = build()
    if request.resume is not None:
        try:
            runner.load(request.resume, allow_spec_change=request.allow_spec_change)
        except CheckpointError as err:
            raise RunFailed(str(err)) from None
    checkpoints = request.run_dir / "checkpoints"
    stop = StopRequest()
    with stop:
        runner.train(
            parts.learner_config.max_iterations, None, checkpoints, should_stop=lambda: stop.requested
        )
    runner.save(checkpoints / f"model_{runner.iteration:06d}.pt")  # rank 0 writes it
    distributed.teardown()
    return stop.exit_code


def engine_log_note(run_dir: Path) -> str:
    """Where MuJoCo's own messages of the run are, for an error line; empty when it wrote none."""
    log = run_dir / "mujoco.log"
    return f" MuJoCo's own messages: {log}" if log.is_file() else ""


def _resume(runner: Runner, checkpoint: Path, allow_spec_change: bool, console: Console) -> None:
    try:
        notes = runner.load(checkpoint, allow_spec_change=allow_spec_change)
    except CheckpointError as err:
        raise SetupFailed(str(err)) from None
    for note in notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    console.print(f"resumed from {checkpoint} at iteration {runner.iteration}")


def _record_run(request: RunRequest, parts: Any, runner: Runner, console: Console) -> dict[str, Any]:
    """Continue a resumed run's metrics and checkpoints, and write spec.toml, kernels.py and config.json.
    Returns config.json's contents."""
    run_dir = request.run_dir
    if request.resume is not None:
        source = checkpoint_run_folder(request.resume)
        if source is not None:
            dropped = continue_metrics(source / "metrics.jsonl", run_dir / "metrics.jsonl", runner.iteration)
            if dropped and request.continuing:
                console.print(f"metrics.jsonl: dropped {dropped} iterations after {runner.iteration}")
        if request.continuing:
            moved = supersede_checkpoints(run_dir, runner.iteration)
            if moved is not None:
                console.print(f"checkpoints after iteration {runner.iteration} moved to {moved}")
    write_atomically(run_dir / "spec.toml", request.spec.read_bytes())
    write_atomically(run_dir / "kernels.py", parts.module_source.encode())
    env = parts.env
    module = env.kernels.module
    resolved = {
        "specc": __version__,
        "spec": str(request.spec),
        "spec_hash": module.SPEC_HASH,
        "seed": request.seed,
        "backend": request.backend,
        "device": str(env.device),
        "kernels": parts.kernels.kind,
        "env": env.config.to_dict(),
        "algorithm": parts.learner_config.name,
        parts.learner_config.name: parts.learner_config.to_dict(),
        "joint_names": list(module.JOINT_NAMES),
        "action_names": list(module.ACTION_NAMES),
        "observation_layout": [
            {
                "name": name,
                "offset": offset,
                "size": size,
                "scale": scale,
                "noise": module.OBSERVATION_NOISE[offset],
            }
            for name, offset, size, scale in module.OBSERVATION_LAYOUT
        ],
        "inertia_repairs": getattr(parts.backend, "repairs", []),
        "processes": distributed.world_size(),  # sim.num_envs envs each
    }
    write_atomically(run_dir / "config.json", json.dumps(resolved, indent=2).encode())
    return resolved


class _ProgressLine:
    """The progress bar of a run and what each iteration logs: metrics, the bar's figures, and a
    warning with the env's diagnosis the first time the physics diverges in more than 1 % of the steps."""

    COLUMNS = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    )

    def __init__(
        self, console: Console, start: int, total: int, log: RunLog, started: float, env: Any, run_dir: Path
    ) -> None:
        self.progress = Progress(*self.COLUMNS, console=console, transient=False)
        self.bar = self.progress.add_task("iterations", total=start + total, completed=start, info="")
        self.log = log
        self.started = started
        self.env = env
        self.run_dir = run_dir
        self.warned_diverged = False

    def __enter__(self) -> _ProgressLine:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def show(self, entry: IterationLog) -> None:
        # Wall time from the command's start (compilation and set-up included): time-to-result.
        self.log.write(entry.iteration, {**entry.scalars, "Perf/wall_s": time.monotonic() - self.started})
        ret = f"{entry.mean_episode_return:8.3f}" if entry.mean_episode_return is not None else "       -"
        length = f"{entry.mean_episode_length:6.1f}" if entry.mean_episode_length is not None else "     -"
        diverged = f"  diverged {entry.diverged_share:.1%}" if entry.diverged_share > 0 else ""
        self.progress.update(
            self.bar,
            completed=entry.iteration,
            info=f"{entry.steps_per_second:8.0f} steps/s  reward {entry.mean_reward:7.4f}  "
            f"return {ret}  length {length}{diverged}",
        )
        if entry.diverged_share > DIVERGED_WARNING_SHARE and not self.warned_diverged:
            self.warned_diverged = True
            self.progress.console.print(
                f"warning: the physics diverged in {entry.diverged_share:.1%} of the env steps (those "
                f"envs are reset). {self.env.divergence_diagnosis()}{engine_log_note(self.run_dir)}",
                markup=False,
                highlight=False,
            )
