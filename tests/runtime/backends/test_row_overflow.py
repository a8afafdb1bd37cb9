"""MuJoCo Warp's constraint rows are a limit of each world (`PER_ENV_OVERFLOWS` holds NEFC and NJMAX_NNZ),
not a buffer whose overflow stops the run: a world whose rows do not fit loses them for that step, so
its env's step counts as diverged (the env resets), and `check_health` raises `BufferOverflow`, naming
the setting and the size to raise it to, only when such steps exceed `PER_ENV_OVERFLOW_LIMIT` of a
rollout's env steps. ANYmal C standing on four feet needs 16 pyramidal contact rows; 8 leave it short.

On warp's CPU device (slowly; skipped where MuJoCo Warp is not installed, as in CI).
"""

from __future__ import annotations

import re

import pytest
import torch

pytest.importorskip("mujoco_warp")

from kernel_support import TASKS, load_task  # noqa: E402
from runtime_support import task_backend_options  # noqa: E402

from specc.runtime.backends import mujoco_warp as backend_module  # noqa: E402
from specc.runtime.backends.mujoco_warp import BufferOverflow, MujocoWarpBackend  # noqa: E402

NUM_ENVS = 4
FOUR_FEET_ROWS = 16  # four contacts, four pyramidal rows each
SUBSTEPS = 4


def _anymal(max_rows: int | None) -> tuple[MujocoWarpBackend, torch.Tensor]:
    """anymal_walk's robot in MuJoCo Warp on the CPU, `max_rows` constraint rows per env (None: the
    default size), every env at the spec's initial pose; and the default joint positions."""
    overrides = {"sim.backend": "mujoco-warp", "sim.device": "cpu"}
    if max_rows is not None:
        overrides["sim.max_constraints_per_env"] = max_rows
    task = load_task(TASKS / "anymal_walk.toml", overrides)
    options = task_backend_options(task, NUM_ENVS, "cpu")
    backend = MujocoWarpBackend(task.robot.urdf, task.robot.joint_names, options)
    return backend, torch.tensor(task.robot.default_joint_pos)


def _lift(backend: MujocoWarpBackend, default: torch.Tensor, envs: list[int], height: float) -> None:
    """Put the robots of `envs` at `height` in the default pose, still."""
    mask = torch.zeros(NUM_ENVS, dtype=torch.bool)
    mask[envs] = True
    root = backend.state().root_pos.clone()
    root[:, 2] = height
    backend.reset(
        mask,
        root,
        torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(NUM_ENVS, 1),
        default.repeat(NUM_ENVS, 1),
        torch.zeros(NUM_ENVS, len(default)),
    )


def _hold(backend: MujocoWarpBackend, default: torch.Tensor, seconds: float) -> None:
    """Step with the default pose as PD target for `seconds`."""
    targets = default.repeat(NUM_ENVS, SUBSTEPS, 1)
    for _ in range(round(seconds / (backend.physics_dt * SUBSTEPS))):
        backend.step(targets)


def test_a_world_whose_rows_overflow_has_its_step_counted_diverged_and_a_clear_error_at_the_check(capfd):
    """Envs 0 and 1 land on their feet (rows overflow), envs 2 and 3 hang 3 m up, touching nothing."""
    backend, default = _anymal(max_rows=8)
    _lift(backend, default, [2, 3], 3.0)
    capfd.readouterr()
    _hold(backend, default, 0.2)  # the standing robots' feet reach the ground after ~0.1 s
    # MuJoCo Warp's own overflow prints (device printf, into specc's stdout and `specc eval --json`) are off.
    assert "overflow" not in capfd.readouterr().out

    assert backend.state().diverged.tolist() == [True, True, False, False]
    assert int((backend.overflow & backend._per_env_mask).sum()) == 0  # flags cleared after each step
    with pytest.raises(BufferOverflow, match="NEFC") as error:
        backend.check_health()
    message = str(error.value)
    assert "raise sim.max_constraints_per_env to at least" in message
    needed = int(re.search(r"to at least (\d+) \(now 8\)", message).group(1))
    assert needed >= 2 * FOUR_FEET_ROWS
    # Only the landed half of the envs overflowed, in the steps after they landed.
    share = backend.counters["Physics/overflow_share_nefc"]
    assert backend_module.PER_ENV_OVERFLOW_LIMIT < share <= 0.5


def test_an_overflow_share_under_the_limit_is_counted_not_fatal(monkeypatch):
    backend, default = _anymal(max_rows=8)
    _hold(backend, default, 0.2)
    assert backend.state().diverged.all()
    monkeypatch.setattr(backend_module, "PER_ENV_OVERFLOW_LIMIT", 0.9)
    backend.check_health()  # each world's rows overflowed in some steps: counted, no buffer error
    assert 0 < backend.counters["Physics/overflow_share_nefc"] <= 0.9


def test_with_the_default_buffers_a_standing_robot_never_overflows():
    backend, default = _anymal(max_rows=None)
    _hold(backend, default, 0.5)

    assert not backend.state().diverged.any()
    backend.check_health()
    assert backend.counters["Physics/overflow_share_nefc"] == 0
    assert backend.counters["Physics/overflow_share_njmax_nnz"] == 0
    # At their fullest the rows held the four feet's contacts, far under the default size.
    assert backend.counters["Physics/peak_contacts_per_env"] == 4
    assert backend.counters["Physics/peak_rows_per_env"] == FOUR_FEET_ROWS < backend.njmax
