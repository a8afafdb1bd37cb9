"""Runtime commands of the CLI: run, eval, export, play, plot.

Each checks the spec first (diagnostics and exit 1 on errors, never a traceback) and
imports torch and the runtime only then.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from specc import __version__
from specc.cli import load_checked_task, main, parse_set


def _common(function):
    options = [
        click.option(
            "--backend",
            type=click.Choice(["mujoco", "mujoco-warp", "isaacgym"]),
            default=None,
            help="Physics backend (default: the spec's sim.backend).",
        ),
        click.option("--device", default=None, help="Torch device, e.g. cpu or cuda (default: the spec's)."),
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
        click.option("--threads", type=int, default=None, help="CPU threads of the MuJoCo backend."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _task(spec: Path, device: str | None, sets: tuple[str, ...], extra: dict[str, Any] | None = None):
    overrides = parse_set(sets)
    overrides.update(extra or {})
    return load_checked_task(spec, overrides, run_on=device or "spec")


def _task_with_iterations(
    spec: Path, device, sets, num_envs: int | None, max_iterations: int | None, table=None
):
    """The checked task with --num-envs and --max-iterations applied; the iterations are set in the
    table of the algorithm the spec chooses (or `table`, e.g. "distill")."""
    extra: dict[str, Any] = {}
    if num_envs is not None:
        extra["sim.num_envs"] = num_envs
    task = _task(spec, device, sets, extra)
    if max_iterations is not None:
        extra[f"{table or task.spec.algorithm.name}.max_iterations"] = max_iterations
        task = _task(spec, device, sets, extra)
    return task


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load_policy(task, checkpoint: Path, device="cpu"):
    """The deployed part of a checkpoint of any algorithm (PPO, SAC, a distilled student): its policy
    network, built from the spec's table of that algorithm, and its normalizer (None when unused)."""
    from specc.assemble import learner_config
    from specc.runtime.checkpoint import load_checkpoint
    from specc.runtime.normalizer import EmpiricalNormalizer
    from specc.runtime.runner import build_policy

    if not checkpoint.is_file():
        _fail(f"checkpoint not found: {checkpoint}")
    try:
        state = load_checkpoint(checkpoint, device)
        algorithm = state.get("algorithm", "ppo")
        if algorithm not in ("ppo", "sac", "distill"):
            raise ValueError(f"unknown algorithm {algorithm!r}")
        config = learner_config(task, algorithm)
        num_obs = task.num_observations
        critic_group = task.extra_groups.get("critic")
        num_critic_obs = sum(t.size for t in critic_group) if critic_group else None
        policy = build_policy(config, num_obs, task.num_actions, num_critic_obs).to(device)
        policy.load_state_dict(state["policy"])
        normalizer = EmpiricalNormalizer(num_obs).to(device)
        normalizer.load_state_dict(state["normalizer"])
    except Exception as err:  # noqa: BLE001 - a foreign or damaged file: say so, no traceback
        _fail(f"{checkpoint} is not a checkpoint of this task: {str(err).splitlines()[0]}")
    used = getattr(config, "empirical_normalization", True)
    return policy.eval(), (normalizer if used else None)


