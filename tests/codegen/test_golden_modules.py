"""The generated module of each shipped task equals its golden copy and is formatted code.

A change to code generation must show up as a reviewed diff of tests/golden/*.py; the module is
formatted by construction (ruff format leaves it unchanged, ruff check finds nothing), so
`specc compile --emit` output is as readable as the code base.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
from golden_modules import COMMAND, ROOT, TASKS, golden_path, render


@pytest.fixture(scope="module", params=TASKS, ids=lambda p: p.stem)
def rendered(request: pytest.FixtureRequest) -> tuple[Path, str]:
    return request.param, render(request.param)


def test_each_shipped_task_has_a_golden_module() -> None:
    assert TASKS, "no tasks/*.toml found"
    missing = [str(golden_path(spec).relative_to(ROOT)) for spec in TASKS if not golden_path(spec).exists()]
    assert not missing, f"missing golden modules {missing}: run `{COMMAND}`"


def test_rendering_equals_the_golden_module(rendered: tuple[Path, str]) -> None:
    spec, source = rendered
    path = golden_path(spec)
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    if source != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                source.splitlines(keepends=True),
                fromfile=str(path.relative_to(ROOT)),
                tofile=f"rendered from {spec.relative_to(ROOT)}",
            )
        )
        pytest.fail(f"generated code changed; if intended, run `{COMMAND}` and commit:\n{diff}")


@pytest.mark.parametrize("tool", [["format", "--check"], ["check"]], ids=["ruff-format", "ruff-check"])
def test_the_rendered_module_is_formatted_and_lint_clean(rendered: tuple[Path, str], tool: list[str]) -> None:
    spec, source = rendered
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *tool, "--stdin-filename", f"{spec.stem}_kernels.py", "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, (
        f"`ruff {' '.join(tool)}` on the module of {spec.name}:\n{done.stdout}{done.stderr}"
    )
