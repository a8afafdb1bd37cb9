"""Commands: when they are drawn, target commands in the world or base frame, and commands computed
from the state by an expression, on real MuJoCo envs (the test cart-pole and the ANYmal)."""

from __future__ import annotations

import math

import pytest
import torch
from kernel_support import TASKS
from runtime_support import CARTPOLE, assemble_task

from specc.diagnostics import DiagnosticSink
from specc.task import check_task


def cartpole_env(tmp_path, commands: str, observations: str = "", num_envs: int = 256, **kw):
    """The cart-pole (rail fixed 1 m up, 1 s episodes) with the given [commands] tables."""
    text = CARTPOLE.read_text().replace("../robots", str(CARTPOLE.parent.parent / "robots"))
    text = text.replace("episode_length_s = 5.0", "episode_length_s = 1.0")
    text = text.replace("[[observations]]", observations + "\n[[observations]]", 1)
    path = tmp_path / "spec.toml"
    path.write_text(text + "\n" + commands)
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink)
    assert task is not None, [f"{d.code} {d.position.line}:{d.position.col} {d.message}" for d in sink.items]
    return assemble_task(task, num_envs=num_envs, kernels="eager", randomize=False, **kw).env


def column(env, name: str) -> torch.Tensor:
    return env.commands[:, env.command_names.index(name)]


def test_world_target_is_uniform_in_its_box(tmp_path):
    env = cartpole_env(
        tmp_path,
        '[commands]\nresample = "reset"\n[commands.targets.target]\nx = [0.3, 0.6]\ny = [-0.2, 0.2]\n',
        '[[observations]]\nname = "target"\nexpr = "commands.target"\n',
    )
    assert env.command_names == ["target.x", "target.y", "target.z"]
    x, y, z = column(env, "target.x"), column(env, "target.y"), column(env, "target.z")
    assert 0.3 <= x.min() and x.max() <= 0.6 and -0.2 <= y.min() and y.max() <= 0.2
    assert torch.all(z == 0.0)  # an absent axis is [0, 0]
    assert x.mean() == pytest.approx(0.45, abs=0.02) and y.mean() == pytest.approx(0.0, abs=0.03)
    assert x.std() == pytest.approx(0.3 / math.sqrt(12), rel=0.15)  # uniform, not clustered
    assert torch.equal(env.obs[:, :3], env.commands)  # the spec reads it as one 3-vector


def test_base_frame_target_is_expressed_in_the_base_pose_of_the_draw():
    # The ANYmal after a second of random actions has fallen or tilted: draw in its base frame.
    from kernel_support import load_task

    task = load_task(
        TASKS / "anymal_walk.toml",
        {
            "commands.targets": {
                "goal": {"frame": "base", "x": [1.0, 2.0], "y": [-0.5, 0.5], "z": [0.2, 0.2]}
            },
            "randomization.enabled": False,
        },
    )
    env = assemble_task(task, num_envs=4, kernels="eager", randomize=False).env
    generator = torch.Generator().manual_seed(0)
    for _ in range(25):
        env.step(torch.randn(4, env.num_actions, generator=generator) * 2.0)
    env._sample_commands(torch.ones(4, dtype=torch.bool))
    state = env.backend.state()
    start = env.command_names.index("goal.x")
    world = env.commands[:, start : start + 3]
    from specc.runtime.rotations import quat_rotate_inverse

    local = quat_rotate_inverse(state.root_quat, world - state.root_pos)
    assert torch.all((local[:, 0] >= 1.0 - 1e-5) & (local[:, 0] <= 2.0 + 1e-5))
    assert torch.all(local[:, 1].abs() <= 0.5 + 1e-5)
    assert torch.allclose(local[:, 2], torch.full((4,), 0.2), atol=1e-5)
    assert state.root_quat[:, 0].abs().min() < 0.9999  # the bases did turn: the frame matters


def test_orientation_target_is_a_unit_quaternion_with_the_drawn_yaw(tmp_path):
    env = cartpole_env(
        tmp_path,
        "[commands.targets.facing]\nyaw = [-1.0, 1.0]\n",
        '[[observations]]\nname = "facing_yaw"\nexpr = "yaw(commands.facing)"\n',
    )
    q = env.commands[:, 0:4]
    assert env.command_names[:4] == ["facing.w", "facing.x", "facing.y", "facing.z"]
    assert torch.allclose(q.norm(dim=-1), torch.ones(len(q)), atol=1e-6)
    assert torch.all(q[:, 1:3] == 0.0)  # no roll, no pitch
    yaw = env.obs[:, 0]
    assert torch.allclose(yaw, 2 * torch.atan2(q[:, 3], q[:, 0]), atol=1e-5)
    assert yaw.min() >= -1.0 - 1e-6 and yaw.max() <= 1.0 + 1e-6 and yaw.std() > 0.4


