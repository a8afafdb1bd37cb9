"""A run is safe to kill and to feed bad files: checkpoints, run folders, signals, diverging physics, CLI misuse.

Each hostile input ends in one clear error line with the right exit code (1: the input cannot
serve, 2: a usage error naming the option), never a traceback, a hang or a silent wrong run.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from runtime_support import CARTPOLE, cartpole_runner

from specc.cli import main
from specc.runtime.checkpoint import (
    CheckpointError,
    WriteFailed,
    encode_checkpoint,
    load_checkpoint,
    write_atomically,
)
from specc.runtime.divergence import JointStability, diagnose
from specc.runtime.run_folder import RunFolderError, lock_run_folder
from specc.runtime.run_log import read_metrics

RUN = ("--num-envs", "8", "--no-tensorboard", "--seed", "1", "--kernels", "eager")


def specc(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(["specc", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def invoke(*args: str):
    """The CLI in this process (fast: no interpreter and torch start-up); no exception may escape."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real two-iteration run of the test cart-pole with a checkpoint per iteration."""
    folder = tmp_path_factory.mktemp("hostile")
    done = specc(
        "run", str(CARTPOLE), "--max-iterations", "2", "--run-dir", "run", "--set", "ppo.save_interval=1", *RUN,
        cwd=folder,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return folder / "run"


# -- checkpoints ---------------------------------------------------------------------------------------
def _forged(state_change):
    """A well-formed checkpoint (correct checksum) whose contents were changed before it was written."""

    def make(path: Path, good: Path) -> None:
        loaded = load_checkpoint(good)
        state_change(loaded.state)
        path.write_bytes(encode_checkpoint(loaded.identity, loaded.state))

    return make


def _nan_weights(state) -> None:
    first = next(iter(state["policy"]))
    state["policy"][first][0] = float("nan")


def _flip(offset_from_end: int):
    def make(path: Path, good: Path) -> None:
        data = bytearray(good.read_bytes())
        data[-offset_from_end] ^= 0x10
        path.write_bytes(bytes(data))

    return make


def _fifo(path: Path, good: Path) -> None:
    os.mkfifo(path)


UNREADABLE = {
    "missing": (lambda path, good: None, "checkpoint not found"),
    "empty": (lambda path, good: path.write_bytes(b""), "is empty"),
    "truncated": (lambda path, good: path.write_bytes(good.read_bytes()[:-500]), "is truncated"),
    "text": (lambda path, good: path.write_text("iteration = 3\n"), "not a specc checkpoint"),
    "plain torch.save": (lambda path, good: torch.save({"iteration": 1}, path), "not a specc checkpoint"),
    "folder": (lambda path, good: path.mkdir(), "is a folder"),
    "fifo": (_fifo, "not a regular file"),
    "bit flipped in the weights": (_flip(5000), "checksum does not match"),
    "bit flipped in the checksum": (_flip(3), "checksum does not match"),
    "bit flipped in the header": (
        lambda path, good: path.write_bytes(good.read_bytes().replace(b'"num_obs": 4', b'"num_obs": 5', 1)),
        "checksum does not match",
    ),
    "iteration 10**30": (_forged(lambda s: s.update(iteration=10**30)), "implausible iteration"),
    "negative iteration": (_forged(lambda s: s.update(iteration=-3)), "implausible iteration"),
    "float iteration": (_forged(lambda s: s.update(iteration=float("nan"))), "implausible iteration"),
    "NaN weights": (_forged(_nan_weights), "NaN or infinite"),
    "no policy": (_forged(lambda s: s.pop("policy")), "holds no policy"),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_every_unreadable_checkpoint_is_one_clear_error(trained, tmp_path, case):
    make, message = UNREADABLE[case]
    path = tmp_path / "model.pt"
    make(path, trained / "checkpoints" / "model_000002.pt")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "text", "folder", "fifo", "NaN weights"])
def test_eval_reports_an_unreadable_checkpoint_in_one_line(trained, tmp_path, case):
    make, message = UNREADABLE[case]
    path = tmp_path / "model.pt"
    make(path, trained / "checkpoints" / "model_000002.pt")
    result = invoke("eval", CARTPOLE, "--checkpoint", path, "--episodes", "2")
    assert result.exit_code == 1
    assert message in result.stderr and result.stderr.startswith("error:")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["eval", "export", "play", "resume"])
