"""PPO's pieces against numbers worked out by hand."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from specc.runtime.normalizer import EmpiricalNormalizer
from specc.runtime.ppo import adapt_learning_rate, gaussian_kl, surrogate_loss, value_loss
from specc.runtime.storage import compute_gae


def test_gae_with_a_termination_and_a_time_out():
    gamma, lam = 0.9, 0.8
    # env 0 terminates at t=1; env 1 times out at t=0, its reward already carrying gamma * V(terminal) = 0.9 * 0.7.
    rewards = torch.tensor([[1.0, 1.0 + 0.9 * 0.7], [2.0, 0.0], [3.0, 1.0]])
    values = torch.tensor([[0.5, 0.6], [0.4, 0.1], [0.3, 0.2]])
    dones = torch.tensor([[0, 1], [1, 0], [0, 0]])
    last = torch.tensor([0.2, 0.3])
    advantages, returns = compute_gae(rewards, values, dones, last, gamma, lam)
    # env 0: A2 = 3 + .9*.2 - .3 = 2.88; A1 = 2 - .4 = 1.6 (episode ends); A0 = (1 + .9*.4 - .5) + .72*1.6 = 2.012
    # env 1: A2 = 1 + .9*.3 - .2 = 1.07; A1 = (0 + .9*.2 - .1) + .72*1.07 = .8504; A0 = 1.63 - .6 = 1.03
    expected = torch.tensor([[2.012, 1.03], [1.6, 0.8504], [2.88, 1.07]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected + values)


def _surrogate_gradient(ratio: float, advantage: float, clip: float = 0.2) -> float:
    log_prob = torch.tensor([float(torch.log(torch.tensor(ratio)))], requires_grad=True)
    surrogate_loss(log_prob, torch.zeros(1), torch.tensor([advantage]), clip).backward()
    return log_prob.grad.item()


def test_clipped_objective_has_no_gradient_past_the_clip_boundary():
    # Positive advantage: pushing the ratio above 1 + eps earns nothing more.
    assert _surrogate_gradient(1.3, 1.0) == 0.0
    # Inside the boundary: d(-r A)/d(log pi) = -r A.
    assert _surrogate_gradient(1.1, 1.0) == pytest.approx(-1.1)
    # Negative advantage: below 1 - eps the objective is flat ...
    assert _surrogate_gradient(0.7, -1.0) == 0.0
    # ... but above 1 + eps the pessimistic (unclipped) term still pulls the ratio down.
    assert _surrogate_gradient(1.3, -1.0) == pytest.approx(1.3)


def test_clipped_value_loss_takes_the_pessimistic_error():
    old = torch.tensor([1.0])
    returns = torch.tensor([2.0])
    # The new value 1.5 moved 0.5 from the old one: clipped to 1.2; errors .25 (unclipped) and .64 (clipped).
    assert value_loss(torch.tensor([1.5]), old, returns, 0.2).item() == pytest.approx(0.64)
    assert value_loss(torch.tensor([1.5]), old, returns, None).item() == pytest.approx(0.25)


def test_learning_rate_adapts_to_the_kl_like_rsl_rl():
    def adapt(lr: float, kl: float) -> float:
        return adapt_learning_rate(torch.tensor(lr, dtype=torch.float64), torch.tensor(kl), 0.01).item()

    assert adapt(1e-3, 0.05) == 1e-3 / 1.5  # the very float rsl_rl computes
    assert adapt(1e-3, 0.004) == 1e-3 * 1.5
    assert adapt(1e-3, 0.01) == 1e-3
    assert adapt(1e-3, 0.0) == 1e-3  # no KL measured: no change
    assert adapt(1e-5, 1.0) == 1e-5  # floor
    assert adapt(1e-2, 1e-6) == 1e-2  # ceiling


def test_the_update_reads_the_device_once_and_resumes_at_its_adapted_rate():
    """The adaptive rate lives on the device and the fused Adam reads it there: no host read per
    minibatch (a stall between minibatches on a GPU). Its state, saved and loaded, continues alike."""
    from runtime_support import cartpole_runner

    runner = cartpole_runner(num_envs=16)
    runner.collect()
    batches = runner.storage.minibatches(4, 2, runner.generator)
    reads = []
    original = torch.Tensor.item

    def counting_item(tensor):
        reads.append(tensor.shape)
        return original(tensor)

    torch.Tensor.item = counting_item
    try:
        stats = runner.ppo.update(batches)
    finally:
        torch.Tensor.item = original
    assert reads == [torch.Size([])]  # the learning rate, once; the losses come with one tolist()
    assert stats.learning_rate != runner.config.learning_rate  # it did adapt, on the device
    assert runner.ppo.optimizer.param_groups[0]["fused"]
    twin = cartpole_runner(num_envs=16)
    twin.ppo.load_state_dict(runner.ppo.state_dict())
    assert twin.ppo.learning_rate == runner.ppo.learning_rate
    assert twin.ppo.optimizer.param_groups[0]["lr"] is twin.ppo._optimizer_lr


def test_gaussian_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    mu0, mu1 = torch.randn(5, 3, generator=generator), torch.randn(5, 3, generator=generator)
    s0, s1 = torch.rand(5, 3, generator=generator) + 0.1, torch.rand(5, 3, generator=generator) + 0.1
    expected = kl_divergence(Normal(mu0, s0), Normal(mu1, s1)).sum(-1).mean()
    torch.testing.assert_close(gaussian_kl(mu0, s0, mu1, s1), expected)


def test_normalizer_tracks_the_mean_and_variance_of_everything_seen():
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(n, 4, generator=generator) * 3 + 2 for n in (7, 100, 33)]
    normalizer = EmpiricalNormalizer(4)
    for batch in batches:
        normalizer.update(batch)
    everything = torch.cat(batches)
    torch.testing.assert_close(normalizer.mean, everything.mean(0))
    torch.testing.assert_close(normalizer.var, everything.var(0, unbiased=False))
