"""Benchmark: what ANYmal's collision geoms cost on the heightfield, in CPU MuJoCo.

anymal_rough runs at about a fifth of anymal_walk's env steps/s on an H100 (MuJoCo Warp). On a plane
every robot geom meets the ground through an analytic primitive collider; on a heightfield every
robot geom that comes near the ground runs GJK/EPA against each prism (two per cell) under its box,
and a foot gets up to four contacts instead of one, so the constraint solver has more rows. This
times one physics step of one ANYmal (CPU MuJoCo, the same model the GPU backend loads) on a plane
and on a rough tile, with every geom colliding, with a lean set (base box, face boxes, thigh and
shank boxes, knee cylinders, shins, feet: what touches the ground when walking or falling) and with
the feet only, and counts the contacts per step (the fastest of `--repeats` identical runs). The robot holds its default pose with random
target noise after 1 s, so it walks in place, stumbles and sometimes falls.

    OMP_NUM_THREADS=1 python bench/terrain_collisions.py --steps 1500
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import mujoco
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import TASKS, load_task  # noqa: E402
from runtime_support import assemble_task  # noqa: E402


def _env(flat: bool):
    overrides = {"sim.backend": "mujoco", "sim.device": "cpu"}
    overrides.update(
        {"terrain.type": "plane"} if flat else {"terrain.rows": 4, "terrain.cols": 6, "terrain.border": 2.0}
    )
    task = load_task(TASKS / "anymal_rough.toml", overrides)
    return assemble_task(task, num_envs=1, kernels="eager", randomize=False, capture_graph=False).env


def _geom_sets(model: mujoco.MjModel) -> dict[str, set[int] | None]:
    def body(g: int) -> str:
        return mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, int(model.geom_bodyid[g])) or ""

    box, sphere = mujoco.mjtGeom.mjGEOM_BOX, mujoco.mjtGeom.mjGEOM_SPHERE
    robot = range(1, model.ngeom)
    lean = {
        g
        for g in robot
        if g == 1
        or body(g).endswith(("FOOT", "KFE"))
        or (model.geom_type[g] == box and body(g).endswith(("thigh_fixed", "shank_fixed")))
        or (model.geom_type[g] == box and body(g).startswith("face"))
    }
    feet = {g for g in lean if body(g).endswith("FOOT") and model.geom_type[g] == sphere}
    return {f"all {len(robot)}": None, f"lean {len(lean)}": lean, f"feet {len(feet)}": feet}


def _run(env, model: mujoco.MjModel, keep: set[int] | None, steps: int) -> tuple[float, float]:
    """Microseconds per physics step and contacts per step, with only `keep` (None: all) colliding."""
    model = copy.copy(model)
    if keep is not None:
        for g in range(1, model.ngeom):
            if g not in keep:
                model.geom_contype[g] = 0
    data = mujoco.MjData(model)
    data.qpos[:3] = env.start_pos[0].numpy()
    data.qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
    data.qpos[7:] = model.qpos0[7:]
    pose = env.default_joint_pos.numpy()
    rng = np.random.default_rng(0)
    elapsed, contacts = 0.0, 0
    for i in range(steps):
        if i % 4 == 0:
            data.ctrl[:] = pose + (0.5 * rng.normal(size=pose.shape) if i > 200 else 0.0)
        start = time.perf_counter()
        mujoco.mj_step(model, data)
        elapsed += time.perf_counter() - start
        contacts += data.ncon
    return elapsed / steps * 1e6, contacts / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3, help="the fastest repeat counts (a shared machine)")
    args = parser.parse_args()
    for flat in (True, False):
        env = _env(flat)
        model = env.backend.models[0]
        ground = "plane" if flat else f"rough tile ({env.terrain_types[0]}, row {int(env.terrain_level[0])})"
        print(ground)
        for label, keep in _geom_sets(model).items():
            us, contacts = min(_run(env, model, keep, args.steps) for _ in range(args.repeats))
            print(f"  {label:8s} colliding: {us:7.1f} µs per physics step, {contacts:5.2f} contacts")


if __name__ == "__main__":
    main()
