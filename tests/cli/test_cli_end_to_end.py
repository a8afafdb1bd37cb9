"""The user's path through the CLI: run, resume, eval, export (checked with onnxruntime), play, plot."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import onnx
import pytest
from layout import ROOT

CARTPOLE = ROOT / "tests" / "specs" / "cartpole.toml"


def specc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(["specc", *args], capture_output=True, text=True, cwd=cwd, timeout=600)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    done = specc(
        "run",
        str(CARTPOLE),
        "--max-iterations",
        "3",
        "--run-dir",
        "run",
        "--seed",
        "1",
        "--set",
        "ppo.save_interval=1",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    (folder / "run.stdout").write_text(done.stdout)  # what the run printed at its end
    return folder, folder / "run" / "checkpoints" / "model_000003.pt"


def test_run_writes_spec_config_metrics_tensorboard_and_checkpoint(trained):
    folder, checkpoint = trained
    run = folder / "run"
    assert checkpoint.is_file()
    assert (run / "spec.toml").read_text() == CARTPOLE.read_text()
    config = json.loads((run / "config.json").read_text())
    assert config["ppo"]["max_iterations"] == 3 and config["joint_names"] == ["slider", "hinge"]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 3
    wall = [m["Perf/wall_s"] for m in metrics]  # from the command's start: time-to-result includes set-up
    assert 0 < wall[0] < wall[1] < wall[2]
    assert list(run.glob("events.out.tfevents.*"))
    assert not list((run / "checkpoints").glob(".*tmp*"))  # atomic writes leave no partial files


def test_run_ends_with_the_final_policys_evaluation_and_where_everything_is(trained):
    """The run's last lines judge the final policy by the spec's [eval] on a few episodes (the numbers
    `specc eval` gives for those episodes) and name the checkpoint, the curves and commands that work."""
    folder, checkpoint = trained
    report = (folder / "run.stdout").read_text()
    assert (
        "The final policy on 16 episodes of the spec's [eval] (randomization off; specc eval runs" in report
    )
    assert 'criterion         success "abs(joint_pos.hinge) < 0.4" at the episode\'s end' in report
    rate = re.search(r"success rate +(\S+) \(95% CI", report)
    time_outs = re.search(r"reached time-out +(\S+) ", report)
    assert rate and time_outs, report
    assert "mean distance" not in report  # a fixed-base robot goes nowhere
    named = dict(line.split(maxsplit=1) for line in report.splitlines() if line.split()[:1] in (
        ["policy"], ["curves"], ["evaluate"], ["video"]))  # fmt: skip
    assert named["policy"] == "run/checkpoints/model_000003.pt" == str(checkpoint.relative_to(folder))
    assert named["curves"] == "tensorboard --logdir run   or   specc plot run"
    command = shlex.split(named["evaluate"])
    assert command[:2] == ["specc", "eval"] and "--set=ppo.save_interval=1" in command
    done = specc(*command[1:], "--episodes", "16", "--kernels", "eager", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert rate.group(1) == f"{result['success_rate']:.1%}"
    assert time_outs.group(1) == f"{1 - result['terminated_rate']:.1%}"
    play = shlex.split(named["video"])
    assert play[:2] == ["specc", "play"] and play[-2:] == ["--video", "run/cartpole.mp4"]
    assert play[play.index("--checkpoint") + 1] == named["policy"]


def test_resume_continues_the_iteration_count(trained):
    folder, checkpoint = trained
    done = specc(
        "run",
        str(CARTPOLE),
        "--max-iterations",
        "1",
        "--run-dir",
        "resumed",
        "--resume",
        str(checkpoint),
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "resumed" / "checkpoints" / "model_000004.pt").is_file()


def test_eval_reports_success_rate_as_json(trained):
    folder, checkpoint = trained
    done = specc(
        "eval", str(CARTPOLE), "--checkpoint", str(checkpoint), "--episodes", "4", "--json", cwd=folder
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["episodes"] == 4 and len(result["per_episode"]) == 4
    assert 0.0 <= result["success_rate"] <= 1.0
    low, high = result["success_ci95"]
    assert 0.0 <= low <= result["success_rate"] <= high <= 1.0
    assert set(result["term_returns"]) == {"alive", "centered"}


def test_eval_prints_the_interval_the_criterion_and_each_terms_return(trained):
    folder, checkpoint = trained
    done = specc("eval", str(CARTPOLE), "--checkpoint", str(checkpoint), "--episodes", "4", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "(95% CI " in done.stdout and "Wilson" in done.stdout
    assert 'criterion         success "abs(joint_pos.hinge) < 0.4" at the episode\'s end' in done.stdout
    assert "failure: a termination" in done.stdout
    assert "  alive " in done.stdout and "  centered " in done.stdout


def test_eval_prints_and_reports_success_per_gait(trained):
    """The cart-pole with a categorical `mode` command: eval reports each choice, in text and --json."""
    folder, checkpoint = trained
    text = CARTPOLE.read_text().replace("../robots", str(CARTPOLE.parent.parent / "robots"))
    head, _ = text.split("[eval]")
    gaits = (
        '[commands.ranges]\nspeed = [0.0, 1.0]\n\n[commands.categorical.mode]\nchoices = ["slow", "fast"]\n'
    )
    gaits += "values = { speed = [0.2, 0.8] }\n\n"
    spec = folder / "modes.toml"
    spec.write_text(
        head.replace("[rewards]", gaits + "[rewards]", 1) + '[eval]\nsuccess = "commands.speed > 0.5"\n'
    )
    common = ("eval", str(spec), "--checkpoint", str(checkpoint), "--episodes", "8", "--allow-spec-change")
    common += ("--set", "sim.episode_length_s=0.5")
    done = specc(*common, "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["by_command"]["mode"]
    assert rows["fast"]["success_rate"] == 1.0 and rows["slow"]["success_rate"] == 0.0
    held = specc(*common, "--set", "eval.commands.mode=fast", cwd=folder)
    assert held.returncode == 0, held.stderr
    assert "  mode = fast" in held.stdout and "mode = slow" not in held.stdout
    assert "8 episodes, forward speed 0.00 m/s" in held.stdout
    wrong = specc(*common, "--set", "eval.commands.mode=fsat", cwd=folder)
    assert wrong.returncode != 0 and "did you mean 'fast'?" in wrong.stderr


def test_eval_of_a_series_of_checkpoints_reports_each(trained):
    folder, checkpoint = trained
    first = folder / "run" / "checkpoints" / "model_000001.pt"
    done = specc(
        "eval",
        str(CARTPOLE),
        "--checkpoint",
        str(first),
        "--checkpoint",
        str(checkpoint),
        "--episodes",
        "4",
        "--json",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    reports = json.loads(done.stdout)
    assert [Path(r["checkpoint"]).name for r in reports] == ["model_000001.pt", "model_000003.pt"]
    assert all(r["episodes"] == 4 for r in reports)


def test_eval_of_a_series_with_a_missing_checkpoint_fails_before_evaluating_any(trained):
    folder, checkpoint = trained
    done = specc(
        "eval", str(CARTPOLE), "--checkpoint", str(checkpoint), "--checkpoint", "run/checkpoints/model_999999.pt",
        "--episodes", "4", cwd=folder,
    )  # fmt: skip
    assert done.returncode == 1
    assert "checkpoint not found: run/checkpoints/model_999999.pt" in done.stderr
    assert done.stdout == ""  # nothing was evaluated


def test_export_writes_onnx_with_deployment_metadata_matching_torch(trained):
    folder, checkpoint = trained
    done = specc("export", str(CARTPOLE), "--checkpoint", str(checkpoint), "-o", "policy.onnx", cwd=folder)
    assert done.returncode == 0, done.stderr
    model = onnx.load(str(folder / "policy.onnx"))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["joint_names"]) == ["slider", "hinge"]
    assert json.loads(meta["observation_layout"])[1] == {
        "name": "joint_vel",
        "offset": 2,
        "size": 2,
        "scale": 0.2,
    }
    assert float(meta["control_rate_hz"]) == pytest.approx(50.0)
    difference = float(done.stdout.split("max abs difference ")[1].split()[0])
    assert difference < 1e-5
    assert (folder / "policy.pt").is_file()


def test_eval_export_and_play_take_the_networks_a_checkpoint_of_this_spec_was_trained_with(tmp_path):
    """A policy trained on the GPU, whose [profile.cuda] has larger networks than [profile.cpu], must
    evaluate, export and play on a laptop: same spec (same hash), so its networks are the checkpoint's."""
    done = specc("run", str(CARTPOLE), "--max-iterations", "1", "--run-dir", "run", "--no-tensorboard",
                 "--set", "ppo.actor_hidden_dims=[24, 24]", "--set", "ppo.critic_hidden_dims=[16]",
                 cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    checkpoint = str(tmp_path / "run" / "checkpoints" / "model_000001.pt")
    exported = specc("export", str(CARTPOLE), "--checkpoint", checkpoint, "-o", "p.onnx", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "ppo.actor_hidden_dims=[24, 24], ppo.critic_hidden_dims=[16]" in exported.stderr
    evaluated = specc("eval", str(CARTPOLE), "--checkpoint", checkpoint, "--episodes", "2", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    played = specc("play", str(CARTPOLE), "--checkpoint", checkpoint, "--video", "e.mp4", "--seconds", "0.2",
                   cwd=tmp_path)  # fmt: skip
    assert played.returncode == 0, played.stderr
    # A checkpoint of another spec is still refused, whatever its networks.
    other = tmp_path / "other.toml"
    urdf = (CARTPOLE.parent / "../robots/cartpole.urdf").resolve()
    other.write_text(
        CARTPOLE.read_text()
        .replace('name = "', 'name = "other_', 1)
        .replace("../robots/cartpole.urdf", str(urdf))
    )
    refused = specc("export", str(other), "--checkpoint", checkpoint, "-o", "q.onnx", cwd=tmp_path)
    assert refused.returncode != 0
    assert "was made for another task" in refused.stderr


def test_play_renders_a_video(trained):
    folder, checkpoint = trained
    done = specc(
        "play",
        str(CARTPOLE),
        "--checkpoint",
        str(checkpoint),
        "--video",
        "episode.mp4",
        "--seconds",
        "0.5",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    assert (folder / "episode.mp4").stat().st_size > 1000


def test_plot_writes_the_training_curves(trained):
    folder, _ = trained
    done = specc("plot", "run", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_spec_gets_diagnostics_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    text = CARTPOLE.read_text().replace('expr = "1.0"', 'expr = "1.0 +"')
    bad.write_text(
        text.replace("../robots/cartpole.urdf", (ROOT / "tests" / "robots" / "cartpole.urdf").as_posix())
    )
    done = specc("run", str(bad), cwd=tmp_path)
    assert done.returncode == 1
    assert "SPC201" in done.stdout


def test_the_real_anymal_task_trains_for_an_iteration(tmp_path):
    done = specc(
        "run",
        str(ROOT / "tasks" / "anymal_walk.toml"),
        "--max-iterations",
        "1",
        "--num-envs",
        "4",
        "--run-dir",
        "anymal",
        "--no-tensorboard",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "anymal" / "checkpoints" / "model_000001.pt").is_file()


def test_eval_holds_the_commands_of_the_success_criterion(tmp_path):
    """anymal_walk trains on forward speeds up to 1.5 m/s and is judged at 1.5 m/s: a standing robot errs by 1.5."""
    run = specc(
        "run",
        str(ROOT / "tasks" / "anymal_walk.toml"),
        "--max-iterations",
        "1",
        "--num-envs",
        "2",
        "--run-dir",
        "a",
        "--no-tensorboard",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    done = specc(
        "eval",
        str(ROOT / "tasks" / "anymal_walk.toml"),
        "--checkpoint",
        "a/checkpoints/model_000001.pt",
        "--episodes",
        "2",
        "--json",
        "--set",
        "sim.episode_length_s=1.0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["mean_tracking_error"] > 1.0  # a barely trained policy does not move: error close to 1.5
    assert result["success_rate"] == 0.0
