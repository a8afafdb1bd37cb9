"""The compiled kernels on a CUDA GPU, with specc's CUDA inductor options; skipped without a GPU (as in CI)."""

from __future__ import annotations

import pytest
import torch
from kernel_support import TASKS, load_task, random_inputs, render_module

from specc.expr.signals import KERNEL_INPUTS
from specc.runtime.kernels import inductor_options, load_kernels

if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)


def test_inductor_step_on_cuda_equals_the_eager_step(tmp_path):
    assert inductor_options("cuda"), "the CUDA options are what this test exercises"
    task = load_task(TASKS / "anymal_walk.toml")
    source = render_module(task)
    inputs = random_inputs(task, 4096, torch.Generator().manual_seed(0))
    ordered = [inputs[name].cuda() for name in KERNEL_INPUTS]
    eager = load_kernels(source, "anymal_walk", "eager", tmp_path, device="cuda").compute_step(*ordered)
    compiled = load_kernels(source, "anymal_walk", "inductor", tmp_path, device="cuda").compute_step(*ordered)
    names = ("obs", "reward", "reward_terms", "done", "reasons")
    for name, got, want in zip(names, compiled, eager, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")
