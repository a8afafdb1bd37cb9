"""A run's log: TensorBoard scalars plus a metrics.jsonl that `specc plot` reads without TensorBoard.

metrics.jsonl holds one JSON object per iteration, each with its "iteration". A kill can cut the
last line short; readers ignore such an unfinished last line, and a resume rewrites the file up to
the resumed iteration (`run_folder.continue_metrics`), so no iteration appears twice.
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from specc.runtime.checkpoint import WriteFailed

MAX_METRICS_BYTES = 256 << 20


class MetricsError(Exception):
    """A metrics.jsonl that cannot be read, with the file and line to blame."""


class RunLog:
    def __init__(self, run_dir: Path, tensorboard: bool = True, first_iteration: int = 1) -> None:
        """`first_iteration`: the iteration the run continues from (a resume drops later TensorBoard events)."""
        self.run_dir = run_dir
        self.path = run_dir / "metrics.jsonl"
        try:
            self.metrics = open(self.path, "a", encoding="utf-8")
        except OSError as err:
            raise WriteFailed(f"cannot write {self.path}: {err.strerror or err}") from None
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(run_dir), purge_step=first_iteration)

    def write(self, iteration: int, scalars: dict[str, float]) -> None:
        try:
            self.metrics.write(json.dumps({"iteration": iteration, **scalars}) + "\n")
            self.metrics.flush()
        except OSError as err:
            raise WriteFailed(f"cannot write {self.path}: {err.strerror or err}") from None
        if self.writer is not None:
            for name, value in scalars.items():
                self.writer.add_scalar(name, value, iteration)

    def close(self) -> None:
        try:
            self.metrics.close()
        except OSError:
            pass  # the write that failed was reported already
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: Path) -> list[dict[str, float]]:
    return read_metrics_file(run_dir / "metrics.jsonl")


def read_metrics_file(path: Path, strict: bool = True) -> list[dict[str, float]]:
    """The rows of a metrics.jsonl: `MetricsError` naming the line for anything but numbers by name.

    An unfinished last line (no newline: the run was killed while writing it) is skipped. With
    `strict=False` damaged lines are skipped too (a resume keeps what can be read).
    """
    try:
        info = os.stat(path)
    except OSError as err:
        raise MetricsError(f"{path}: cannot read ({err.strerror or err})") from None
    if not stat.S_ISREG(info.st_mode):
        raise MetricsError(f"{path} is not a regular file")
    if info.st_size > MAX_METRICS_BYTES:
        raise MetricsError(f"{path} is {info.st_size} bytes, more than a run writes ({MAX_METRICS_BYTES})")
    with open(path, "rb") as handle:
        data = handle.read()
    lines = data.split(b"\n")
    if lines and lines[-1].strip():
        lines = lines[:-1]  # an unfinished last line
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not _is_number(row.get("iteration")):
                raise ValueError("not an object with an iteration")
            if not math.isfinite(row["iteration"]):
                raise ValueError("not an object with an iteration")
            row = {k: v for k, v in row.items() if _is_number(v)}
        except (ValueError, RecursionError):
            if strict:
                raise MetricsError(
                    f'{path}:{number}: not a metrics row (a JSON object with an "iteration" and numbers)'
                ) from None
            continue
        rows.append(row)
    return rows


def _is_number(value) -> bool:
    """A JSON number matplotlib can plot (NaN and infinities included: they mark gaps)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:  # an integer beyond any float
        return False
    return True
