"""Physics backends behind one protocol (`base.Backend`); `create_backend` picks one by name.

Only the backend modules import a simulator, and only when that backend is asked for.
"""

from __future__ import annotations

from specc.model.backends import RUNTIME_BACKENDS
from specc.model.urdf import Urdf
from specc.runtime.backends.base import Backend, BackendOptions


def create_backend(name: str, urdf: Urdf, joint_names: list[str], options: BackendOptions) -> Backend:
    if name == "mujoco":
        from specc.runtime.backends.mujoco import MujocoBackend

        return MujocoBackend(urdf, joint_names, options)
    if name == "mujoco-warp":
        from specc.runtime.backends.mujoco_warp import MujocoWarpBackend

        return MujocoWarpBackend(urdf, joint_names, options)
    raise ValueError(f"specc's runtime has no backend '{name}'; choose one of {', '.join(RUNTIME_BACKENDS)}")
