"""`specc eval`'s judgement: the [eval] success/failure expressions, judged at the episode's end or at
first truth, terminations as failures, and the Wilson interval of the success rate.

The episodes run in a real MuJoCo env on the test cart-pole; the criteria are chosen on
`episode_time` so that each case's outcome is known without a trained policy.
"""

from __future__ import annotations

import math

import pytest
import torch
from runtime_support import CARTPOLE, assemble_task

from specc.diagnostics import DiagnosticSink
from specc.runtime.evaluate import evaluate, wilson_interval
from specc.spec.load import OverrideError
from specc.task import check_task


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # p = 0.5, n = 10: center 0.5, half-width 1.96/(1+0.38416) * sqrt(0.025 + 0.0096040) = 0.26342
        (5, 10, 0.23659, 0.76341),
        # 0 of 10: [0, z^2/n / (1 + z^2/n)] = [0, 0.38416 / 1.38416]
        (0, 10, 0.0, 0.27754),
        (10, 10, 0.72246, 1.0),
        # 93 of 100: center (0.93 + 0.0192073) / 1.0384146 = 0.914093,
        # half 1.959964 / 1.0384146 * sqrt(0.000651 + 0.0000960365) = 1.887458 * 0.0273320 = 0.051588
        (93, 100, 0.862505, 0.965681),
    ],
)
def test_wilson_interval_matches_hand_computed_bounds(successes, trials, low, high):
    got = wilson_interval(successes, trials)
    assert got == pytest.approx((low, high), abs=2e-5)


def judging_env(tmp_path, eval_table: str, terminations: str = "", episodes: int = 3):
    """A judging env of the cart-pole (1 s episodes) under the given [eval] table."""
    text = CARTPOLE.read_text()
    head, _ = text.split("[eval]")
    head = head.replace("episode_length_s = 5.0", "episode_length_s = 1.0")
    if terminations:
        head = head.replace(
            '[terminations.terms.pole_fell]\nexpr = "abs(joint_pos.hinge) > 0.4"', terminations
        )
    path = tmp_path / "spec.toml"
    path.write_text(
        head.replace("../robots", str(CARTPOLE.parent.parent / "robots")) + "[eval]\n" + eval_table
    )
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink)
    assert task is not None, [d.message for d in sink.items]
    return assemble_task(task, num_envs=episodes, kernels="eager", randomize=False, judge=True).env


def judged(tmp_path, eval_table: str, terminations: str = "", episodes: int = 3) -> dict:
    """Evaluate a zero policy on the cart-pole (1 s episodes) under the given [eval] table."""
    env = judging_env(tmp_path, eval_table, terminations, episodes)
    return evaluate(env, lambda obs: torch.zeros(obs.shape[0], env.num_actions)).to_dict()


def test_success_read_at_the_episode_end(tmp_path):
    assert judged(tmp_path, 'success = "episode_time >= 0.9"')["success_rate"] == 1.0
    assert judged(tmp_path, 'success = "episode_time < 0.5"')["success_rate"] == 0.0


def test_a_failure_before_the_end_is_final(tmp_path):
    table = 'success = "episode_time >= 0.9"\nfailure = "(episode_time > 0.2) and (episode_time < 0.3)"'
    result = judged(tmp_path, table)
    assert result["success_rate"] == 0.0 and result["failed_rate"] == 1.0


def test_judge_first_succeeds_before_a_later_failure(tmp_path):
    table = 'success = "episode_time > 0.2"\nfailure = "episode_time > 0.5"\njudge = "first"'
    assert judged(tmp_path, table)["success_rate"] == 1.0
    late = 'success = "episode_time > 0.7"\nfailure = "episode_time > 0.5"\njudge = "first"'
    assert judged(tmp_path, late)["success_rate"] == 0.0


def test_termination_fails_unless_the_spec_says_otherwise(tmp_path):
    ends_early = '[terminations.terms.pole_fell]\nexpr = "episode_time > 0.5"'
    failing = judged(tmp_path, 'success = "true"', ends_early)
    assert failing["success_rate"] == 0.0 and failing["terminated_rate"] == 1.0
    tolerated = judged(tmp_path, 'success = "true"\ntermination_fails = false', ends_early)
    assert tolerated["success_rate"] == 1.0


def test_without_success_an_episode_succeeds_by_not_failing(tmp_path):
    result = judged(tmp_path, "episodes = 3")
    assert result["success_rate"] == 1.0  # the zero policy keeps the pole balanced at its rest angle for 1 s


def test_result_has_the_interval_and_each_terms_mean_return(tmp_path):
    result = judged(tmp_path, 'success = "true"', episodes=4)
    assert result["success_ci95"] == pytest.approx(list(wilson_interval(4, 4)))
    assert set(result["term_returns"]) == {"alive", "centered"}
    assert sum(result["term_returns"].values()) == pytest.approx(result["mean_return"], rel=1e-5)


def test_evaluate_refuses_an_env_that_does_not_judge(tmp_path):
    sink = DiagnosticSink("cartpole")
    task = check_task(CARTPOLE, sink)
    env = assemble_task(task, num_envs=2, kernels="eager").env
    with pytest.raises(ValueError, match="judge"):
        evaluate(env, lambda obs: torch.zeros(obs.shape[0], env.num_actions))


def test_the_removed_distance_keys_say_what_replaces_them(tmp_path):
    text = CARTPOLE.read_text().replace("../robots", str(CARTPOLE.parent.parent / "robots"))
    head, _ = text.split("[eval]")
    path = tmp_path / "old.toml"
    path.write_text(head + "[eval]\nmin_distance_m = 10.0\nrequire_no_termination = true\n")
    sink = DiagnosticSink(str(path))
    assert check_task(path, sink) is None
    fixes = {d.message: d.fix for d in sink.items if d.code == "SPC101"}
    assert "episode_start_pos" in fixes["unknown key 'eval.min_distance_m'"]
    assert "termination_fails" in fixes["unknown key 'eval.require_no_termination'"]


