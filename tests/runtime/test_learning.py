"""PPO learns to balance the cart-pole on the CPU: a threshold no random policy reaches.

The episode lasts at most 250 policy steps (5 s); a random policy keeps the pole up for
about 50. Both seeds must average at least 200 steps over five consecutive iterations
within 60 iterations.
"""

from __future__ import annotations

import pytest
from runtime_support import cartpole_runner

ITERATIONS, THRESHOLD, WINDOW = 60, 200.0, 5


@pytest.mark.parametrize("seed", [0, 1])
def test_ppo_balances_the_cartpole(seed):
    runner = cartpole_runner(seed)
    lengths: list[float] = []
    runner.train(ITERATIONS, lambda log: lengths.append(log.mean_episode_length or 0.0))
    assert sum(lengths[:WINDOW]) / WINDOW < 150.0  # it starts out failing
    best = max(sum(lengths[i : i + WINDOW]) / WINDOW for i in range(len(lengths) - WINDOW + 1))
    assert best >= THRESHOLD, lengths
