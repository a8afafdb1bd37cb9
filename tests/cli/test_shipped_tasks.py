"""Every shipped task goes the whole way a user goes, on the CPU: lint, train, eval, export, play.

A smoke test, not a learning test: it proves that each spec's robot imports, its scene builds,
its frames, targets and criteria compile, a few PPO iterations run through the CLI
(`specc run SPEC --set ppo.max_iterations=3 --num-envs 8`, with 8-step rollouts and eager kernels
to keep CI fast), the checkpoint evaluates by the spec's [eval] criterion (a few one-second
episodes), exports to an ONNX policy that onnxruntime runs like torch, and plays to a video.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from layout import ROOT

from specc.cli import main
from specc.diagnostics import DiagnosticSink
from specc.task import check_task

TASKS = ROOT / "tasks"
SHIPPED = sorted(path.stem for path in TASKS.glob("*.toml"))
ON_THE_CPU = ("--device", "cpu", "--backend", "mujoco")  # whatever the spec's own sim settings say


def specc(*args: str):
    """The CLI in this process (no interpreter and torch start-up per command); it must succeed."""
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0 and result.exception is None, result.output + repr(result.exception)
    return result


def test_every_task_lints_clean():
    done = subprocess.run(["specc", "lint", str(TASKS)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"All checks passed ({len(SHIPPED)} files)" in done.stdout


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_task_trains_evaluates_exports_and_plays_on_the_cpu(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    spec = str(TASKS / f"{name}.toml")
    specc(
        "run",
        spec,
        "--set",
        "ppo.max_iterations=3",
        "--num-envs",
        "8",
        "--kernels",
        "eager",
        *ON_THE_CPU,
        "--run-dir",
        "run",
        "--no-tensorboard",
    )
    checkpoint = str(tmp_path / "run" / "checkpoints" / "model_000003.pt")
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["iteration"] for line in lines)

    short = ("--set", "sim.episode_length_s=1.0", "--episodes", "3", "--kernels", "eager", *ON_THE_CPU)
    done = specc("eval", spec, "--checkpoint", checkpoint, *short, "--json")
    result = json.loads(done.stdout)
    assert result["episodes"] == 3 and 0.0 <= result["success_rate"] <= 1.0
    low, high = result["success_ci95"]
    assert 0.0 <= low <= result["success_rate"] <= high <= 1.0
    # The spec's reward terms as a CPU run resolves it (a [profile.cpu] may add some: anymal_walk's does).
    checked = check_task(Path(spec), DiagnosticSink(spec), run_on="cpu")
    assert checked is not None
    terms = [term.name for term in checked.rewards]
    assert set(result["term_returns"]) == set(terms)  # each reward term's mean return

    done = specc("export", spec, "--checkpoint", checkpoint, "-o", "policy.onnx")
    assert float(done.stdout.split("max abs difference ")[1].split()[0]) < 1e-5
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "policy.onnx")).metadata_props}
    assert json.loads(meta["observation_layout"])  # the deployment metadata travels with the policy

    # Play picks its OpenGL platform before MuJoCo loads one: a process of its own, as a user runs it.
    done = subprocess.run(
        ["specc", "play", spec, "--checkpoint", checkpoint, "--video", "episode.mp4", "--seconds", "0.1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "episode.mp4").stat().st_size > 1000
