"""Every number of a spec is finite and in its physical range, wherever it is written.

In the file, in a [profile.*] table (reported at the profile's own line) or on the command line
(`--set`, a usage error naming the argument). The default pose lies within the joint limits, the
initial height keeps the robot out of the ground, and every reset's pose is clamped into the limits.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import tomllib
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layout import TESTS

from specc.cli import main
from specc.codegen.emit import literal
from specc.diagnostics import DiagnosticSink, Severity
from specc.spec.load import Override, apply_overrides, check_layer
from specc.task import check_task

CARTPOLE_TEXT = (TESTS / "specs" / "cartpole.toml").read_text(encoding="utf-8")
CARTPOLE = tomllib.loads(CARTPOLE_TEXT)
CARTPOLE["robot"]["urdf"] = str(TESTS / "robots" / "cartpole.urdf")
MARK = "⟦"
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Numeric fields of the cart-pole spec and their physical ranges (as the README states them):
# (dotted path, integer?, lowest allowed, highest allowed, lowest exclusive?).
FIELDS: list[tuple[str, bool, float, float, bool]] = [
    ("sim.dt", False, 0.0, 0.05, True),
    ("sim.decimation", True, 1, 100, False),
    ("sim.num_envs", True, 1, 1 << 22, False),
    ("sim.episode_length_s", False, 0.0, 3600.0, True),
    ("robot.init_height", False, 0.0, 10.0, True),
    ("robot.action_scale", False, 0.0, 100.0, True),
    ("robot.torque.slider.scale", False, 0.0, 1e5, True),
    ("robot.torque.slider.effort", False, 0.0, 1e5, True),
    ("rewards.terms.alive.weight", False, -1e4, 1e4, False),
    ("observations.1.scale", False, -1e4, 1e4, False),
    ("ppo.learning_rate", False, 0.0, 1.0, True),
    ("ppo.gamma", False, 0.0, 1.0, False),
    ("ppo.num_steps_per_env", True, 1, 4096, False),
    ("ppo.max_iterations", True, 1, 10_000_000, False),
    ("ppo.init_noise_std", False, 0.0, 100.0, True),
    ("ppo.desired_kl", False, 0.0, 10.0, True),
    ("eval.episodes", True, 1, 1_000_000, False),
]
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def toml_value(value: Any) -> str:
    """A value as inline TOML (the spec writer of these tests)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, int | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def spec_text(data: dict[str, Any], path: str, value: Any, profile: bool = False) -> tuple[str, int, int]:
    """The spec as TOML with `path` set to `value` (in the file, or in [profile.cpu]), and where the value stands."""
    data = json.loads(json.dumps(data))
    if not profile:
        node: Any = data
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(parts[-1]) if isinstance(node, list) else parts[-1]
        node[key] = MARK  # placeholder, replaced by the marked value below
    lines = [f"{json.dumps(name)} = {toml_value(section)}" for name, section in data.items()]
    text = "\n".join(lines) + "\n"
    marked = MARK + toml_value(value)
    if profile:
        text += f'\n[profile.cpu]\n"{path}" = {marked}\n'
    else:
        text = text.replace(json.dumps(MARK), marked)
    index = text.index(MARK)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return text.replace(MARK, ""), line, col


def lint_text(tmp_path: Path, text: str) -> list[tuple[str, int, int, str]]:
    spec = tmp_path / "spec.toml"
    spec.write_text(text, encoding="utf-8")
    sink = DiagnosticSink("spec.toml")
    check_task(spec, sink)
    return [
        (d.code, d.position.line, d.position.col, d.message)
        for d in sink.items
        if d.severity is Severity.ERROR
    ]


def out_of_range(integer: bool, low: float, high: float, exclusive: bool):
    if integer:
        return st.one_of(st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1))
    below = st.floats(max_value=low, exclude_max=not exclusive, allow_nan=False, allow_infinity=False)
    above = st.floats(min_value=high, exclude_min=True, allow_nan=False, allow_infinity=False)
    return st.one_of(below, above)


