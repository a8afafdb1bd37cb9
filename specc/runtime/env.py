"""The task env: one generic vectorized env for every spec.

Everything task-specific comes from the generated kernels (observations, rewards,
terminations) and from `EnvConfig` (ranges and sizes); the physics comes from a backend.
One policy step: actuator controls from the actions (PD targets around the default pose,
or torques, scaled per joint group; per-env control latency is a shift of the
per-physics-step controls), `decimation` physics steps, bookkeeping signals
(joint acceleration, feet air time, episode time), the fused kernel on the pre-reset
state, the terrain curriculum on the finished envs, resets of finished envs (new commands,
new randomized parameters, the start of their terrain tile), and the observations of the
post-reset state. No step waits on the host: finished envs are
masked, not gathered, every state buffer is updated in place, and episode statistics
accumulate in tensors the runner reads once per iteration, so on a GPU backend the whole
step is replayed from one CUDA graph (`step_graph.py`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from specc.runtime.backends.base import Backend, PhysicsParams, masked_write
from specc.runtime.config import EnvConfig
from specc.runtime.divergence import EXPLODING, diagnose
from specc.runtime.kernels import TaskKernels
from specc.runtime.rotations import quat_from_euler, quat_multiply, quat_rotate, quat_rotate_inverse
from specc.runtime.step_graph import StepGraph
from specc.runtime.terrain import HeightSampler, generate

CONTACT_THRESHOLD_N = 1.0


@dataclass
class StepResult:
    """One step's outcome. With a captured step the tensors are the graph's outputs: copy what must
    outlive the next step."""

    obs: torch.Tensor  # (N, O) observations after the step (post-reset for finished envs), with noise
    reward: torch.Tensor  # (N,)
    done: torch.Tensor  # (N,) bool: terminated, timed out or reset for NaN
    time_out: torch.Tensor  # (N,) bool: ended by the time limit (bootstrap the value)
    terminal_obs: torch.Tensor  # (N, O) observations of the pre-reset state, for bootstrapping time-outs
    terminal_base_pos: torch.Tensor  # (N, 3) base position before resets (evaluation measures distance)
    start_base_pos: torch.Tensor  # (N, 3) where the episode that ended (or goes on) started
    base_lin_vel: torch.Tensor  # (N, 3) base-frame linear velocity before resets
    base_ang_vel: torch.Tensor  # (N, 3) base-frame angular velocity before resets
    commands: torch.Tensor  # (N, C) commands the step was taken under
    reward_terms: torch.Tensor | None = None  # (N, R) each weighted reward term of this step
    success: torch.Tensor | None = None  # (N,) bool: [eval] success on the pre-reset state (judging envs)
    failure: torch.Tensor | None = None  # (N,) bool: [eval] failure on the pre-reset state (judging envs)
    # Extra observation groups (critic, teacher): after the step, and of the pre-reset state.
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    terminal_groups: dict[str, torch.Tensor] = field(default_factory=dict)
    # (N,) bool: reset because its physics blew up (non-finite or exploding state): its pre-reset
    # position and velocities are meaningless, so evaluation leaves them out of its distances.
    diverged: torch.Tensor | None = None


class TaskEnv:
    # The state carried from step to step: checkpointed, and updated only in place (a captured step
    # reads and writes these addresses).
    STATE_BUFFERS = (
        "actions",
        "last_actions",
        "last_targets",
        "last_joint_vel",
        "commands",
        "episode_step",
        "feet_air_time",
        "last_feet_contact",
        "latency_steps",
        "start_pos",
        "terrain_level",
        "terrain_column",
        "episode_sums",
        "obs",
        "step_count",
    )

    def __init__(
        self,
        config: EnvConfig,
        kernels: TaskKernels,
        backend: Backend,
        seed: int = 0,
        randomize: bool = True,
        capture_graph: bool = True,
        curriculum: bool = True,
        judge: bool = False,
    ) -> None:
        """`curriculum=False` (evaluation) spreads the envs evenly over terrain rows and tile types and
        keeps them there; otherwise the spec's curriculum moves them."""
        self.config = config
        # Evaluation envs also compute the [eval] criteria each step; training envs never do.
        self.judge = judge
        self.kernels = kernels
        self.backend = backend
        self.device = backend.device
        self.num_envs = config.num_envs
        self.randomize = randomize
        module = kernels.module
        self.num_obs = int(module.NUM_OBSERVATIONS)
        self.num_joints = len(module.JOINT_NAMES)
        self.num_actions = len(module.ACTION_NAMES)
        self.reward_names = list(module.REWARD_NAMES)
        self.termination_names = list(module.TERMINATION_NAMES)
        self.command_names = list(module.COMMAND_NAMES)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        n, a, dev = self.num_envs, self.num_actions, self.device
        self.default_joint_pos = torch.tensor(config.default_joint_pos, device=dev)
        self.action_offset = torch.tensor(config.action_offset, device=dev)
        self.action_scale = torch.tensor(config.action_scale, device=dev)
        # The controls that hold a reset pose: its positions for PD joints, no torque for effort ones.
        # When every joint is a driven PD joint they are the pose itself (no gather in the step).
        self._rest_controls = None
        if list(config.action_joints) != list(range(self.num_joints)) or not all(config.action_is_position):
            self._rest_controls = (
                torch.tensor(config.action_joints, dtype=torch.long, device=dev),
                torch.tensor(config.action_is_position, dtype=torch.float32, device=dev),
            )
        self._reset_offset = self._range_tensors(config.reset_joint_offset)
        self._reset_vel = self._range_tensors(config.reset_joint_vel)
        j = self.num_joints
        lower = config.joint_lower or (0.0,) * j
        upper = config.joint_upper or (0.0,) * j
        self._joint_limits = (
            torch.tensor(lower, device=dev).expand(n, j),
            torch.tensor(upper, device=dev).expand(n, j),
        )
        self._objects = ObjectSampler(config, self.generator, dev) if config.free_objects else None
        limits = list(config.joint_pos_limits) or [None] * self.num_joints
        self._joint_pos_low = torch.tensor([lim[0] if lim else -math.inf for lim in limits], device=dev)
        self._joint_pos_high = torch.tensor([lim[1] if lim else math.inf for lim in limits], device=dev)
        self.feet_index = torch.tensor(
            [list(module.CONTACT_BODIES).index(f) for f in module.FEET] if module.FEET else [],
            dtype=torch.long,
            device=dev,
        )
        self.noise = torch.tensor(module.OBSERVATION_NOISE, device=dev)
        # Extra observation groups: name -> size, and the noise of those that have any.
        tables = getattr(module, "OBSERVATION_GROUPS", {})
        self.group_sizes = {group: int(table["size"]) for group, table in tables.items()}
        self._group_noise = {
            group: torch.tensor(table["noise"], device=dev)
            for group, table in tables.items()
            if any(value > 0 for value in table["noise"])
        }
        self.inputs_order = tuple(module.INPUTS)
        # Everything the step needs from the host is made here: a captured step may not copy from the host.
        self._category_tables = [
            (
                self.command_names.index(cat.name),
                cat.num_choices,
                cat.held,
                [
                    (self.command_names.index(target), torch.tensor(values, device=dev))
                    for target, values in cat.values.items()
                ],
            )
            for cat in config.categorical
        ]
        # Target commands: (first index in the commands, orientation?, drawn in the base frame?, bounds).
        self._targets = [
            (
                self.command_names.index(f"{t.name}.{'w' if t.orientation else 'x'}"),
                t.orientation,
                t.frame == "base",
                torch.tensor(t.bounds, device=dev),
            )
            for t in config.targets
        ]
        self._computes_commands = bool(getattr(module, "COMPUTED_COMMANDS", ()))
        self._init_root_pos = torch.zeros(n, 3, device=dev)
        self._init_root_pos[:, 2] = config.init_height
        self._init_root_quat = torch.zeros(n, 4, device=dev)
        self._init_root_quat[:, 0] = 1.0
        self._substep = torch.arange(config.decimation, device=dev)
        self._resample_every = max(1, round(config.resample_s / config.policy_dt))
        # State carried from step to step; always updated in place, so a captured step keeps its addresses.
        self.actions = torch.zeros(n, a, device=dev)
        self.last_actions = torch.zeros(n, a, device=dev)
        self.last_targets = self.action_offset.repeat(n, 1)
        self.last_joint_vel = torch.zeros(n, self.num_joints, device=dev)
        self.commands = torch.zeros(n, len(self.command_names), device=dev)
        self.episode_step = torch.zeros(n, dtype=torch.long, device=dev)
        self.feet_air_time = torch.zeros(n, len(self.feet_index), device=dev)
        self.last_feet_contact = torch.zeros(n, len(self.feet_index), dtype=torch.bool, device=dev)
        self.latency_steps = torch.zeros(n, dtype=torch.long, device=dev)
        self.start_pos = torch.zeros(n, 3, device=dev)
        self.episode_sums = torch.zeros(n, len(self.reward_names), device=dev)
        self.step_count = torch.zeros((), dtype=torch.long, device=dev)
        self._setup_terrain(curriculum)
        self.stats = EpisodeStats(len(self.reward_names), len(self.termination_names), dev)
        self.obs = torch.zeros(n, self.num_obs, device=dev)
        self.groups = {group: torch.zeros(n, size, device=dev) for group, size in self.group_sizes.items()}
        self.graph = StepGraph(self, enabled=capture_graph)
        self.reset_all()

    # -- terrain -------------------------------------------------------------------------------
    def _setup_terrain(self, curriculum: bool) -> None:
        """The heightfield on the device, each env's tile (row = level, column = type), the scan points."""
        module, n, dev = self.kernels.module, self.num_envs, self.device
        terrain_config = self.config.terrain
        self.terrain = generate(terrain_config) if terrain_config.tiles else None
        self.heights = HeightSampler(self.terrain, dev)
        self.signals_read = set(module.SIGNALS_READ)
        self.scan_points = torch.tensor(module.SCAN_POINTS, dtype=torch.float32, device=dev).reshape(-1, 2)
        self._zeros = torch.zeros(n, device=dev)
        self._no_scan = torch.zeros(n, len(self.scan_points), device=dev)
        self.terrain_level = torch.zeros(n, dtype=torch.long, device=dev)
        self.terrain_column = torch.zeros(n, dtype=torch.long, device=dev)
        self.curriculum = False
        if self.terrain is None:
            return
        rows, cols = terrain_config.rows, terrain_config.cols
        self._origins = torch.tensor(self.terrain.origins, dtype=torch.float32, device=dev)
        env = torch.arange(n, device=dev)
        if curriculum:
            self.curriculum = bool(module.CURRICULUM) and terrain_config.curriculum
            top = min(terrain_config.max_init_level, rows - 1) if self.curriculum else rows - 1
            self.terrain_level.copy_(torch.randint(0, top + 1, (n,), generator=self.generator, device=dev))
            self.terrain_column.copy_(torch.div(env * cols, n, rounding_mode="floor"))
        else:
            # Every (row, type) cell in turn, each type's columns in turn: a breakdown per type and row.
            types = list(dict.fromkeys(self.terrain.column_types))
            columns = [[j for j, t in enumerate(self.terrain.column_types) if t == kind] for kind in types]
            cells = rows * len(types)
            cell = env % cells
            self.terrain_level.copy_(cell % rows)
            repeat = torch.div(env, cells, rounding_mode="floor")
            table = torch.tensor(
                [[c[r % len(c)] for r in range(n // cells + 1)] for c in columns], device=dev
            )
            self.terrain_column.copy_(table[torch.div(cell, rows, rounding_mode="floor"), repeat])

    @property
    def terrain_types(self) -> list[str]:
        """The tile type of each env's column ('plane' on flat ground)."""
        if self.terrain is None:
            return ["plane"] * self.num_envs
        return [self.terrain.column_types[j] for j in self.terrain_column.tolist()]

    def _start_positions(self) -> torch.Tensor:
        """Where each env's base starts: its tile's origin (centre, terrain height) plus the init height."""
        if self.terrain is None:
            return self._init_root_pos
        return self._origins[self.terrain_level, self.terrain_column] + self._init_root_pos

    def _move_levels(self, done: torch.Tensor, promote: torch.Tensor, demote: torch.Tensor) -> None:
        """legged_gym's level update for the finished envs: up on promote, else down on demote; an env
        promoted past the hardest row gets a random row, so mastered envs keep visiting every level."""
        rows = self.config.terrain.rows
        level = self.terrain_level + promote.long() - (demote & ~promote).long()
        redraw = torch.randint(0, rows, (self.num_envs,), generator=self.generator, device=self.device)
        level = torch.where(level >= rows, redraw, level.clamp(min=0))
        masked_write(self.terrain_level, done, level)

    # -- sampling ------------------------------------------------------------------------------
    def _uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        """Uniform draws for every env; masks decide which envs use them (no host sync to find ids)."""
        return low + (high - low) * torch.rand(shape, generator=self.generator, device=self.device)

    def _range_tensors(self, ranges) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Per-joint [low, high] ranges as two (J,) tensors; None when there are none."""
        if not ranges:
            return None
        low, high = zip(*ranges)
        return torch.tensor(low, device=self.device), torch.tensor(high, device=self.device)

    def _uniform_per_joint(self, bounds: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        low, high = bounds
        return low + (high - low) * torch.rand(
            self.num_envs, self.num_joints, generator=self.generator, device=self.device
        )

    def _sample_commands(self, mask: torch.Tensor) -> None:
        n = self.num_envs
        fresh = self.commands.clone()
        for index, name in enumerate(self.command_names):
            if name in self.config.command_ranges:
                low, high = self.config.command_ranges[name]
                fresh[:, index] = self._uniform(low, high, n)
        for index, choices, held, tables in self._category_tables:
            choice = torch.randint(0, choices, (n,), generator=self.generator, device=self.device)
            if held is not None:  # drawn all the same, so a held choice leaves the other draws unchanged
                choice = torch.full_like(choice, held)
            fresh[:, index] = choice.float()
            for target, table in tables:
                fresh[:, target] = table[choice]
        base = self.backend.state() if any(in_base for _, _, in_base, _ in self._targets) else None
        for start, orientation, in_base, bounds in self._targets:
            lows, highs = bounds[:, 0], bounds[:, 1]
            draw = lows + (highs - lows) * torch.rand(
                n, len(bounds), generator=self.generator, device=self.device
            )
            if orientation:
                value = quat_from_euler(draw)
                if base is not None and in_base:
                    value = quat_multiply(base.root_quat, value)
            else:
                value = draw
                if base is not None and in_base:
                    value = base.root_pos + quat_rotate(base.root_quat, draw)
            fresh[:, start : start + value.shape[-1]] = value
        masked_write(self.commands, mask, fresh)

    def _randomize(self, mask: torch.Tensor) -> torch.Tensor | None:
        """Draw new physical parameters for the masked envs; returns the objects' size scales (N, M), if
        any are drawn, for the reset to place the scaled objects."""
        r = self.config.randomization
        n = self.num_envs
        if not self.randomize:
            self.backend.set_params(mask, PhysicsParams())
            self.latency_steps.masked_fill_(mask, 0)
            return None

        def draw(bounds):
            return None if bounds is None else self._uniform(bounds[0], bounds[1], n)

        objects = self.config.objects
        size_scale = self._per_object([o.size_scale for o in objects], [1.0] * len(objects))
        self.backend.set_params(
            mask,
            PhysicsParams(
                base_mass_add=draw(r.base_mass_add),
                link_mass_scale=draw(r.link_mass_scale),
                friction=draw(r.friction),
                motor_strength=draw(r.motor_strength),
                joint_damping=draw(r.joint_damping),
                object_mass_scale=self._per_object([o.mass_scale for o in objects], [1.0] * len(objects)),
                object_friction=self._per_object(
                    [o.friction for o in objects], [o.nominal_friction for o in objects]
                ),
                object_size_scale=size_scale,
            ),
        )
        if r.latency_s is not None:
            steps = torch.round(draw(r.latency_s) / self.config.physics_dt).long()
            masked_write(self.latency_steps, mask, steps.clamp(0, self.config.decimation))
        else:
            self.latency_steps.masked_fill_(mask, 0)
        return size_scale

    def _per_object(
        self, ranges: list[tuple[float, float] | None], nominal: list[float]
    ) -> torch.Tensor | None:
        """(N, M) draws, one column per object; an object without a range keeps its nominal value.
        None when no object has a range."""
        if all(r is None for r in ranges):
            return None
        columns = [self._uniform(*(r or (v, v)), self.num_envs) for r, v in zip(ranges, nominal)]
        return torch.stack(columns, dim=-1)

    def spread_episode_starts(self) -> None:
        """Start each env at a random point of its episode, so time-outs do not all fall on one step."""
        self.episode_step.copy_(
            torch.randint(
                0,
                self.config.max_episode_steps,
                (self.num_envs,),
                generator=self.generator,
                device=self.device,
            )
        )

    # -- reset ----------------------------------------------------------------------------------
    def reset_all(self) -> torch.Tensor:
        every = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._reset(every)
        if self.config.resample == "interval":  # resets keep commands; the first episodes need some
            self._sample_commands(every)
        self.obs.copy_(self._observe())
        return self.obs

    def _reset(self, mask: torch.Tensor) -> None:
        """Start new episodes in the masked envs: a new pose, new physical parameters, new commands.

        The pose is the spec's reset distribution, default × U(scale) + U(-noise, noise) plus each
        joint's `reset_joint_offset` draw, clamped into the joints' limits so that no episode starts
        with a joint beyond its stop; velocities are zero or `reset_joint_vel` draws.
        """
        cfg, shape = self.config, (self.num_envs, self.num_joints)
        low, high = cfg.reset_joint_pos_scale
        joint_pos = self.default_joint_pos * self._uniform(low, high, *shape)
        if cfg.reset_joint_pos_noise > 0:
            joint_pos = joint_pos + self._uniform(
                -cfg.reset_joint_pos_noise, cfg.reset_joint_pos_noise, *shape
            )
        if self._reset_offset is not None:
            joint_pos = joint_pos + self._uniform_per_joint(self._reset_offset)
        joint_pos = torch.clamp(joint_pos, self._joint_pos_low, self._joint_pos_high)
        joint_vel = (
            torch.zeros_like(joint_pos)
            if self._reset_vel is None
            else self._uniform_per_joint(self._reset_vel)
        )
        size_scale = self._randomize(mask)
        start = self._start_positions()
        pose, velocity = self._objects.sample(size_scale) if self._objects is not None else (None, None)
        self.backend.reset(mask, start, self._init_root_quat, joint_pos, joint_vel, pose, velocity)
        rows = mask[:, None]
        for buffer in (self.actions, self.last_actions, self.last_joint_vel, self.feet_air_time):
            buffer.masked_fill_(rows, 0.0)
        self.last_feet_contact.masked_fill_(rows, False)
        self.episode_sums.masked_fill_(rows, 0.0)
        self.episode_step.masked_fill_(mask, 0)
        if self._rest_controls is None:
            masked_write(self.last_targets, mask, joint_pos)
        else:
            index, is_position = self._rest_controls
            masked_write(self.last_targets, mask, joint_pos[:, index] * is_position)
        masked_write(self.start_pos, mask, start)
        if self.config.resample != "interval":
            self._sample_commands(mask)

    # -- step -----------------------------------------------------------------------------------
    def step(self, actions: torch.Tensor) -> StepResult:
        """One policy step for every env. The result's tensors are valid until the next step."""
        return self.graph.step(actions)

    def step_eagerly(self, actions: torch.Tensor) -> StepResult:
        """The step itself: no host synchronisation and no branch on tensor values, so it can be captured."""
        cfg = self.config
        clip = cfg.clip_actions
        self.last_actions.copy_(self.actions)
        self.actions.copy_(torch.clamp(actions.detach().to(self.device), -clip, clip))
        targets = self.action_offset + self.action_scale * self.actions
        # Control latency: each env applies its previous targets for its first `latency` physics steps.
        delayed = (self._substep[None, :] < self.latency_steps[:, None]).unsqueeze(-1)
        controls = torch.where(delayed, self.last_targets.unsqueeze(1), targets.unsqueeze(1))
        self.backend.step(controls)
        self.last_targets.copy_(targets)
        self.episode_step += 1
        self.step_count += 1
        self._push_if_due()
        state = self.backend.state()
        feet_contact, first_contact = self._feet(state)
        self.feet_air_time += cfg.policy_dt  # the kernels read the air time a landing foot had
        signals = self._signals(state, feet_contact, first_contact)
        self._compute_commands(signals)
        inputs = [signals[name] for name in self.inputs_order]
        terminal_obs, reward, reward_terms, terminated, reasons = self.kernels.compute_step(*inputs)
        success, failure = self.kernels.compute_success(*inputs) if self.judge else (None, None)
        terminal_groups = self._observe_groups(inputs)
        self.feet_air_time *= ~(feet_contact | self.last_feet_contact)
        self.last_feet_contact.copy_(feet_contact)
        self.last_joint_vel.copy_(state.joint_vel)
        bad = ~torch.isfinite(terminal_obs).all(dim=-1) | ~torch.isfinite(reward) | self._exploded(state)
        reward = torch.where(bad, torch.zeros_like(reward), reward)
        reward_terms = torch.where(bad.unsqueeze(-1), torch.zeros_like(reward_terms), reward_terms)
        time_out = (self.episode_step >= cfg.max_episode_steps) if cfg.time_out else torch.zeros_like(bad)
        time_out = time_out & ~terminated & ~bad
        done = terminated | time_out | bad
        self.episode_sums += reward_terms
        self.stats.record(done, time_out, bad, reasons, self.episode_sums, self.episode_step)
        terminal_base_pos = state.root_pos.clone()
        start_base_pos = self.start_pos.clone()
        base_lin_vel = quat_rotate_inverse(state.root_quat, state.root_lin_vel)
        base_ang_vel = quat_rotate_inverse(state.root_quat, state.root_ang_vel)
        commands = self.commands.clone()
        terminal_obs = torch.nan_to_num(terminal_obs, nan=0.0, posinf=0.0, neginf=0.0)
        resample = (self.episode_step % self._resample_every == 0) & ~done
        if self.curriculum:
            promote, demote = self.kernels.compute_curriculum(*inputs)
            self._move_levels(done, promote, demote)
        self._reset(done)
        if self.config.resample != "reset":
            self._sample_commands(resample)
        self.obs.copy_(self._observe())
        return StepResult(
            self.obs,
            reward,
            done,
            time_out,
            self._with_noise(terminal_obs, self.noise),
            terminal_base_pos,
            start_base_pos,
            base_lin_vel,
            base_ang_vel,
            commands,
            reward_terms,
            success,
            failure,
            self.groups,
            terminal_groups,
            bad,
        )

    @contextlib.contextmanager
    def cores_for_physics(self) -> Iterator[None]:
        """Run torch on one thread while this env's backend steps physics on a pool of host threads.

        Torch's OpenMP workers spin-wait between ops, on the cores MuJoCo's threads need, and each
        parallel region waits for its slowest worker: on two busy cores, two torch threads made the
        PPO update of a CPU run 10-40x slower (wall) than one, and a rollout's env steps 30 % slower
        (bench/backend.py). The policy's batches of a few hundred rows gain little from a second
        thread even on idle cores. Training and evaluation loops run inside this context.
        """
        if getattr(self.backend, "host_threads", 1) <= 1 or torch.get_num_threads() == 1:
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def check_health(self) -> None:
        """Raise if the physics lost something since the last check; the runner calls it once per rollout."""
        self.backend.check_health()

    def divergence_diagnosis(self) -> str:
        """Why this env's physics blows up, in the spec's terms (joints, [robot.pd] stiffness, sim.dt)."""
        stability = getattr(self.backend, "joint_stability", None)
        blown_up = dict(getattr(self.backend, "blown_up_joints", {}))
        return diagnose(
            stability() if stability else [], blown_up, self.config.physics_dt, self.config.decimation
        )

    def _push_if_due(self) -> None:
        """Every push interval, throw every env's base sideways (the schedule is a device counter)."""
        r = self.config.randomization
        if not self.randomize or r.push_interval_s is None or r.push_max_vel <= 0:
            return
        interval = max(1, round(r.push_interval_s / self.config.policy_dt))
        due = (self.step_count % interval == 0).expand(self.num_envs)
        state = self.backend.state()
        lin = state.root_lin_vel.clone()
        lin[:, :2] = (
            torch.rand(self.num_envs, 2, generator=self.generator, device=self.device) * 2 - 1
        ) * r.push_max_vel
        self.backend.set_root_velocity(due, lin, state.root_ang_vel)

    @staticmethod
    def _exploded(state) -> torch.Tensor:
        values = torch.cat([state.root_pos, state.root_lin_vel, state.root_ang_vel, state.joint_vel], dim=-1)
        return ~torch.isfinite(values).all(dim=-1) | (values.abs() > EXPLODING).any(dim=-1) | state.diverged

    def _feet(self, state) -> tuple[torch.Tensor, torch.Tensor]:
        """Which feet touch the ground now, and which touched down this step (contact filtered over two
        steps, as legged_gym does, so one noisy step does not count as a landing)."""
        contact = state.contact_force[:, self.feet_index, 2] > CONTACT_THRESHOLD_N
        first = (self.feet_air_time > 0) & (contact | self.last_feet_contact)
        return contact, first

    def _signals(
        self, state, feet_contact: torch.Tensor, feet_first_contact: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The kernels' inputs for the current state; reads the env's buffers, changes nothing."""
        dt = self.config.policy_dt
        read = self.signals_read
        terrain_height = self._zeros
        if self.terrain is not None and "terrain_height" in read:
            terrain_height = self.heights.sample(state.root_pos[:, 0], state.root_pos[:, 1])
        height_scan = self._no_scan
        if "height_scan" in read:
            height_scan = self.heights.scan(state.root_pos, state.root_quat, self.scan_points)
        feet_height = self.feet_air_time  # a placeholder of the right shape when no term reads it
        if "feet_height" in read:
            if state.body_pos is None:
                raise RuntimeError("this backend does not report body positions: feet_height is unavailable")
            feet = state.body_pos[:, self.feet_index]
            feet_height = feet[..., 2] - self.heights.sample(feet[..., 0], feet[..., 1])
        return {
            "base_pos": state.root_pos,
            "base_quat": state.root_quat,
            "base_lin_vel_world": state.root_lin_vel,
            "base_ang_vel_world": state.root_ang_vel,
            "joint_pos": state.joint_pos - self.default_joint_pos,
            "joint_vel": state.joint_vel,
            "joint_acc": (state.joint_vel - self.last_joint_vel) / dt,
            "torques": state.joint_torque,
            "actions": self.actions,
            "last_actions": self.last_actions,
            "commands": self.commands,
            "contact_force": state.contact_force,
            "feet_air_time": self.feet_air_time,
            "feet_contact": feet_contact,
            "feet_first_contact": feet_first_contact,
            "episode_time": self.episode_step.float() * dt,
            "terrain_height": terrain_height,
            "height_scan": height_scan,
            "feet_height": feet_height,
            "terrain_level": self.terrain_level.float(),
            "frame_pos": state.frame_pos,
            "frame_quat": state.frame_quat,
            "frame_lin_vel": state.frame_lin_vel,
            "frame_ang_vel": state.frame_ang_vel,
            "joint_lower": self._joint_limits[0],
            "joint_upper": self._joint_limits[1],
            "episode_start_pos": self.start_pos,
        }

    def _observe(self) -> torch.Tensor:
        state = self.backend.state()
        signals = self._signals(state, *self._feet(state))
        self._compute_commands(signals)
        inputs = [signals[name] for name in self.inputs_order]
        obs = self.kernels.compute_observations(*inputs)
        for group, value in self._observe_groups(inputs).items():
            self.groups[group].copy_(value)
        return self._with_noise(torch.nan_to_num(obs, nan=0.0, posinf=0.0, neginf=0.0), self.noise)

    def _compute_commands(self, signals: dict[str, torch.Tensor]) -> None:
        """Fill in the computed commands on this state, in place, before anything reads `commands`."""
        if self._computes_commands:
            self.commands.copy_(self.kernels.compute_commands(*[signals[name] for name in self.inputs_order]))

    def _observe_groups(self, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each extra observation group of the state the inputs describe, with its own noise."""
        out = {}
        for group, kernel in self.kernels.groups.items():
            value = torch.nan_to_num(kernel(*inputs), nan=0.0, posinf=0.0, neginf=0.0)
            out[group] = self._with_noise(value, self._group_noise.get(group))
        return out

    def _with_noise(self, obs: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """obs + U(-noise, noise) when observation noise is on; `noise` None: a group without any."""
        if noise is None or not (self.randomize and self.config.randomization.observation_noise):
            return obs
        return obs + (2 * torch.rand(obs.shape, generator=self.generator, device=self.device) - 1) * noise

    # -- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "buffers": {name: getattr(self, name).clone() for name in self.STATE_BUFFERS},
            "groups": {group: value.clone() for group, value in self.groups.items()},
            "generator": self.generator.get_state(),
            "backend": self.backend.save_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        for name, value in state["buffers"].items():
            getattr(self, name).copy_(value)
        for group, value in state.get("groups", {}).items():
            self.groups[group].copy_(value)
        self.generator.set_state(state["generator"].cpu())
        self.backend.load_state(state["backend"])


class ObjectSampler:
    """Draws the free objects' reset poses (position offsets, yaw) and velocities for every env."""

    def __init__(self, config: EnvConfig, generator: torch.Generator, device: torch.device) -> None:
        free = [config.objects[i] for i in config.free_objects]
        self._free = torch.tensor(config.free_objects, dtype=torch.long, device=device)
        self._half_height = torch.tensor([o.half_height for o in free], device=device)  # (M,)
        self._generator, self._device = generator, device
        self._n = config.num_envs
        self._position = torch.tensor([o.position for o in free], device=device)
        self._offset = torch.tensor([o.position_range for o in free], device=device)  # (M, 3, 2)
        self._yaw = torch.tensor([o.yaw_range for o in free], device=device)  # (M, 2)
        self._velocity = torch.tensor([o.lin_vel_range for o in free], device=device)  # (M, 3, 2)

    def _draw(self, ranges: torch.Tensor) -> torch.Tensor:
        u = torch.rand((self._n, *ranges.shape[:-1]), generator=self._generator, device=self._device)
        return ranges[..., 0] + (ranges[..., 1] - ranges[..., 0]) * u

    def sample(self, size_scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, M, 7) poses and (N, M, 6) world velocities (no spin).

        size_scale (N, every object) raises each scaled object by (scale - 1) × its half height, so that
        its lowest point is where the nominal object's is: a box resting on the ground still rests on it.
        """
        position = self._position + self._draw(self._offset)
        if size_scale is not None:
            lift = (size_scale[:, self._free] - 1.0) * self._half_height
            position = position + torch.nn.functional.pad(lift.unsqueeze(-1), (2, 0))
        half_yaw = self._draw(self._yaw) / 2
        zeros = torch.zeros_like(half_yaw)
        quat = torch.stack([torch.cos(half_yaw), zeros, zeros, torch.sin(half_yaw)], dim=-1)
        velocity = torch.cat([self._draw(self._velocity), torch.zeros_like(position)], dim=-1)
        return torch.cat([position, quat], dim=-1), velocity


class EpisodeStats:
    """Sums over finished episodes, kept on the device; the runner reads and clears them per iteration."""

    FIELDS = ("episodes", "reward_sums", "termination_counts", "time_outs", "nan_resets", "length_sum")

    def __init__(self, num_rewards: int, num_terminations: int, device: torch.device) -> None:
        self.reward_sums = torch.zeros(num_rewards, device=device)
        self.termination_counts = torch.zeros(num_terminations, device=device)
        self.time_outs = torch.zeros((), device=device)
        self.nan_resets = torch.zeros((), device=device)
        self.episodes = torch.zeros((), device=device)
        self.length_sum = torch.zeros((), device=device)

    def record(self, done, time_out, bad, reasons, episode_sums, episode_step) -> None:
        d = done.float()
        self.episodes += d.sum()
        self.reward_sums += (episode_sums * d.unsqueeze(-1)).sum(0)
        self.termination_counts += (reasons & done.unsqueeze(-1)).float().sum(0)
        self.time_outs += time_out.float().sum()
        self.nan_resets += bad.float().sum()
        self.length_sum += (episode_step.float() * d).sum()

    def read_and_clear(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.FIELDS:
            value = getattr(self, name)
            out[name] = value.clone()
            value.zero_()
        return out
