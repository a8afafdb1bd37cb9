"""Render an episode offscreen with MuJoCo's renderer and write it as a video.

Rendering needs an OpenGL context without a display: EGL where a driver provides it
(GPU hosts, and Mesa's software EGL on a CPU), or OSMesa. MUJOCO_GL picks it, and MuJoCo
reads it once, at import: `specc play` sets EGL before importing anything else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def choose_gl_platform() -> str:
    """Pick EGL unless the user chose: call before anything imports mujoco, which reads MUJOCO_GL once."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    if os.environ["MUJOCO_GL"] in ("egl", "osmesa"):
        os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    return os.environ["MUJOCO_GL"]


def open_renderer(model, width: int, height: int):
    import mujoco

    try:
        return mujoco.Renderer(model, height=height, width=width)
    except Exception as err:  # noqa: BLE001 - any GL failure becomes one clear message
        raise RuntimeError(
            f"offscreen rendering with MUJOCO_GL={os.environ.get('MUJOCO_GL')} failed ({err}); "
            "install Mesa's EGL (libegl1) or OSMesa (libosmesa6) and set MUJOCO_GL"
        ) from None


def record(backend, step, frames: int, path: Path, fps: int, width: int = 640, height: int = 480) -> int:
    """Call `step()` `frames` times, rendering env 0 of a MuJoCo backend after each; returns frames written."""
    import imageio.v2 as imageio
    import mujoco

    model = backend.model
    data = mujoco.MjData(model)
    renderer = open_renderer(model, width, height)
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    camera.trackbodyid = backend.layout.base_body
    camera.distance, camera.elevation, camera.azimuth = 2.5, -20.0, 120.0
    option = mujoco.MjvOption()
    option.geomgroup[3] = 1  # collision geometry is all the robot has
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    # imageio.v2's functions are unannotated: mypy infers a base class without append_data.
    writer: Any = imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7, macro_block_size=8)
    with writer:
        for _ in range(frames):
            step()
            mujoco.mj_setState(model, data, backend._state[0], int(mujoco.mjtState.mjSTATE_FULLPHYSICS))
            mujoco.mj_forward(model, data)
            renderer.update_scene(data, camera=camera, scene_option=option)
            writer.append_data(renderer.render())
            written += 1
    renderer.close()
    return written


def record_policy(env, act, seconds: float, path: Path) -> tuple[int, int]:
    """Run the policy `act` (observations -> actions) on `env` from a reset for `seconds` of env time,
    rendering env 0 after each policy step; returns the frames written and their rate (one per step)."""
    import torch

    policy_dt = env.config.policy_dt
    fps = round(1 / policy_dt)
    obs = env.reset_all()

    @torch.no_grad()
    def step() -> None:
        nonlocal obs
        obs = env.step(act(obs)).obs

    return record(env.backend, step, max(1, round(seconds / policy_dt)), path, fps), fps
