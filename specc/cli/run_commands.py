"""Runtime commands of the CLI: run, eval, export, play, plot.

Each checks its options (a usage error, exit 2, naming the option), then the spec
(diagnostics and exit 1 on errors, never a traceback), and imports torch and the runtime
only then. A checkpoint that cannot serve, a file that cannot be written, physics that
diverges: one `error:` line and exit 1.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from specc.cli.app import load_checked_task, main, parse_set
from specc.model.backends import BACKENDS
from specc.spec.schema import DEVICE_PATTERN, PPOSection, SimSection, upper_bound

if TYPE_CHECKING:
    from specc.runtime.checkpoint import CheckpointIdentity

MAX_SEED = 2**32 - 1  # numpy's and most simulators' seed range; the runner derives seed + 1 and seed + 2
MAX_NUM_ENVS = int(upper_bound(SimSection, "num_envs"))
MAX_ITERATIONS = int(upper_bound(PPOSection, "max_iterations"))
MAX_EPISODES = 1 << 20
DEVICE = re.compile(DEVICE_PATTERN)


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


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _require_physics(task, backend: str | None, device: str | None) -> tuple[str, str]:
    """The backend and device a command runs on (an option, else the spec's), once they are known to
    be there; else one error naming what to install (exit 2 for an option, 1 for the spec's own setting),
    before anything is built."""
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
    return name, wanted


def _load_policy(runner, checkpoint: Path, allow_spec_change: bool = False) -> None:
    """Load a checkpoint's policy into `runner` (eval, play); one clear error if it cannot serve."""
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
    """`run` and `distill`: the run folder, then training with `algorithm` (default: the spec's).

    The spec is checked once: `--num-envs` is its sim.num_envs (checked with it, e.g. against
    ppo.num_mini_batches); `--max-iterations` replaces the training learner's max_iterations."""
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if num_envs is not None:
        extra["sim.num_envs"] = num_envs
    task = _task(spec, device, sets, extra)
    if teacher_check is not None:
        teacher_check(task)
    backend_option, device_option = backend, device  # as given: the commands the run prints repeat them
    backend, device = _require_physics(task, backend, device)
    rank, place = _join_processes(gpus, device, started)
    if rank.world_size > 1:  # wall time from the `--gpus` command's start, before torchrun
        started = min(started, float(os.environ.get("SPECC_RUN_STARTED", started)))
    from specc.runtime.run_folder import RunFolderError, choose_run_folder
    from specc.runtime.training import RunFailed, RunRequest, SetupFailed, train_in_folder, train_quietly

    def build():
        from specc.codegen.render import render_module
        from specc.runtime import distributed
        from specc.runtime.assemble import assemble
        from specc.runtime.runner import Runner

        parts = assemble(
            render_module(task),
            task.robot.urdf,
            scene_urdfs=task.scene.urdfs,
            backend=backend,
            device=place,
            kernels=kernels,
            seed=distributed.rank_seed(seed),
            num_threads=threads,
            algorithm=algorithm,
            max_iterations=max_iterations,
        )
        teacher = make_teacher(parts.env.device) if make_teacher is not None else None
        runner = Runner(
            parts.env, parts.learner_config, seed=seed, metadata=parts.task_identity, teacher=teacher
        )
        return parts, runner

    default_dir = Path("runs") / task.spec.task.name / time.strftime("%Y-%m-%d_%H-%M-%S")
    request = RunRequest(
        spec,
        run_dir or default_dir,
        False,
        resume,
        allow_spec_change,
        not no_tensorboard,
        started,
        seed,
        backend,
    )
    if not rank.is_main:  # the run folder is rank 0's; the other ranks only take part in its checkpoints
        try:
            code = train_quietly(request, build)
        except RunFailed as err:
            _fail(str(err), err.code)
        if code is not None:
            sys.exit(code)
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
        final, code = train_in_folder(
            dataclasses.replace(request, run_dir=run_dir, continuing=continuing), build
        )
    except SetupFailed as err:
        if created:
            shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: leave no empty run behind
        _fail(str(err), err.code)
    except RunFailed as err:
        _fail(str(err), err.code)
    if code is not None:
        sys.exit(code)
    _report_run(
        task, spec, run_dir, final, backend_option, device_option, device, sets, threads, not no_tensorboard
    )


# The end-of-run evaluation: enough episodes to see what was learned in seconds, on eager kernels
# (compiling the evaluation env's kernels would take longer than stepping them); `specc eval` runs
# the spec's own count.
REPORT_EPISODES = 16


def _report_run(task, spec, run_dir, checkpoint, backend, device, place, sets, threads, tensorboard) -> None:
    """Tell the user what the run made: the final policy judged by the spec's [eval] criterion on a
    few episodes, where its checkpoint and curves are, and the commands that evaluate and film it."""
    import shlex

    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.evaluate import evaluate

    parts, runner = _evaluation_env(
        task, place, backend, "eager", threads, REPORT_EPISODES, False, _read_checkpoint(checkpoint)[0]
    )
    _load_policy(runner, checkpoint)
    criteria = task.spec.eval
    held = "".join(f", {name} = {value:g}" for name, value in criteria.commands.items())
    click.echo(
        f"\nThe final policy on {REPORT_EPISODES} episodes of the spec's [eval] (randomization off{held}; "
        f"specc eval runs {criteria.episodes}):"
    )
    try:
        result = evaluate(parts.env, runner.act_deterministic)
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
    # play films on the CPU whatever device trained (no --backend or --device); it takes the run's
    # networks from the checkpoint where the spec's [profile.cpu] has others
    play_command = [
        "specc",
        "play",
        str(spec),
        "--checkpoint",
        str(checkpoint),
        *overrides,
        "--video",
        str(film),
    ]
    click.echo(f"video     {shlex.join(play_command)}")


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


def _one_algorithm(algorithms: set) -> str:
    """The one algorithm of a series of checkpoints (PPO, SAC or distill)."""
    known = {"ppo", "sac", "distill"}
    if len(algorithms) != 1 or not algorithms <= known:
        _fail(
            f"the checkpoints come from {', '.join(sorted(map(str, algorithms)))}: evaluate one algorithm at a time"
        )
    return next(iter(algorithms))


# The spec keys of each algorithm's networks, and the checkpoint identity's field each must match.
NETWORK_KEYS = {
    "ppo": (("actor_hidden_dims", "actor_hidden_dims"), ("critic_hidden_dims", "critic_hidden_dims")),
    "sac": (("actor_hidden_dims", "actor_hidden_dims"), ("critic_hidden_dims", "critic_hidden_dims")),
    "distill": (("student_hidden_dims", "actor_hidden_dims"),),
}


def _task_for_checkpoint(
    spec: Path,
    run_on: str | None,
    sets: tuple[str, ...],
    checkpoint: Path,
    read: tuple[str, CheckpointIdentity] | None = None,
):
    """The task resolved for `run_on`, and the checkpoint's algorithm; `read`: the checkpoint's
    algorithm and identity where the caller has read it already (else it is read here, once).

    The task has the networks `checkpoint` was trained with when it was made for this very spec (the
    same spec hash) under another [profile]: a policy trained on the GPU, whose profile has larger
    networks than the CPU's, evaluates, exports and plays on a laptop without --set. Networks set with
    --set are the user's and stay; a checkpoint of another spec is left to the identity check to refuse.
    The spec and --set are checked before the checkpoint is read, so a usage error comes first."""
    task = _task(spec, run_on, sets)
    algorithm, identity = read if read is not None else _read_checkpoint(checkpoint)
    if identity.spec_hash != task.spec_hash:
        return task, algorithm
    table = getattr(task.spec, algorithm, None)
    given = {value.split("=", 1)[0].strip() for value in sets}
    adopted = [
        f"{algorithm}.{key}={list(getattr(identity, field))}"
        for key, field in NETWORK_KEYS[algorithm]
        if table is not None
        and f"{algorithm}.{key}" not in given
        and tuple(getattr(table, key)) != tuple(getattr(identity, field))
    ]
    if not adopted:
        return task, algorithm
    click.echo(f"note: the networks {checkpoint} was trained with: {', '.join(adopted)}", err=True)
    return _task(spec, run_on, (*sets, *adopted)), algorithm


def _read_checkpoint(checkpoint: Path) -> tuple[str, CheckpointIdentity]:
    """The algorithm that trained a checkpoint (one specc knows) and what it was made for."""
    name, identity = _checkpoint_identity(checkpoint)
    return _one_algorithm({name}), identity


def _checkpoint_identity(checkpoint: Path) -> tuple[str, CheckpointIdentity]:
    """The algorithm name a checkpoint records and what it was made for, from one verified read."""
    from specc.runtime.checkpoint import CheckpointError, load_checkpoint

    try:
        loaded = load_checkpoint(checkpoint)
    except CheckpointError as err:
        _fail(str(err))
    return loaded.state.get("algorithm", "ppo"), loaded.identity


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
    algorithm, _ = _read_checkpoint(teacher)
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
        from specc.codegen.render import render_module
        from specc.runtime.assemble import learner_config, load_module
        from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity
        from specc.runtime.policies import load_teacher

        source = chosen["task"]
        config = learner_config(load_module(render_module(source)), algorithm)
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


def _evaluation_env(task, device, backend, kernels, threads, count: int, randomize: bool, algorithm: str):
    """`count` envs that judge the spec's [eval] criteria with its [eval] commands held, and a runner to
    load `algorithm`'s policies into. `device` and `backend` are resolved (`_require_physics`)."""
    from specc.codegen.render import render_module
    from specc.runtime.assemble import assemble
    from specc.runtime.backends.mujoco_model import route_engine_log
    from specc.runtime.runner import Runner

    route_engine_log(None)  # no run folder to log into: MuJoCo's messages stay off the console and the cwd
    parts = assemble(
        render_module(task),
        task.robot.urdf,
        scene_urdfs=task.scene.urdfs,
        backend=backend,
        device=device,
        kernels=kernels,
        num_envs=count,
        seed=12345,
        randomize=randomize,
        num_threads=threads,
        curriculum=False,  # every terrain row and tile type evaluated alike, none moved
        judge=True,
        algorithm=algorithm,  # the checkpoints' algorithm: PPO, SAC or a distilled student
    )
    return parts, Runner(parts.env, parts.learner_config, seed=0, metadata=parts.task_identity)


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

    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.evaluate import evaluate

    # Before the env is built: a typo in a series should not wait for it.
    read = [_checkpoint_identity(checkpoint) for checkpoint in checkpoints]
    algorithm = _one_algorithm({name for name, _ in read})
    task, _ = _task_for_checkpoint(spec, device, sets, checkpoints[0], (algorithm, read[0][1]))
    backend, device = _require_physics(task, backend, device)
    count = episodes or task.spec.eval.episodes
    parts, runner = _evaluation_env(task, device, backend, kernels, threads, count, randomize, algorithm)

    reports = []
    for checkpoint in checkpoints:
        _load_policy(runner, checkpoint, allow_spec_change)
        try:
            result = evaluate(parts.env, runner.act_deterministic)
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
    click.echo(f"criterion         {criterion_text(task.spec.eval)}")
    click.echo(f"failed            {result.failed_rate:.1%}")
    click.echo(f"terminated        {result.terminated_rate:.1%}")
    if result.diverged:
        click.echo(
            f"physics blew up   {result.diverged} episodes (failed; left out of distance and tracking error)"
        )
    click.echo(f"mean return       {result.mean_return:.3f}")
    width = max((len(name) for name in result.term_returns), default=0)
    for name, value in result.term_returns.items():
        click.echo(f"  {name:<{width}}  {value:10.3f}")
    click.echo(f"mean distance     {result.mean_distance_m:.2f} m")
    if result.mean_tracking_error is not None:
        click.echo(f"tracking error    {result.mean_tracking_error:.3f} (mean velocity-command error)")
    if result.terrain is not None:
        _print_terrain_breakdown(result.terrain)
    for command, rows in (result.by_command or {}).items():
        for choice, row in rows.items():
            low, high = row["success_ci95"]
            click.echo(
                f"  {command} = {choice:<10} {row['success_rate']:6.1%}  (95% CI {low:.1%} - {high:.1%})  "
                f"{row['episodes']} episodes, forward speed {row['mean_forward_speed_mps']:.2f} m/s"
            )
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
    task, algorithm = _task_for_checkpoint(spec, "cpu", sets, checkpoint)
    import torch

    from specc.codegen.render import render_module
    from specc.runtime.assemble import load_module
    from specc.runtime.checkpoint import CheckpointError
    from specc.runtime.export import deployment_metadata, export_policy, load_deployed_policy

    module = load_module(render_module(task))
    try:
        deployed, normalizer, notes = load_deployed_policy(checkpoint, module, algorithm, allow_spec_change)
    except CheckpointError as err:
        _fail(str(err))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    metadata = deployment_metadata(module)
    generator = torch.Generator().manual_seed(0)
    mean = normalizer.mean
    std = normalizer.var.sqrt()
    samples = mean + std * torch.randn(256, module.NUM_OBSERVATIONS, generator=generator)
    try:
        figures = export_policy(deployed, module.NUM_OBSERVATIONS, metadata, output, samples)
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
    task, algorithm = _task_for_checkpoint(spec, "cpu", sets, checkpoint)
    from specc.runtime.video import record_policy

    parts, runner = _evaluation_env(task, "cpu", "mujoco", None, 1, 1, False, algorithm)
    _load_policy(runner, checkpoint, allow_spec_change)
    length = seconds if seconds is not None else parts.env.config.episode_length_s
    try:
        written, fps = record_policy(parts.env, runner.act_deterministic, length, video)
    except (RuntimeError, OSError) as err:
        _fail(str(err))
    click.echo(f"wrote {video}: {written} frames at {fps} fps")


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
