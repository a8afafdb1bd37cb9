"""Helpers of the Isaac Gym target's tests: compile a package, import its task against the stand-in,
and specc's own view of the same spec (the checked task and its generated module)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from layout import ROOT, TESTS

from specc.codegen.render import render_module
from specc.diagnostics import DiagnosticSink
from specc.task import CheckedTask, check_task

TASKS = ROOT / "tasks"
STANDIN = TESTS / "isaacgym_standin"


def compile_isaacgym(spec: Path, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["specc", "compile", str(spec), "--target", "isaacgym", "--emit", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def import_task(emitted: Path, package: str, monkeypatch) -> ModuleType:
    """`<package>.task` imported fresh against the stand-in, with the stand-in's call record cleared."""
    monkeypatch.syspath_prepend(str(STANDIN))
    monkeypatch.syspath_prepend(str(emitted))
    forget_modules(package)
    module = importlib.import_module(f"{package}.task")
    gymapi = importlib.import_module("isaacgym.gymapi")
    assert gymapi.__file__.startswith(str(STANDIN))
    gymapi.CALLS.clear()
    return module


def forget_modules(package: str) -> None:
    for name in list(sys.modules):
        if name.startswith((package, "isaacgym")):
            del sys.modules[name]


def make_task(module: ModuleType, randomize: bool = False, num_envs: int = 4):
    return module.SpeccTask(num_envs=num_envs, sim_device="cpu", randomize=randomize, seed=1)


@lru_cache(maxsize=8)
def spec_module(spec: Path) -> tuple[ModuleType, CheckedTask]:
    """specc's generated module of `spec` resolved for a GPU run (as the target resolves it), imported,
    and the checked task: what `specc run --device cuda` would build its env and backend from."""
    from specc.runtime.assemble import load_module

    task = check_task(spec, DiagnosticSink(str(spec)), run_on="cuda")
    assert task is not None
    return load_module(render_module(task)), task
