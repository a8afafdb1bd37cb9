"""The physics backends by name: the one list the schema, the CLI and the runtime derive theirs from."""

from __future__ import annotations

from typing import Literal, get_args

BackendName = Literal["mujoco", "mujoco-warp", "isaacgym"]
BACKENDS: tuple[str, ...] = get_args(BackendName)
# Isaac Gym is a compile target (`specc compile --target isaacgym`): specc's runtime cannot import it.
RUNTIME_BACKENDS: tuple[str, ...] = ("mujoco", "mujoco-warp")
