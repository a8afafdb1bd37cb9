"""Evaluation done right: one episode per env, each judged by the spec's success criterion.

Success: the base travelled at least `min_distance` in the xy plane and, when required,
no termination term fired (a time-out is fine). Actions are the policy's mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from specc.runtime.env import TaskEnv

# Commands that name a base velocity, and the velocity component they command.
TRACKED_COMMANDS = {"lin_vel_x": ("lin", 0), "lin_vel_y": ("lin", 1), "ang_vel_yaw": ("ang", 2)}


@dataclass
class EvalResult:
    episodes: int
    success_rate: float
    mean_return: float
    mean_distance_m: float
    mean_tracking_error: float | None
    terminated_rate: float
    per_episode: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def evaluate(env: TaskEnv, policy, min_distance: float, require_no_termination: bool) -> EvalResult:
    n = env.num_envs
    device = env.device
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    returns = torch.zeros(n, device=device)
    distance = torch.zeros(n, device=device)
    terminated = torch.zeros(n, dtype=torch.bool, device=device)
    error_sum = torch.zeros(n, device=device)
    steps = torch.zeros(n, device=device)
    tracked = [
        (i, TRACKED_COMMANDS[name]) for i, name in enumerate(env.command_names) if name in TRACKED_COMMANDS
    ]
    obs = env.reset_all()
    for _ in range(env.config.max_episode_steps + 1):
        result = env.step(policy(obs))
        active = ~finished
        returns += result.reward * active
        steps += active.float()
        if tracked:
            err = torch.zeros(n, device=device)
            for index, (kind, axis) in tracked:
                measured = (result.base_lin_vel if kind == "lin" else result.base_ang_vel)[:, axis]
                err += (result.commands[:, index] - measured).square()
            error_sum += err.sqrt() * active
        ending = result.done & active
        travelled = (result.terminal_base_pos[:, :2] - result.start_base_pos[:, :2]).norm(dim=-1)
        distance = torch.where(ending, travelled, distance)
        terminated |= ending & ~result.time_out
        finished |= ending
        obs = result.obs
        if bool(finished.all()):
            break
    env.check_health()
    success = distance >= min_distance
    if require_no_termination:
        success &= ~terminated
    per_episode = [
        {"success": bool(s), "return": float(r), "distance_m": float(d), "terminated": bool(t)}
        for s, r, d, t in zip(success.tolist(), returns.tolist(), distance.tolist(), terminated.tolist())
    ]
    tracking = float((error_sum / steps.clamp(min=1)).mean()) if tracked else None
    return EvalResult(
        n,
        float(success.float().mean()),
        float(returns.mean()),
        float(distance.mean()),
        tracking,
        float(terminated.float().mean()),
        per_episode,
    )
