"""SAC's pieces against numbers worked out by hand (soft Q target, temperature loss, squashed
log-probability, Polyak step), the replay buffer's n-step returns, a learning threshold on the
cart-pole, and a SAC run through the CLI: checkpoints that resume, evaluate and export."""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pytest
import torch
from runtime_support import assemble_task, cartpole_variant, runner_for
from torch.distributions import Normal

from specc.diagnostics import DiagnosticSink
from specc.runtime.evaluate import evaluate
from specc.runtime.replay import ReplayBuffer, Transitions, n_step_returns
from specc.runtime.sac import polyak_update, soft_q_target, squashed_log_prob, temperature_loss
from specc.task import check_task

# SAC on the test cart-pole: small networks and batches for the CPU; every other setting is the
# schema's default (gamma 0.99, tau 0.1, 2 updates per env step, n-step 3).
SAC_TABLES = """[algorithm]
name = "sac"

[sac]
max_iterations = 2000
batch_size = 256
buffer_size_per_env = 2000
learning_starts = 20
actor_hidden_dims = [64, 64]
critic_hidden_dims = [64, 64]
save_interval = 1000
"""


def test_soft_q_target_bootstraps_the_smaller_q_minus_the_entropy_term():
    returns = torch.tensor([1.0, 0.5])
    discount = torch.tensor([0.9, 0.0])  # the second transition's episode terminated
    next_q1, next_q2 = torch.tensor([2.0, 7.0]), torch.tensor([3.0, 5.0])
    next_log_prob = torch.tensor([-1.5, 0.3])
    target = soft_q_target(returns, discount, next_q1, next_q2, next_log_prob, alpha=0.2)
    # y0 = 1 + 0.9 * (min(2, 3) - 0.2 * -1.5) = 1 + 0.9 * 2.3 = 3.07; y1 = 0.5 (no bootstrap)
    torch.testing.assert_close(target, torch.tensor([3.07, 0.5]))


def test_temperature_loss_and_its_gradient():
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    log_prob = torch.tensor([-1.0, -3.0], requires_grad=True)
    loss = temperature_loss(log_alpha, log_prob, target_entropy=-2.0)
    # -(0.5 * mean(-1 - 2, -3 - 2)) = -(0.5 * -4) = 2.0
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    # d/d log_alpha = -alpha * mean(log pi + target) = -0.5 * -4 = 2: the entropy 2 = -mean(log pi) is
    # above the target -2, so gradient descent lowers alpha.
    assert log_alpha.grad.item() == pytest.approx(2.0)
    assert log_prob.grad is None  # the temperature loss does not train the actor


def test_squashed_log_prob_is_the_gaussian_density_through_the_change_of_variables():
    mean, log_std = torch.tensor([[0.3, -0.2]]), torch.tensor([[-0.5, 0.1]])
    u = torch.tensor([[0.8, -1.7]])
    bound = 2.0
    # log N(u) - log |d(bound tanh u)/du| = log N(u) - log(bound (1 - tanh(u)^2)), summed over actions
    gaussian = Normal(mean, log_std.exp()).log_prob(u)
    expected = (gaussian - torch.log(bound * (1 - torch.tanh(u) ** 2))).sum(-1)
    torch.testing.assert_close(squashed_log_prob(u, mean, log_std, bound), expected)


def test_n_step_return_stops_at_the_first_episode_end():
    gamma = 0.5
    # Three windows of 3 steps (columns): no end; a time-out at step 1; a termination at step 0.
    rewards = torch.tensor([[1.0, 1.0, 4.0], [2.0, 2.0, 9.0], [4.0, 9.0, 9.0]])
    dones = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    terminated = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    total, discount, last = n_step_returns(rewards, dones, terminated, gamma)
    # 1 + .5*2 + .25*4 = 3, bootstrap .125 from step 2; 1 + .5*2 = 2, bootstrap .25 from the
    # time-out's terminal observation (step 1); 4 and no bootstrap after the termination.
    torch.testing.assert_close(total, torch.tensor([3.0, 2.0, 4.0]))
    torch.testing.assert_close(discount, torch.tensor([0.125, 0.25, 0.0]))
    assert last.tolist() == [2, 1, 0]


