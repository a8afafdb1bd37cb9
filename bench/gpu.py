"""Benchmark on a CUDA GPU: env throughput against plain MuJoCo Warp, PPO training throughput, memory.

In one run, for each env count:
  - plain physics: `mujoco_warp.step` on the very MjModel specc builds for anymal_walk (no sensors),
    with the same nworld and contact/constraint buffers, `decimation` steps graph-captured with
    `wp.ScopedCapture`, from the env's state; measured before and after the env, the mean reported;
  - raw: the backend's own step (controls written each substep, the substeps graph-captured, then the
    read-back kernel: torques, contact forces, divergence flags, peak buffer use);
  - env: specc's full env step (PD targets, physics, compiled kernels, resets) run eagerly (one launch
    per op) and replayed from one CUDA graph, which is what `specc run` does on a GPU;
  all in physics steps per second, with the ratios to plain physics (the issue's floor: graph / plain
    >= 0.9 at 4,096 and 16,384 envs);
  - PPO (--ppo-envs): collection + update in env samples per second, and where the time goes: the
    collection, of it the env steps alone (the same number of steps with random actions), and the
    update; peak GPU memory of torch. --ppo-mini-batches repeats it with other `ppo.num_mini_batches`
    (a spec setting: fewer, larger minibatches);
  - --profile: the GPU kernels of one training iteration at the last --ppo-envs, by total time;
  - --buffer-sizes: raw physics at several contact/constraint buffer sizes, with their peak use;
  - --profile-physics: the GPU kernels of plain physics, the backend's step and the env step, launched
    one by one under torch's profiler, per step and by kernel, with the kernels where each costs more
    than the one before it: where the gap to plain physics goes.

    python bench/gpu.py --envs 4096 16384 --ppo-envs 4096 16384 --ppo-mini-batches 4 2 --profile

`--device cpu` runs the same on warp's CPU device (no CUDA graphs; slow): a check that the script
works, not a measurement.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import load_task  # noqa: E402
from runtime_support import assemble_task  # noqa: E402

from specc.runtime.runner import Runner  # noqa: E402
from specc.runtime.step_graph import WARMUP_STEPS  # noqa: E402

TASK = ROOT / "tasks" / "anymal_walk.toml"


DEVICE = "cuda"


def synchronize() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats: int) -> float:
    fn()
    synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize()
    return (time.perf_counter() - start) / repeats


class PlainPhysics:
    """`decimation` x `mujoco_warp.step` on the backend's MjModel, nworld and buffer sizes, graph-captured,
    starting from the backend's current state and controls: the physics limit specc's step is held to.

    `env_parameters`: the model's randomized fields batched per world and holding the env's drawn
    values (masses, friction, damping, gains), as the backend's model does; otherwise every world
    simulates the nominal model."""

    def __init__(self, backend, decimation: int, env_parameters: bool = False) -> None:
        import mujoco_warp as mjw
        import warp as wp

        self._wp = wp
        n = backend.num_envs
        with wp.ScopedDevice(backend._wp_device):
            if env_parameters:
                self.m = mjw.put_model(
                    backend.model, batch_sizes={name: n for name in backend.randomized_fields}
                )
                for name, value in backend.params.items():
                    wp.to_torch(getattr(self.m, name)).copy_(value)
            else:
                self.m = mjw.put_model(backend.model)
            self.d = mjw.make_data(backend.model, nworld=n, nconmax=backend.nconmax, njmax=backend.njmax)
            for name in ("qpos", "qvel", "ctrl"):
                wp.to_torch(getattr(self.d, name)).copy_(getattr(backend, name))
            self._steps = lambda: [mjw.step(self.m, self.d) for _ in range(decimation)]
            self._steps()  # kernels compiled and loaded before capture
            self.graph = None
            if backend.device.type == "cuda":
                with wp.ScopedCapture() as capture:
                    self._steps()
                self.graph = capture.graph

    def step(self) -> None:
        if self.graph is None:
            self._steps()  # warp's CPU device: plain launches
        else:
            self._wp.capture_launch(self.graph)


def kernel_times(fn, repeats: int) -> dict[str, float]:
    """GPU microseconds per call of fn, by kernel name, under torch's profiler (launched one by one)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    gpu = DEVICE == "cuda"  # on warp's CPU device: CPU time of the ops, to check the script only
    fn()
    synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA if gpu else ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            fn()
        synchronize()
    times: dict[str, float] = {}
    for event in prof.key_averages():
        total = event.self_device_time_total if gpu else event.self_cpu_time_total
        if total > 0:
            times[event.key] = times.get(event.key, 0.0) + total / repeats
    return times


def print_physics_profile(n: int, stages: dict[str, dict[str, float]], rows: int) -> None:
    """Each stage's GPU time per step, then the kernels that cost each stage more than the stage before."""
    print(f"GPU time per env step at {n} envs, kernels launched one by one (microseconds):")
    names = list(stages)
    for name in names:
        print(f"  {name:<34} {sum(stages[name].values()):>10,.1f}  ({len(stages[name])} kernels)")
    for before, after in zip(names, names[1:]):
        a, b = stages[before], stages[after]
        diff = {k: b.get(k, 0.0) - a.get(k, 0.0) for k in set(a) | set(b)}
        print(f"  kernels by extra time, {after} against {before}:")
        for key, extra in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:rows]:
            print(f"    {extra:>+10.1f}  {a.get(key, 0.0):>9.1f} -> {b.get(key, 0.0):>9.1f}  {key[:90]}")