def test_the_spec_writer_of_these_tests_round_trips_the_cartpole(tmp_path):
    text, _, _ = spec_text(CARTPOLE, "sim.dt", 0.01)
    assert tomllib.loads(text) == CARTPOLE
    assert lint_text(tmp_path, text) == []


@FAST
@given(field=st.sampled_from(FIELDS), value=NON_FINITE)
def test_a_non_finite_number_is_an_error_at_its_value(tmp_path, field, value):
    text, line, col = spec_text(CARTPOLE, field[0], value)
    errors = lint_text(tmp_path, text)
    assert [(e[0], e[1], e[2]) for e in errors] == [("SPC103" if field[1] else "SPC104", line, col)]


@FAST
@given(data=st.data(), field=st.sampled_from(FIELDS))
def test_a_number_out_of_its_physical_range_is_an_error_at_its_value(tmp_path, data, field):
    path, integer, low, high, exclusive = field
    value = data.draw(out_of_range(integer, low, high, exclusive))
    text, line, col = spec_text(CARTPOLE, path, value)
    errors = lint_text(tmp_path, text)
    assert (errors[0][0], errors[0][1], errors[0][2]) == ("SPC104", line, col), errors
    assert path in errors[0][3]


@FAST
@given(field=st.sampled_from(FIELDS), value=st.booleans())
def test_a_boolean_is_never_a_number(tmp_path, field, value):
    text, line, col = spec_text(CARTPOLE, field[0], value)
    assert [(e[0], e[1], e[2]) for e in lint_text(tmp_path, text)] == [("SPC103", line, col)]


@pytest.mark.parametrize("path", ["rewards.scale_by_dt", "robot.fixed_base", "randomization.enabled"])
@pytest.mark.parametrize("value", [0, 1, "yes"])
def test_a_number_or_a_string_is_never_a_boolean(tmp_path, path, value):
    text, line, col = spec_text(CARTPOLE, path, value)
    assert [(e[0], e[1], e[2]) for e in lint_text(tmp_path, text)] == [("SPC103", line, col)]


@pytest.mark.parametrize("value", [1e9, 4.0])
def test_an_integer_field_takes_no_float(tmp_path, value):
    text, line, col = spec_text(CARTPOLE, "ppo.num_mini_batches", value)
    errors = lint_text(tmp_path, text)
    assert [(e[0], e[1], e[2]) for e in errors] == [("SPC103", line, col)]
    assert "is not an integer" in errors[0][3]


def test_more_mini_batches_than_samples_is_an_error_at_num_mini_batches(tmp_path):
    text, line, col = spec_text(CARTPOLE, "ppo.num_mini_batches", 64 * 32 + 1)
    errors = lint_text(tmp_path, text)
    assert [(e[0], e[1], e[2]) for e in errors] == [("SPC104", line, col)]
    assert "do not fit a rollout of 2048 samples" in errors[0][3]


def test_an_episode_shorter_than_one_policy_step_is_an_error(tmp_path):
    text, line, col = spec_text(CARTPOLE, "sim.episode_length_s", 0.01)  # dt 0.01 × decimation 2
    assert [(e[0], e[1], e[2]) for e in lint_text(tmp_path, text)] == [("SPC104", line, col)]


@FAST
@given(bad=NON_FINITE, other=st.floats(0.0, 10.0), first=st.booleans())
def test_a_non_finite_range_element_is_an_error_at_the_element(tmp_path, bad, other, first):
    value = [bad, other] if first else [other, bad]
    text, line, _ = spec_text(CARTPOLE, "randomization.friction", value)
    errors = lint_text(tmp_path, text)
    assert errors and all(e[1] == line and e[0] == "SPC104" for e in errors)


@FAST
@given(field=st.sampled_from(FIELDS), data=st.data())
def test_a_profile_entry_is_checked_like_its_key_at_its_own_line(tmp_path, field, data):
    path, integer, low, high, exclusive = field
    value = data.draw(st.one_of(NON_FINITE, st.booleans(), out_of_range(integer, low, high, exclusive)))
    text, line, col = spec_text(CARTPOLE, path, value, profile=True)
    errors = lint_text(tmp_path, text)
    assert [(e[1], e[2]) for e in errors] == [(line, col)]
    assert errors[0][3].endswith("(in [profile.cpu])") and path in errors[0][3]