def test_replay_buffer_samples_n_step_transitions_of_one_env_in_order():
    buffer = ReplayBuffer(capacity=4, num_envs=2, num_obs=1, num_actions=1, device=torch.device("cpu"))
    for t in range(6):  # wraps around: steps 2..5 remain
        obs = torch.tensor([[10.0 * t], [10.0 * t + 1]])
        buffer.add(obs, obs, torch.ones(2), obs + 10, torch.zeros(2), torch.zeros(2))
    batch = buffer.sample(64, n_step=2, gamma=0.5, generator=torch.Generator().manual_seed(0))
    # Each sample starts at a kept step with one more step after it, and bootstraps from the
    # observation after that second step: next_obs = obs + 20.
    first_steps = (batch.obs[:, 0] // 10).long()
    assert set(first_steps.tolist()) <= {2, 3, 4}
    torch.testing.assert_close(batch.next_obs, batch.obs + 20)
    torch.testing.assert_close(batch.returns, torch.full((64,), 1.5))
    torch.testing.assert_close(batch.discount, torch.full((64,), 0.25))


def test_polyak_step_moves_each_target_parameter_tau_of_the_way():
    target, source = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        target.weight.copy_(torch.tensor([[1.0, -2.0]]))
        target.bias.fill_(4.0)
        source.weight.copy_(torch.tensor([[3.0, 2.0]]))
        source.bias.fill_(0.0)
        polyak_update(target, source, tau=0.25)
    # 0.75 * 1 + 0.25 * 3 = 1.5; 0.75 * -2 + 0.25 * 2 = -1; 0.75 * 4 + 0.25 * 0 = 3
    torch.testing.assert_close(target.weight, torch.tensor([[1.5, -1.0]]))
    torch.testing.assert_close(target.bias, torch.tensor([3.0]))


def _sac_runner(tmp_path: Path, seed: int = 0):
    return runner_for(cartpole_variant(tmp_path, learner=SAC_TABLES), seed=seed)


def test_one_update_regresses_both_critics_on_the_soft_target_then_moves_the_targets(tmp_path):
    runner = _sac_runner(tmp_path)
    sac = runner.sac
    generator = torch.Generator().manual_seed(0)
    batch = Transitions(
        obs=torch.randn(8, 4, generator=generator),
        critic_obs=torch.randn(8, 4, generator=generator),
        actions=torch.rand(8, 1, generator=generator) * 2 - 1,
        returns=torch.rand(8, generator=generator),
        next_obs=torch.randn(8, 4, generator=generator),
        next_critic_obs=torch.randn(8, 4, generator=generator),
        discount=torch.tensor([0.97] * 6 + [0.0] * 2),
    )
    noise, next_noise = torch.randn(8, 1, generator=generator), torch.randn(8, 1, generator=generator)
    alpha = sac.log_alpha.exp().item()
    with torch.no_grad():  # the loss written out from the networks before the update
        next_actions, next_log_prob = sac.policy.sample(batch.next_obs, next_noise)
        next_q1, next_q2 = sac.critic_target(batch.next_critic_obs, next_actions)
        target = batch.returns + batch.discount * (torch.min(next_q1, next_q2) - alpha * next_log_prob)
        q1, q2 = sac.critic(batch.critic_obs, batch.actions)
        expected_loss = ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()
    old_target = [p.clone() for p in sac.critic_target.parameters()]
    stats = sac.update(batch, noise, next_noise)
    assert stats["critic"].item() == pytest.approx(expected_loss.item(), rel=1e-5)
    for before, after, online in zip(old_target, sac.critic_target.parameters(), sac.critic.parameters()):
        torch.testing.assert_close(after, (1 - sac.config.tau) * before + sac.config.tau * online)
    assert stats["alpha"].item() == pytest.approx(alpha)  # the temperature used, before its own step


def _success_rate(runner, judging) -> float:
    with torch.no_grad():
        return evaluate(
            judging, lambda obs: runner.policy.act_deterministic(runner.normalize(obs))
        ).success_rate


@pytest.mark.parametrize("seed", [0, 1])
def test_sac_balances_the_cartpole(tmp_path, seed):
    """The deterministic policy (tanh of the mean) keeps the pole up and the cart on its rail for the
    whole 5 s episode in every [eval] episode within 2,000 iterations of one env step (about 1,000 in
    practice); the untrained
    policy never does."""
    spec = cartpole_variant(tmp_path, learner=SAC_TABLES)
    runner = runner_for(spec, seed=seed)
    task = check_task(spec, DiagnosticSink(str(spec)))
    judging = assemble_task(task, num_envs=16, kernels="eager", seed=seed, judge=True).env
    rates = [_success_rate(runner, judging)]
    while rates[-1] < 0.9 and runner.iteration < 2000:
        runner.train(200)
        rates.append(_success_rate(runner, judging))
    assert rates[0] == 0.0
    assert rates[-1] >= 0.9, rates


def test_specc_run_with_sac_checkpoints_resumes_evaluates_and_exports(tmp_path):
    spec = cartpole_variant(tmp_path, learner=SAC_TABLES)

    def specc(*args):
        done = subprocess.run(["specc", *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        return done

    quick = ["--no-tensorboard", "--set", "sac.save_interval=30"]
    done = specc("run", str(spec), *quick, "--max-iterations", "30", "--run-dir", "run")
    assert "specc play" in done.stdout  # the end-of-run report judges and films a SAC policy too
    first = tmp_path / "run" / "checkpoints" / "model_000030.pt"
    done = specc("run", str(spec), *quick, "--max-iterations", "60", "--resume", str(first))
    assert "resumed from" in done.stderr
    assert (tmp_path / "run" / "checkpoints" / "model_000060.pt").is_file()
    metrics = (tmp_path / "run" / "metrics.jsonl").read_text()
    assert "Loss/critic" in metrics and "Policy/alpha" in metrics and "Episode_Reward/alive" in metrics
    assert '"algorithm": "sac"' in (tmp_path / "run" / "config.json").read_text()
    report = specc("eval", str(spec), "--checkpoint", str(first), "--episodes", "4", "--json").stdout
    assert '"success_rate"' in report
    specc("export", str(spec), "--checkpoint", str(first), "-o", "policy.onnx")
    import onnx

    ops = [node.op_type for node in onnx.load(str(tmp_path / "policy.onnx")).graph.node]
    assert ops[-2:] == ["Tanh", "Mul"]  # action_bound × tanh(mean), as the actor acts
