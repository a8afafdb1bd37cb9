"""Replay the env step from one CUDA graph: one launch per policy step instead of hundreds.

The env step is written to be capturable: its state is updated in place, finished envs
are masked rather than gathered, and nothing in it waits for the GPU. After a few eager
steps (kernel compilation, the backend's own warm-up), the whole step (PD targets, the
physics substeps, the compiled observation/reward/termination kernels, resets, episode
statistics) is captured once with a static action buffer, then replayed. Where that is
impossible (a CPU device, a backend that cannot be recorded, a capture error), steps run
eagerly and `mode` says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from specc.runtime.env import StepResult, TaskEnv

WARMUP_STEPS = 3  # eager steps before capture: compilation and first-call allocations happen here


class StepGraph:
    def __init__(self, env: TaskEnv, enabled: bool) -> None:
        self.env = env
        # Once captured: the graph, the actions tensor it reads and the result tensors it writes.
        self._captured: tuple[torch.cuda.CUDAGraph, torch.Tensor, StepResult] | None = None
        self._eager_steps = 0
        self.wanted = False
        if not enabled:
            self.mode = "eager (graph capture off)"
        elif env.device.type != "cuda":
            self.mode = "eager (not a CUDA device)"
        elif not getattr(env.backend, "capturable", False):
            self.mode = "eager (the backend's step cannot be recorded)"
        else:
            self.wanted = True
            self.mode = "eager (warming up before capture)"

    def step(self, actions: torch.Tensor) -> StepResult:
        if self._captured is not None:
            graph, static_actions, result = self._captured
            static_actions.copy_(actions)
            graph.replay()
            return result
        if self.wanted and self._eager_steps >= WARMUP_STEPS:
            return self._capture_and_replay(actions)
        self._eager_steps += 1
        return self.env.step_eagerly(actions)

    def _capture_and_replay(self, actions: torch.Tensor) -> StepResult:
        env = self.env
        static_actions = actions.detach().to(env.device).clone()
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.current_stream(env.device)  # the backend's stream: its kernels are recorded too
        try:
            # Draws from the env's own generator advance its offset at every replay.
            graph.register_generator_state(env.generator)
            with torch.cuda.graph(graph, stream=stream):
                result = env.step_eagerly(static_actions)
        except Exception as err:  # noqa: BLE001 - any capture failure falls back to eager steps, and says so
            self.wanted = False
            self.mode = f"eager (capture failed: {str(err).splitlines()[0][:160]})"
            return env.step_eagerly(actions)
        self._captured = (graph, static_actions, result)
        self.mode = "cuda-graph"
        graph.replay()  # capture records without running: this replay is the step
        return result
