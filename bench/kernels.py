"""Benchmark: one env step's observations + rewards + terminations for tasks/anymal_walk.toml.

Side by side in one run: an idiomatic hand-written eager implementation (the way
IsaacGymEnvs / legged_gym task classes are written: one method per reward term, base-
frame quantities computed up front), and the generated module as eager, TorchScript and
inductor (torch.compile). Prints microseconds per step, the ratio to hand-written eager,
and the bytes-moved floor: bytes the step must read and write over the memory bandwidth
measured in the same run. On CUDA it also captures each form in a CUDA graph.

    python bench/kernels.py --device cpu --sizes 4096 65536 1048576
    python bench/kernels.py --device cuda
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kernel_support import load_task, random_inputs  # noqa: E402

from specc.codegen.layout import contact_layout  # noqa: E402
from specc.codegen.render import effective_weights, render_module  # noqa: E402
from specc.expr.signals import KERNEL_INPUTS  # noqa: E402
from specc.runtime.kernels import INDUCTOR_OPTIONS, inductor_options, load_kernels  # noqa: E402


# ---------------------------------------------------------------------------------------------
# The hand-written baseline, in the style of legged_gym's LeggedRobot.
# ---------------------------------------------------------------------------------------------
def quat_rotate_inverse(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    q_w = q[:, 0]
    q_vec = q[:, 1:]
    a = v * (2.0 * q_w**2 - 1.0).unsqueeze(-1)
    b = torch.cross(q_vec, v, dim=-1) * q_w.unsqueeze(-1) * 2.0
    c = q_vec * torch.bmm(q_vec.view(q.shape[0], 1, 3), v.view(q.shape[0], 3, 1)).squeeze(-1) * 2.0
    return a - b + c


class HandWrittenAnymal:
    def __init__(
        self, weights: dict[str, float], groups: dict[str, tuple[int, int]], device: torch.device
    ) -> None:
        self.weights = weights
        self.groups = groups
        self.gravity = torch.tensor([0.0, 0.0, -1.0], device=device)
        self.obs_scales = {"lin_vel": 2.0, "ang_vel": 0.25, "commands": 2.0, "dof_vel": 0.05}

    def step(self, s: dict[str, torch.Tensor]):
        n = s["base_quat"].shape[0]
        self.base_lin_vel = quat_rotate_inverse(s["base_quat"], s["base_lin_vel_world"])
        self.base_ang_vel = quat_rotate_inverse(s["base_quat"], s["base_ang_vel_world"])
        self.projected_gravity = quat_rotate_inverse(s["base_quat"], self.gravity.expand(n, 3))
        self.s = s
        obs = torch.cat(
            (
                self.base_lin_vel * 2.0,
                self.base_ang_vel * 0.25,
                self.projected_gravity,
                s["commands"] * 2.0,
                s["joint_pos"],
                s["joint_vel"] * 0.05,
                s["actions"],
            ),
            dim=-1,
        )
        terms = []
        reward = torch.zeros(n, device=obs.device)
        for name, weight in self.weights.items():
            value = getattr(self, "_reward_" + name)() * weight
            reward += value
            terms.append(value)
        reward_terms = torch.stack(terms, dim=-1)
        start, end = self.groups["terminate_contacts"]
        reset = torch.any(torch.norm(s["contact_force"][:, start:end, :], dim=-1) > 1.0, dim=1)
        too_low = s["base_pos"][:, 2] < 0.3
        return obs, reward, reward_terms, reset | too_low, torch.stack([reset, too_low], dim=-1)

    def _reward_tracking_lin_vel(self):
        error = torch.sum(torch.square(self.s["commands"][:, :2] - self.base_lin_vel[:, :2]), dim=1)
        return torch.exp(-error / 0.25)

    def _reward_tracking_ang_vel(self):
        return torch.exp(-torch.square(self.s["commands"][:, 2] - self.base_ang_vel[:, 2]) / 0.25)

    def _reward_lin_vel_z(self):
        return torch.square(self.base_lin_vel[:, 2])

    def _reward_ang_vel_xy(self):
        return torch.sum(torch.square(self.base_ang_vel[:, :2]), dim=1)

    def _reward_orientation(self):
        return torch.sum(torch.square(self.projected_gravity[:, :2]), dim=1)

    def _reward_torques(self):
        return torch.sum(torch.square(self.s["torques"]), dim=1)

    def _reward_joint_acc(self):
        return torch.sum(torch.square(self.s["joint_acc"]), dim=1)

    def _reward_action_rate(self):
        return torch.sum(torch.square(self.s["last_actions"] - self.s["actions"]), dim=1)

    def _reward_feet_air_time(self):
        air = torch.sum((self.s["feet_air_time"] - 0.5) * self.s["feet_first_contact"], dim=1)
        return air * (torch.norm(self.s["commands"][:, :2], dim=1) > 0.1)

    def _reward_collision(self):
        start, end = self.groups["penalize_contacts"]
        return torch.sum(1.0 * (torch.norm(self.s["contact_force"][:, start:end, :], dim=-1) > 1.0), dim=1)


# ---------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn, device: torch.device, min_seconds: float = 0.5, max_repeats: int = 2000) -> float:
    """Median-free mean over a timed block after warm-up; returns microseconds per call."""
    for _ in range(3):
        fn()
    sync(device)
    repeats = 0
    start = time.perf_counter()
    while True:
        fn()
        repeats += 1
        if repeats >= max_repeats or (repeats >= 3 and time.perf_counter() - start > min_seconds):
            break
    sync(device)
    return (time.perf_counter() - start) / repeats * 1e6


def bandwidth(device: torch.device) -> float:
    """Bytes per second of a large copy (read + write), measured now."""
    x = torch.empty(64 << 20, dtype=torch.float32, device=device)  # 256 MiB
    y = torch.empty_like(x)
    seconds = time_call(lambda: y.copy_(x), device, min_seconds=0.3, max_repeats=50) / 1e6
    return 2 * x.numel() * 4 / seconds


def graph_replay(fn, args, device):
    """Capture fn(*args) in a CUDA graph and return a replay function (None if capture fails)."""
    try:
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                fn(*args)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn(*args)
        return graph.replay
    except Exception as err:  # noqa: BLE001 - report which form cannot be captured
        print(f"    cuda graph capture failed: {str(err).splitlines()[0]}")
        return None


def print_kernels(title: str, step, ordered: list[torch.Tensor], repeats: int = 10) -> None:
    """The GPU kernels one call of `step` launches, with their mean time: where a step's time goes."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(repeats):
            step(*ordered)
        torch.cuda.synchronize()
    kernels = [e for e in prof.key_averages() if e.self_device_time_total > 0]
    kernels.sort(key=lambda e: -e.self_device_time_total)
    print(f"    kernels of {title}:")
    for event in kernels:
        print(
            f"    {event.self_device_time_total / repeats:9.1f} us  x{event.count // repeats}  {event.key[:90]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536, 1048576])
    parser.add_argument("--forms", nargs="+", default=["eager", "torchscript", "inductor"])
    parser.add_argument(
        "--profile", action="store_true", help="also list the GPU kernels of each inductor step (CUDA)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_grad_enabled(False)
    task = load_task(ROOT / "tasks" / "anymal_walk.toml")
    source = render_module(task)
    _, groups = contact_layout(task)
    weights = dict(zip([t.name for t in task.rewards], effective_weights(task)))
    hand = HandWrittenAnymal(weights, groups, device)
    forms = {kind: load_kernels(source, "anymal_walk", kind, device=device) for kind in args.forms}
    steps = {f"generated {kind}": kernels.compute_step for kind, kernels in forms.items()}
    if "inductor" in forms:
        # Side by side: the same module compiled with the other choice of specc's inductor options
        # (specc/runtime/kernels.py INDUCTOR_OPTIONS), which is how that choice was made per device.
        other = {} if inductor_options(device) else INDUCTOR_OPTIONS["cuda"]
        label = "generated inductor, " + (", ".join(other) if other else "torch defaults")
        steps[label] = torch.compile(forms["inductor"].module.compute_step, dynamic=False, options=other)
    bw = bandwidth(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"device {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"measured copy bandwidth {bw / 1e9:.1f} GB/s"
    )
    print(f"inductor options on {device.type}: {inductor_options(device) or 'torch defaults'}")
    print(f"{'envs':>9} {'form':<44} {'us/step':>10} {'vs hand eager':>14} {'floor us':>9} {'x floor':>8}")
    for n in args.sizes:
        inputs = {
            k: v.to(device) for k, v in random_inputs(task, n, torch.Generator().manual_seed(0)).items()
        }
        ordered = [inputs[k] for k in KERNEL_INPUTS]
        outputs = forms[args.forms[0]].compute_step(*ordered) if args.forms else hand.step(inputs)
        moved = sum(t.numel() * t.element_size() for t in ordered) + sum(
            t.numel() * t.element_size() for t in outputs
        )
        floor = moved / bw * 1e6
        baseline = time_call(lambda inputs=inputs: hand.step(inputs), device)
        rows = [("hand-written eager", baseline)]
        for label, step in steps.items():
            rows.append((label, time_call(lambda step=step, ordered=ordered: step(*ordered), device)))
            if device.type == "cuda":
                replay = graph_replay(step, ordered, device)
                if replay is not None:
                    rows.append((f"{label}+graph", time_call(replay, device)))
        for label, micros in rows:
            print(
                f"{n:>9} {label:<44} {micros:>10.1f} {baseline / micros:>13.2f}x {floor:>9.1f} "
                f"{micros / floor:>7.1f}x"
            )
        if args.profile and device.type == "cuda":
            for label, step in steps.items():
                if "inductor" in label:
                    print_kernels(f"{n} envs, {label}", step, ordered)
        if device.type == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
