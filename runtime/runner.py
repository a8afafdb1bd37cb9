"""The training loop: collect rollouts from the env, update PPO, log, checkpoint, resume.

A checkpoint holds the policy, the optimizer, the adaptive learning rate, the observation
normalizer, the iteration counter, every random generator and the env's full state, so a
resumed run continues exactly where the checkpoint was written (tests/test_runner.py). It is
stamped with the runner's `identity()` and verified on load (`runtime/checkpoint.py`).

Every iteration counts the env steps whose physics diverged (the env resets those envs); a run
in which most steps diverge for several iterations in a row learns nothing, so it stops with
`PhysicsDiverged` and the env's diagnosis instead of training on resets.

Across several processes (runtime/distributed.py) every rank runs this loop on its own envs;
the hooks here keep the ranks in step: rank 0's initial parameters, per-rank generator seeds,
episode statistics and samples/s summed over the ranks for rank 0's log, a stop request that stops
all ranks at the same iteration, and checkpoints that rank 0 writes with every rank's env state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from specc.runtime import distributed
from specc.runtime.actor_critic import ActorCritic
from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity, load_checkpoint, save_checkpoint
from specc.runtime.config import PPOConfig
from specc.runtime.divergence import PhysicsDiverged
from specc.runtime.env import TaskEnv
from specc.runtime.normalizer import EmpiricalNormalizer
from specc.runtime.ppo import PPO
from specc.runtime.storage import RolloutStorage

# A run stops when more than this share of its env steps diverged in each of this many iterations in a row.
DIVERGED_SHARE_LIMIT = 0.5
DIVERGED_ITERATIONS_LIMIT = 3


@dataclass
class IterationLog:
    iteration: int
    steps_per_second: float
    mean_reward: float  # mean per-step reward of the rollout
    mean_episode_return: float | None
    mean_episode_length: float | None
    scalars: dict[str, float] = field(default_factory=dict)
    diverged_share: float = 0.0  # share of the iteration's env steps whose physics diverged


class Runner:
    def __init__(self, env: TaskEnv, config: PPOConfig, seed: int = 0, metadata: dict | None = None) -> None:
        self.env = env
        self.config = config
        self.device = env.device
        torch.manual_seed(seed)
        self.policy = ActorCritic(
            env.num_obs,
            env.num_actions,
            tuple(config.actor_hidden_dims),
            tuple(config.critic_hidden_dims),
            config.activation,
            config.init_noise_std,
        ).to(self.device)
        distributed.broadcast_module(self.policy)  # several processes: all start from rank 0's parameters
        self.normalizer = EmpiricalNormalizer(env.num_obs).to(self.device)
        self.ppo = PPO(self.policy, config)
        self.storage = RolloutStorage(
            config.num_steps_per_env, env.num_envs, env.num_obs, env.num_actions, self.device
        )
        rank_seed = distributed.rank_seed(seed)  # seed itself in a single process
        self.generator = torch.Generator().manual_seed(rank_seed + 1)
        self.action_generator = torch.Generator(device=self.device).manual_seed(rank_seed + 2)
        self.iteration = 0
        self.metadata = metadata or {}
        self.diverged_streak = 0  # iterations in a row with most env steps diverged
        env.spread_episode_starts()

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return self.normalizer(obs) if self.config.empirical_normalization else obs

    @torch.no_grad()
    def collect(self) -> tuple[float, torch.Tensor]:
        obs = self.env.obs
        reward_sum = torch.zeros((), device=self.device)
        for _ in range(self.config.num_steps_per_env):
            if self.config.empirical_normalization:
                self.normalizer.update(obs)
            normalized = self.normalize(obs)
            dist = self.policy.distribution(normalized)
            actions = dist.mean + dist.stddev * torch.randn(
                dist.mean.shape, generator=self.action_generator, device=self.device
            )
            log_probs = dist.log_prob(actions).sum(-1)
            values = self.policy.value(normalized)
            result = self.env.step(actions)
            reward = result.reward.clone()
            # A time-out is not a failure: bootstrap with the value of the state it ended in.
            terminal_values = self.policy.value(self.normalize(result.terminal_obs))
            reward += self.config.gamma * terminal_values * result.time_out.float()
            self.storage.add(
                normalized, actions, log_probs, values, reward, result.done, dist.mean, dist.stddev
            )
            reward_sum += result.reward.mean()
            obs = result.obs
        last_values = self.policy.value(self.normalize(obs))
        self.storage.finish(last_values, self.config.gamma, self.config.lam)
        self.env.check_health()
        return (reward_sum / self.config.num_steps_per_env).item(), last_values

    def train(
        self,
        iterations: int,
        on_iteration: Callable[[IterationLog], None] | None = None,
        checkpoint_dir: Path | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        end = self.iteration + iterations
        while self.iteration < end:
            start = time.perf_counter()
            mean_reward, _ = self.collect()
            collect_time = time.perf_counter() - start
            stats = self.ppo.update(
                self.storage.minibatches(
                    self.config.num_mini_batches, self.config.num_learning_epochs, self.generator
                )
            )
            elapsed = time.perf_counter() - start
            self.iteration += 1
            episode = distributed.sum_tensors(self.env.stats.read_and_clear())  # over all ranks
            mean_reward = distributed.average_number(mean_reward)
            log = self._log(mean_reward, stats, episode, elapsed, collect_time)
            if on_iteration:
                on_iteration(log)
            self._watch_divergence(log.diverged_share)
            if checkpoint_dir is not None and (
                self.iteration % self.config.save_interval == 0 or self.iteration == end
            ):
                self.save(checkpoint_dir / f"model_{self.iteration:06d}.pt")
            if should_stop is not None and distributed.any_rank(should_stop()):
                break

    def _watch_divergence(self, share: float) -> None:
        """Stop a run whose physics keeps blowing up: every diverged env is reset, so it learns nothing."""
        self.diverged_streak = self.diverged_streak + 1 if share > DIVERGED_SHARE_LIMIT else 0
        if self.diverged_streak >= DIVERGED_ITERATIONS_LIMIT:
            raise PhysicsDiverged(
                f"the physics diverged in {share:.0%} of the env steps of iteration {self.iteration} "
                f"(over {DIVERGED_SHARE_LIMIT:.0%} for {self.diverged_streak} iterations in a row; every "
                f"diverged env is reset, so the run learns nothing). {self.env.divergence_diagnosis()}"
            )

    def _log(self, mean_reward, stats, episode, elapsed, collect_time) -> IterationLog:
        samples = self.config.num_steps_per_env * self.env.num_envs * distributed.world_size()
        count = episode["episodes"].item()
        scalars = {
            "Loss/surrogate": stats.surrogate,
            "Loss/value": stats.value,
            "Loss/entropy": stats.entropy,
            "Policy/kl": stats.kl,
            "Policy/learning_rate": stats.learning_rate,
            "Policy/mean_noise_std": torch.exp(self.policy.log_std).mean().item(),
            "Perf/steps_per_second": samples / elapsed,
            "Perf/collection_s": collect_time,
            "Perf/learning_s": elapsed - collect_time,
            "Train/mean_reward": mean_reward,
            "Episode/nan_resets": episode["nan_resets"].item(),
            "Physics/diverged_share": episode["nan_resets"].item() / samples,
        }
        scalars.update(self.env.backend.counters)  # e.g. the share of steps reset for contact overflows
        if self.env.terrain is not None:  # the curriculum's progress: legged_gym's terrain_level curve
            scalars["Curriculum/terrain_level"] = self.env.terrain_level.float().mean().item()
        mean_return = mean_length = None
        if count > 0:
            sums = episode["reward_sums"] / count
            for name, value in zip(self.env.reward_names, sums.tolist()):
                scalars[f"Episode_Reward/{name}"] = value
            mean_return = float(sums.sum())
            mean_length = episode["length_sum"].item() / count
            scalars["Train/mean_episode_return"] = mean_return
            scalars["Train/mean_episode_length"] = mean_length
            for name, value in zip(self.env.termination_names, episode["termination_counts"].tolist()):
                scalars[f"Episode_Termination/{name}"] = value / count
            scalars["Episode_Termination/time_out"] = episode["time_outs"].item() / count
        return IterationLog(
            self.iteration,
            samples / elapsed,
            mean_reward,
            mean_return,
            mean_length,
            scalars,
            scalars["Physics/diverged_share"],
        )

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "policy": self.policy.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "ppo": self.ppo.state_dict(),
            "generator": self.generator.get_state(),
            "action_generator": self.action_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "env": self.env.state_dict(),
            "metadata": self.metadata,
        }

    def identity(self) -> CheckpointIdentity:
        """What this runner's checkpoints fit: its spec, sizes, network, env count and backend."""
        return CheckpointIdentity(
            spec_hash=self.metadata.get("spec_hash"),
            task=self.metadata.get("task"),
            num_obs=self.env.num_obs,
            num_actions=self.env.num_actions,
            actor_hidden_dims=tuple(self.config.actor_hidden_dims),
            critic_hidden_dims=tuple(self.config.critic_hidden_dims),
            num_envs=self.env.num_envs,
            backend=type(self.env.backend).__name__,
        )

    # What differs between the ranks of a run; the rest (the learner) is the same on every rank.
    RANK_STATE = ("generator", "action_generator", "torch_rng", "env")

    def save(self, path: Path) -> Path:
        """Write a checkpoint; across several processes every rank calls this and rank 0 writes.

        Rank 0's file is a single-process checkpoint (its own env and generators at the top level)
        plus "other_ranks": the RANK_STATE of ranks 1..N-1, so a resume restores every rank.
        """
        state = self.state_dict()
        if distributed.world_size() == 1:
            return save_checkpoint(path, self.identity(), state)
        ranks = distributed.gather_to_main({key: state[key] for key in self.RANK_STATE})
        if ranks is not None:  # rank 0
            save_checkpoint(path, self.identity(), {**state, "other_ranks": ranks[1:]})
        distributed.barrier()  # on every rank the file exists once save returns
        return path

    def _own_rank_state(self, state: dict, notes: list[str]) -> dict | None:
        """This rank's env and generators in a checkpoint; None when it was written by fewer ranks."""
        others = state.get("other_ranks", [])
        rank, world = distributed.rank(), distributed.world_size()
        if 1 + len(others) != world:
            notes.append(
                f"the checkpoint holds the envs of {1 + len(others)} process(es), this run has {world}: "
                "ranks it lacks start fresh envs"
            )
        return state if rank == 0 else (others[rank - 1] if rank - 1 < len(others) else None)

    def load(self, path: Path, restore_env: bool = True, allow_spec_change: bool = False) -> list[str]:
        """Continue from a checkpoint (`restore_env`: a resume) or take its policy only (eval, play).

        Raises `CheckpointError` for any file that cannot serve; returns notes worth printing.
        """
        loaded = load_checkpoint(
            path, self.identity(), device=self.device, allow_spec_change=allow_spec_change, resume=restore_env
        )
        state = loaded.state
        notes = list(loaded.notes)
        try:
            self.policy.load_state_dict(state["policy"])
            self.normalizer.load_state_dict(state["normalizer"])
            if restore_env:
                self.ppo.load_state_dict(state["ppo"])
                own = self._own_rank_state(state, notes)  # several processes: this rank's part
                if own is not None:
                    self.generator.set_state(own["generator"].cpu())
                    self.action_generator.set_state(own["action_generator"].cpu())
                    torch.set_rng_state(own["torch_rng"].cpu())
                    self.env.load_state_dict(own["env"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: the checkpoint does not fit this run ({reason})") from None
        if restore_env:
            self.iteration = state["iteration"]
        return notes