def test_every_command_refuses_a_checkpoint_of_another_spec_naming_the_hashes(trained, tmp_path, command):
    changed = tmp_path / "cartpole.toml"  # the same task with one comment more: another spec hash, same sizes
    text = CARTPOLE.read_text().replace(
        "../robots/cartpole.urdf", str(CARTPOLE.parent.parent / "robots/cartpole.urdf")
    )
    changed.write_text(text + "\n# changed\n")
    checkpoint = trained / "checkpoints" / "model_000002.pt"
    args = {
        "eval": ("eval", changed, "--checkpoint", checkpoint, "--episodes", "2", "--kernels", "eager"),
        "export": ("export", changed, "--checkpoint", checkpoint, "-o", tmp_path / "p.onnx"),
        "play": ("play", changed, "--checkpoint", checkpoint, "--video", tmp_path / "v.mp4", "--seconds", "0.1"),
        "resume": ("run", changed, "--resume", checkpoint, "--run-dir", tmp_path / "r", "--max-iterations", "1", *RUN),
    }[command]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "another version of this spec" in result.stderr and "--allow-spec-change" in result.stderr
    assert load_checkpoint(checkpoint).identity.spec_hash in result.stderr
    assert not (tmp_path / "r").exists()  # a refused resume leaves no run folder behind


def test_allow_spec_change_loads_a_changed_spec_with_the_same_sizes_and_says_so(trained, tmp_path):
    changed = tmp_path / "cartpole.toml"
    text = CARTPOLE.read_text().replace(
        "../robots/cartpole.urdf", str(CARTPOLE.parent.parent / "robots/cartpole.urdf")
    )
    changed.write_text(text + "\n# changed\n")
    checkpoint = trained / "checkpoints" / "model_000002.pt"
    result = invoke(
        "export", changed, "--checkpoint", checkpoint, "-o", tmp_path / "p.onnx", "--allow-spec-change"
    )
    assert result.exit_code == 0, result.output
    assert "note:" in result.stderr and "--allow-spec-change" in result.stderr
    # Other sizes are refused even so, with what differs.
    wider = tmp_path / "wider.toml"
    wider.write_text(text.replace("actor_hidden_dims = [64, 64]", "actor_hidden_dims = [32]"))
    result = invoke(
        "export", wider, "--checkpoint", checkpoint, "-o", tmp_path / "q.onnx", "--allow-spec-change"
    )
    assert result.exit_code == 1
    assert "actor_hidden_dims (64, 64) in the checkpoint, (32,) here" in result.stderr


def test_resume_needs_the_env_count_the_checkpoint_was_made_with(trained, tmp_path):
    checkpoint = trained / "checkpoints" / "model_000002.pt"
    result = invoke("run", CARTPOLE, "--resume", checkpoint, "--run-dir", tmp_path / "r", "--num-envs", "4",
                    "--max-iterations", "1", "--no-tensorboard")  # fmt: skip
    assert result.exit_code == 1
    assert "num_envs 8 in the checkpoint, 4 here" in result.stderr


