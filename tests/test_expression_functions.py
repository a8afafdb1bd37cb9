"""The angle and vector functions and named values: hand-computed results and positioned errors.

The property tests (test_codegen_matches_reference.py) show that codegen agrees with the reference
evaluator on random inputs; these pin both to numbers worked out by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from kernel_support import ROBOTS, random_inputs, render_module, task_from_text

from specc.diagnostics import DiagnosticSink
from specc.expr.signals import KERNEL_INPUTS
from specc.runtime.kernels import load_kernels
from specc.task import check_task

SPEC = f"""
[task]
name = "functions"
[robot]
urdf = "{(ROBOTS / "cartpole.urdf").as_posix()}"
base = "rail"
fixed_base = true
init_height = 1.0
[robot.pd]
"*" = {{ stiffness = 1.0, damping = 0.1, effort = 10.0 }}
[commands.ranges]
heading = [-3.0, 3.0]
[[observations]]
name = "o"
expr = "joint_pos"
[rewards]
scale_by_dt = false
[rewards.terms.r]
expr = "{{expr}}"
weight = 1.0
{{values}}
"""


def compile_expression(tmp_path: Path, expr: str, values: str = ""):
    task = task_from_text(SPEC.replace("{expr}", expr).replace("{values}", values), tmp_path)
    return load_kernels(render_module(task), "functions", "eager", tmp_path / "cache")


def reward_of(kernels, n: int = 1, **overrides) -> torch.Tensor:
    inputs = random_inputs(kernels_task_sizes, n, torch.Generator().manual_seed(0))
    for name, value in overrides.items():
        inputs[name] = torch.as_tensor(value, dtype=inputs[name].dtype).reshape(inputs[name].shape)
    _, total, _, _, _ = kernels.compute_step(*[inputs[name] for name in KERNEL_INPUTS])
    return total


class _Sizes:
    """random_inputs needs only the task's sizes: the cart-pole's 2 joints, 1 command."""

    num_actions = 2
    command_names = ("heading",)
    robot = type("R", (), {"body_groups": {"feet": []}, "joints": [None, None]})()
    frames_read: list[str] = []  # no named frames, no contact pairs
    contact_groups_read: list[str] = []
    # A plane with no height scan.
    spec = type("S", (), {"terrain": type("T", (), {"type": "plane", "height_scan": None})()})()


kernels_task_sizes = _Sizes()


@pytest.fixture(autouse=True)
def _sizes(monkeypatch):
    import kernel_support

    monkeypatch.setattr(kernel_support, "contact_layout", lambda task: ([], {}))


def yaw_quat(angle: float) -> list[float]:
    return [math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2)]


def evaluate_at(tmp_path, expr: str, values: str = "", **overrides) -> float:
    return float(reward_of(compile_expression(tmp_path, expr, values), **overrides)[0])


def test_yaw_of_a_quaternion_about_z_is_its_angle(tmp_path):
    assert evaluate_at(tmp_path, "yaw(base_quat)", base_quat=yaw_quat(0.7)) == pytest.approx(0.7, abs=1e-6)
    assert evaluate_at(tmp_path, "yaw(base_quat)", base_quat=yaw_quat(-2.5)) == pytest.approx(-2.5, abs=1e-6)
    assert evaluate_at(
        tmp_path, "roll(base_quat) + pitch(base_quat)", base_quat=yaw_quat(1.0)
    ) == pytest.approx(0.0, abs=1e-6)


def test_roll_and_pitch_of_single_axis_rotations(tmp_path):
    about_x = [math.cos(0.3), math.sin(0.3), 0.0, 0.0]  # 0.6 rad about x
    about_y = [math.cos(0.2), 0.0, math.sin(0.2), 0.0]  # 0.4 rad about y
    assert evaluate_at(tmp_path, "roll(base_quat)", base_quat=about_x) == pytest.approx(0.6, abs=1e-6)
    assert evaluate_at(tmp_path, "pitch(base_quat)", base_quat=about_y) == pytest.approx(0.4, abs=1e-6)
    # A roll of 0.6 rad, then a yaw of 90 degrees (q = q_yaw * q_roll): each reads its own angle.
    half = math.sqrt(0.5)
    q = [half * math.cos(0.3), half * math.sin(0.3), half * math.sin(0.3), half * math.cos(0.3)]
    assert evaluate_at(tmp_path, "yaw(base_quat)", base_quat=q) == pytest.approx(math.pi / 2, abs=1e-5)
    assert evaluate_at(tmp_path, "roll(base_quat)", base_quat=q) == pytest.approx(0.6, abs=1e-5)


@pytest.mark.parametrize(
    ("a", "b", "angle"),
    [
        (yaw_quat(0.0), yaw_quat(0.0), 0.0),
        (yaw_quat(0.0), yaw_quat(1.2), 1.2),
        (yaw_quat(-3.0), yaw_quat(3.0), 2 * math.pi - 6.0),  # the short way round
        (yaw_quat(0.5), [-x for x in yaw_quat(0.5)], 0.0),  # q and -q are one orientation
        ([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], math.pi),
        (yaw_quat(0.0), yaw_quat(1e-3), 1e-3),  # accurate near zero
    ],
)
def test_quat_angle_of_known_pairs(tmp_path, a, b, angle):
    result = quat_angle_between(tmp_path, a, b)
    assert result == pytest.approx(angle, abs=2e-6)


def quat_angle_between(tmp_path, a, b) -> float:
    """quat_angle(q1, q2) with q1 the base orientation and q2 given as four commands."""
    spec = SPEC.replace(
        "heading = [-3.0, 3.0]", "qw = [0.0, 0.0]\nqx = [0.0, 0.0]\nqy = [0.0, 0.0]\nqz = [0.0, 0.0]"
    )
    spec = spec.replace("{expr}", "quat_angle(base_quat, commands)").replace("{values}", "")
    task = task_from_text(spec, tmp_path)
    kernels = load_kernels(render_module(task), "functions", "eager", tmp_path / "cache")
    sizes = _Sizes()
    sizes.command_names = ("qw", "qx", "qy", "qz")
    inputs = random_inputs(sizes, 1, torch.Generator().manual_seed(0))
    inputs["base_quat"] = torch.tensor([a])
    inputs["commands"] = torch.tensor([b])
    _, total, _, _, _ = kernels.compute_step(*[inputs[name] for name in KERNEL_INPUTS])
    return float(total[0])


@pytest.mark.parametrize(
    ("y", "x", "angle"),
    [
        (1.0, 1.0, math.pi / 4),
        (1.0, -1.0, 3 * math.pi / 4),
        (-1.0, -1.0, -3 * math.pi / 4),
        (-1.0, 1.0, -math.pi / 4),
    ],
)
def test_atan2_in_each_quadrant(tmp_path, y, x, angle):
    assert evaluate_at(tmp_path, "atan2(base_pos.y, base_pos.x)", base_pos=[x, y, 0.0]) == pytest.approx(
        angle, abs=1e-6
    )


@pytest.mark.parametrize(
    ("angle", "wrapped"),
    [
        (0.0, 0.0),
        (math.pi, -math.pi),
        (-math.pi, -math.pi),
        (3.0, 3.0),
        (3.3, 3.3 - 2 * math.pi),
        (-7.0, -7.0 + 2 * math.pi),
    ],
)
def test_wrap_angle_lands_in_minus_pi_to_pi(tmp_path, angle, wrapped):
    result = evaluate_at(tmp_path, "wrap_angle(base_pos.x)", base_pos=[angle, 0.0, 0.0])
    assert result == pytest.approx(wrapped, abs=1e-5)
    assert -math.pi - 1e-6 <= result < math.pi


def test_wrap_angle_of_a_constant_is_folded(tmp_path):
    task = task_from_text(SPEC.replace("{expr}", "wrap_angle(3.0 * pi)").replace("{values}", ""), tmp_path)
    assert task.rewards[0].checked.type.const == pytest.approx(-math.pi)


def test_dot_cross_and_rotations(tmp_path):
    a = [1.0, 2.0, 3.0]
    assert evaluate_at(
        tmp_path, "dot(base_pos, base_lin_vel_world)", base_pos=a, base_lin_vel_world=[4.0, -5.0, 6.0]
    ) == pytest.approx(12.0)
    # (1, 0, 0) x (0, 1, 0) = (0, 0, 1)
    assert evaluate_at(
        tmp_path,
        "cross(base_pos, base_lin_vel_world).z",
        base_pos=[1.0, 0.0, 0.0],
        base_lin_vel_world=[0.0, 1.0, 0.0],
    ) == pytest.approx(1.0)
    # A base turned 90 degrees left: world +x is the base's -y; the base's +x is world +y.
    q = yaw_quat(math.pi / 2)
    assert evaluate_at(
        tmp_path, "rotate_inverse(base_quat, base_pos).y", base_quat=q, base_pos=[1.0, 0.0, 0.0]
    ) == pytest.approx(-1.0, abs=1e-6)
    assert evaluate_at(
        tmp_path, "rotate(base_quat, base_pos).y", base_quat=q, base_pos=[1.0, 0.0, 0.0]
    ) == pytest.approx(1.0, abs=1e-6)


def test_heading_error_as_a_named_value(tmp_path):
    # legged_gym's heading command: facing 3.0 rad, commanded -3.0 rad: the error is the short way round.
    values = '[values]\nheading_error = "wrap_angle(commands.heading - yaw(base_quat))"\nturn = "clamp(0.5 * value.heading_error, -1.0, 1.0)"'
    result = evaluate_at(tmp_path, "value.turn", values, base_quat=yaw_quat(3.0), commands=[-3.0])
    assert result == pytest.approx(0.5 * (2 * math.pi - 6.0), abs=1e-5)


def test_a_value_is_computed_once_per_kernel(tmp_path):
    values = '[values]\nheading_error = "wrap_angle(commands.heading - yaw(base_quat))"'
    task = task_from_text(
        SPEC.replace("{expr}", "square(value.heading_error) + abs(value.heading_error)").replace(
            "{values}", values
        ),
        tmp_path,
    )
    source = render_module(task)
    step = source[source.index("def compute_step") :]
    assert step.count("quat_yaw(") == 1
    assert "v0 = wrap_angle(" in step


# -- positioned errors -------------------------------------------------------------------------------
def diagnostics(tmp_path, expr: str, values: str = "") -> list[tuple[str, int, int, str]]:
    text = SPEC.replace("{expr}", expr).replace("{values}", values)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    return [(d.code, d.position.line, d.position.col, f"{d.message} ({d.fix})") for d in sink.items]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def expr_line() -> int:
    return line_of(SPEC.replace("{values}", ""), 'expr = "{expr}"')


@pytest.mark.parametrize(
    ("expr", "code", "column_of", "words"),
    [
        ("yaw(base_pos)", "SPC216", "base_pos", "needs a quaternion"),
        ("norm(rotate(base_quat, joint_pos))", "SPC216", "joint_pos", "needs a 3-vector"),
        ("norm(cross(base_pos, base_quat))", "SPC216", "base_quat", "needs a 3-vector"),
        ("quat_angle(base_quat)", "SPC204", "quat_angle", "takes 2 arguments"),
        ("atan2(base_pos.x)", "SPC204", "atan2", "takes 2 arguments"),
        ("dot(base_pos, base_quat)", "SPC216", "dot", "one length"),
        ("yaw(base_height)", "SPC216", "base_height", "one number per env"),
        ("wrap_angel(base_height)", "SPC203", "wrap_angel", "did you mean 'wrap_angle'"),
        ("base_height * pie", "SPC202", "pie", "did you mean 'pi'"),
    ],
)
def test_function_errors_are_positioned_at_the_argument(tmp_path, expr, code, column_of, words):
    found = diagnostics(tmp_path, expr)
    column = len('expr = "') + expr.index(column_of) + 1
    assert [(c, line, col) for c, line, col, _ in found] == [(code, expr_line(), column)]
    assert words in found[0][3]


def test_unknown_value_gets_did_you_mean_at_its_column(tmp_path):
    values = '[values]\nheading_error = "yaw(base_quat)"'
    found = diagnostics(tmp_path, "value.heading_eror", values)
    assert [(c, line, col) for c, line, col, _ in found] == [
        ("SPC217", expr_line(), len('expr = "value.') + 1)
    ]


def test_unknown_value_message_suggests_the_name(tmp_path):
    values = '[values]\nheading_error = "yaw(base_quat)"'
    text = SPEC.replace("{expr}", "value.heading_eror").replace("{values}", values)
    path = tmp_path / "spec.toml"
    path.write_text(text)
    sink = DiagnosticSink(str(path))
    check_task(path, sink)
    assert sink.items[0].fix == "did you mean 'heading_error'?"


def test_values_in_a_cycle_are_reported_at_the_closing_reference(tmp_path):
    values = '[values]\na = "value.b + 1.0"\nb = "value.c * 2.0"\nc = "value.a"'
    text = SPEC.replace("{expr}", "value.a").replace("{values}", values)
    found = diagnostics(tmp_path, "value.a", values)
    cycle = [f for f in found if "cycle" in f[3]]
    assert [(c, line, col) for c, line, col, _ in cycle] == [
        ("SPC217", line_of(text, 'c = "value.a"'), len('c = "value.') + 1)
    ]
    assert "a -> b -> c -> a" in cycle[0][3]


def test_a_long_chain_of_values_checks_without_recursion(tmp_path):
    chain = "\n".join(f'x{i} = "value.x{i + 1} + 1.0"' for i in range(1500)) + '\nx1500 = "base_height"'
    task = task_from_text(
        SPEC.replace("{expr}", "value.x0").replace("{values}", "[values]\n" + chain), tmp_path
    )
    assert [v.name for v in task.values][:2] == ["x1500", "x1499"]
