"""Teacher-student distillation on the cart-pole: the loss by hand, and a trained teacher distilled
into a smaller student that acts like it and balances like it; through the CLI, resumable and
exported like a run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from runtime_support import cartpole_variant, runner_for

from specc.assemble import assemble, learner_config
from specc.diagnostics import DiagnosticSink
from specc.runtime.distill import Teacher, distillation_loss
from specc.runtime.evaluate import evaluate
from specc.runtime.runner import Runner
from specc.task import check_task

STUDENT = """[distill]
student_hidden_dims = [16]
max_iterations = 25
num_steps_per_env = 32
learning_rate = 3e-3
"""


def test_distillation_loss_is_the_mean_squared_action_error():
    student = torch.tensor([[1.0, 0.0], [0.5, -1.0]])
    teacher = torch.tensor([[0.0, 0.0], [0.5, 1.0]])
    # ((1)^2 + 0 + 0 + (2)^2) / 4 = 1.25
    assert distillation_loss(student, teacher).item() == pytest.approx(1.25)


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """A PPO teacher of the cart-pole (64-64 network), trained for 40 iterations."""
    folder = tmp_path_factory.mktemp("teacher")
    spec = cartpole_variant(folder)
    spec.write_text(spec.read_text() + "\n" + STUDENT)
    runner = runner_for(spec, seed=0)
    task = check_task(spec, DiagnosticSink(str(spec)))
    runner.metadata = {"spec_hash": task.spec_hash, "task": task.spec.task.name}  # as `specc run` stamps it
    runner.train(40)
    return spec, runner.save(folder / "teacher.pt")


def _deterministic(network, normalizer):
    return lambda obs: network.act_deterministic(normalizer(obs))


def test_a_smaller_student_matches_the_teacher_and_balances_like_it(teacher_checkpoint, tmp_path):
    spec, checkpoint = teacher_checkpoint
    teacher_runner = runner_for(spec, seed=0)
    teacher_runner.load(checkpoint, restore_env=False)
    teacher = Teacher(teacher_runner.policy.requires_grad_(False), teacher_runner.normalizer, None)
    env = teacher_runner.env
    task = check_task(spec, DiagnosticSink("t"))
    student = Runner(env, learner_config(task, "distill"), seed=0, teacher=teacher)
    assert student.policy.actor[0].out_features == 16  # the student's own size, not the teacher's 64
    logs = []
    student.train(25, logs.append)
    assert logs[-1].scalars["Loss/distillation"] < 0.1 * logs[0].scalars["Loss/distillation"]
    judging = assemble(task, num_envs=64, kernels="eager", seed=0, judge=True).env  # [eval]'s envs
    with torch.no_grad():
        teacher_result = evaluate(judging, _deterministic(teacher.policy, teacher.normalizer))
        student_result = evaluate(judging, _deterministic(student.policy, student.normalizer))
        obs = env.reset_all()
        gap = (student.policy.act_deterministic(student.normalize(obs)) - teacher.actions(obs, {})).abs()
    assert gap.mean().item() < 0.25, gap.mean()
    assert student_result.mean_return >= 0.9 * teacher_result.mean_return, (student_result, teacher_result)


def test_specc_distill_writes_checkpoints_that_resume_and_export(teacher_checkpoint, tmp_path):
    spec, checkpoint = teacher_checkpoint

    def specc(*args):
        done = subprocess.run(["specc", *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done

    common = ["--teacher", str(checkpoint), "--no-tensorboard", "--set", "distill.save_interval=1"]
    specc("distill", str(spec), *common, "--max-iterations", "2", "--run-dir", "run")
    first = tmp_path / "run" / "checkpoints" / "model_000002.pt"
    assert first.is_file()
    done = specc(
        "distill", str(spec), *common, "--max-iterations", "1", "--resume", str(first), "--run-dir", "run2"
    )
    assert "resumed from" in done.stderr and (tmp_path / "run2" / "checkpoints" / "model_000003.pt").is_file()
    specc("export", str(spec), "--checkpoint", str(first), "-o", "student.onnx")
    import onnx

    model = onnx.load(str(tmp_path / "student.onnx"))
    assert (
        model.graph.node[0].op_type == "Gemm"
        and len([n for n in model.graph.node if n.op_type == "Gemm"]) == 2
    )
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "Loss/distillation" in metrics and "Episode_Reward/alive" in metrics