def env_rates(
    n: int, kernels: str, repeats: int, overrides: dict | None = None, profile_rows: int = 0
) -> dict:
    """Plain physics, raw backend, eager env and graph env steps for n envs, in physics steps per second."""
    task = load_task(TASK, overrides)
    decimation = task.spec.sim.decimation
    start = time.perf_counter()
    parts = assemble_task(task, backend="mujoco-warp", device=DEVICE, num_envs=n, kernels=kernels)
    setup = time.perf_counter() - start
    env, backend = parts.env, parts.backend
    actions = torch.zeros(n, env.num_actions, device=env.device)  # the robots fall and reset
    for _ in range(WARMUP_STEPS + 1):
        env.step(actions)
    plain = PlainPhysics(backend, decimation)
    plain_before = timed(plain.step, repeats)
    same = PlainPhysics(backend, decimation, env_parameters=True)
    same_time = timed(same.step, repeats)
    targets = env.default_joint_pos.repeat(n, decimation, 1)
    raw = timed(lambda: backend.step(targets), repeats)
    iterations = {
        name: float(plain._wp.to_torch(data.solver_niter).float().mean())
        for name, data in (("plain", plain.d), ("same", same.d), ("raw", backend._d))
    }
    backend.usage()
    graph = timed(lambda: env.step(actions), repeats)
    eager = timed(lambda: env.step_eagerly(actions), repeats)
    use = backend.usage()
    env.check_health()
    plain_after = timed(plain.step, repeats)
    if profile_rows:
        stages = {
            "plain MuJoCo Warp step": kernel_times(plain._steps, 10),
            "backend step (no graph)": kernel_times(lambda: backend._physics(decimation), 10),
            "env step (no graph)": kernel_times(lambda: env.step_eagerly(actions), 10),
        }
        print_physics_profile(n, stages, profile_rows)
    physics = n * decimation
    return {
        "plain": 2 * physics / (plain_before + plain_after),
        "plain_spread": abs(plain_before - plain_after) / min(plain_before, plain_after),
        "same": physics / same_time,
        "iterations": iterations,
        "raw": physics / raw,
        "eager": physics / eager,
        "graph": physics / graph,
        "mode": env.graph.mode,
        "setup": setup,
        "contacts_per_env": use["contacts"] / n,
        "rows_per_env": use["rows_per_env"],
        "nconmax": backend.nconmax,
        "njmax": backend.njmax,
    }


def ppo_rates(n: int, kernels: str, iterations: int, mini_batches: int | None) -> tuple[dict, Runner]:
    """PPO's samples per second at n envs and where an iteration's time goes."""
    overrides = {"ppo.num_mini_batches": mini_batches} if mini_batches else None
    task = load_task(TASK, overrides)
    parts = assemble_task(task, backend="mujoco-warp", device=DEVICE, num_envs=n, kernels=kernels)
    runner = Runner(parts.env, parts.learner_config, seed=0)
    runner.train(1)  # warm-up: graph capture, first-call allocations
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    logs = []
    runner.train(iterations, logs.append)
    steps = parts.learner_config.num_steps_per_env
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    actions = [
        torch.randn(n, parts.env.num_actions, device=DEVICE, generator=generator) for _ in range(steps)
    ]

    def rollout_of_env_steps() -> None:
        for a in actions:
            parts.env.step(a)

    env_time = timed(rollout_of_env_steps, 3)
    mean = {
        key: sum(log.scalars[key] for log in logs) / len(logs)
        for key in ("Perf/steps_per_second", "Perf/collection_s", "Perf/learning_s")
    }
    return {
        "samples": mean["Perf/steps_per_second"],
        "collect": mean["Perf/collection_s"],
        "env": env_time,
        "learn": mean["Perf/learning_s"],
        "memory": torch.cuda.max_memory_allocated() / 1e9 if DEVICE == "cuda" else 0.0,
        "mini_batches": parts.learner_config.num_mini_batches,
        "minibatch_size": n * steps // parts.learner_config.num_mini_batches,
    }, runner


