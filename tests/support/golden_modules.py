"""The golden copies of the shipped tasks' generated modules: where they are and how they are rendered
(tests/codegen/test_golden_modules.py compares, tests/golden/regenerate.py rewrites)."""

from __future__ import annotations

from pathlib import Path

from layout import ROOT, TESTS

GOLDEN = TESTS / "golden"
TASKS = sorted((ROOT / "tasks").glob("*.toml"))
COMMAND = "python tests/golden/regenerate.py"


def render(spec: Path) -> str:
    """The generated module of one spec, as `specc compile` writes it."""
    from specc.codegen.render import render_module
    from specc.diagnostics import DiagnosticSink
    from specc.task import check_task

    sink = DiagnosticSink(str(spec))
    task = check_task(spec, sink)
    if task is None:
        problems = "; ".join(f"{d.code} {d.message}" for d in sink.items)
        raise SystemExit(f"{spec}: does not check: {problems}")
    return render_module(task)


def golden_path(spec: Path) -> Path:
    return GOLDEN / f"{spec.stem}.py"