def test_an_unknown_profile_key_gets_a_did_you_mean_at_the_key(tmp_path):
    text = (
        CARTPOLE_TEXT.replace("../robots/", str(TESTS / "robots") + "/")
        + '\n[profile.cuda]\n"sim.num_env" = 8\n'
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    sink = DiagnosticSink("spec.toml")
    assert check_task(spec, sink) is None
    (diagnostic,) = sink.items
    assert (diagnostic.code, diagnostic.position.line, diagnostic.position.col) == (
        "SPC101",
        text.count("\n"),
        1,
    )
    assert diagnostic.fix == "did you mean 'sim.num_envs'?"


def test_profile_entries_may_index_arrays_and_nest(tmp_path):
    text = (
        CARTPOLE_TEXT.replace("../robots/", str(TESTS / "robots") + "/")
        + '\n[profile.cpu]\n"observations.1.scale" = 0.5\n\n[profile.cpu.sim]\nnum_envs = 8\n'
    )
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    task = check_task(spec, DiagnosticSink("spec.toml"), run_on="cpu")
    assert task is not None
    assert (task.spec.observations[1].scale, task.spec.sim.num_envs) == (0.5, 8)


@FAST
@given(
    key=st.lists(
        st.one_of(
            st.sampled_from(["sim", "dt", "observations", "0", "7", "scale", "ranges", ""]),
            st.text(max_size=3),
        ),
        min_size=1,
        max_size=5,
    ).map(".".join),
    value=st.one_of(
        st.floats(), st.integers(), st.booleans(), st.text(max_size=3), st.lists(st.integers(), max_size=2)
    ),
)
def test_overrides_never_raise(key, value):
    merged, problems = apply_overrides(CARTPOLE, {key: value})
    assert isinstance(merged, dict) and isinstance(problems, list)
    merged, spec, problems = check_layer(CARTPOLE, [Override(key, value)], True)
    assert (spec is None) == bool(problems)  # a spec, or the reasons there is none
    assert all(p.override is not None and p.override.key == key for p in problems)


SET_ERRORS = [
    ("sim.dt.x=1", "'sim.dt' is a number, not a table"),
    ("observations.9.scale=2", "'observations' is an array of 2"),
    ("sim.num_envs=-5", "'sim.num_envs': -5 is out of range"),
    ("sim.num_env=5", "did you mean 'sim.num_envs'?"),
    ("rewards.terms.alive.weight=inf", "inf is not a finite number"),
    ("sim.decimation=true", "true is a boolean, not a number"),
    ("ppo.num_mini_batches=1e9", "is not an integer"),
    ("sim..dt=1", "has an empty part"),
    ("novalue", "is not KEY=VALUE"),
    ('rewards.terms.alive.expr="1.0 + bar"', "unknown signal 'bar'"),
    ("robot.init_height=0.05", "link 'rail' reaches 0.025 m below the ground"),
    ("robot.default_joint_pos.slider=3.5", "slider = 3.5 (limits [-3, 3])"),
]


@pytest.mark.parametrize(
    ("command", "argument", "message"),
    [("run", a, m) for a, m in SET_ERRORS] + [("export", a, m) for a, m in SET_ERRORS[:2]],
)
def test_a_bad_set_is_a_usage_error_naming_the_argument(tmp_path, command, argument, message):
    spec = tmp_path / "spec.toml"
    spec.write_text(CARTPOLE_TEXT.replace("../robots/", str(TESTS / "robots") + "/"))
    extra = (
        ["--checkpoint", str(tmp_path / "none.pt"), "-o", str(tmp_path / "p.onnx")]
        if command == "export"
        else []
    )
    result = CliRunner().invoke(main, [command, str(spec), *extra, "--set", argument])
    assert result.exit_code == 2, result.output
    assert "--set" in result.output and message in result.output
    assert "spec.toml:" not in result.output  # not reported as a line of the file


def test_set_indexes_arrays():
    from specc.cli.app import parse_set

    task = check_task(
        TESTS / "specs" / "cartpole.toml",
        DiagnosticSink("c"),
        parse_set(("observations.0.scale=2",)),
        run_on="cpu",
    )
    assert task is not None and task.spec.observations[0].scale == 2.0


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_generated_code_refuses_non_finite_literals(value):
    with pytest.raises(ValueError, match="non-finite"):
        literal(value)
    assert literal(-2.5e-7) == "-2.5e-07"


# -- the robot at its initial pose -----------------------------------------------------------------
GO2 = "package://example-robot-data/robots/go2_description/urdf/go2.urdf"


def go2_spec(tmp_path: Path, default: dict[str, float], init_height: float = 0.42, scale=(1.0, 1.0)) -> Path:
    pose = "\n".join(f'"{k}" = {v}' for k, v in default.items())
    text = f"""
[task]
name = "go2"

[robot]
urdf = "{GO2}"
base = "base"
feet = ["*_foot"]
init_height = {init_height}
reset_joint_pos_scale = [{scale[0]}, {scale[1]}]

[robot.default_joint_pos]
{pose}

[robot.pd]
"*" = {{ stiffness = 20.0, damping = 0.5, effort = 23.5 }}

[sim]
num_envs = 16

[[observations]]
name = "joint_pos"
expr = "joint_pos"

[rewards.terms.alive]
expr = "1.0"
weight = 1.0
"""
    path = tmp_path / "go2.toml"
    path.write_text(text, encoding="utf-8")
    return path


GO2_STAND = {"*_thigh_joint": 0.8, "*_calf_joint": -1.5}


def lint_go2(path: Path) -> list:
    sink = DiagnosticSink("go2.toml")
    check_task(path, sink)
    return [d for d in sink.items if d.severity is Severity.ERROR]


def test_go2_standing_pose_lints_clean(tmp_path):
    assert lint_go2(go2_spec(tmp_path, GO2_STAND)) == []


def test_a_default_pose_outside_the_limits_is_reported_at_its_pattern(tmp_path):
    path = go2_spec(tmp_path, {"*_thigh_joint": 0.8, "*_calf_joint": -0.5})
    (error,) = lint_go2(path)
    line = path.read_text().splitlines().index('"*_calf_joint" = -0.5') + 1
    assert (error.code, error.position.line, error.position.col) == ("SPC310", line, 1)
    assert "FL_calf_joint = -0.5 (limits [-2.7227, -0.83776])" in error.message


def test_an_unset_default_outside_the_limits_is_reported_at_the_table(tmp_path):
    path = go2_spec(tmp_path, {"*_thigh_joint": 0.8})  # calves default to 0, beyond their upper limit
    (error,) = lint_go2(path)
    assert error.code == "SPC310" and "0 when unset" in error.message
    assert error.position.line == path.read_text().splitlines().index("[robot.default_joint_pos]") + 1


def test_an_init_height_in_the_ground_is_reported_with_the_height_that_clears_it(tmp_path):
    path = go2_spec(tmp_path, GO2_STAND, init_height=0.2)
    (error,) = lint_go2(path)
    line = path.read_text().splitlines().index("init_height = 0.2") + 1
    assert (error.code, error.position.line) == ("SPC311", line)
    assert (
        "foot" in error.message
        and error.fix == "raise init_height to at least 0.335 or change the default pose"
    )
    assert lint_go2(go2_spec(tmp_path, GO2_STAND, init_height=0.335)) == []


def test_the_shipped_tasks_lint_clean():
    for spec in (TESTS.parent / "tasks").glob("*.toml"):
        sink = DiagnosticSink(spec.name)
        assert check_task(spec, sink) is not None, sink.items
        assert sink.items == []


def test_every_reset_pose_lies_within_the_joint_limits_on_mujoco(tmp_path):
    """Go2's calves at 0.6 × their -2.6 default stay inside [-2.72, -0.84]; at 1.5 × they would not."""
    import torch
    from runtime_support import assemble_task

    path = go2_spec(tmp_path, {"*_thigh_joint": 0.8, "*_calf_joint": -2.6}, scale=(0.2, 1.5))
    task = check_task(path, DiagnosticSink("go2.toml"))
    assert task is not None
    env = assemble_task(task, num_envs=16, kernels="eager", seed=3, capture_graph=False).env
    lower = torch.tensor([j.lower for j in task.robot.joints])
    upper = torch.tensor([j.upper for j in task.robot.joints])
    clamped = 0
    for _ in range(8):
        env.reset_all()
        pos = env.backend.state().joint_pos.cpu()
        assert bool(((pos >= lower - 1e-5) & (pos <= upper + 1e-5)).all())
        clamped += int((pos <= lower + 1e-5).sum())
    assert clamped > 0  # the draw did reach beyond the limits, and the clamp held it


ROBOTS = "package://example-robot-data/robots/"
STANDING = [
    # (URDF, standing pose, height of the lowest collision point below the base [m], its link)
    (
        "anymal_c_simple_description/urdf/anymal.urdf",
        {"LF_HFE": 0.4, "RF_HFE": 0.4, "LH_HFE": -0.4, "RH_HFE": -0.4}
        | {"LF_KFE": -0.8, "RF_KFE": -0.8, "LH_KFE": 0.8, "RH_KFE": 0.8},
        0.549,
        "FOOT",
    ),
    (
        "go2_description/urdf/go2.urdf",
        {f"{leg}_thigh_joint": 0.8 for leg in ("FL", "FR", "RL", "RR")}
        | {f"{leg}_calf_joint": -1.5 for leg in ("FL", "FR", "RL", "RR")},
        0.334,
        "foot",
    ),
    ("panda_description/urdf/panda.urdf", {"panda_joint4": -2.0}, 0.0, "panda_link0"),
    (
        "g1_description/urdf/g1_29dof_rev_1_0.urdf",
        {
            f"{side}_{joint}": value
            for side in ("left", "right")
            for joint, value in (("hip_pitch_joint", -0.1), ("knee_joint", 0.3), ("ankle_pitch_joint", -0.2))
        },
        0.784,
        "ankle",
    ),
]


@pytest.mark.parametrize(("urdf", "pose", "depth", "link"), STANDING, ids=lambda v: str(v).split("_")[0])
def test_example_robots_stand_as_tall_as_their_legged_gym_start_heights_allow(urdf, pose, depth, link):
    """legged_gym starts ANYmal C at 0.6 m, Go2 at 0.42 m, G1 at 0.8 m: just above these depths."""
    from specc.robot.kinematics import lowest_point
    from specc.robot.resolve import resolve_uri
    from specc.robot.urdf import read_urdf

    path = resolve_uri(ROBOTS + urdf, TESTS)
    assert path is not None
    low = lowest_point(read_urdf(path), pose, 0.0)
    assert low is not None and low.skipped_meshes == 0
    assert -low.height == pytest.approx(depth, abs=0.01)
    assert link in low.link


@pytest.mark.parametrize("name", ["anymal_walk", "anymal_multigait"])
def test_the_shipped_anymal_tasks_keep_legged_gyms_reset_and_the_clamp_never_binds(name):
    """Their results stay comparable: default × U(0.5, 1.5) lies inside every joint's limits."""
    from runtime_support import task_module

    from specc.runtime.assemble import env_config

    task = check_task(TESTS.parent / "tasks" / f"{name}.toml", DiagnosticSink(name))
    assert task is not None
    config = env_config(task_module(task))
    assert config.reset_joint_pos_scale == (0.5, 1.5) and config.reset_joint_pos_noise == 0.0
    for default, limits in zip(config.default_joint_pos, config.joint_pos_limits, strict=True):
        assert limits is not None
        assert (
            limits[0] <= min(0.5 * default, 1.5 * default) and max(0.5 * default, 1.5 * default) <= limits[1]
        )
