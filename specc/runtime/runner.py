"""The training loop: collect experience from the env, update the learner, log, checkpoint, resume.

One runner for every algorithm: the config's `name` picks PPO (on-policy rollouts) or SAC
(a replay buffer on the device); the loop, the episode logging (`Episode_Reward/<term>`),
the checkpoint format and the deployed policy (`policy.act_deterministic`, `policy.actor`,
`normalizer`) are shared. When the task has a `critic` observation group, the critic reads
it (asymmetric actor-critic) through its own empirical normalizer.

A checkpoint holds the policy, the learner's state (optimizers, adaptive learning rate,
critics, temperature), the normalizers, the iteration counter, every random generator and
the env's full state, so a resumed PPO run continues exactly where the checkpoint was written
(tests/runtime/test_runner.py). SAC's replay buffer is not saved (it is up to gigabytes): a resumed
SAC run refills it before it updates again.

Checkpoints are stamped with the runner's `identity()` and verified on load (`specc/runtime/checkpoint.py`).

Every iteration counts the env steps whose physics diverged (the env resets those envs); a run
in which most steps diverge for several iterations in a row learns nothing, so it stops with
`PhysicsDiverged` and the env's diagnosis instead of training on resets.

Across several processes (specc/runtime/distributed.py) every rank runs this loop on its own envs;
the hooks here keep the ranks in step: rank 0's initial parameters, per-rank generator seeds,
episode statistics and samples/s summed over the ranks for rank 0's log, a stop request that stops
all ranks at the same iteration, and checkpoints that rank 0 writes with every rank's env state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from specc.runtime import distributed
from specc.runtime.checkpoint import CheckpointError, CheckpointIdentity, load_checkpoint, save_checkpoint
from specc.runtime.config import DistillConfig, LearnerConfig, SACConfig
from specc.runtime.distill import Distillation, LabelStorage, Teacher
from specc.runtime.divergence import PhysicsDiverged
from specc.runtime.env import TaskEnv
from specc.runtime.normalizer import EmpiricalNormalizer
from specc.runtime.policies import Policy, build_policy
from specc.runtime.ppo import PPO
from specc.runtime.replay import ReplayBuffer, Transitions
from specc.runtime.sac import SAC
from specc.runtime.storage import RolloutStorage

# A run stops when more than this share of its env steps diverged in each of this many iterations in a row.
DIVERGED_SHARE_LIMIT = 0.5
DIVERGED_ITERATIONS_LIMIT = 3

CRITIC_GROUP = "critic"


@contextmanager
def policy_matmuls(device: torch.device) -> Iterator[None]:
    """Training's matmuls in TF32 on CUDA (10-bit mantissa products, float32 sums): the update's MLP
    passes are matmul-bound, and TF32 tensor cores run them several times faster than float32. PPO's
    ratios and KL stay far above that rounding (about 1e-3 relative), and collection uses the same
    precision as the update. Elsewhere (eval, export, the CPU) matmuls keep full float32."""
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


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
    def __init__(
        self,
        env: TaskEnv,
        config: LearnerConfig,
        seed: int = 0,
        metadata: dict | None = None,
        teacher: Teacher | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.algorithm = config.name
        self.device = env.device
        torch.manual_seed(seed)
        self.num_critic_obs = env.group_sizes.get(CRITIC_GROUP)
        self.normalizer = EmpiricalNormalizer(env.num_obs).to(self.device)
        self.critic_normalizer = (
            EmpiricalNormalizer(self.num_critic_obs).to(self.device) if self.num_critic_obs else None
        )
        self.policy: Policy
        self._iterate: Callable[[], tuple[float, float, dict[str, float]]]
        if isinstance(config, DistillConfig):
            student = build_policy(config, env.num_obs, env.num_actions).to(self.device)
            self.policy, self._iterate = student, self._iterate_distill
            self.teacher = teacher  # None: a student loaded for evaluation or export, not trained
            self.distillation = Distillation(student, config)
            self.labels = LabelStorage(
                config.num_steps_per_env, env.num_envs, env.num_obs, env.num_actions, self.device
            )
        elif isinstance(config, SACConfig):
            actor = build_policy(config, env.num_obs, env.num_actions).to(self.device)
            self.policy, self._iterate = actor, self._iterate_sac
            self.sac = SAC(actor, self.num_critic_obs or env.num_obs, env.num_actions, config)
            self.replay = ReplayBuffer(
                config.buffer_size_per_env,
                env.num_envs,
                env.num_obs,
                env.num_actions,
                self.device,
                self.num_critic_obs,
            )
            self.env_steps = 0  # steps of every env so far: random actions until learning_starts
        else:
            actor_critic = build_policy(config, env.num_obs, env.num_actions, self.num_critic_obs).to(
                self.device
            )
            self.policy, self._iterate = actor_critic, self._iterate_ppo
            self.ppo = PPO(actor_critic, config)
            self.storage = RolloutStorage(
                config.num_steps_per_env,
                env.num_envs,
                env.num_obs,
                env.num_actions,
                self.device,
                self.num_critic_obs,
            )
        distributed.broadcast_module(self.policy)  # several processes: all start from rank 0's parameters
        rank_seed = distributed.rank_seed(seed)  # seed itself in a single process
        # Minibatch order, drawn where the samples are: a host permutation copied over stalls the GPU.
        self.generator = torch.Generator(device=self.device).manual_seed(rank_seed + 1)
        self.action_generator = torch.Generator(device=self.device).manual_seed(rank_seed + 2)
        self.replay_generator = torch.Generator(device=self.device).manual_seed(rank_seed + 3)
        self.iteration = 0
        self.metadata = metadata or {}
        self.diverged_streak = 0  # iterations in a row with most env steps diverged
        env.spread_episode_starts()

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return self.normalizer(obs) if self.config.empirical_normalization else obs

    def act_deterministic(self, obs: torch.Tensor) -> torch.Tensor:
        """The policy's actions without exploration noise, as evaluation and videos run it."""
        return self.policy.act_deterministic(self.normalize(obs))

    def normalize_critic(self, critic_obs: torch.Tensor) -> torch.Tensor:
        """The critic's input normalized: by its own normalizer, or the policy's when it reads the policy's."""
        if self.critic_normalizer is None:
            return self.normalize(critic_obs)
        return self.critic_normalizer(critic_obs) if self.config.empirical_normalization else critic_obs

    def _critic_obs(self, obs: torch.Tensor, groups: dict[str, torch.Tensor]) -> torch.Tensor:
        """The critic's raw input: its own group when the task has one, else the policy's observations."""
        return groups[CRITIC_GROUP] if self.num_critic_obs else obs

    def _update_normalizers(self, obs: torch.Tensor, critic_obs: torch.Tensor) -> None:
        if self.config.empirical_normalization:
            self.normalizer.update(obs)
            if self.critic_normalizer is not None:
                self.critic_normalizer.update(critic_obs)

    @torch.no_grad()
    def collect(self) -> tuple[float, torch.Tensor]:
        """One PPO rollout into the storage, its advantages computed; the mean reward and last values."""
        with self.env.cores_for_physics():  # a CPU backend's threads get the cores
            return self._collect()

    def _collect(self) -> tuple[float, torch.Tensor]:
        policy, config = self.ppo.policy, self.ppo.config
        obs, critic_obs = self.env.obs, self._critic_obs(self.env.obs, self.env.groups)
        reward_sum = torch.zeros((), device=self.device)
        for _ in range(config.num_steps_per_env):
            self._update_normalizers(obs, critic_obs)
            normalized, normalized_critic = self.normalize(obs), self.normalize_critic(critic_obs)
            dist = policy.distribution(normalized)
            actions = dist.mean + dist.stddev * torch.randn(
                dist.mean.shape, generator=self.action_generator, device=self.device
            )
            log_probs = dist.log_prob(actions).sum(-1)
            values = policy.value(normalized_critic)
            result = self.env.step(actions)
            reward = result.reward.clone()
            # A time-out is not a failure: bootstrap with the value of the state it ended in.
            terminal_critic_obs = self._critic_obs(result.terminal_obs, result.terminal_groups)
            terminal_values = policy.value(self.normalize_critic(terminal_critic_obs))
            reward += config.gamma * terminal_values * result.time_out.float()
            self.storage.add(
                normalized,
                actions,
                log_probs,
                values,
                reward,
                result.done,
                dist.mean,
                dist.stddev,
                normalized_critic,
            )
            reward_sum += result.reward.mean()
            obs, critic_obs = result.obs, self._critic_obs(result.obs, result.groups)
        last_values = policy.value(self.normalize_critic(critic_obs))
        self.storage.finish(last_values, config.gamma, config.lam)
        self.env.check_health()
        return (reward_sum / config.num_steps_per_env).item(), last_values

    def _iterate_ppo(self) -> tuple[float, float, dict[str, float]]:
        """A rollout, then PPO's epochs over it."""
        start = time.perf_counter()
        mean_reward, _ = self.collect()
        collect_time = time.perf_counter() - start
        config = self.ppo.config
        stats = self.ppo.update(
            self.storage.minibatches(config.num_mini_batches, config.num_learning_epochs, self.generator)
        )
        return (
            mean_reward,
            collect_time,
            {
                "Loss/surrogate": stats.surrogate,
                "Loss/value": stats.value,
                "Loss/entropy": stats.entropy,
                "Policy/kl": stats.kl,
                "Policy/learning_rate": stats.learning_rate,
                "Policy/mean_noise_std": torch.exp(self.ppo.policy.log_std).mean().item(),
            },
        )

    def _iterate_sac(self) -> tuple[float, float, dict[str, float]]:
        """num_steps_per_env steps of every env into the replay buffer, then updates_per_step updates
        per step. Until learning_starts the envs act uniformly at random over the squashed range."""
        config, env, actor = self.sac.config, self.env, self.sac.policy
        start = time.perf_counter()
        reward_sum = torch.zeros((), device=self.device)
        obs, critic_obs = env.obs, self._critic_obs(env.obs, env.groups)
        with torch.no_grad():
            for _ in range(config.num_steps_per_env):
                self._update_normalizers(obs, critic_obs)
                shape = (env.num_envs, env.num_actions)
                if self.env_steps < config.learning_starts:
                    uniform = torch.rand(shape, generator=self.action_generator, device=self.device)
                    actions = config.action_bound * (2 * uniform - 1)
                else:
                    noise = torch.randn(shape, generator=self.action_generator, device=self.device)
                    actions, _ = actor.sample(self.normalize(obs), noise)
                before, critic_before = obs.clone(), critic_obs.clone()  # the env rewrites its buffers
                result = env.step(actions)
                self.replay.add(
                    before,
                    actions,
                    result.reward * config.reward_scale,
                    result.terminal_obs,  # the state the step ended in, before any reset
                    result.done,
                    result.done & ~result.time_out,  # a time-out bootstraps, a termination does not
                    critic_before,
                    self._critic_obs(result.terminal_obs, result.terminal_groups),
                )
                reward_sum += result.reward.mean()
                obs, critic_obs = result.obs, self._critic_obs(result.obs, result.groups)
                self.env_steps += 1
        env.check_health()
        collect_time = time.perf_counter() - start
        totals: dict[str, torch.Tensor] = {}
        updates = 0
        if self.env_steps >= config.learning_starts and self.replay.size >= config.n_step:
            for _ in range(config.num_steps_per_env * config.updates_per_step):
                for key, value in self.sac.update(*self._sample_sac_batch()).items():
                    totals[key] = totals[key] + value if key in totals else value
                updates += 1
        mean = {key: float(value) / updates for key, value in totals.items()}  # one sync per iteration
        scalars = {
            "Loss/critic": mean.get("critic", 0.0),
            "Loss/actor": mean.get("actor", 0.0),
            "Loss/temperature": mean.get("temperature", 0.0),
            "Policy/alpha": self.sac.log_alpha.exp().item(),
            "Policy/entropy": mean.get("entropy", 0.0),
            "Policy/mean_q": mean.get("q", 0.0),
            "Perf/updates": float(updates),
        }
        return (reward_sum / config.num_steps_per_env).item(), collect_time, scalars

    def _sample_sac_batch(self) -> tuple[Transitions, torch.Tensor, torch.Tensor]:
        """A replay batch with its observations normalized by the current statistics, and the
        standard-normal noises of the policy's actions at its states and its next states."""
        config = self.sac.config
        batch = self.replay.sample(config.batch_size, config.n_step, config.gamma, self.replay_generator)
        batch.obs, batch.next_obs = self.normalize(batch.obs), self.normalize(batch.next_obs)
        if self.num_critic_obs:
            batch.critic_obs = self.normalize_critic(batch.critic_obs)
            batch.next_critic_obs = self.normalize_critic(batch.next_critic_obs)
        else:
            batch.critic_obs, batch.next_critic_obs = batch.obs, batch.next_obs
        shape = (config.batch_size, self.env.num_actions)
        noise = torch.randn(shape, generator=self.action_generator, device=self.device)
        next_noise = torch.randn(shape, generator=self.action_generator, device=self.device)
        return batch, noise, next_noise

    def _iterate_distill(self) -> tuple[float, float, dict[str, float]]:
        """A rollout of the student (DAgger: its own states), labelled by the teacher, then regression."""
        if self.teacher is None:
            raise RuntimeError("a distillation runner trains only with a teacher")
        config, env, student = self.distillation.config, self.env, self.distillation.student
        start = time.perf_counter()
        reward_sum = torch.zeros((), device=self.device)
        error_sum = torch.zeros((), device=self.device)
        obs = env.obs
        with torch.no_grad():
            for _ in range(config.num_steps_per_env):
                self.normalizer.update(obs)
                normalized = self.normalize(obs)
                labels = self.teacher.actions(obs, env.groups)
                actions = student.act_deterministic(normalized)
                self.labels.add(normalized, labels)
                error_sum += (actions - labels).square().mean()
                if config.teacher_action_probability > 0:
                    use_teacher = (
                        torch.rand(env.num_envs, 1, generator=self.action_generator, device=self.device)
                        < config.teacher_action_probability
                    )
                    actions = torch.where(use_teacher, labels, actions)
                result = env.step(actions)
                reward_sum += result.reward.mean()
                obs = result.obs
        env.check_health()
        collect_time = time.perf_counter() - start
        loss = self.distillation.update(
            self.labels.minibatches(config.num_mini_batches, config.num_learning_epochs, self.generator)
        )
        scalars = {
            "Loss/distillation": loss,
            "Policy/action_rmse": float((error_sum / config.num_steps_per_env).sqrt()),
        }
        return (reward_sum / config.num_steps_per_env).item(), collect_time, scalars

    def train(
        self,
        iterations: int,
        on_iteration: Callable[[IterationLog], None] | None = None,
        checkpoint_dir: Path | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        with self.env.cores_for_physics():  # a CPU backend's threads get the cores
            self._train(iterations, on_iteration, checkpoint_dir, should_stop)

    def _train(
        self,
        iterations: int,
        on_iteration: Callable[[IterationLog], None] | None,
        checkpoint_dir: Path | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        end = self.iteration + iterations
        while self.iteration < end:
            start = time.perf_counter()
            with policy_matmuls(self.device):
                mean_reward, collect_time, learner_scalars = self._iterate()
            elapsed = time.perf_counter() - start
            self.iteration += 1
            episode = distributed.sum_tensors(self.env.stats.read_and_clear())  # over all ranks
            mean_reward = distributed.average_number(mean_reward)
            log = self._log(mean_reward, learner_scalars, episode, elapsed, collect_time)
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

    def _log(self, mean_reward, learner_scalars, episode, elapsed, collect_time) -> IterationLog:
        samples = self.config.num_steps_per_env * self.env.num_envs * distributed.world_size()
        count = episode["episodes"].item()
        scalars = {
            **learner_scalars,
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

    def _learner(self) -> PPO | SAC | Distillation:
        """The algorithm's own state (optimizers, critics, temperature): checkpointed under its name."""
        if isinstance(self.config, DistillConfig):
            return self.distillation
        return self.sac if isinstance(self.config, SACConfig) else self.ppo

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "iteration": self.iteration,
            "algorithm": self.algorithm,
            "policy": self.policy.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            **({"critic_normalizer": self.critic_normalizer.state_dict()} if self.critic_normalizer else {}),
            self.algorithm: self._learner().state_dict(),
            **({"env_steps": self.env_steps} if self.algorithm == "sac" else {}),
            "generator": self.generator.get_state(),
            "action_generator": self.action_generator.get_state(),
            "replay_generator": self.replay_generator.get_state(),
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
            actor_hidden_dims=self.config.networks[0],
            critic_hidden_dims=self.config.networks[1],
            num_envs=self.env.num_envs,
            backend=type(self.env.backend).__name__,
        )

    # What differs between the ranks of a run; the rest (the learner) is the same on every rank.
    RANK_STATE = ("generator", "action_generator", "replay_generator", "torch_rng", "env")

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
        algorithm = state.get("algorithm", "ppo")
        if algorithm != self.algorithm:
            raise CheckpointError(f"{path}: trained with {algorithm}; this run uses {self.algorithm}")
        try:
            self.policy.load_state_dict(state["policy"])
            self.normalizer.load_state_dict(state["normalizer"])
            if self.critic_normalizer is not None:
                self.critic_normalizer.load_state_dict(state["critic_normalizer"])
            if restore_env:
                self._learner().load_state_dict(state[self.algorithm])
                if self.algorithm == "sac":
                    self.env_steps = int(state["env_steps"])
                own = self._own_rank_state(state, notes)  # several processes: this rank's part
                if own is not None:
                    self.generator.set_state(own["generator"].cpu())
                    self.action_generator.set_state(own["action_generator"].cpu())
                    if "replay_generator" in own:
                        self.replay_generator.set_state(own["replay_generator"].cpu())
                    torch.set_rng_state(own["torch_rng"].cpu())
                    self.env.load_state_dict(own["env"])
        except (KeyError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"{path}: the checkpoint does not fit this run ({reason})") from None
        if restore_env:
            self.iteration = state["iteration"]
        return notes
