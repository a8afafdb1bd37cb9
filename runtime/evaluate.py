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
    # On tiles: success by tile type, by difficulty row, by both, and from the middle row up; else None.
    terrain: dict | None = None

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
    levels, types = env.terrain_level.tolist(), env.terrain_types  # fixed during evaluation
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
    if env.terrain is not None:
        for episode, level, kind in zip(per_episode, levels, types):
            episode["terrain_row"], episode["terrain_type"] = level, kind
    tracking = float((error_sum / steps.clamp(min=1)).mean()) if tracked else None
    return EvalResult(
        n,
        float(success.float().mean()),
        float(returns.mean()),
        float(distance.mean()),
        tracking,
        float(terminated.float().mean()),
        per_episode,
        terrain_breakdown(per_episode, env.config.terrain.rows) if env.terrain is not None else None,
    )


def terrain_breakdown(per_episode: list[dict], rows: int) -> dict:
    """Success rates of episodes grouped by tile type, by difficulty row, and by both (rows as strings,
    for JSON); the issue's floor reads the rate from the middle row up."""

    def rate(episodes: list[dict]) -> dict:
        return {
            "episodes": len(episodes),
            "success_rate": sum(e["success"] for e in episodes) / max(1, len(episodes)),
        }

    kinds = list(dict.fromkeys(e["terrain_type"] for e in per_episode))
    levels = sorted({e["terrain_row"] for e in per_episode})
    middle = rows // 2
    return {
        "by_type": {k: rate([e for e in per_episode if e["terrain_type"] == k]) for k in kinds},
        "by_row": {str(r): rate([e for e in per_episode if e["terrain_row"] == r]) for r in levels},
        "by_type_and_row": {
            k: {
                str(r): rate([e for e in per_episode if e["terrain_type"] == k and e["terrain_row"] == r])[
                    "success_rate"
                ]
                for r in levels
                if any(e["terrain_type"] == k and e["terrain_row"] == r for e in per_episode)
            }
            for k in kinds
        },
        "middle_row": middle,
        "success_rate_from_middle_row": rate([e for e in per_episode if e["terrain_row"] >= middle])[
            "success_rate"
        ],
    }
