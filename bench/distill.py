"""Teacher-student distillation on anymal_walk: a [512, 256, 128] PPO teacher into a [128] student.

Trains the teacher with `specc run` (or takes `--teacher CKPT`), distills it with `specc distill`
(DAgger on the student's own rollouts), evaluates both with `specc eval` (the spec's [eval]
criterion: 1.5 m/s held, 10 m without a termination), exports both with `specc export` and times
batch-1 inference of each ONNX file with onnxruntime on the CPU (one thread, as on a robot's
computer). Prints and writes: success rates (the floor: the student keeps >= 95 % of the teacher's),
the distillation wall time (from the command's start, compilation included) and both latencies.

    python bench/distill.py --out /tmp/distill --num-envs 4096 --teacher-iterations 300 --iterations 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "tasks" / "anymal_walk.toml"
STUDENT = """
[distill]
student_hidden_dims = [128]
max_iterations = {iterations}
num_steps_per_env = 24
num_learning_epochs = 5
num_mini_batches = 4
learning_rate = 1e-3
save_interval = {iterations}
"""


def specc(*args: str, cwd: Path) -> str:
    command = [sys.executable, "-m", "specc", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def latency_us(onnx_path: Path, runs: int = 2000) -> float:
    """Median batch-1 latency of an ONNX policy on one CPU thread."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    size = session.get_inputs()[0].shape[1]
    obs = np.random.default_rng(0).standard_normal((1, size)).astype(np.float32)
    for _ in range(100):
        session.run(["actions"], {"obs": obs})
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(["actions"], {"obs": obs})
        timings.append(time.perf_counter() - start)
    return float(np.median(timings) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backend", default="mujoco-warp")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--teacher", type=Path, default=None, help="A trained teacher (default: train one).")
    parser.add_argument("--teacher-iterations", type=int, default=300)
    parser.add_argument("--iterations", type=int, default=100, help="Distillation iterations.")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    place = ["--backend", args.backend, "--device", args.device]
    teacher = args.teacher
    if teacher is None:
        specc(
            "run", str(SPEC), *place, "--num-envs", str(args.num_envs), "--max-iterations",
            str(args.teacher_iterations), "--run-dir", str(out / "teacher"), "--no-tensorboard", cwd=out,
        )  # fmt: skip
        teacher = sorted((out / "teacher" / "checkpoints").glob("model_*.pt"))[-1]
    student_spec = out / "anymal_walk_student.toml"
    student_spec.write_text(SPEC.read_text() + STUDENT.format(iterations=args.iterations))
    started = time.monotonic()
    specc(
        "distill", str(student_spec), "--teacher", str(teacher), "--teacher-spec", str(SPEC), *place,
        "--num-envs", str(args.num_envs), "--run-dir", str(out / "student"), "--no-tensorboard", cwd=out,
    )  # fmt: skip
    distill_s = time.monotonic() - started
    student = sorted((out / "student" / "checkpoints").glob("model_*.pt"))[-1]
    results: dict[str, object] = {"distill_wall_s": distill_s, "iterations": args.iterations}
    for name, spec, checkpoint in (("teacher", SPEC, teacher), ("student", student_spec, student)):
        report = json.loads(
            specc("eval", str(spec), *place, "--checkpoint", str(checkpoint), "--episodes", str(args.episodes),
                  "--json", cwd=out)
        )  # fmt: skip
        onnx_path = out / f"{name}.onnx"
        specc("export", str(spec), "--checkpoint", str(checkpoint), "-o", str(onnx_path), cwd=out)
        results[name] = {
            "checkpoint": str(checkpoint),
            "success_rate": report["success_rate"],
            "mean_return": report["mean_return"],
            "batch1_latency_us": latency_us(onnx_path),
        }
    teacher_rate = results["teacher"]["success_rate"]  # type: ignore[index]
    student_rate = results["student"]["success_rate"]  # type: ignore[index]
    results["student_keeps"] = student_rate / teacher_rate if teacher_rate else None
    print(f"distillation: {args.iterations} iterations at {args.num_envs} envs, {distill_s:.1f} s wall")
    print(f"{'policy':>8} {'success':>8} {'return':>8} {'ONNX batch-1 µs (1 CPU thread)':>31}")
    for name in ("teacher", "student"):
        row = results[name]
        print(
            f"{name:>8} {row['success_rate']:>8.1%} {row['mean_return']:>8.3f} {row['batch1_latency_us']:>31.1f}"
        )  # type: ignore[index]
    if results["student_keeps"] is not None:
        print(f"the student keeps {results['student_keeps']:.1%} of the teacher's success rate (floor: 95 %)")
    (out / "distill.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