def profile(runner: Runner, rows: int) -> None:
    """One training iteration under torch's profiler: GPU kernels by total time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    gpu = DEVICE == "cuda"
    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if gpu else [ProfilerActivity.CPU]
    with torch_profile(activities=activities) as prof:
        runner.train(1)
        synchronize()
    events = prof.key_averages()
    order = "self_device_time_total" if gpu else "self_cpu_time_total"
    print(events.table(sort_by=order, row_limit=rows, max_name_column_width=70))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="*", default=[4096, 16384])
    parser.add_argument("--ppo-envs", type=int, nargs="*", default=[4096, 16384])
    parser.add_argument(
        "--ppo-mini-batches",
        type=int,
        nargs="*",
        default=[],
        help="Also measure PPO at the last --ppo-envs with these ppo.num_mini_batches (spec default: 4).",
    )
    parser.add_argument("--ppo-iterations", type=int, default=5)
    parser.add_argument(
        "--profile", action="store_true", help="Profile one iteration at the last --ppo-envs."
    )
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument(
        "--profile-physics",
        action="store_true",
        help="Kernel times of plain physics, the backend's and the env's step at each --envs.",
    )
    parser.add_argument("--buffer-sizes", nargs="*", default=[], metavar="CONTACTS:ROWS")
    parser.add_argument("--buffer-envs", type=int, default=4096)
    parser.add_argument("--kernels", default="inductor")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--device", default="cuda", help="cpu: warp's CPU device, to check the script only")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    where = (
        f"GPU {torch.cuda.get_device_name()}" if DEVICE == "cuda" else "warp's CPU device (not a measurement)"
    )
    print(f"{where}, torch {torch.__version__}, kernels {args.kernels}", flush=True)
    if args.envs:
        print(
            f"{'envs':>7} {'plain physics/s':>15} {'raw backend/s':>14} {'env eager/s':>12} {'env graph/s':>12} "
            f"{'raw/plain':>9} {'eager/plain':>11} {'graph/plain':>11} {'eager/raw':>9} {'graph/raw':>9}  env step"
        )
    for n in args.envs:
        r = env_rates(
            n, args.kernels, args.repeats, profile_rows=args.profile_rows if args.profile_physics else 0
        )
        plain = r["plain"]
        print(
            f"{n:>7} {plain:>15,.0f} {r['raw']:>14,.0f} {r['eager']:>12,.0f} {r['graph']:>12,.0f} "
            f"{r['raw'] / plain:>9.3f} {r['eager'] / plain:>11.3f} {r['graph'] / plain:>11.3f} "
            f"{r['eager'] / r['raw']:>9.3f} {r['graph'] / r['raw']:>9.3f}  {r['mode']} (set-up {r['setup']:.0f} s; "
            f"plain before/after differ {100 * r['plain_spread']:.1f} %; {r['contacts_per_env']:.1f} contacts, "
            f"{r['rows_per_env']} rows per env at peak)",
            flush=True,
        )
        its = r["iterations"]
        print(
            f"{'':>7} plain physics with the env's drawn parameters (batched per world): {r['same']:,.0f}/s; "
            f"graph / that {r['graph'] / r['same']:.3f}; mean solver iterations of the last substep: "
            f"plain {its['plain']:.2f}, with the env's parameters {its['same']:.2f}, backend {its['raw']:.2f}",
            flush=True,
        )
    if args.buffer_sizes:
        print(f"buffer sizes at {args.buffer_envs} envs (zero actions: robots fall, lie and reset)")
        print(
            f"{'contacts/env':>12} {'rows/env':>9} {'plain physics/s':>15} {'raw backend/s':>14} {'env graph/s':>12} "
            f"{'peak contacts/env':>18} {'peak rows/env':>14}"
        )
    for size in args.buffer_sizes:
        contacts, rows = (int(v) for v in size.split(":"))
        overrides = {"sim.max_contacts_per_env": contacts, "sim.max_constraints_per_env": rows}
        r = env_rates(args.buffer_envs, args.kernels, args.repeats, overrides)
        print(
            f"{r['nconmax']:>12} {r['njmax']:>9} {r['plain']:>15,.0f} {r['raw']:>14,.0f} {r['graph']:>12,.0f} "
            f"{r['contacts_per_env']:>18.2f} {r['rows_per_env']:>14}",
            flush=True,
        )
    runs = [(n, None) for n in args.ppo_envs]
    if args.ppo_envs:
        runs += [(args.ppo_envs[-1], m) for m in args.ppo_mini_batches]
        print(
            "PPO (collection + update); 'env s' is the rollout's env steps alone, with random actions; "
            "seconds per iteration"
        )
        print(
            f"{'envs':>7} {'minibatches':>11} {'minibatch':>9} {'samples/s':>12} {'collect s':>9} {'env s':>7} "
            f"{'update s':>8} {'peak torch GB':>13}"
        )
    runner = None
    for n, mini_batches in runs:
        runner = None
        if DEVICE == "cuda":
            torch.cuda.empty_cache()
        r, runner = ppo_rates(n, args.kernels, args.ppo_iterations, mini_batches)
        print(
            f"{n:>7} {r['mini_batches']:>11} {r['minibatch_size']:>9,} {r['samples']:>12,.0f} {r['collect']:>9.3f} "
            f"{r['env']:>7.3f} {r['learn']:>8.3f} {r['memory']:>13.2f}",
            flush=True,
        )
        if args.profile and (n, mini_batches) == (args.ppo_envs[-1], None):
            print(f"one training iteration at {n} envs, GPU kernels by total time:")
            try:
                profile(runner, args.profile_rows)
            except Exception as err:  # noqa: BLE001 - a profiler failure must not lose the rest of the run
                print(f"profile failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}")


if __name__ == "__main__":
    main()
