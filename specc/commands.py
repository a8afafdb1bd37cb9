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


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load_policy(runner, checkpoint: Path) -> None:
    from specc.runtime.checkpoint import load_checkpoint

    if not checkpoint.is_file():
        _fail(f"checkpoint not found: {checkpoint}")
    try:
        state = load_checkpoint(checkpoint, runner.device)
        runner.policy.load_state_dict(state["policy"])
        runner.normalizer.load_state_dict(state["normalizer"])
    except Exception as err:  # noqa: BLE001 - a foreign or damaged file: say so, no traceback
        _fail(f"{checkpoint} is not a checkpoint of this task: {str(err).splitlines()[0]}")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@_common
@click.option(
    "--num-envs", type=int, default=None, help="Parallel envs (default: the spec's, per device profile)."
)
@click.option("--max-iterations", type=int, default=None, help="Training iterations (default: the spec's).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--run-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the run (default: runs/<task>/<timestamp>).",
)
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    default=None,
    help="Continue from a checkpoint: optimizer, learning rate, normalizer, iteration and env state.",
)
@click.option("--no-tensorboard", is_flag=True, help="Write metrics.jsonl only.")
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
    """Train a policy for SPEC with PPO."""
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if num_envs is not None:
        extra["sim.num_envs"] = num_envs
    if max_iterations is not None:
        extra["ppo.max_iterations"] = max_iterations
    task = _task(spec, device, sets, extra)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from specc.assemble import assemble
    from specc.codegen.render import render_module
    from specc.runtime.backends.base import PhysicsLost
    from specc.runtime.run_log import RunLog
    from specc.runtime.runner import Runner

    console = Console(stderr=True)
    parts = assemble(task, backend=backend, device=device, kernels=kernels, seed=seed, num_threads=threads)
    env = parts.env
    runner = Runner(
        env, parts.ppo_config, seed=seed, metadata={"spec_hash": task.spec_hash, "task": task.spec.task.name}
    )
    if resume is not None:
        try:
            runner.load(resume)
        except FileNotFoundError:
            _fail(f"checkpoint not found: {resume}")
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
        "ppo": parts.ppo_config.to_dict(),
        "joint_names": task.robot.joint_names,
        "observation_layout": [vars(s) for s in task.observation_layout],
        "inertia_repairs": getattr(parts.backend, "repairs", []),
    }
    (run_dir / "config.json").write_text(json.dumps(resolved, indent=2), encoding="utf-8")
    for repair in resolved["inertia_repairs"]:
        console.print(f"[yellow]inertia repaired[/yellow] {repair}")
    log = RunLog(run_dir, tensorboard=not no_tensorboard)
    total = parts.ppo_config.max_iterations
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


def _evaluation_env(spec: Path, device, backend, kernels, sets, threads, episodes, randomize):
    """The env with the spec's [eval] commands held, and a runner to load policies into."""
    task = _task(spec, device, sets)
    if task.spec.eval.commands:  # the success criterion's commands, held fixed
        fixed = {f"commands.ranges.{name}": [value, value] for name, value in task.spec.eval.commands.items()}
        task = _task(spec, device, sets, fixed)
    from specc.assemble import assemble
    from specc.runtime.runner import Runner

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
        curriculum=False,  # every terrain row and tile type evaluated alike, none moved
    )
    return task, parts, Runner(parts.env, parts.ppo_config, seed=0)


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
    task, parts, runner = _evaluation_env(spec, device, backend, kernels, sets, threads, episodes, randomize)

    def policy(obs: torch.Tensor) -> torch.Tensor:
        return runner.policy.act_deterministic(runner.normalize(obs))

    reports = []
    for checkpoint in checkpoints:
        _load_policy(runner, checkpoint)
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
    "-o", "--output", type=click.Path(path_type=Path), required=True, help="The .onnx file to write."
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
def export(spec, checkpoint, output, sets) -> None:
    """Export the policy to ONNX (and TorchScript beside it), verified with onnxruntime."""
    task = _task(spec, "cpu", sets, {"sim.num_envs": 1})
    import torch

    from specc.assemble import ppo_config
    from specc.runtime.actor_critic import ActorCritic
    from specc.runtime.export import DeployedPolicy, export_policy
    from specc.runtime.normalizer import EmpiricalNormalizer

    config = ppo_config(task)
    policy = ActorCritic(
        task.num_observations,
        task.num_actions,
        config.actor_hidden_dims,
        config.critic_hidden_dims,
        config.activation,
        config.init_noise_std,
    )
    normalizer = EmpiricalNormalizer(task.num_observations)

    class Holder:
        device = torch.device("cpu")

    holder = Holder()
    holder.policy, holder.normalizer = policy, normalizer
    _load_policy(holder, checkpoint)
    deployed = DeployedPolicy(policy, normalizer if config.empirical_normalization else None).eval()
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
        "clip_actions": task.spec.ppo.clip_actions,
        "observation_layout": [
            {"name": s.name, "offset": s.offset, "size": s.size, "scale": s.scale}
            for s in task.observation_layout
        ],
        "num_observations": task.num_observations,
        "command_names": list(task.command_names),
        "control_dt": task.spec.sim.dt * task.spec.sim.decimation,
        "control_rate_hz": 1.0 / (task.spec.sim.dt * task.spec.sim.decimation),
        "pd_targets": "default_joint_pos + action_scale * actions",
    }
    generator = torch.Generator().manual_seed(0)
    mean = normalizer.mean
    std = normalizer.var.sqrt()
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

    _, parts, runner = _evaluation_env(spec, "cpu", "mujoco", None, sets, 1, 1, False)
    _load_policy(runner, checkpoint)
    env = parts.env
    state = {"obs": env.reset_all()}

    @torch.no_grad()
    def step() -> None:
        state["obs"] = env.step(runner.policy.act_deterministic(runner.normalize(state["obs"]))).obs

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
