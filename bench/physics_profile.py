"""Where MuJoCo Warp's time goes for specc's ANYmal C model: raw physics rate of model variants, side by side.

The GPU issue's reference (shared/gpu/README.md) quotes 4.6 M physics steps/s at 4,096 worlds and
8.1 M at 16,384 for "the real ANYmal C collision model"; specc's model with sensors stepped slower. This script
takes specc's compiled model with its MuJoCo sensors (as the CPU backend builds it) and changes
one thing at a time (sensors off, as the GPU backend now builds it; Euler instead of
implicitfast, fewer solver iterations, elliptic cones, smaller buffers), and reports the physics
steps per second of each, graph-captured, with every robot holding its default pose.

    python bench/physics_profile.py --envs 4096 16384
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import load_task  # noqa: E402
from runtime_support import task_backend_options  # noqa: E402

from specc.codegen.layout import contact_layout  # noqa: E402
from specc.runtime.backends.mujoco_model import RANDOMIZED_FIELDS, build_model  # noqa: E402


def variants(model: mujoco.MjModel) -> dict[str, tuple[mujoco.MjModel, int, int, bool]]:
    """name -> (model, contacts per world, constraint rows per world, randomized fields batched per world)."""
    out = {}

    def variant(name: str, change=None, contacts: int = 90, rows: int = 396, batched: bool = True) -> None:
        m = copy.deepcopy(model)
        if change:
            change(m)
        out[name] = (m, contacts, rows, batched)

    variant("with sensors (buffers 90 / 396)")
    variant("randomized fields not batched", batched=False)
    variant("buffers 32 / 160", contacts=32, rows=160)
    variant(
        "sensors off (the GPU backend's model)",
        lambda m: setattr(m.opt, "disableflags", m.opt.disableflags | mujoco.mjtDisableBit.mjDSBL_SENSOR),
    )
    variant("Euler integrator", lambda m: setattr(m.opt, "integrator", mujoco.mjtIntegrator.mjINT_EULER))
    variant(
        "solver 4 / 8 iterations",
        lambda m: (setattr(m.opt, "iterations", 4), setattr(m.opt, "ls_iterations", 8)),
    )
    variant("elliptic cones", lambda m: setattr(m.opt, "cone", mujoco.mjtCone.mjCONE_ELLIPTIC))

    def everything(m: mujoco.MjModel) -> None:
        m.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_SENSOR
        m.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
        m.opt.iterations, m.opt.ls_iterations = 4, 8

    variant("all of these, buffers 32 / 160", everything, 32, 160, batched=False)
    return out


def rate(
    model, n: int, contacts: int, rows: int, batched: bool, default_pose: np.ndarray, steps: int
) -> float:
    data = mujoco.MjData(model)
    data.ctrl[:] = default_pose
    m = mjw.put_model(model, batch_sizes={name: n for name in RANDOMIZED_FIELDS} if batched else None)
    d = mjw.put_data(model, data, nworld=n, nconmax=contacts, njmax=rows)
    for _ in range(4):
        mjw.step(m, d)
    with wp.ScopedCapture() as capture:
        for _ in range(4):
            mjw.step(m, d)
    for _ in range(5):
        wp.capture_launch(capture.graph)
    wp.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        wp.capture_launch(capture.graph)
    wp.synchronize()
    return n * 4 * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    task = load_task(ROOT / "tasks" / "anymal_walk.toml")
    bodies, _ = contact_layout(task)
    model, layout = build_model(
        task.robot.urdf, task.robot.joint_names, task_backend_options(task, 1, "cuda"), bodies
    )
    pose = np.asarray(task.robot.default_joint_pos)
    print(
        f"ANYmal C: {model.ngeom} geoms, {model.nsensor} sensors ({model.nsensordata} values), nv {model.nv}; "
        f"{wp.get_device().name}"
    )
    print(f"{'variant':<34}" + "".join(f"{n:>14,}" for n in args.envs) + "   (physics steps/s)")
    for name, (m, contacts, rows, batched) in variants(model).items():
        rates = [rate(m, n, contacts, rows, batched, pose, args.steps) for n in args.envs]
        print(f"{name:<34}" + "".join(f"{r:>14,.0f}" for r in rates))


if __name__ == "__main__":
    main()
