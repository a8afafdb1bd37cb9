"""Observation groups: a critic's privileged observations next to the policy's, from the spec to
the generated module, the env, PPO's critic, `specc layout` and the exported metadata."""

from __future__ import annotations

import json
import subprocess

import torch
from runtime_support import CRITIC_GROUP, cartpole_variant, runner_for

from specc.codegen.render import render_module
from specc.diagnostics import DiagnosticSink
from specc.lint import lint_paths
from specc.task import check_task


def test_layout_lists_each_group_with_its_offsets(tmp_path):
    spec = cartpole_variant(tmp_path, CRITIC_GROUP)
    done = subprocess.run(["specc", "layout", str(spec), "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    layout = json.loads(done.stdout)
    assert [(s["name"], s["offset"], s["size"]) for s in layout["observations"]] == [
        ("joint_pos", 0, 2),
        ("joint_vel", 2, 2),
    ]
    assert [(s["name"], s["offset"], s["size"]) for s in layout["critic_observations"]] == [
        ("joint_pos", 0, 2),
        ("joint_vel", 2, 2),
        ("episode_time", 4, 1),
    ]
    text = subprocess.run(["specc", "layout", str(spec)], capture_output=True, text=True).stdout
    assert "policy observations (exported)" in text and "critic observations" in text


def test_a_group_is_checked_like_the_policy_observations(tmp_path):
    spec = cartpole_variant(tmp_path, CRITIC_GROUP.replace('expr = "episode_time"', 'expr = "episode_tim"'))
    (finding,) = lint_paths([spec]).diagnostics
    line = spec.read_text().splitlines().index('expr = "episode_tim"') + 1
    assert (finding.code, finding.position.line, finding.position.col) == ("SPC202", line, 9)
    assert "did you mean 'episode_time'" in (finding.fix or "")


def test_a_name_twice_in_one_group_is_an_error_at_the_second(tmp_path):
    spec = cartpole_variant(tmp_path, CRITIC_GROUP.replace('name = "episode_time"', 'name = "joint_vel"'))
    (finding,) = lint_paths([spec]).diagnostics
    assert "observation 'joint_vel' is defined twice" in finding.message
    assert spec.read_text().splitlines()[finding.position.line - 1].startswith("[[critic_observations]]") or (
        'name = "joint_vel"' in spec.read_text().splitlines()[finding.position.line - 1]
    )


def test_the_generated_module_computes_the_group_and_the_env_serves_it(tmp_path):
    spec = cartpole_variant(tmp_path, CRITIC_GROUP)
    task = check_task(spec, DiagnosticSink("t"))
    source = render_module(task)
    assert "def compute_critic_observations(" in source
    runner = runner_for(spec)
    env = runner.env
    assert env.group_sizes == {"critic": 5}
    result = env.step(torch.zeros(env.num_envs, env.num_actions))
    critic = result.groups["critic"]
    # The critic's first four entries are the policy's (no noise here); the fifth the episode clock.
    torch.testing.assert_close(critic[:, :4], result.obs)
    torch.testing.assert_close(critic[:, 4], env.episode_step.float() * env.config.policy_dt * 0.2)


def test_a_critic_group_sets_the_critic_input_size_and_not_the_actor_s(tmp_path):
    plain = runner_for(cartpole_variant(tmp_path))
    assert plain.policy.critic[0].in_features == 4 and plain.critic_normalizer is None
    asymmetric = runner_for(cartpole_variant(tmp_path, CRITIC_GROUP))
    assert asymmetric.policy.actor[0].in_features == 4
    assert asymmetric.policy.critic[0].in_features == 5
    assert asymmetric.critic_normalizer.mean.shape == (5,)


def test_ppo_balances_the_cartpole_with_a_privileged_critic(tmp_path):
    # The clock makes the value a function of one more input: 90 iterations, not the 60 of PPO's own test.
    runner = runner_for(cartpole_variant(tmp_path, CRITIC_GROUP), seed=0)
    lengths: list[float] = []
    runner.train(90, lambda log: lengths.append(log.mean_episode_length or 0.0))
    assert sum(lengths[:5]) / 5 < 150.0
    best = max(sum(lengths[i : i + 5]) / 5 for i in range(len(lengths) - 4))
    assert best >= 200.0, lengths
    # The critic normalizer saw the episode clock: its mean is that of 0.2 x uniform times in [0, 5] s.
    assert 0.2 < runner.critic_normalizer.mean[4].item() < 0.8