# -- writes ----------------------------------------------------------------------------------------------
def test_a_full_disk_is_a_clear_error_that_leaves_no_partial_file(tmp_path, monkeypatch):
    runner = cartpole_runner(num_envs=2)

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteFailed, match="no space left on the device"):
        runner.save(tmp_path / "checkpoints" / "model_000001.pt")
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_a_run_on_a_full_disk_stops_with_one_line_and_no_partial_files(tmp_path, monkeypatch):
    replace = os.replace

    def full_for_checkpoints(source, target):
        if str(target).endswith(".pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return replace(source, target)

    monkeypatch.setattr(os, "replace", full_for_checkpoints)
    result = invoke("run", CARTPOLE, "--run-dir", tmp_path / "r", "--max-iterations", "1", *RUN)
    assert result.exit_code == 1
    assert "no space left on the device" in result.stderr and "model_000001.pt" in result.stderr
    assert not [p for p in (tmp_path / "r").rglob("*") if ".tmp" in p.name]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "r"
    folder.mkdir()
    folder.chmod(0o555)
    result = invoke("run", CARTPOLE, "--run-dir", folder / "sub", "--max-iterations", "1", *RUN)
    assert result.exit_code == 1 and "cannot create the run folder" in result.stderr


def test_write_atomically_refuses_a_folder_in_the_way_and_leaves_nothing(tmp_path):
    (tmp_path / "config.json").mkdir()
    with pytest.raises(WriteFailed, match="cannot write"):
        write_atomically(tmp_path / "config.json", b"{}")
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


# -- signals, resume, run folders ----------------------------------------------------------------------------
def test_sigterm_saves_a_loadable_checkpoint_and_resume_continues_the_metrics(tmp_path):
    process = subprocess.Popen(
        [
            "specc",
            "run",
            str(CARTPOLE),
            "--max-iterations",
            "500",
            "--run-dir",
            "run",
            "--set",
            "ppo.save_interval=1",
            *RUN,
        ],  # fmt: skip
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = tmp_path / "run" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "SIGTERM" in stderr and "Traceback" not in stderr
    iterations = [row["iteration"] for row in read_metrics(tmp_path / "run")]
    last = iterations[-1]
    assert iterations == list(range(1, last + 1))
    saved = load_checkpoint(tmp_path / "run" / "checkpoints" / f"model_{last:06d}.pt")
    assert saved.state["iteration"] == last

    # Resume from iteration 1 in the same folder: iterations 2.. are not repeated, later checkpoints move aside.
    result = invoke("run", CARTPOLE, "--resume", tmp_path / "run/checkpoints/model_000001.pt",
                    "--max-iterations", "1", *RUN)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [row["iteration"] for row in read_metrics(tmp_path / "run")] == [1, 2]
    assert f"dropped {last - 1} iterations after 1" in result.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("model_*.pt")) == [
        "model_000001.pt",
        "model_000002.pt",
    ]
    assert list((tmp_path / "run" / "checkpoints").glob(f"superseded_*/model_{last:06d}.pt"))


def test_a_run_folder_of_another_run_is_refused(trained):
    result = invoke("run", CARTPOLE, "--run-dir", trained, "--max-iterations", "1", *RUN)
    assert result.exit_code == 2
    assert "--run-dir" in result.stderr and "not empty" in result.stderr


def test_resuming_into_a_new_folder_copies_the_curve_up_to_the_checkpoint(trained, tmp_path):
    result = invoke("run", CARTPOLE, "--resume", trained / "checkpoints" / "model_000001.pt",
                    "--run-dir", tmp_path / "branch", "--max-iterations", "1", *RUN)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [row["iteration"] for row in read_metrics(tmp_path / "branch")] == [1, 2]
    assert [row["iteration"] for row in read_metrics(trained)] == [1, 2]  # the original run is untouched


def test_two_runs_cannot_hold_one_run_folder(tmp_path):
    first = lock_run_folder(tmp_path)
    with pytest.raises(RunFolderError, match=f"in use by another specc run \\(pid {os.getpid()}\\)"):
        lock_run_folder(tmp_path)
    first.close()
    lock_run_folder(tmp_path).close()


# -- diverging physics ------------------------------------------------------------------------------------------
def test_diverging_physics_stops_the_run_with_a_diagnosis_in_the_users_terms(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "run", CARTPOLE, "--max-iterations", "20", "--run-dir", "run", *RUN,
        "--set", "robot.passive=[]",  # the test cart-pole's pole is passive: give it a far too stiff PD
        "--set", "robot.pd.hinge={stiffness=1e5, damping=0.0, effort=1e5}", "--set", "sim.dt=0.05",
        "--set", "sim.decimation=4",
    )  # fmt: skip
    assert result.exit_code == 1
    error = result.stderr[result.stderr.index("error:") :]
    assert "the physics diverged in 100% of the env steps of iteration 3" in error
    assert "Joint 'hinge' (moves 'pole', 0.1 kg" in error
    assert "[robot.pd] stiffness 1e+05 N m/rad" in error and "sim.dt = 0.05 s" in error
    assert "stable below 53.3 N m/rad" in error  # 4 * 0.0333 kg m^2 / (0.05 s) ** 2
    assert "The runaway motion was largest at joint" in error
    assert "QACC" not in result.output + capfd.readouterr().out  # MuJoCo's own messages go to the run folder
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert "Nan, Inf or huge value in QACC" in (tmp_path / "run" / "mujoco.log").read_text()
    shares = [row["Physics/diverged_share"] for row in read_metrics(tmp_path / "run")]
    assert len(shares) == 3 and min(shares) > 0.5
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_a_pd_joint_is_stable_while_its_stiffness_is_below_4_inertia_over_dt_squared():
    knee = JointStability("knee", "shank", mass=0.5, inertia=0.01, stiffness=100.0, linear=False)
    # omega = sqrt(100 / 0.01) = 100 rad/s: omega * dt reaches 2 at dt = 0.02 s.
    assert knee.max_stable_stiffness(0.02) == pytest.approx(100.0)
    unstable = diagnose([knee], {"knee": 7}, physics_dt=0.02, decimation=4)
    assert "Joint 'knee' (moves 'shank', 0.5 kg" in unstable and "period of 62.8 ms" in unstable
    assert "largest at joint 'knee' (7 of 7)" in unstable and "policy at 12.5 Hz" in unstable
    assert "No joint's PD stiffness is unstable" in diagnose([knee], {}, physics_dt=0.01, decimation=4)


def test_a_healthy_run_counts_no_divergence(trained):
    assert all(row["Physics/diverged_share"] == 0.0 for row in read_metrics(trained))


# -- command-line misuse ---------------------------------------------------------------------------------
MISUSE = {
    "--threads": ("run", CARTPOLE, "--threads", "-3"),
    "--seed": ("run", CARTPOLE, "--seed", str(2**128)),
    "--num-envs": ("run", CARTPOLE, "--num-envs", "0"),
    "--max-iterations": ("run", CARTPOLE, "--max-iterations", "-1"),
    "--episodes": ("eval", CARTPOLE, "--checkpoint", "x.pt", "--episodes", "-4"),
    "--device": ("run", CARTPOLE, "--device", "gpu"),
    "--seconds": ("play", CARTPOLE, "--checkpoint", "x.pt", "--video", "v.mp4", "--seconds", "nan"),
    "--output": ("export", CARTPOLE, "--checkpoint", "x.pt", "-o", "policy.engine"),
    "--backend": ("run", CARTPOLE, "--backend", "isaacgym"),
}


@pytest.mark.parametrize("option", list(MISUSE))
def test_command_line_misuse_is_a_usage_error_naming_the_option(option):
    result = invoke(*MISUSE[option])
    assert result.exit_code == 2, result.output
    assert option in result.stderr


def test_isaacgym_points_at_the_compile_target():
    result = invoke("run", CARTPOLE, "--backend", "isaacgym")
    assert "specc compile SPEC --target isaacgym --emit DIR" in result.stderr


def test_a_run_folder_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "afile").write_text("x")
    for folder in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        result = invoke("run", CARTPOLE, "--run-dir", folder, *RUN)
        assert result.exit_code == 2 and "--run-dir" in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_an_error_not_a_silent_cpu_run():
    result = invoke("run", CARTPOLE, "--device", "cuda", *RUN)
    assert result.exit_code == 2 and "--device cuda: torch sees no CUDA GPU" in result.stderr


