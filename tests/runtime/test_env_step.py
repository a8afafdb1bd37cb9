"""The env step is capturable: no host synchronisation, state updated in place, finished envs masked.

These properties are what lets a GPU backend replay the whole step from one CUDA graph
(specc/runtime/step_graph.py); they are checked here on the CPU, where CI runs, on the real
ANYmal task with its randomization, pushes, command resampling and resets all active.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import pytest
import torch
from kernel_support import TASKS, load_task
from runtime_support import assemble_task, task_backend_options
from torch.utils._python_dispatch import TorchDispatchMode

from specc.diagnostics import DiagnosticSink
from specc.runtime.env import TaskEnv
from specc.task import check_task

# aten ops that make the host wait for the device (or only exist to feed a Python branch), and
# `lift_fresh`: a tensor made from host data, a host-to-device copy that a CUDA graph capture forbids.
SYNCING_OPS = (
    "nonzero",
    "_local_scalar_dense",
    "is_nonzero",
    "item",
    "masked_select",
    "unique",
    "lift_fresh",
)

HOST_BACKEND = str(Path("backends") / "mujoco.py")


class RecordOps(TorchDispatchMode):
    """Record the aten ops of the env and its kernels. Ops issued inside the CPU backend are left out: its
    state lives on the host, so it converts from host arrays by design (it is not a capturable backend)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not any(frame.filename.endswith(HOST_BACKEND) for frame in traceback.extract_stack()):
            self.names.append(func.__name__.split(".")[0])
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope="module")
def env():
    task = load_task(TASKS / "anymal_walk.toml")
    return assemble_task(task, backend="mujoco", device="cpu", num_envs=6, kernels="eager", num_threads=1).env


def _force_events(env) -> None:
    """Make the next step end two episodes by time-out, resample commands and push."""
    cfg = env.config
    env.episode_step.fill_(3)
    env.episode_step[[1, 4]] = cfg.max_episode_steps - 1
    env.episode_step[2] = round(cfg.resample_s / cfg.policy_dt) - 1
    interval = round(cfg.randomization.push_interval_s / cfg.policy_dt)
    env.step_count.fill_(interval - 1)


def test_a_step_with_resets_pushes_and_resampling_never_syncs_with_the_device(env):
    _force_events(env)
    with RecordOps() as ops:
        result = env.step_eagerly(torch.zeros(env.num_envs, env.num_actions))
    assert result.done.tolist() == [False, True, False, False, True, False]
    syncing = sorted({name for name in ops.names if name in SYNCING_OPS})
    assert not syncing, f"the env step calls {syncing}, which wait for the device or copy from the host"


def test_targets_computed_commands_and_judging_never_sync_with_the_device():
    overrides = {
        "commands.targets": {
            "goal": {"frame": "base", "x": [1.0, 2.0], "y": [-0.5, 0.5]},
            "facing": {"frame": "base", "yaw": [-3.0, 3.0]},
        },
        "commands.computed": {
            "turn": "clamp(0.5 * wrap_angle(yaw(commands.facing) - yaw(base_quat)), -1.0, 1.0)"
        },
        "eval.success": "norm(base_pos.xy - episode_start_pos.xy) >= 10.0",
    }
    task = load_task(TASKS / "anymal_walk.toml", overrides)
    env = assemble_task(task, num_envs=6, kernels="eager", num_threads=1, judge=True).env
    _force_events(env)
    with RecordOps() as ops:
        result = env.step_eagerly(torch.zeros(env.num_envs, env.num_actions))
    assert result.success is not None and result.done.tolist() == [False, True, False, False, True, False]
    syncing = sorted({name for name in ops.names if name in SYNCING_OPS})
    assert not syncing, f"the env step calls {syncing}, which wait for the device or copy from the host"


def test_state_buffers_keep_their_storage_across_steps_and_resets(env):
    before = {name: getattr(env, name).data_ptr() for name in TaskEnv.STATE_BUFFERS}
    _force_events(env)
    for _ in range(3):
        env.step_eagerly(torch.randn(env.num_envs, env.num_actions))
    moved = [name for name in TaskEnv.STATE_BUFFERS if getattr(env, name).data_ptr() != before[name]]
    assert not moved, f"{moved} were replaced, not updated in place: a replayed CUDA graph would not see them"


def test_masked_resets_start_new_episodes_only_where_episodes_ended(env):
    _force_events(env)
    commands, steps = env.commands.clone(), env.episode_step.clone()
    result = env.step_eagerly(torch.zeros(env.num_envs, env.num_actions))
    ended = result.done
    assert env.episode_step[ended].tolist() == [0, 0]
    assert torch.equal(env.episode_step[~ended], steps[~ended] + 1)
    assert (env.commands[[0, 3, 5]] == commands[[0, 3, 5]]).all()  # untouched: no reset, no resample
    assert not (env.commands[2] == commands[2]).all()  # resampled at its resample time
    assert torch.allclose(env.start_pos[ended, 2], torch.full((2,), env.config.init_height))


def test_on_the_cpu_the_step_runs_eagerly_and_says_why(env):
    assert env.graph.mode == "eager (not a CUDA device)"


def test_gpu_buffer_sizes_in_the_spec_reach_the_backend():
    overrides = {"sim.max_contacts_per_env": 7, "sim.max_constraints_per_env": 55}
    task = check_task(TASKS / "anymal_walk.toml", DiagnosticSink("anymal"), overrides)
    options = task_backend_options(task, 4, "cuda")
    assert (options.max_contacts_per_env, options.max_constraints_per_env) == (7, 55)