def _commands_over(env, steps: int) -> list[torch.Tensor]:
    seen = []
    for _ in range(steps):
        env.step(torch.zeros(env.num_envs, env.num_actions))
        seen.append(env.commands.clone())
    return seen


@pytest.mark.parametrize(("mode", "changes"), [("reset", False), ("both", True), ("interval", True)])
def test_reset_only_commands_hold_for_the_episode(tmp_path, mode, changes):
    # resample_s = 0.1 s is five policy steps; the zero policy keeps the pole up for the 1 s episode.
    env = cartpole_env(
        tmp_path,
        f'[commands]\nresample = "{mode}"\nresample_s = 0.1\n[commands.ranges]\nv = [-1.0, 1.0]\n',
        num_envs=8,
    )
    first = env.commands.clone()
    seen = _commands_over(env, 20)
    assert not torch.equal(seen[3], seen[10]) if changes else all(torch.equal(c, first) for c in seen[:45])


def test_interval_commands_carry_over_a_reset(tmp_path):
    env = cartpole_env(
        tmp_path,
        '[commands]\nresample = "interval"\nresample_s = 0.3\n[commands.ranges]\nv = [-1.0, 1.0]\n',
        num_envs=8,
    )
    seen = _commands_over(env, 50)  # 1 s episodes: steps 49 ends the first, 50 starts the second
    assert torch.equal(seen[48], seen[49])  # the reset at the episode's end drew nothing


def test_computed_heading_command_is_a_yaw_rate(tmp_path):
    env = cartpole_env(
        tmp_path,
        """[values]
heading_error = "wrap_angle(commands.heading - yaw(base_quat))"
[commands.ranges]
heading = [-3.1, 3.1]
[commands.computed]
ang_vel_yaw = "clamp(0.5 * value.heading_error, -1.0, 1.0)"
""",
        '[[observations]]\nname = "yaw_rate"\nexpr = "commands.ang_vel_yaw"\n'
        '[[observations]]\nname = "error"\nexpr = "value.heading_error"\n',
        num_envs=64,
    )
    heading = column(env, "heading")
    expected = torch.clamp(0.5 * heading, -1.0, 1.0)  # the rail does not turn: yaw(base_quat) = 0
    assert torch.allclose(column(env, "ang_vel_yaw"), expected, atol=1e-6)
    assert torch.allclose(env.obs[:, 0], expected, atol=1e-6)  # observations read the computed value
    assert torch.allclose(env.obs[:, 1], heading, atol=1e-6)  # and the named value it was computed from
    assert (expected.abs() == 1.0).any() and (expected.abs() < 1.0).any()
    env.step(torch.zeros(64, env.num_actions))
    assert torch.allclose(column(env, "ang_vel_yaw"), torch.clamp(0.5 * column(env, "heading"), -1.0, 1.0))


def _lint(tmp_path, commands: str) -> list[tuple[str, int, int]]:
    text = CARTPOLE.read_text().replace("../robots", str(CARTPOLE.parent.parent / "robots")) + "\n" + commands
    path = tmp_path / "spec.toml"
    path.write_text(text)
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    return [(d.code, d.position.line, d.position.col) for d in sink.items], text


def test_a_computed_command_may_not_read_computed_commands(tmp_path):
    found, text = _lint(
        tmp_path,
        '[values]\nturn = "commands.a * 2.0"\n[commands.ranges]\nh = [0.0, 1.0]\n'
        '[commands.computed]\na = "commands.h"\nb = "value.turn + 1.0"\n',
    )
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("b = "))
    assert found == [("SPC218", line, len('b = "') + 1)]


def test_unknown_command_gets_did_you_mean(tmp_path):
    found, text = _lint(
        tmp_path,
        '[commands.targets.target]\nx = [0.0, 1.0]\n[values]\nd = "norm(commands.traget - base_pos)"\n',
    )
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("d = "))
    assert found == [("SPC207", line, len('d = "norm(commands.') + 1)]


def test_a_target_is_a_position_or_an_orientation(tmp_path):
    found, text = _lint(tmp_path, "[commands.targets.target]\nx = [0.0, 1.0]\nyaw = [0.0, 1.0]\n")
    line = text.splitlines().index("[commands.targets.target]") + 1
    assert found == [("SPC104", line, len("[commands.targets.") + 1)]
