"""SAC's pieces against numbers worked out by hand, the replay buffer's n-step returns, and a
learning threshold on the cart-pole."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from specc.runtime.replay import ReplayBuffer, n_step_returns
from specc.runtime.sac import soft_q_target, squashed_log_prob, temperature_loss


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
