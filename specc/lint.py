"""`specc lint`: run the front end over files and folders and collect every diagnostic.

Linting reads specs and the URDFs they name and nothing else: it imports no torch and
no simulator and executes nothing from a spec, so it is safe on untrusted pull requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from specc.diagnostics import Diagnostic, DiagnosticSink, Position, Severity, display_path
from specc.task import check_task


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    files_checked: int = 0

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def spec_files(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand folders to the .toml files below them; report paths that do not exist."""
    files: list[Path] = []
    missing: list[Diagnostic] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.toml") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            missing.append(
                Diagnostic(
                    "SPC001",
                    "no such file or folder",
                    display_path(path),
                    Position(1, 1),
                    fix="check the path",
                )
            )
    return files, missing


def lint_paths(paths: list[Path]) -> LintResult:
    result = LintResult()
    files, missing = spec_files(paths)
    result.diagnostics.extend(missing)
    for path in files:
        shown = display_path(path)
        sink = DiagnosticSink(shown)
        check_task(path, sink)
        result.diagnostics.extend(sink.items)
        result.files_checked += 1
        try:
            result.sources[shown] = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            pass
    return result
