"""Benchmark: MuJoCo physics steps per second for the real ANYmal C on this machine's CPUs.

Side by side in one run, at 1, 64 and 512 envs, holding the default pose with PD:
  - baseline: a plain single-threaded loop of mj_step over one MjData per env;
  - thread pool: the envs split over a ThreadPoolExecutor, each worker looping mj_step;
  - specc's MujocoBackend: mujoco.rollout over all envs on its own thread pool.
Prints physics steps per second (envs x steps / wall time) and the ratio to the baseline.

    python bench/backend.py [--envs 1 64 512] [--seconds 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from backend_support import anymal_backend  # noqa: E402

DECIMATION = 4


def plain_loop(backend, envs: int, policy_steps: int) -> float:
    models = [copy.deepcopy(backend.model) for _ in range(envs)]
    datas = [mujoco.MjData(m) for m in models]
    for m, d in zip(models, datas):
        mujoco.mj_setState(m, d, backend._state[0], int(mujoco.mjtState.mjSTATE_FULLPHYSICS))
    target = backend._state[0, backend._qpos0 + backend.layout.qpos_addr]
    start = time.perf_counter()
    for _ in range(policy_steps):
        for m, d in zip(models, datas):
            d.ctrl[:] = target
            for _ in range(DECIMATION):
                mujoco.mj_step(m, d)
    return time.perf_counter() - start


def thread_pool(backend, envs: int, policy_steps: int, threads: int) -> float:
    models = [copy.deepcopy(backend.model) for _ in range(envs)]
    datas = [mujoco.MjData(m) for m in models]
    for m, d in zip(models, datas):
        mujoco.mj_setState(m, d, backend._state[0], int(mujoco.mjtState.mjSTATE_FULLPHYSICS))
    target = backend._state[0, backend._qpos0 + backend.layout.qpos_addr]
    chunks = np.array_split(np.arange(envs), threads)

    def work(chunk):
        for i in chunk:
            datas[i].ctrl[:] = target
            mujoco.mj_step(models[i], datas[i], DECIMATION)

    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        for _ in range(policy_steps):
            list(pool.map(work, chunks))
        return time.perf_counter() - start


def rollout_backend(envs: int, policy_steps: int, threads: int) -> float:
    _, backend, default = anymal_backend(envs, threads=threads)
    targets = default.repeat(envs, DECIMATION, 1)
    backend.step(targets)
    start = time.perf_counter()
    for _ in range(policy_steps):
        backend.step(targets)
    elapsed = time.perf_counter() - start
    backend.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 64, 512])
    parser.add_argument(
        "--physics-steps", type=int, default=40000, help="total physics steps per measurement"
    )
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    _, reference, _ = anymal_backend(1)
    print(
        f"MuJoCo {mujoco.__version__}, ANYmal C ({reference.model.nbody - 1} bodies, {reference.model.nv} dofs), "
        f"dt {reference.physics_dt}, {threads} CPU threads"
    )
    print(f"{'envs':>6} {'method':<28} {'physics steps/s':>16} {'vs plain loop':>14}")
    for envs in args.envs:
        policy_steps = max(2, args.physics_steps // (envs * DECIMATION))
        total = envs * policy_steps * DECIMATION
        base = total / plain_loop(reference, envs, policy_steps)
        rows = [
            ("plain mj_step loop (1 thread)", base),
            (
                f"thread pool x{threads} (mj_step)",
                total / thread_pool(reference, envs, policy_steps, threads),
            ),
            (f"specc rollout x{threads}", total / rollout_backend(envs, policy_steps, threads)),
        ]
        for label, rate in rows:
            print(f"{envs:>6} {label:<28} {rate:>16,.0f} {rate / base:>13.2f}x")


if __name__ == "__main__":
    main()
