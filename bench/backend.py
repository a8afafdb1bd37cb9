"""Benchmark: the CPU ceiling for the real ANYmal C, against specc's env step and PPO, in one run.

Side by side, at each env count (default 64, 128, 256), on this machine's cores:
  - ceiling: plain MuJoCo physics of the backend's own MjModel, threaded: `mj_step` over the envs
    on a thread pool, and `mujoco.rollout` on the same per-env models, the faster of the two;
  - specc's MujocoBackend step alone (rollout, then reading the state back);
  - specc's env step (zero actions: PD holding the default pose, as the ceiling does; randomization,
    latency, kernels, resets and observations included);
  - PPO samples/s with the spec's CPU profile (collection, then the update), as `specc run` runs it,
    and its split into collection and update;
  - the same PPO iteration with torch on every core (what the runner did before it ran torch on one
    thread next to MuJoCo's threads: `TaskEnv.cores_for_physics`).
Prints env steps per second (physics steps / decimation), each one's share of the ceiling, and the
load average: the machine is shared, so compare the ratios of one run, not figures across runs.

    python bench/backend.py [--envs 64 128 256] [--seconds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mujoco
import numpy as np
import torch
from mujoco import rollout

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))  # runtime_support: the tests' way to assemble a task
TASK = ROOT / "tasks" / "anymal_walk.toml"


def cpu_task():
    """anymal_walk resolved as `specc run` resolves it on the CPU (its [profile.cpu])."""
    from specc.diagnostics import DiagnosticSink
    from specc.task import check_task

    sink = DiagnosticSink(str(TASK))
    task = check_task(TASK, sink, run_on="cpu")
    assert task is not None, [d.message for d in sink.items]
    return task


def rate(work, steps_per_call: int, seconds: float) -> float:
    """Calls of `work` per second x `steps_per_call`: the median of five timed slices of `seconds` / 5."""
    work()  # warm up
    slices = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5 or calls == 0:
            work()
            calls += 1
        slices.append(calls * steps_per_call / elapsed)
    return statistics.median(slices)


def plain_physics(backend, decimation: int, threads: int, seconds: float) -> tuple[float, str]:
    """Env steps/s of plain MuJoCo on the backend's model, threaded: the better of a thread pool over
    mj_step and mujoco.rollout (no state read back, no kernels, no Python per env in rollout)."""
    envs = backend.num_envs
    models = [copy.deepcopy(backend.model) for _ in range(envs)]
    datas = [mujoco.MjData(m) for m in models]
    full = int(mujoco.mjtState.mjSTATE_FULLPHYSICS)
    for m, d in zip(models, datas):
        mujoco.mj_setState(m, d, backend._state[0], full)
    target = backend._state[0, backend._qpos0 + backend.layout.qpos_addr]
    chunks = np.array_split(np.arange(envs), threads)

    def work(chunk):
        for i in chunk:
            datas[i].ctrl[:] = target
            mujoco.mj_step(models[i], datas[i], decimation)

    with ThreadPoolExecutor(threads) as pool:
        pooled = rate(lambda: list(pool.map(work, chunks)), envs, seconds)
    state = np.tile(backend._state[0], (envs, 1))
    control = np.tile(target, (envs, decimation, 1))
    state_out = np.empty((envs, decimation, state.shape[1]))
    sensors = np.empty((envs, decimation, backend.model.nsensordata))
    run_datas = [mujoco.MjData(backend.model) for _ in range(threads)]
    with rollout.Rollout(nthread=threads) as runner:

        def step():
            runner.rollout(
                models,
                run_datas,
                state,
                control,
                state=state_out,
                sensordata=sensors,
                nstep=decimation,
                skip_checks=True,
            )
            state[:] = state_out[:, -1]

        rolled = rate(step, envs, seconds)
    return (pooled, "mj_step pool") if pooled >= rolled else (rolled, "rollout")


def measure(task, envs: int, threads: int, seconds: float) -> dict[str, float | str]:
    from runtime_support import assemble_task

    from specc.runtime.runner import Runner

    parts = assemble_task(task, num_envs=envs, device="cpu", num_threads=threads)
    env, backend = parts.env, parts.backend
    ceiling, how = plain_physics(backend, env.config.decimation, threads, seconds)
    holding = env.action_offset.expand(envs, env.config.decimation, -1).contiguous()
    zeros = torch.zeros(envs, env.num_actions)
    with torch.no_grad(), env.cores_for_physics():
        backend_rate = rate(lambda: backend.step(holding), envs, seconds)
        env_rate = rate(lambda: env.step(zeros), envs, seconds)
    runner = Runner(env, parts.learner_config)
    cfg = runner.config
    samples = cfg.num_steps_per_env * envs

    def iteration(all_threads: bool) -> tuple[float, float]:
        context = contextlib.nullcontext() if all_threads else env.cores_for_physics()
        with context:
            start = time.perf_counter()
            with torch.no_grad():
                runner._collect()
            collected = time.perf_counter() - start
            batches = runner.storage.minibatches(
                cfg.num_mini_batches, cfg.num_learning_epochs, runner.generator
            )
            runner.ppo.update(batches)
            return collected, time.perf_counter() - start - collected

    iteration(False)
    rounds = max(2, round(seconds / 0.5))
    ours, others = [], []
    for _ in range(rounds):  # alternated, so both see the same machine load
        ours.append(iteration(False))
        others.append(iteration(True))
    collect = statistics.median(c for c, _ in ours)
    update = statistics.median(u for _, u in ours)
    backend.close()
    return {
        "ceiling": ceiling,
        "ceiling_method": how,
        "backend": backend_rate,
        "env": env_rate,
        "ppo": samples / (collect + update),
        "collect": samples / collect,
        "update_s": update,
        "ppo_all_threads": samples / statistics.median(c + u for c, u in others),
        "collect_all_threads": samples / statistics.median(c for c, _ in others),
        "update_all_threads_s": statistics.median(u for _, u in others),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per measurement")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    task = cpu_task()
    ppo = task.spec.ppo
    print(
        f"MuJoCo {mujoco.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{threads} cores; anymal_walk [profile.cpu]: decimation {task.spec.sim.decimation}, "
        f"networks {list(ppo.actor_hidden_dims)}, {ppo.num_steps_per_env} steps/env, "
        f"{ppo.num_learning_epochs} epochs x {ppo.num_mini_batches} minibatches"
    )
    print("env steps/s (physics steps / decimation); share of the ceiling in brackets")
    header = (
        f"{'envs':>5} {'ceiling':>17} {'backend step':>15} {'env step':>15} {'PPO samples/s':>15} "
        f"{'collect':>8} {'update s':>9} {'PPO, torch x' + str(torch.get_num_threads()):>15} {'update s':>9} "
        f"{'load':>5}"
    )
    print(header)
    for envs in args.envs:
        m = measure(task, envs, threads, args.seconds)
        c = float(m["ceiling"])

        def cell(value: float, width: int = 15, c: float = c) -> str:
            return f"{value:>{width - 7},.0f} ({value / c:.2f})"

        print(
            f"{envs:>5} {c:>9,.0f} {m['ceiling_method']:>7} {cell(m['backend'])} {cell(m['env'])} "
            f"{cell(m['ppo'])} {m['collect']:>8,.0f} {m['update_s']:>9.3f} {cell(m['ppo_all_threads'])} "
            f"{m['update_all_threads_s']:>9.3f} {os.getloadavg()[0]:>5.1f}"
        )


if __name__ == "__main__":
    main()
