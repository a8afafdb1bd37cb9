"""Training across the GPUs of one host: one process per GPU, joined by torch.distributed.

`torchrun` (torch.distributed.run) starts the processes and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Every process builds its own
envs (`sim.num_envs` of them: the count is per process, as in Isaac Lab and mjlab, so each GPU's
kernels keep the size they were tuned for) and its own learner; the learners stay identical
because they start from rank 0's parameters and every change to them is computed from numbers
all ranks agree on: gradients averaged over the ranks before each optimizer step, the KL that
adapts the learning rate averaged, the observation normalizer updated with the pooled moments of
every rank's batch.

With one process nothing here creates a process group and every helper returns its input
untouched, so a single-GPU run takes exactly the path it took before this module existed.
Backends: NCCL between GPUs, gloo between CPU processes (what the tests use).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import torch
import torch.distributed as dist

# Rank r seeds its env and action generators with seed + r * RANK_SEED_STRIDE: streams far apart,
# and rank 0 keeps the seed a single-process run uses.
RANK_SEED_STRIDE = 1_000_003

# Set in the environment of the processes `launch` starts, unless the user set them.
LAUNCH_ENVIRONMENT = {
    "NCCL_NVLS_ENABLE": "0",  # NVLink multicast (NVLS) off: its buffers fail on shared hosts
}


@dataclass(frozen=True)
class RankInfo:
    """This process's place: its rank among `world_size` processes and its GPU on this host."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 logs and writes checkpoints; the others train quietly."""
        return self.rank == 0


def rank_info(environ: dict[str, str] | None = None) -> RankInfo:
    """Read torchrun's RANK, WORLD_SIZE and LOCAL_RANK (all absent: a single process)."""
    environ = dict(os.environ) if environ is None else environ
    try:
        info = RankInfo(
            int(environ.get("RANK", "0")),
            int(environ.get("WORLD_SIZE", "1")),
            int(environ.get("LOCAL_RANK", "0")),
        )
    except ValueError as err:
        raise ValueError(f"RANK, WORLD_SIZE and LOCAL_RANK must be integers: {err}") from None
    if info.world_size < 1 or not 0 <= info.rank < info.world_size or info.local_rank < 0:
        raise ValueError(f"inconsistent RANK={info.rank}, WORLD_SIZE={info.world_size}")
    return info


def setup(device: str) -> tuple[RankInfo, str]:
    """Join the process group torchrun prepared; return this process's place and device.

    On a CUDA device each process takes the GPU numbered by its LOCAL_RANK (cuda:LOCAL_RANK) and
    the group talks NCCL; on the CPU it talks gloo. With a world size of 1 nothing is set up and
    `device` comes back unchanged.
    """
    info = rank_info()
    if info.world_size == 1:
        return info, device
    if torch.device(device).type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {info.local_rank} but this host has {torch.cuda.device_count()} CUDA device(s)"
            )
        placed = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(placed)
        dist.init_process_group("nccl", device_id=placed)
        return info, str(placed)
    dist.init_process_group("gloo")
    return info, device


def teardown() -> None:
    """Leave the process group (a no-op in a single process).

    All ranks leave together: a rank tearing down while another still talks through gloo aborts.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def rank() -> int:
    return dist.get_rank() if _active() else 0


def is_main() -> bool:
    return rank() == 0


def rank_seed(seed: int) -> int:
    """The seed of this rank's env and action generators (`seed` itself on rank 0)."""
    return seed + RANK_SEED_STRIDE * rank()


def _wire_device() -> torch.device:
    """Where tensors must be for a collective: the GPU of this rank under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_reduce_sum(flat: torch.Tensor) -> torch.Tensor:
    """Sum over ranks of a 1-D tensor, returned on the tensor's own device."""
    wire = flat.to(_wire_device(), copy=True)  # never reduce into the caller's tensor
    dist.all_reduce(wire)  # SUM: gloo has no AVG
    return wire.to(flat.device)


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over the ranks: one flat all-reduce for all of them."""
    if not _active():
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = _all_reduce_sum(torch.cat([g.reshape(-1) for g in grads])) / dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average(value: torch.Tensor) -> torch.Tensor:
    """The mean over the ranks of a tensor (the tensor itself in a single process)."""
    if not _active():
        return value
    return (_all_reduce_sum(value.reshape(-1)) / dist.get_world_size()).view_as(value)


def average_number(value: float) -> float:
    """The mean over the ranks of a Python number (the number itself in a single process)."""
    if not _active():
        return value
    return _all_reduce_sum(torch.tensor([value], dtype=torch.float64)).item() / dist.get_world_size()


def sum_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tensor summed over the ranks (one all-reduce for all); the dict itself in a single process."""
    if not _active():
        return tensors
    names = list(tensors)
    flat = _all_reduce_sum(torch.cat([tensors[n].reshape(-1).float() for n in names]))
    out, offset = {}, 0
    for name in names:
        size = tensors[name].numel()
        out[name] = flat[offset : offset + size].view_as(tensors[name]).to(tensors[name].dtype)
        offset += size
    return out


def any_rank(flag: bool) -> bool:
    """True on every rank when it is true on one (a stop request must stop all ranks together)."""
    if not _active():
        return flag
    return bool(_all_reduce_sum(torch.tensor([float(flag)])).item() > 0)


def pooled_moments(
    count: int, mean: torch.Tensor, var: torch.Tensor
) -> tuple[int | torch.Tensor, torch.Tensor, torch.Tensor]:
    """Count, mean and (biased) variance of the union of every rank's batch.

    Two all-reduces: the counts with the count-weighted means give the pooled mean; then the
    count-weighted variances plus each rank's squared offset from the pooled mean give the pooled
    variance (the law of total variance, without the cancellation of E[x^2] - E[x]^2).
    """
    if not _active():
        return count, mean, var
    # torch.full, not torch.tensor: no host-to-device copy, so no stream sync in the collection loop.
    n = torch.full((1,), float(count), dtype=mean.dtype, device=mean.device)
    sums = _all_reduce_sum(torch.cat([n, mean * n]))
    total, pooled_mean = sums[0], sums[1:] / sums[0]
    spread = _all_reduce_sum(n * (var + (mean - pooled_mean).square()))
    return total, pooled_mean, spread / total


def broadcast_module(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers into every rank's `module` (once, at the start)."""
    if not _active():
        return
    wire = _wire_device()
    for tensor in module.state_dict().values():
        staged = tensor.detach().to(wire)
        dist.broadcast(staged, src=0)
        tensor.copy_(staged)


def barrier() -> None:
    """Wait until every rank gets here (a no-op in a single process)."""
    if _active():
        dist.barrier()


def gather_to_main(obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Every rank's `obj` (tensors moved to the CPU first), as a list by rank on rank 0; None elsewhere."""
    if not _active():
        return [obj]
    portable = _to_cpu(obj)
    gathered: list[Any] | None = [None] * dist.get_world_size() if is_main() else None
    dist.gather_object(portable, gathered, dst=0)
    return gathered


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(v) for v in value)
    return value


def launch(nproc: int, argv: list[str]) -> NoReturn:
    """Replace this process by torchrun starting `nproc` copies of `python -m specc <argv>` on this host.

    exec, not a child process: Ctrl-C and the exit status go straight to and from torchrun.
    """
    environ = dict(os.environ)
    for key, value in LAUNCH_ENVIRONMENT.items():
        environ.setdefault(key, value)
    # torchrun would set 1 and print a warning; share the cores out instead.
    environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        str(nproc),
        "-m",
        "specc",
        *argv,
    ]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, environ)
