"""One rank of tests/runtime/test_distributed.py, started by torchrun: train the test cart-pole, report hashes.

Each rank trains (a) 4 iterations straight and (b) 2 iterations, a checkpoint, then a fresh runner
with another seed resumed from it for 2 more; it writes OUT/rank<r>.json with hashes of its learner
(policy, normalizer, optimizer), of its env state, and its learning rate, for the test to compare,
and the error of the normalizer's pooled moments against the union of all ranks' batches.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/support/distributed_worker.py OUT
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from runtime_support import cartpole_runner

from specc.runtime import distributed

NUM_ENVS = 8


def digest(tensors: dict) -> str:
    """sha256 over a state dict's tensors (nested dicts flattened in key order), bit for bit."""
    h = hashlib.sha256()

    def feed(value) -> None:
        if isinstance(value, dict):
            for key in sorted(value, key=str):
                h.update(str(key).encode())
                feed(value[key])
        elif isinstance(value, torch.Tensor):
            h.update(value.detach().cpu().contiguous().numpy().tobytes())
        else:
            h.update(repr(value).encode())

    feed(tensors)
    return h.hexdigest()


def report(runner) -> dict:
    return {
        "policy": digest(runner.policy.state_dict()),
        "normalizer": digest(runner.normalizer.state_dict()),
        "optimizer": digest(runner.ppo.optimizer.state_dict()["state"]),
        "learning_rate": runner.ppo.learning_rate,
        "env": digest(runner.env.state_dict()["buffers"]),
        "iteration": runner.iteration,
    }


def pooled_moments_error(rank: int, world_size: int) -> float:
    """Max error of the pooled count, mean and variance against the concatenation of every rank's batch."""
    batches = [
        torch.randn(5 + 3 * r, 4, generator=torch.Generator().manual_seed(r)) * (r + 1) + r
        for r in range(world_size)
    ]
    mine = batches[rank]
    count, mean, var = distributed.pooled_moments(mine.shape[0], mine.mean(0), mine.var(0, unbiased=False))
    union = torch.cat(batches)
    return max(
        abs(float(count) - union.shape[0]),
        (mean - union.mean(0)).abs().max().item(),
        (var - union.var(0, unbiased=False)).abs().max().item(),
    )


def main() -> None:
    out = Path(sys.argv[1])
    info, _ = distributed.setup("cpu")
    initial = cartpole_runner(seed=3 + info.rank, num_envs=NUM_ENVS)  # rank 0's parameters must win
    start = digest(initial.policy.state_dict())
    straight = cartpole_runner(seed=3, num_envs=NUM_ENVS)
    straight.train(4)
    interrupted = cartpole_runner(seed=3, num_envs=NUM_ENVS)
    interrupted.train(2, checkpoint_dir=out)
    resumed = cartpole_runner(seed=99, num_envs=NUM_ENVS)  # everything must come from the checkpoint
    notes = resumed.load(out / "model_000002.pt")
    resumed.train(2)
    result = {
        "world_size": info.world_size,
        "pooled_moments_error": pooled_moments_error(info.rank, info.world_size),
        "initial_policy": start,
        "straight": report(straight),
        "resumed": report(resumed),
        "notes": notes,
    }
    (out / f"rank{info.rank}.json").write_text(json.dumps(result, indent=2))
    # gloo's threads sometimes abort the process group's destruction or the interpreter's shutdown
    # ("terminate called without an active exception", a few of ~60 runs on a loaded 2-core machine),
    # after everything above is written. Both ranks wait here until both results are on disk, then leave
    # without that teardown (the product's own teardown is exercised by the `specc run --gpus 2` test).
    torch.distributed.barrier()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
