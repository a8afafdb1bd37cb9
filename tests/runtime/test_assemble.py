"""The runtime learns about a task from its generated module alone: its tables become the configs.

`specc run` keeps the module as the run folder's kernels.py, so these tables are the run's record;
they are read here the way `specc/runtime/assemble.py` reads them, without an env or a simulator.
"""

from __future__ import annotations

import dataclasses

from kernel_support import TASKS, load_task
from runtime_support import CARTPOLE, task_module

from specc.codegen.render import render_module
from specc.runtime.assemble import backend_options, env_config, learner_config, load_module


def test_a_modules_tables_hold_the_specs_settings():
    """tests/specs/cartpole.toml: dt 0.01 x decimation 2, 64 envs, 5 s episodes, [ppo] as written."""
    task = load_task(CARTPOLE)
    module = task_module(task)
    config = env_config(module)
    assert (config.physics_dt, config.decimation, config.num_envs, config.episode_length_s) == (
        0.01,
        2,
        64,
        5.0,
    )
    assert config.policy_dt == module.POLICY_DT == 0.02
    assert config.max_episode_steps == 250
    assert dataclasses.asdict(learner_config(module, "ppo")) == {
        key: tuple(value) if isinstance(value, list) else value
        for key, value in task.spec.ppo.model_dump().items()
    }


def test_the_module_source_alone_rebuilds_the_configs():
    """What a run folder keeps (the source text) gives the configs the live run had."""
    task = load_task(CARTPOLE)
    source = render_module(task)
    kept = load_module(source)
    assert env_config(kept) == env_config(task_module(task))
    assert learner_config(kept) == learner_config(task_module(task))


def test_evaluation_holds_the_eval_commands_and_training_draws_the_ranges():
    """anymal_walk draws lin_vel_x in [0, 1.5]; its [eval] holds it at 1.5."""
    module = task_module(load_task(TASKS / "anymal_walk.toml"))
    assert env_config(module).command_ranges["lin_vel_x"] == (0.0, 1.5)
    held = env_config(module, hold_eval_commands=True).command_ranges
    assert held["lin_vel_x"] == (1.5, 1.5)
    assert held["lin_vel_y"] == env_config(module).command_ranges["lin_vel_y"]  # not in [eval]: drawn


def test_an_evaluation_env_count_replaces_the_specs():
    module = task_module(load_task(CARTPOLE))
    assert env_config(module, num_envs=7).num_envs == 7
    assert backend_options(module, 7, "cpu").num_envs == 7


def test_the_backend_tracks_the_contact_bodies_and_frames_the_kernels_read():
    """One layout: the backend is built from the module's own contact and frame tables."""
    module = task_module(load_task(TASKS / "panda_push.toml"))
    options = backend_options(module, 2, "cpu")
    assert list(options.contact_bodies) == list(module.CONTACT_BODIES)
    assert [tuple(p) for p in options.contact_pairs] == [tuple(p) for p in module.CONTACT_PAIRS]
    assert [f.name for f in options.frames] == [f[0] for f in module.FRAMES]
    assert options.frames, "panda_push reads frames: the test would prove nothing without them"
    assert [a.joint for a in options.actuators] == list(module.ACTION_NAMES)
