"""Build a runner on the test cart-pole."""

from __future__ import annotations

from pathlib import Path

from specc.assemble import assemble
from specc.diagnostics import DiagnosticSink
from specc.runtime.runner import Runner
from specc.task import check_task

CARTPOLE = Path(__file__).parent / "specs" / "cartpole.toml"


def cartpole_runner(seed: int = 0, num_envs: int = 64, overrides: dict | None = None) -> Runner:
    task = check_task(CARTPOLE, DiagnosticSink("cartpole"), overrides)
    assert task is not None
    parts = assemble(task, num_envs=num_envs, kernels="eager", seed=seed)
    return Runner(parts.env, parts.learner_config, seed=seed)


# Privileged observations of the cart-pole's critic: the noise-free state and the episode clock
# (the value of a state depends on how long its episode has left).
CRITIC_GROUP = """
[[critic_observations]]
name = "joint_pos"
expr = "joint_pos"

[[critic_observations]]
name = "joint_vel"
expr = "joint_vel"
scale = 0.2

[[critic_observations]]
name = "episode_time"
expr = "episode_time"
scale = 0.2
"""


def cartpole_variant(folder: Path, extra: str = "", learner: str | None = None) -> Path:
    """The test cart-pole written to `folder`, with `extra` TOML before its [rewards] table and, when
    given, `learner` (e.g. [algorithm] and [sac] tables) in place of its [ppo] table."""
    text = CARTPOLE.read_text()
    text = text.replace(
        '"../robots/cartpole.urdf"', repr(str(CARTPOLE.parent.parent / "robots" / "cartpole.urdf"))
    )
    text = text.replace("[rewards]\n", extra + "\n[rewards]\n", 1)
    if learner is not None:
        text = text[: text.index("[ppo]")] + learner + "\n" + text[text.index("[eval]") :]
    path = folder / "cartpole_variant.toml"
    path.write_text(text)
    return path


def runner_for(spec: Path, seed: int = 0, num_envs: int = 64, overrides: dict | None = None) -> Runner:
    task = check_task(spec, DiagnosticSink(str(spec)), overrides)
    assert task is not None
    parts = assemble(task, num_envs=num_envs, kernels="eager", seed=seed)
    return Runner(parts.env, parts.learner_config, seed=seed)
