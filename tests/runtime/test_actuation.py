"""Actuation: which joints the policy drives, with which actuator, and what the others do.

Real MuJoCo on the test cart-pole: an effort actuator applies scale x action clipped to its
limit, a passive joint swings under gravity with no torque, a locked joint is welded at its
default position (no joint of the simulation, and the body it carries never moves).
"""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
import torch
from kernel_support import ROBOTS, task_from_text
from runtime_support import assemble_task, task_backend_options

from specc.diagnostics import DiagnosticSink
from specc.task import check_task

SPEC = """
[task]
name = "cartpole_actuation"

[robot]
urdf = "{urdf}"
base = "rail"
fixed_base = true
init_height = 1.0
{robot}

[sim]
dt = 0.01
decimation = 2
num_envs = 2

[[observations]]
name = "joint_pos"
expr = "joint_pos"

[rewards.terms.alive]
expr = "1.0"
weight = 1.0

[randomization]
enabled = false
"""


def cartpole(tmp_path, robot: str):
    return task_from_text(SPEC.format(urdf=ROBOTS / "cartpole.urdf", robot=robot), tmp_path)


def env_of(task):
    return assemble_task(task, num_envs=2, kernels="eager", randomize=False, capture_graph=False).env


def test_effort_actuator_applies_scale_times_action_clipped_to_its_limit(tmp_path):
    task = cartpole(tmp_path, 'passive = ["hinge"]\n[robot.torque]\nslider = { scale = 10.0, effort = 25.0 }')
    env = env_of(task)
    assert env.num_actions == 1 and task.robot.joint_names == ["slider", "hinge"]
    env.step_eagerly(torch.tensor([[1.5], [-4.0]]))
    torque = env.backend.state().joint_torque
    assert torque[:, 0].tolist() == pytest.approx([15.0, -25.0])  # 10 x 1.5; 10 x -4 clipped to -25
    assert torque[:, 1].tolist() == [0.0, 0.0]  # the passive hinge has no actuator
    # The force accelerates the cart one way in env 0 and the other in env 1.
    velocity = env.backend.state().joint_vel[:, 0]
    assert velocity[0] > 0.1 and velocity[1] < -0.1


def test_a_passive_joint_swings_under_gravity(tmp_path):
    task = cartpole(
        tmp_path,
        'passive = ["hinge"]\nreset_joint_offset = { hinge = [0.1, 0.1] }\n'
        "[robot.torque]\nslider = { scale = 10.0 }",
    )
    env = env_of(task)
    assert env.backend.state().joint_pos[:, 1].tolist() == pytest.approx([0.1, 0.1])
    for _ in range(25):  # 0.5 s with no force on the cart: the pole falls away from upright
        env.step_eagerly(torch.zeros(2, 1))
    assert (env.backend.state().joint_pos[:, 1] > 0.3).all()  # 0.38 rad after 0.5 s


def test_a_locked_joint_is_welded_at_its_default_position(tmp_path):
    task = cartpole(
        tmp_path,
        'locked = ["hinge"]\ndefault_joint_pos = { hinge = 0.3 }\n'
        "[robot.pd]\nslider = { stiffness = 50.0, damping = 5.0, scale = 0.5 }",
    )
    assert task.robot.joint_names == ["slider"] and task.robot.locked == {"hinge": 0.3}
    env = env_of(task)
    backend = env.backend
    model = backend.model
    assert model.njnt == 1 and model.nu == 1
    pole = model.body("pole").id
    expected = np.zeros(4)
    mujoco.mju_axisAngle2Quat(expected, np.array([0.0, 1.0, 0.0]), 0.3)
    data = mujoco.MjData(model)
    for _ in range(3):
        env.step_eagerly(torch.ones(2, 1))
        data.qpos[:] = backend._state[0, backend._qpos0 : backend._qpos0 + model.nq]
        mujoco.mj_kinematics(model, data)
        assert data.xquat[pole] == pytest.approx(expected, abs=1e-9)  # the pole leans 0.3 rad, and stays
    assert backend.state().joint_pos[0, 0] > 0.0  # the PD target moved the cart
    assert math.isclose(task.robot.action_offset[0], 0.0)


def test_position_actuator_group_scales_override_the_robot_action_scale(tmp_path):
    task = cartpole(
        tmp_path,
        "action_scale = 0.5\n"
        "[robot.pd]\nslider = { stiffness = 50.0, damping = 5.0, scale = 0.1 }\n"
        "hinge = { stiffness = 5.0, damping = 0.1, effort = 2.0 }",
    )
    assert task.robot.action_scale == [0.1, 0.5]
    options = task_backend_options(task, 1, "cpu")
    assert [a.kind for a in options.actuators] == ["position", "position"]


@pytest.mark.parametrize(
    ("robot", "message"),
    [
        (
            'locked = ["hing"]\n[robot.pd]\nslider = { stiffness = 1.0, damping = 0.1 }',
            "did you mean 'hinge'",
        ),
        (
            'passive = ["hinge"]\nlocked = ["hinge"]\n[robot.pd]\nslider = { stiffness = 1.0, damping = 0.1 }',
            "both locked and passive",
        ),
        (
            '[robot.pd]\nslider = { stiffness = 1.0, damping = 0.1 }\n[robot.torque]\n"*" = { scale = 1.0 }',
            "match both [robot.pd] and [robot.torque]",
        ),
        ("[robot.pd]\nslider = { stiffness = 1.0, damping = 0.1 }", "no actuator for joint hinge"),
        ('passive = ["*"]', "the policy drives no joint"),
    ],
)
def test_bad_actuation_is_a_positioned_error(tmp_path, robot, message):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(urdf=ROBOTS / "cartpole.urdf", robot=robot), encoding="utf-8")
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    found = [d for d in sink.items if message in d.message + (d.fix or "")]
    assert found, [d.message for d in sink.items]
    assert found[0].position.line > 1
