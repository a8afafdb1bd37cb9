"""Evaluation done right: one episode per env, each judged by the spec's [eval] criteria.

The criteria are compiled into the task's module (`compute_success`, with `EVAL_JUDGE` and
`EVAL_TERMINATION_FAILS`); the env computes them on each step's pre-reset state when it is
built to judge. An episode fails at the first step its failure expression is true, or when a
termination term ends it (unless the spec says terminations do not fail). It succeeds when
its success expression holds on its last state (`judge = "end"`) or at some step before any
failure (`judge = "first"`). Actions are the policy's mean. The success rate comes with a
95 % Wilson score interval: with 100 episodes a rate is known to about ±5-10 points.

A task with categorical commands (a gait) is also judged per choice: each choice's episodes, success
rate with its interval, and mean forward speed (`by_command`), since one rate over all gaits would
hide a gait that never works.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from specc.runtime.env import TaskEnv

# Commands that name a base velocity, and the velocity component they command.
TRACKED_COMMANDS = {"lin_vel_x": ("lin", 0), "lin_vel_y": ("lin", 1), "ang_vel_yaw": ("ang", 2)}
Z_95 = 1.959963984540054  # the standard normal's 97.5 % quantile


@dataclass
class EvalResult:
    episodes: int
    success_rate: float
    success_ci95: tuple[float, float]  # Wilson score interval of the success rate
    mean_return: float
    term_returns: dict[str, float]  # mean return of each reward term (weighted, as in training)
    mean_distance_m: float  # base travel in the xy plane, start to end of the episode
    mean_tracking_error: float | None
    terminated_rate: float  # episodes ended by a termination term (or lost physics), not a time-out
    failed_rate: float  # episodes judged failed
    diverged: int  # episodes whose physics blew up: failed, and out of the distance and tracking means
    per_episode: list[dict]
    # Per categorical command, per choice: episodes, success_rate, success_ci95, mean_forward_speed_mps
    # (base-frame forward velocity averaged over the episode's steps); None without categorical commands.
    by_command: dict[str, dict[str, dict]] | None = None
    # On tiles: success by tile type, by difficulty row, by both, and from the middle row up; else None.
    terrain: dict | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["success_ci95"] = list(self.success_ci95)
        return out


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion: unlike the normal approximation it stays
    inside [0, 1] and is not zero-width at 0 % or 100 % success, where small evaluations often are."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return (max(0.0, center - half), min(1.0, center + half))


def evaluate(env: TaskEnv, policy) -> EvalResult:
    """Run one episode in every env of `env` (built with judge=True) and judge each."""
    with env.cores_for_physics():
        return _evaluate(env, policy)


@torch.no_grad()
def _evaluate(env: TaskEnv, policy) -> EvalResult:
    if not env.judge:
        raise ValueError("evaluate() needs an env built to judge: TaskEnv(..., judge=True)")
    module = env.kernels.module
    judge_first = module.EVAL_JUDGE == "first"
    termination_fails = bool(module.EVAL_TERMINATION_FAILS)
    n = env.num_envs
    device = env.device
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    failed = torch.zeros(n, dtype=torch.bool, device=device)
    succeeded = torch.zeros(n, dtype=torch.bool, device=device)
    returns = torch.zeros(n, device=device)
    term_returns = torch.zeros(n, len(env.reward_names), device=device)
    distance = torch.zeros(n, device=device)
    terminated = torch.zeros(n, dtype=torch.bool, device=device)
    diverged = torch.zeros(n, dtype=torch.bool, device=device)
    error_sum = torch.zeros(n, device=device)
    steps = torch.zeros(n, device=device)
    forward_speed_sum = torch.zeros(n, device=device)
    categorical = [(env.command_names.index(c.name), c) for c in env.config.categorical]
    episode_commands = torch.zeros(n, len(env.command_names), device=device)
    tracked = [
        (i, TRACKED_COMMANDS[name]) for i, name in enumerate(env.command_names) if name in TRACKED_COMMANDS
    ]
    obs = env.reset_all()
    levels, types = env.terrain_level.tolist(), env.terrain_types  # fixed during evaluation
    for _ in range(env.config.max_episode_steps + 1):
        result = env.step(policy(obs))
        # A judging env fills the [eval] criteria and the reward terms of every step.
        assert result.reward_terms is not None and result.success is not None and result.failure is not None
        active = ~finished
        returns += result.reward * active
        term_returns += result.reward_terms * active.unsqueeze(-1)
        steps += active.float()
        forward_speed_sum += result.base_lin_vel[:, 0] * active
        if tracked:
            err = torch.zeros(n, device=device)
            for index, (kind, axis) in tracked:
                measured = (result.base_lin_vel if kind == "lin" else result.base_ang_vel)[:, axis]
                err += (result.commands[:, index] - measured).square()
            error_sum += err.sqrt() * active
        ending = result.done & active
        episode_commands = torch.where(ending.unsqueeze(-1), result.commands, episode_commands)
        by_termination = ending & ~result.time_out
        fails_now = result.failure & active
        if termination_fails:
            fails_now |= by_termination
        if judge_first:  # a step that both succeeds and fails counts as a failure
            succeeded |= result.success & active & ~failed & ~fails_now
            failed |= fails_now & ~succeeded
        else:
            failed |= fails_now
            succeeded = torch.where(ending, result.success & ~failed, succeeded)
        travelled = (result.terminal_base_pos[:, :2] - result.start_base_pos[:, :2]).norm(dim=-1)
        distance = torch.where(ending, travelled, distance)
        terminated |= by_termination
        if result.diverged is not None:
            diverged |= result.diverged & active
        finished |= ending
        obs = result.obs
        if bool(finished.all()):
            break
    env.check_health()
    # An episode whose physics blew up fails whatever its criteria read from the garbage state, and
    # its distance, speed and tracking error stay out of the means (one such env moved a mean by
    # hundreds of metres on rough terrain).
    failed |= diverged
    succeeded &= ~diverged
    success = succeeded & ~failed if not judge_first else succeeded
    kept = ~diverged
    per_episode: list[dict[str, Any]] = [
        {
            "success": bool(s),
            "failed": bool(f),
            "return": float(r),
            "distance_m": float(d),
            "terminated": bool(t),
            "diverged": bool(x),
        }
        for s, f, r, d, t, x in zip(
            success.tolist(),
            failed.tolist(),
            returns.tolist(),
            distance.tolist(),
            terminated.tolist(),
            diverged.tolist(),
        )
    ]
    forward_speed = (forward_speed_sum / steps.clamp(min=1)).tolist()
    for episode, speed in zip(per_episode, forward_speed):
        episode["forward_speed_mps"] = 0.0 if episode["diverged"] else float(speed)
    if categorical:
        chosen = episode_commands[:, [index for index, _ in categorical]].round().long().tolist()
        for episode, row in zip(per_episode, chosen):
            episode["commands"] = {c.name: _choice_name(c, k) for (_, c), k in zip(categorical, row)}
    if env.terrain is not None:
        for episode, level, kind in zip(per_episode, levels, types):
            episode["terrain_row"], episode["terrain_type"] = level, kind
    tracking = float(_mean_of((error_sum / steps.clamp(min=1)), kept)) if tracked else None
    count = int(success.sum())
    return EvalResult(
        episodes=n,
        success_rate=count / n,
        success_ci95=wilson_interval(count, n),
        mean_return=float(returns.mean()),
        term_returns={name: float(v) for name, v in zip(env.reward_names, term_returns.mean(0).tolist())},
        mean_distance_m=float(_mean_of(distance, kept)),
        mean_tracking_error=tracking,
        terminated_rate=float(terminated.float().mean()),
        failed_rate=float(failed.float().mean()),
        diverged=int(diverged.sum()),
        per_episode=per_episode,
        by_command=command_breakdown(per_episode, [c for _, c in categorical]) if categorical else None,
        terrain=terrain_breakdown(per_episode, env.config.terrain.rows) if env.terrain is not None else None,
    )


def _mean_of(values: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """The mean of the kept entries (0 when none is kept)."""
    return torch.where(kept, values, torch.zeros_like(values)).sum() / kept.sum().clamp(min=1)


def _choice_name(command, index: int) -> str:
    return command.choices[index] if 0 <= index < len(command.choices) else str(index)


def success_summary(episodes: list[dict]) -> dict:
    """Episodes, success rate with its Wilson interval, and mean forward speed of a group of episodes."""
    count = len(episodes)
    wins = sum(e["success"] for e in episodes)
    moving = [e["forward_speed_mps"] for e in episodes if not e.get("diverged")]
    return {
        "episodes": count,
        "success_rate": wins / count if count else 0.0,
        "success_ci95": list(wilson_interval(wins, count)),
        "mean_forward_speed_mps": sum(moving) / len(moving) if moving else 0.0,
    }


def command_breakdown(per_episode: list[dict], commands) -> dict[str, dict[str, dict]]:
    """Per categorical command, the episodes of each of its choices summarized (choices in the spec's
    order; a choice no episode drew has no row)."""
    out: dict[str, dict[str, dict]] = {}
    for command in commands:
        rows = {}
        for choice in command.choices or [str(k) for k in range(command.num_choices)]:
            group = [e for e in per_episode if e["commands"][command.name] == choice]
            if group:
                rows[choice] = success_summary(group)
        out[command.name] = rows
    return out


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