def _training_options(function):
    """The options of `run` and `distill`: sizes, seed, run folder, resume."""
    options = [
        click.option(
            "--num-envs",
            type=int,
            default=None,
            help="Parallel envs (default: the spec's, per device profile).",
        ),
        click.option(
            "--max-iterations", type=int, default=None, help="Training iterations (default: the spec's)."
        ),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option(
            "--run-dir",
            type=click.Path(path_type=Path),
            default=None,
            help="Where to write the run (default: runs/<task>/<timestamp>).",
        ),
        click.option(
            "--resume",
            type=click.Path(path_type=Path),
            default=None,
            help="Continue from a checkpoint: optimizer, learning rate, normalizer, iteration and env state.",
        ),
        click.option("--no-tensorboard", is_flag=True, help="Write metrics.jsonl only."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_common
@_training_options
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
    no_tensorboard,
) -> None:
    """Train a policy for SPEC with the algorithm of its [algorithm] table (PPO by default)."""
    started = time.monotonic()
    task = _task_with_iterations(spec, device, sets, num_envs, max_iterations)
    _train(started, spec, task, backend, device, kernels, threads, seed, run_dir, resume, no_tensorboard)


def _train(
    started: float,
    spec: Path,
    task,
    backend,
    device,
    kernels,
    threads,
    seed,
    run_dir,
    resume,
    no_tensorboard,
    algorithm: str | None = None,
    make_teacher=None,
) -> None:
    """Train `task` with its algorithm (or `algorithm`): progress bar, run folder, checkpoints, Ctrl-C.

    `make_teacher(device)` builds the frozen teacher of a distillation."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from specc.assemble import assemble, learner_config
    from specc.codegen.render import render_module
    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.run_log import RunLog
    from specc.runtime.runner import Runner

    console = Console(stderr=True)
    parts = assemble(task, backend=backend, device=device, kernels=kernels, seed=seed, num_threads=threads)
    env = parts.env
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
            runner.load(resume)
        except FileNotFoundError:
            _fail(f"checkpoint not found: {resume}")
        except (ValueError, KeyError, RuntimeError) as err:  # another algorithm's or task's checkpoint
            _fail(f"cannot resume from {resume}: {str(err).splitlines()[0]}")
        console.print(f"resumed from {resume} at iteration {runner.iteration}")
    run_dir = run_dir or Path("runs") / task.spec.task.name / time.strftime("%Y-%m-%d_%H-%M-%S")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec, run_dir / "spec.toml")
    (run_dir / "kernels.py").write_text(render_module(task), encoding="utf-8")
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
        "observation_layout": [vars(s) for s in task.observation_layout],
        "inertia_repairs": getattr(parts.backend, "repairs", []),
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2), encoding="utf-8")
    for repair in resolved["inertia_repairs"]:
        console.print(f"[yellow]inertia repaired[/yellow] {repair}")
    log = RunLog(run_dir, tensorboard=not no_tensorboard)
    total = config.max_iterations
    stop = {"requested": False}

    def on_sigint(signum, frame):
        if stop["requested"]:
            raise KeyboardInterrupt
        stop["requested"] = True
        console.print(
            "[yellow]Ctrl-C: finishing this iteration, then saving a checkpoint (again to abort)[/yellow]"
        )

    previous = signal.signal(signal.SIGINT, on_sigint)
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    console.print(
        f"training {task.spec.task.name}: {env.num_envs} envs on {parts.backend.__class__.__name__} "
        f"({env.device}), {parts.kernels.kind} kernels, {env.num_obs} observations, "
        f"{env.num_actions} actions -> {run_dir}"
    )
    if env.device.type == "cuda":
        console.print(f"env step: {env.graph.mode}")
    checkpoints = run_dir / "checkpoints"
    start_iteration = runner.iteration
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
                progress.update(
                    bar,
                    completed=entry.iteration,
                    info=f"{entry.steps_per_second:8.0f} steps/s  reward {entry.mean_reward:7.4f}  "
                    f"return {ret}  length {length}",
                )

            runner.train(total, on_iteration, checkpoints, should_stop=lambda: stop["requested"])
    except PhysicsLost as err:
        _fail(f"{spec}: {err} (the last checkpoint in {checkpoints} is intact; --resume from it)")
    finally:
        signal.signal(signal.SIGINT, previous)
        log.close()
    final = runner.save(checkpoints / f"model_{runner.iteration:06d}.pt")
    console.print(f"checkpoint {final}")
    if stop["requested"]:
        sys.exit(130)


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
@_training_options
def distill(
    spec: Path,
    teacher,
    teacher_spec,
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
    no_tensorboard,
) -> None:
    """Distill a teacher checkpoint into the smaller student of SPEC's [distill] table (DAgger)."""
    started = time.monotonic()
    task = _task_with_iterations(spec, device, sets, num_envs, max_iterations, table="distill")
    teacher_task = _task(teacher_spec, device, ()) if teacher_spec is not None else task
    group = "teacher" if "teacher" in task.extra_groups else None
    wanted = [(s.name, s.size) for s in task.group_layout(group or "policy")]
    given = [(s.name, s.size) for s in teacher_task.observation_layout]
    if wanted != given:
        _fail(
            f"the teacher reads {given} ([[observations]] of {teacher_spec or spec}) but {spec} gives it "
            f"{wanted} ([[{'teacher_' if group else ''}observations]]); list the teacher's observations "
            "as [[teacher_observations]]"
        )
    if not teacher.is_file():
        _fail(f"checkpoint not found: {teacher}")

    def make_teacher(on_device):
        from specc.runtime.distill import Teacher

        network, normalizer = _load_policy(teacher_task, teacher, on_device)
        return Teacher(network.requires_grad_(False), normalizer, group)

    _train(
        started,
        spec,
        task,
        backend,
        device,
        kernels,
        threads,
        seed,
        run_dir,
        resume,
        no_tensorboard,
        algorithm="distill",
        make_teacher=make_teacher,
    )


def _evaluation_env(spec: Path, device, backend, kernels, sets, threads, episodes, randomize):
    """The env with the spec's [eval] commands held."""
    task = _task(spec, device, sets)
    if task.spec.eval.commands:  # the success criterion's commands, held fixed
        fixed = {f"commands.ranges.{name}": [value, value] for name, value in task.spec.eval.commands.items()}
        task = _task(spec, device, sets, fixed)
    from specc.assemble import assemble

    count = episodes or task.spec.eval.episodes
    parts = assemble(
        task,
        backend=backend,
        device=device,
        kernels=kernels,
        num_envs=count,
        seed=12345,
        randomize=randomize,
        num_threads=threads,
    )
    return task, parts


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
@click.option("--episodes", type=int, default=None, help="Episodes (default: the spec's eval.episodes).")
@click.option(
    "--randomize/--no-randomize",
    default=False,
    show_default=True,
    help="Domain randomization during evaluation (robustness).",
)
@click.option("--json", "as_json", is_flag=True)
def eval_(spec, checkpoints, backend, device, kernels, sets, threads, episodes, randomize, as_json) -> None:
    """Evaluate checkpoints: success rate by the spec's [eval] criterion, return, tracking error."""
    import torch

    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.evaluate import evaluate

    for checkpoint in checkpoints:  # before the env is built: a typo in a series should not wait for it
        if not checkpoint.is_file():
            _fail(f"checkpoint not found: {checkpoint}")
    task, parts = _evaluation_env(spec, device, backend, kernels, sets, threads, episodes, randomize)

    reports = []
    for checkpoint in checkpoints:
        network, normalizer = _load_policy(task, checkpoint, parts.env.device)

        def policy(obs: torch.Tensor, network=network, normalizer=normalizer) -> torch.Tensor:
            return network.act_deterministic(normalizer(obs) if normalizer is not None else obs)

        try:
            result = evaluate(
                parts.env, policy, task.spec.eval.min_distance_m, task.spec.eval.require_no_termination
            )
        except PhysicsLost as err:
            _fail(f"{spec}: {err}")
        reports.append({"checkpoint": str(checkpoint), "randomize": randomize, **result.to_dict()})
        if not as_json:
            _print_evaluation(task, checkpoint, result, randomize, several=len(checkpoints) > 1)
    if as_json:
        click.echo(json.dumps(reports[0] if len(reports) == 1 else reports, indent=2))


def _print_evaluation(task, checkpoint: Path, result, randomize: bool, several: bool) -> None:
    if several:
        click.echo(f"checkpoint        {checkpoint}")
    click.echo(f"episodes          {result.episodes}  (randomization {'on' if randomize else 'off'})")
    click.echo(
        f"success rate      {result.success_rate:.1%}  "
        f"(>= {task.spec.eval.min_distance_m} m"
        f"{' without a termination' if task.spec.eval.require_no_termination else ''})"
    )
    click.echo(f"mean return       {result.mean_return:.3f}")
    click.echo(f"mean distance     {result.mean_distance_m:.2f} m")
    if result.mean_tracking_error is not None:
        click.echo(f"tracking error    {result.mean_tracking_error:.3f} (mean velocity-command error)")
    click.echo(f"terminated        {result.terminated_rate:.1%}")
    if several:
        click.echo("")


def _layout_json(task, group: str) -> list[dict]:
    return [
        {"name": s.name, "offset": s.offset, "size": s.size, "scale": s.scale}
        for s in task.group_layout(group)
    ]


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True)
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="The .onnx file to write."
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
def export(spec, checkpoint, output, sets) -> None:
    """Export the policy to ONNX (and TorchScript beside it), verified with onnxruntime."""
    task = _task(spec, "cpu", sets, {"sim.num_envs": 1})
    import torch

    from specc.runtime.export import DeployedPolicy, export_policy

    policy, normalizer = _load_policy(task, checkpoint)
    deployed = DeployedPolicy(policy, normalizer).eval()
    robot = task.robot
    metadata = {
        "specc_version": __version__,
        "task": task.spec.task.name,
        "spec_hash": task.spec_hash,
        "joint_names": robot.joint_names,
        "default_joint_pos": robot.default_joint_pos,
        "stiffness": robot.stiffness,
        "damping": robot.damping,
        "effort": robot.effort,
        "action_scale": task.spec.robot.action_scale,
        "clip_actions": task.spec.learner.clip_actions,
        "observation_layout": _layout_json(task, "policy"),
        "num_observations": task.num_observations,
        # The other groups (critic, teacher) are training-time inputs, never the exported policy's:
        # listed so a reader knows what the critic or teacher saw.
        "observation_groups": {group: _layout_json(task, group) for group in task.extra_groups},
        "command_names": list(task.command_names),
        "control_dt": task.spec.sim.dt * task.spec.sim.decimation,
        "control_rate_hz": 1.0 / (task.spec.sim.dt * task.spec.sim.decimation),
        "pd_targets": "default_joint_pos + action_scale * actions",
    }
    generator = torch.Generator().manual_seed(0)
    mean = normalizer.mean if normalizer is not None else torch.zeros(task.num_observations)
    std = normalizer.var.sqrt() if normalizer is not None else torch.ones(task.num_observations)
    samples = mean + std * torch.randn(256, task.num_observations, generator=generator)
    figures = export_policy(deployed, task.num_observations, metadata, output, samples)
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
@click.option("--seconds", type=float, default=None, help="Length (default: one episode).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
def play(spec, checkpoint, video, seconds, sets) -> None:
    """Render an episode of the policy offscreen to a video."""
    from specc.runtime.video import choose_gl_platform

    choose_gl_platform()
    task = _task(spec, "cpu", sets)
    import torch

    from specc.runtime.video import record

    _, parts = _evaluation_env(spec, "cpu", "mujoco", None, sets, 1, 1, False)
    network, normalizer = _load_policy(task, checkpoint)
    env = parts.env
    state = {"obs": env.reset_all()}

    @torch.no_grad()
    def step() -> None:
        obs = state["obs"]
        state["obs"] = env.step(
            network.act_deterministic(normalizer(obs) if normalizer is not None else obs)
        ).obs

    length = seconds if seconds is not None else task.spec.sim.episode_length_s
    frames = max(1, round(length / env.config.policy_dt))
    try:
        written = record(parts.backend, step, frames, video, fps=round(1 / env.config.policy_dt))
    except RuntimeError as err:
        _fail(str(err))
    click.echo(f"wrote {video}: {written} frames at {round(1 / env.config.policy_dt)} fps")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="The PNG to write (default: RUN_DIR/curves.png).",
)
def plot(run_dir: Path, output: Path | None) -> None:
    """Plot a run's training curves to a PNG."""
    from specc.runtime.plot import plot_run

    if not (run_dir / "metrics.jsonl").is_file():
        _fail(f"{run_dir} has no metrics.jsonl: is it a run folder of specc run?")
    click.echo(f"wrote {plot_run(run_dir, output or run_dir / 'curves.png')}")
