"""Teacher-student distillation, DAgger-style (Ross et al. 2011), as Isaac Lab and rsl_rl do it.

The student acts in the env from its own observation group; the teacher, frozen, reads its
own group (privileged or not) of the same states and labels each with its mean action; the
student regresses those labels. Because the student's own actions choose the states, it
learns to recover from its own mistakes, which behaviour cloning on teacher rollouts does not
teach. `teacher_action_probability` mixes in teacher actions (DAgger's beta) for a warm start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from specc.runtime.actor_critic import DeployablePolicy, mlp
from specc.runtime.config import DistillConfig


def distillation_loss(student_actions: torch.Tensor, teacher_actions: torch.Tensor) -> torch.Tensor:
    """Mean squared error to the teacher's mean actions, averaged over the batch and action dimensions."""
    return (student_actions - teacher_actions).square().mean()


class StudentPolicy(nn.Module):
    """A deterministic MLP policy: what distillation trains and what is exported."""

    def __init__(self, num_obs: int, num_actions: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__()
        self.actor = mlp(num_obs, hidden, num_actions, activation)

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


@dataclass
class DistillBatch:
    obs: torch.Tensor  # (B, O) the student's normalized observations
    teacher_actions: torch.Tensor  # (B, A) the teacher's mean actions at the same states


class LabelStorage:
    """The student's observations and the teacher's labels of one rollout, (T, N, ...)."""

    def __init__(self, steps: int, num_envs: int, num_obs: int, num_actions: int, device: torch.device):
        self.obs = torch.zeros(steps, num_envs, num_obs, device=device)
        self.teacher_actions = torch.zeros(steps, num_envs, num_actions, device=device)
        self.steps, self.num_envs, self.step = steps, num_envs, 0

    def add(self, obs: torch.Tensor, teacher_actions: torch.Tensor) -> None:
        self.obs[self.step], self.teacher_actions[self.step] = obs, teacher_actions
        self.step = (self.step + 1) % self.steps

    def minibatches(self, count: int, epochs: int, generator: torch.Generator) -> Iterator[DistillBatch]:
        total = self.steps * self.num_envs
        size = max(1, total // count)
        obs, labels = self.obs.flatten(0, 1), self.teacher_actions.flatten(0, 1)
        for _ in range(epochs):
            order = torch.randperm(total, generator=generator, device=generator.device).to(obs.device)
            for i in range(min(count, total)):
                index = order[i * size : (i + 1) * size]
                yield DistillBatch(obs[index], labels[index])


class Distillation:
    """The student's optimizer and update; the runner collects the labelled rollouts."""

    def __init__(self, student: StudentPolicy, config: DistillConfig) -> None:
        self.student = student
        self.config = config
        self.optimizer = torch.optim.Adam(student.parameters(), lr=config.learning_rate)

    def update(self, batches: Iterator[DistillBatch]) -> float:
        total, count = 0.0, 0
        for batch in batches:
            loss = distillation_loss(self.student.act_deterministic(batch.obs), batch.teacher_actions)
            self.optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.student.parameters(), self.config.max_grad_norm)
            self.optimizer.step()
            total += loss.item()
            count += 1
        return total / max(count, 1)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])


@dataclass
class Teacher:
    """A trained policy, frozen: it labels the states the student visits."""

    policy: DeployablePolicy  # reads normalized observations
    normalizer: nn.Module | None  # its observation normalizer, None when it was trained without one
    group: str | None  # the observation group it reads ("teacher"); None: the policy's observations

    @torch.no_grad()
    def actions(self, obs: torch.Tensor, groups: dict[str, torch.Tensor]) -> torch.Tensor:
        seen = groups[self.group] if self.group is not None else obs
        if self.normalizer is not None:
            seen = self.normalizer(seen)
        return self.policy.act_deterministic(seen)
