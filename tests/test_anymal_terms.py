"""Each reward and termination of tasks/anymal_walk.toml on a few states with answers derived by hand.

Weights are the spec's times the policy step (0.02 s), since the task scales by dt.
"""

from __future__ import annotations

import math

import pytest
import torch
from kernel_support import TASKS, load_task, quat_about_x, render_module

from specc.expr.signals import KERNEL_INPUTS
from specc.runtime.kernels import load_kernels

DT = 0.02


@pytest.fixture(scope="module", params=["eager", "torchscript"])
def kernels(request, tmp_path_factory):
    task = load_task(TASKS / "anymal_walk.toml")
    return task, load_kernels(render_module(task), "anymal_walk", request.param, tmp_path_factory.mktemp("k"))


def standing(n: int = 1) -> dict[str, torch.Tensor]:
    """ANYmal standing level at 0.55 m, commanded 1.5 m/s forward and moving at exactly that."""
    zeros = torch.zeros
    return {
        "base_pos": torch.tensor([[0.0, 0.0, 0.55]]).repeat(n, 1),
        "base_quat": torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        "base_lin_vel_world": torch.tensor([[1.5, 0.0, 0.0]]).repeat(n, 1),
        "base_ang_vel_world": zeros(n, 3),
        "terrain_height": zeros(n),
        "height_scan": zeros(n, 0),
        "feet_height": zeros(n, 4),
        "terrain_level": zeros(n),
        "joint_pos": zeros(n, 12),
        "joint_vel": zeros(n, 12),
        "joint_acc": zeros(n, 12),
        "torques": zeros(n, 12),
        "actions": zeros(n, 12),
        "last_actions": zeros(n, 12),
        "commands": torch.tensor([[1.5, 0.0, 0.0]]).repeat(n, 1),
        "contact_force": zeros(n, 13, 3),
        "feet_air_time": zeros(n, 4),
        "feet_contact": torch.ones(n, 4, dtype=torch.bool),
        "feet_first_contact": zeros(n, 4, dtype=torch.bool),
        "episode_time": zeros(n),
        "episode_start_pos": zeros(n, 3),
        "frame_pos": zeros(n, 0, 3),  # ANYmal's spec reads no named frame
        "frame_quat": zeros(n, 0, 4),
        "frame_lin_vel": zeros(n, 0, 3),
        "frame_ang_vel": zeros(n, 0, 3),
        "joint_lower": zeros(n, 12) - 1.0,
        "joint_upper": zeros(n, 12) + 1.0,
    }


def terms(kernels, state) -> dict[str, float]:
    task, k = kernels
    _, total, per_term, _, _ = k.compute_step(*[state[name] for name in KERNEL_INPUTS])
    return {name: per_term[0, i].item() for i, name in enumerate(k.module.REWARD_NAMES)} | {
        "total": total[0].item()
    }


def test_perfect_tracking_gives_exactly_weight_times_one(kernels):
    r = terms(kernels, standing())
    assert r["tracking_lin_vel"] == pytest.approx(1.0 * DT, abs=1e-9)
    assert r["tracking_ang_vel"] == pytest.approx(0.5 * DT, abs=1e-9)
    for name in (
        "lin_vel_z",
        "ang_vel_xy",
        "orientation",
        "torques",
        "joint_acc",
        "action_rate",
        "feet_air_time",
        "collision",
    ):
        assert r[name] == pytest.approx(0.0, abs=1e-9), name
    assert r["total"] == pytest.approx(1.5 * DT, rel=1e-6)


def test_tracking_error_follows_the_exponential_kernel(kernels):
    state = standing()
    state["base_lin_vel_world"] = torch.tensor([[1.0, 0.3, 0.0]])  # error (0.5, -0.3)
    expected = math.exp(-(0.25 + 0.09) / 0.25) * DT
    assert terms(kernels, state)["tracking_lin_vel"] == pytest.approx(expected, rel=1e-6)


def test_tilt_is_penalized_by_the_squared_horizontal_gravity(kernels):
    state = standing()
    state["base_quat"] = torch.tensor([quat_about_x(0.3)])
    # Gravity in a base rolled by 0.3 rad has a horizontal part of sin(0.3).
    assert terms(kernels, state)["orientation"] == pytest.approx(-5.0 * math.sin(0.3) ** 2 * DT, rel=1e-5)


