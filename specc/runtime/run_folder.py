"""The rules of a run folder: one run per folder, a resume continues its own folder, nothing half-written.

- A new run gets a new folder: `--run-dir` must be missing or empty (or a run folder whose checkpoint
  is being resumed); the default `runs/<task>/<timestamp>` gets a suffix should two runs start in the
  same second. A path that names a file is refused.
- `--resume` of a checkpoint inside a run folder (`RUN/checkpoints/model_N.pt`) continues that folder
  unless `--run-dir` names another: `metrics.jsonl` is cut back to iteration N (atomically), so
  iterations after N are not repeated, and checkpoints after N move to `checkpoints/superseded_<time>/`.
  Resuming into a new folder copies the metrics up to N, so either folder holds the whole curve.
- While a run writes a folder it holds a lock on `RUN/.lock`; a second run in the same folder is refused.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO

from specc.runtime.checkpoint import write_atomically
from specc.runtime.run_log import read_metrics_file

METRICS = "metrics.jsonl"
LOCK = ".lock"


class RunFolderError(Exception):
    """The run folder cannot be used as asked (a usage error: the message names the option)."""


def checkpoint_run_folder(checkpoint: Path) -> Path | None:
    """The run folder a checkpoint belongs to (RUN/checkpoints/model_N.pt), or None for a loose file."""
    folder = checkpoint.resolve().parent
    if folder.name == "checkpoints" and (folder.parent / "config.json").is_file():
        return folder.parent
    return None


def choose_run_folder(requested: Path | None, default: Path, resume: Path | None) -> tuple[Path, bool]:
    """The folder this run writes, and whether it continues the resumed run's own folder.

    Raises `RunFolderError` for a file, or for a folder that holds another run.
    """
    own = checkpoint_run_folder(resume) if resume is not None else None
    if requested is None:
        if own is not None:
            return own, True
        folder = default
        suffix = 1
        while folder.exists():
            suffix += 1
            folder = default.with_name(f"{default.name}_{suffix}")
        return folder, False
    if requested.exists() and not requested.is_dir():
        raise RunFolderError(f"--run-dir {requested} is a file, not a folder")
    if own is not None and requested.resolve() == own:
        return own, True
    if requested.is_dir() and any(requested.iterdir()):
        hint = (
            f" (the checkpoint being resumed belongs to {own})"
            if own is not None
            else "; to continue it, --resume one of its checkpoints"
        )
        raise RunFolderError(
            f"--run-dir {requested} is not empty: it holds another run, and two runs in one folder would "
            f"mix their checkpoints and metrics. Choose a new folder{hint}"
        )
    return requested, False


def lock_run_folder(folder: Path) -> IO:
    """Hold RUN/.lock for this process's lifetime; `RunFolderError` if another run holds it."""
    handle = open(folder / LOCK, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise RunFolderError(f"--run-dir {folder} is in use by another specc run (pid {holder})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def continue_metrics(source: Path, target: Path, iteration: int) -> int:
    """Write to `target` the metrics rows of `source` up to `iteration` (atomically); returns how many
    later rows were dropped. Rows after the resumed iteration would otherwise appear twice."""
    if not source.is_file():
        return 0
    rows = read_metrics_file(source, strict=False)  # a damaged line is dropped, not repeated
    kept = [row for row in rows if row["iteration"] <= iteration]
    text = "".join(json.dumps(row) + "\n" for row in kept)
    write_atomically(target, text.encode())
    return len(rows) - len(kept)


def supersede_checkpoints(folder: Path, iteration: int) -> Path | None:
    """Move the checkpoints after `iteration` out of the way of the resumed run; returns where to."""
    checkpoints = folder / "checkpoints"
    later = []
    for path in checkpoints.glob("model_*.pt"):
        number = path.stem.removeprefix("model_")
        if number.isdigit() and int(number) > iteration:
            later.append(path)
    if not later:
        return None
    target = checkpoints / f"superseded_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
    target.mkdir(parents=True, exist_ok=True)
    for path in later:
        os.replace(path, target / path.name)
    return target