def test_mujoco_warp_without_the_package_names_what_to_install():
    pytest.importorskip("torch")
    import importlib.util

    if importlib.util.find_spec("mujoco_warp") and importlib.util.find_spec("warp"):
        pytest.skip("MuJoCo Warp is installed here")
    result = invoke("run", CARTPOLE, "--backend", "mujoco-warp", *RUN)
    assert result.exit_code == 2 and 'pip install -e ".[gpu]"' in result.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no complete iteration"),
        ("not json\n", "metrics.jsonl:1: not a metrics row"),
        ('{"iteration": 1, "Train/mean_reward": 0.5}\n[1, 2]\n', "metrics.jsonl:2: not a metrics row"),
        ('{"Train/mean_reward": 0.5}\n', "metrics.jsonl:1: not a metrics row"),
        ("[" * 100000 + "\n", "metrics.jsonl:1: not a metrics row"),
    ],
)
def test_plot_of_a_bad_metrics_file_is_one_clear_error(tmp_path, content, message):
    (tmp_path / "metrics.jsonl").write_text(content)
    result = invoke("plot", tmp_path)
    assert result.exit_code == 1 and message in result.stderr


def test_plot_ignores_a_last_line_cut_short_by_a_kill(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"iteration": 1, "Train/mean_reward": 0.5}\n{"iteration": 2, "Tr'
    )
    result = invoke("plot", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").is_file()


def test_writing_outputs_where_a_file_is_in_the_way_is_one_clear_error(trained, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    compiled = invoke("compile", CARTPOLE, "--emit", blocker / "out")
    assert compiled.exit_code == 1 and compiled.stderr.startswith("error: cannot write")
    exported = invoke("export", CARTPOLE, "--checkpoint", trained / "checkpoints" / "model_000002.pt",
                      "-o", blocker / "policy.onnx")  # fmt: skip
    assert exported.exit_code == 1 and "error: cannot write" in exported.stderr
    plotted = invoke("plot", trained, "-o", blocker / "curves.png")
    assert plotted.exit_code == 1 and "error: cannot write" in plotted.stderr