GAITS = """
[commands.ranges]
speed = [0.0, 1.0]

[commands.categorical.mode]
choices = ["slow", "fast"]
values = { speed = [0.2, 0.8] }

"""


def judged_by_mode(tmp_path, eval_table: str, episodes: int = 16, overrides: dict | None = None):
    """Evaluate a zero policy on the cart-pole with a categorical command `mode` (slow sets speed 0.2,
    fast 0.8); returns the result and the diagnostics."""
    text = CARTPOLE.read_text().replace("episode_length_s = 5.0", "episode_length_s = 0.5")
    head, _ = text.split("[eval]")
    head = head.replace("[rewards]", GAITS + "[rewards]", 1)
    path = tmp_path / "spec.toml"
    path.write_text(
        head.replace("../robots", str(CARTPOLE.parent.parent / "robots")) + "[eval]\n" + eval_table
    )
    sink = DiagnosticSink(str(path))
    task = check_task(path, sink, overrides)
    if task is None:
        return None, sink.items
    env = assemble_task(task, num_envs=episodes, kernels="eager", randomize=False, judge=True).env
    return evaluate(env, lambda obs: torch.zeros(obs.shape[0], env.num_actions)).to_dict(), sink.items


def test_success_is_reported_per_choice_of_a_categorical_command(tmp_path):
    result, _ = judged_by_mode(tmp_path, 'success = "commands.speed > 0.5"')
    rows = result["by_command"]["mode"]
    assert list(rows) == ["slow", "fast"]  # the spec's order
    slow, fast = rows["slow"], rows["fast"]
    assert slow["episodes"] + fast["episodes"] == 16 and min(slow["episodes"], fast["episodes"]) > 0
    assert slow["success_rate"] == 0.0 and fast["success_rate"] == 1.0
    assert fast["success_ci95"] == pytest.approx(list(wilson_interval(fast["episodes"], fast["episodes"])))
    assert slow["success_ci95"] == pytest.approx(list(wilson_interval(0, slow["episodes"])))
    assert result["success_rate"] == fast["episodes"] / 16
    assert slow["mean_forward_speed_mps"] == 0.0  # the cart-pole's base is fixed
    assert {e["commands"]["mode"] for e in result["per_episode"]} == {"slow", "fast"}


def test_a_task_without_categorical_commands_has_no_breakdown(tmp_path):
    assert judged(tmp_path, 'success = "true"')["by_command"] is None


def test_eval_commands_hold_a_categorical_command_at_one_choice(tmp_path):
    result, _ = judged_by_mode(tmp_path, 'success = "commands.speed > 0.5"\ncommands = { mode = "fast" }')
    assert list(result["by_command"]["mode"]) == ["fast"]
    assert result["by_command"]["mode"]["fast"]["episodes"] == 16 and result["success_rate"] == 1.0
    # The command line holds it the same way, over the spec's own choice.
    result, _ = judged_by_mode(
        tmp_path, 'success = "commands.speed > 0.5"', overrides={"eval.commands.mode": "slow"}
    )
    assert list(result["by_command"]["mode"]) == ["slow"] and result["success_rate"] == 0.0


@pytest.mark.parametrize(
    ("held", "message", "fix"),
    [
        (
            {"eval.commands.mode": "fsat"},
            "'fsat' is not a choice of commands.categorical.mode",
            "did you mean 'fast'?",
        ),
        (
            {"eval.commands.mode": 0.5},
            "is categorical: hold it at one of its choices (slow, fast)",
            'write mode = "slow"',
        ),
        ({"eval.commands.speed": "fast"}, "is a ranged command: hold it at a number", None),
        ({"eval.commands.mdoe": "fast"}, "is not a command of [commands.ranges] or", "did you mean 'mode'?"),
        (
            {"eval.commands.mode": "fast", "eval.commands.speed": 0.5},
            "is set by the held choice",
            "remove eval.commands.speed",
        ),
    ],
)
def test_bad_held_commands_are_diagnostics_with_their_fix(tmp_path, held, message, fix):
    """In the spec they are positioned diagnostics (the corpus case bad_eval_command_choice); from
    --set they are the command line's usage errors, with the same message and fix."""
    with pytest.raises(OverrideError) as raised:
        judged_by_mode(tmp_path, 'success = "true"', overrides=held)
    problem = raised.value.problems[0]
    assert problem.code == "SPC104" and message in problem.message, problem.message
    assert problem.fix == fix


def test_an_episode_whose_physics_blows_up_fails_and_stays_out_of_the_means(tmp_path):
    """A NaN action sends env 0's physics to NaN: the env resets it, and the judge fails that episode
    whatever its criteria read from the garbage state; distance and tracking means skip it."""
    env = judging_env(tmp_path, 'success = "true"')

    def blows_up_env_0(obs: torch.Tensor) -> torch.Tensor:
        actions = torch.zeros(obs.shape[0], env.num_actions)
        actions[0] = float("nan")
        return actions

    result = evaluate(env, blows_up_env_0).to_dict()
    assert result["diverged"] == 1
    assert [e["diverged"] for e in result["per_episode"]] == [True, False, False]
    assert [e["success"] for e in result["per_episode"]] == [False, True, True]
    assert result["per_episode"][0]["forward_speed_mps"] == 0.0
    assert math.isfinite(result["mean_distance_m"]) and math.isfinite(result["mean_return"])
