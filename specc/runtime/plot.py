"""`specc plot`: training curves of a run folder as one PNG."""

from __future__ import annotations

from pathlib import Path

from specc.runtime.checkpoint import write_atomically
from specc.runtime.run_log import MetricsError, read_metrics

PANELS = (
    ("Train/mean_episode_return", "mean episode return"),
    ("Train/mean_reward", "mean reward per step"),
    ("Train/mean_episode_length", "mean episode length [steps]"),
    ("Perf/steps_per_second", "env steps / s"),
)


def plot_run(run_dir: Path, output: Path) -> Path:
    """Raises `MetricsError` for a metrics file without rows to plot, `WriteFailed` if `output` cannot be written."""
    rows = read_metrics(run_dir)
    if not rows:
        raise MetricsError(f"{run_dir / 'metrics.jsonl'} holds no complete iteration to plot")
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, (key, title) in zip(axes.flat, PANELS):
        points = [(r["iteration"], r[key]) for r in rows if key in r]
        if points:
            ax.plot(*zip(*points))
        ax.set_title(title)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    levels = [
        (r["iteration"], r["Curriculum/terrain_level"]) for r in rows if "Curriculum/terrain_level" in r
    ]
    if levels:  # the terrain curriculum's progress, beside the episode length it drives
        twin = axes.flat[2].twinx()
        twin.plot(*zip(*levels), color="tab:red")
        twin.set_ylabel("mean terrain level", color="tab:red")
        axes.flat[2].set_title("mean episode length [steps] / terrain level")
    terms = sorted({k for r in rows for k in r if k.startswith("Episode_Reward/")})
    ax = axes.flat[4]
    for key in terms:
        points = [(r["iteration"], r[key]) for r in rows if key in r]
        ax.plot(*zip(*points), label=key.split("/", 1)[1])
    ax.set_title("reward terms per episode")
    if terms:
        ax.legend(fontsize=7)
    ax = axes.flat[5]
    for key in sorted({k for r in rows for k in r if k.startswith("Episode_Termination/")}):
        points = [(r["iteration"], r[key]) for r in rows if key in r]
        ax.plot(*zip(*points), label=key.split("/", 1)[1])
    ax.set_title("episode endings (share)")
    ax.legend(fontsize=7)
    fig.suptitle(run_dir.name)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=100)
    plt.close(fig)
    return write_atomically(output, image.getvalue())
