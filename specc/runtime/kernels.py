"""Load a generated kernel module and prepare it as eager, TorchScript or inductor kernels.

The runtime knows a task's kernels only through the module's fixed interface: the
`compute_*` functions and the data tables (INPUTS, REWARD_NAMES, ...). Modules are
cached on disk by a hash of their source, the specc version and the torch version.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from specc import __version__

log = logging.getLogger(__name__)

KERNEL_KINDS = ("eager", "torchscript", "inductor")
# Chosen from bench/kernels.py (see bench/README.md): the fastest form per device.
DEFAULT_KERNELS = {"cpu": "inductor", "cuda": "inductor"}
KERNEL_FUNCTIONS = (
    "compute_observations",
    "compute_step",
    "compute_success",
    "compute_commands",
    "compute_curriculum",
)
# Inductor options per device type, from bench/kernels.py. On CUDA, torch's default lowering
# writes each piece of the observation cat and of the reward-term stack into a strided slice of
# the output, one kernel per piece (partial-sector stores, inputs re-read); forcing the pointwise
# cat writes each output row once from one kernel, 2.0x faster at 1M envs. On CPU the same option
# is 1.2-2.5x slower, so CPU keeps torch's defaults. Options this torch does not know are skipped.
# torch.compile's options argument.
CompileOptions = dict[str, str | int | bool | Callable[..., Any]]
INDUCTOR_OPTIONS: dict[str, CompileOptions] = {"cuda": {"force_pointwise_cat": True}}
_reported_deprecation = False


def cache_dir() -> Path:
    root = os.environ.get("SPECC_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "specc"


def cache_key(source: str) -> str:
    digest = hashlib.sha256()
    for part in (source, __version__, torch.__version__):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


@dataclass
class TaskKernels:
    """A task's kernels in one form, with the module's tables."""

    module: ModuleType
    kind: str
    compute_observations: Callable[..., torch.Tensor]
    compute_step: Callable[..., tuple[torch.Tensor, ...]]
    compute_success: Callable[..., tuple[torch.Tensor, torch.Tensor]]  # [eval] criteria: evaluation only
    compute_commands: Callable[..., torch.Tensor]  # commands with the computed ones filled in
    compute_curriculum: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    path: Path
    # Extra observation groups (critic, teacher) -> their kernel, from the module's OBSERVATION_GROUPS.
    groups: dict[str, Callable[..., torch.Tensor]] = field(default_factory=dict)


def write_module(source: str, task_name: str, folder: Path | None = None) -> Path:
    """Write the module source under the cache (atomically) and return its path."""
    folder = folder or cache_dir() / "kernels"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{task_name}_{cache_key(source)}.py"
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source, encoding="utf-8")
        os.replace(tmp, path)
    return path


def import_module(path: Path) -> ModuleType:
    name = f"specc_generated_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_kernels(
    source: str,
    task_name: str,
    kind: str,
    folder: Path | None = None,
    device: str | torch.device = "cpu",
) -> TaskKernels:
    """Import the module `source` and prepare its functions as `kind` kernels for `device`."""
    if kind not in KERNEL_KINDS:
        raise ValueError(f"unknown kernel kind '{kind}'; choose one of {', '.join(KERNEL_KINDS)}")
    path = write_module(source, task_name, folder)
    module = import_module(path)
    functions = {name: _prepare(getattr(module, name), kind, device) for name in KERNEL_FUNCTIONS}
    groups = {
        group: _prepare(getattr(module, table["kernel"]), kind, device)
        for group, table in getattr(module, "OBSERVATION_GROUPS", {}).items()
    }
    return TaskKernels(module=module, kind=kind, path=path, groups=groups, **functions)


def inductor_options(device: str | torch.device) -> CompileOptions:
    """The inductor options specc compiles with on `device`, limited to those this torch knows."""
    import torch._inductor.config as inductor_config

    wanted = INDUCTOR_OPTIONS.get(torch.device(device).type, {})
    return {key: value for key, value in wanted.items() if hasattr(inductor_config, key)}


def _prepare(fn: Callable, kind: str, device: str | torch.device) -> Callable:
    if kind == "eager":
        return fn
    if kind == "inductor":
        return torch.compile(fn, dynamic=False, options=inductor_options(device))
    global _reported_deprecation
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scripted = torch.jit.script(fn)
    deprecations = [w for w in caught if "deprecated" in str(w.message)]
    if deprecations and not _reported_deprecation:
        _reported_deprecation = True
        log.warning(
            "torch %s marks torch.jit.script deprecated; specc keeps TorchScript as the portable form "
            "(torch.jit.save loads in C++). Use --kernels eager or inductor to avoid it.",
            torch.__version__,
        )
    for w in caught:
        if w not in deprecations:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return scripted


def default_kind(device: str | torch.device) -> str:
    return DEFAULT_KERNELS["cuda" if torch.device(device).type == "cuda" else "cpu"]