def test_velocities_are_measured_in_the_base_frame(kernels):
    state = standing()
    state["base_quat"] = torch.tensor([[math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]])  # yaw 90°
    state["base_lin_vel_world"] = torch.tensor([[0.0, 1.5, 0.2]])  # forward in the base frame, plus 0.2 up
    r = terms(kernels, state)
    assert r["tracking_lin_vel"] == pytest.approx(DT, rel=1e-5)
    assert r["lin_vel_z"] == pytest.approx(-2.0 * 0.04 * DT, rel=1e-5)


def test_torques_joint_acc_and_action_rate_are_sums_of_squares(kernels):
    state = standing()
    state["torques"][0, :3] = torch.tensor([10.0, -20.0, 5.0])
    state["joint_acc"][0, 0] = 100.0
    state["actions"][0, 4] = 0.5
    state["last_actions"][0, 4] = -0.5
    r = terms(kernels, state)
    assert r["torques"] == pytest.approx(-0.000025 * 525.0 * DT, rel=1e-5)
    assert r["joint_acc"] == pytest.approx(-2.5e-7 * 1e4 * DT, rel=1e-5)
    assert r["action_rate"] == pytest.approx(-0.01 * 1.0 * DT, rel=1e-5)


def test_air_time_rewards_steps_longer_than_half_a_second_at_touch_down(kernels):
    state = standing()
    state["feet_air_time"] = torch.tensor([[0.8, 0.3, 0.9, 0.0]])
    state["feet_first_contact"] = torch.tensor([[True, True, False, False]])
    # (0.8 - 0.5) + (0.3 - 0.5) for the two feet that touched down now.
    assert terms(kernels, state)["feet_air_time"] == pytest.approx(2.0 * 0.1 * DT, rel=1e-5)
    state["commands"] = torch.zeros(1, 3)  # no reward for stepping without a command
    assert terms(kernels, state)["feet_air_time"] == 0.0


def test_collision_counts_thighs_and_shanks_in_contact(kernels):
    task, k = kernels
    state = standing()
    bodies = list(k.module.CONTACT_BODIES)
    state["contact_force"][0, bodies.index("LF_SHANK")] = torch.tensor([0.0, 0.0, 5.0])
    state["contact_force"][0, bodies.index("RH_THIGH")] = torch.tensor([3.0, 0.0, 0.0])
    state["contact_force"][0, bodies.index("LF_FOOT")] = torch.tensor([0.0, 0.0, 200.0])  # feet do not count
    assert terms(kernels, state)["collision"] == pytest.approx(-1.0 * 2 * DT, rel=1e-6)


def test_the_total_is_not_clipped_when_the_spec_says_so(kernels):
    state = standing()
    state["base_lin_vel_world"] = torch.tensor([[-3.0, 0.0, 2.0]])
    assert terms(kernels, state)["total"] < 0.0  # nothing clips it: the spec says only_positive = false


def test_terminations_fire_on_base_contact_and_low_base(kernels):
    task, k = kernels
    state = standing(3)
    for index, body in enumerate(k.module.CONTACT_BODIES):  # a body in several groups has an entry in each
        if body == "base":
            state["contact_force"][1, index] = torch.tensor([0.0, 0.0, 50.0])
    state["base_pos"][2, 2] = 0.25
    *_, done, reasons = k.compute_step(*[state[name] for name in KERNEL_INPUTS])
    assert done.tolist() == [False, True, True]
    assert reasons.tolist() == [[False, False], [True, False], [False, True]]


def test_the_step_observes_what_the_observation_kernel_observes(kernels):
    task, k = kernels
    generator = torch.Generator().manual_seed(3)
    from kernel_support import random_inputs

    state = random_inputs(task, 16, generator)
    args = [state[name] for name in KERNEL_INPUTS]
    obs, reward, reward_terms, done, reasons = k.compute_step(*args)
    torch.testing.assert_close(obs, k.compute_observations(*args))
    torch.testing.assert_close(reward, reward_terms.sum(dim=-1))
    assert obs.shape == (16, 48)
