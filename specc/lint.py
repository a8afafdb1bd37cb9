"""`specc lint`: run the front end over files and folders and collect every diagnostic.

Linting reads specs and the URDFs they name and nothing else: it imports no torch and
no simulator and executes nothing from a spec, so it is safe on untrusted pull requests.
What it reads is bounded (see the README's threat model): folders are walked without
recursion to a fixed depth and file count, symbolic links to folders are not followed
(so a link cannot lead out of the tree or into a loop), and a spec is read only if it is a
regular file whose real place is inside the folder it was found in or given from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from specc.diagnostics import Diagnostic, DiagnosticSink, Position, Severity, display_path
from specc.task import check_task

MAX_WALK_DEPTH = 32  # folders below a given folder
MAX_SPEC_FILES = 10_000  # .toml files in one lint run
MAX_FOLDER_ENTRIES = 200_000  # directory entries looked at in one lint run


@dataclass
class LintResult:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    files_checked: int = 0

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.diagnostics)


def _finding(code: str, message: str, path: Path, fix: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, display_path(path), Position(1, 1), fix=fix)


def spec_files(paths: list[Path]) -> tuple[list[tuple[Path, Path]], list[Diagnostic]]:
    """Expand folders to the .toml files below them, each with the folder it must stay inside.

    Iterative and bounded: at most MAX_WALK_DEPTH folders deep, MAX_SPEC_FILES files and
    MAX_FOLDER_ENTRIES entries in all; reaching a limit is a diagnostic, not a silent cut.
    """
    files: list[tuple[Path, Path]] = []
    findings: list[Diagnostic] = []
    entries = 0
    for given in paths:
        try:
            is_dir = given.is_dir() and not given.is_symlink()
            exists = os.path.lexists(given)
        except (OSError, ValueError):
            is_dir, exists = False, False
        if not exists:
            findings.append(_finding("SPC001", "no such file or folder", given, fix="check the path"))
            continue
        if not is_dir and given.is_dir():
            findings.append(
                _finding(
                    "SPC003",
                    "is a symbolic link to a folder; it is not followed",
                    given,
                    fix="name the folder it points to",
                )
            )
            continue
        if not is_dir:
            # A file given by name (or a link given by name): it must stay in the folder it is in.
            files.append((given, given.parent))
            continue
        stack: list[tuple[Path, int]] = [(given, 0)]
        found: list[Path] = []
        while stack:
            folder, depth = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    for entry in listing:
                        entries += 1
                        if entries > MAX_FOLDER_ENTRIES:
                            findings.append(
                                _finding(
                                    "SPC004",
                                    f"more than {MAX_FOLDER_ENTRIES} folder entries; the rest is not linted",
                                    given,
                                    fix="lint the folders that hold specs",
                                )
                            )
                            stack.clear()
                            break
                        if entry.is_symlink():
                            if entry.name.endswith(".toml"):
                                found.append(Path(entry.path))  # read_limited checks where it leads
                            continue  # a link to a folder is not followed: no escape, no loop
                        if entry.is_dir(follow_symlinks=False):
                            if depth + 1 > MAX_WALK_DEPTH:
                                findings.append(
                                    _finding(
                                        "SPC004",
                                        f"folder is nested more than {MAX_WALK_DEPTH} levels below "
                                        f"{display_path(given)}; it is not linted",
                                        Path(entry.path),
                                        fix="lint it by name",
                                    )
                                )
                                continue
                            stack.append((Path(entry.path), depth + 1))
                        elif entry.name.endswith(".toml"):
                            found.append(Path(entry.path))
            except OSError as err:
                findings.append(_finding("SPC001", f"cannot list folder: {err.strerror or err}", folder))
        files.extend((path, given) for path in sorted(found))
    if len(files) > MAX_SPEC_FILES:
        findings.append(
            _finding(
                "SPC004",
                f"more than {MAX_SPEC_FILES} spec files; only the first {MAX_SPEC_FILES} are linted",
                paths[0],
                fix="lint fewer folders at a time",
            )
        )
        files = files[:MAX_SPEC_FILES]
    return files, findings


def lint_paths(paths: list[Path]) -> LintResult:
    result = LintResult()
    files, findings = spec_files(paths)
    result.diagnostics.extend(findings)
    for path, within in files:
        shown = display_path(path)
        sink = DiagnosticSink(shown)
        check_task(path, sink, within=within)
        result.diagnostics.extend(sink.items)
        result.files_checked += 1
        if sink.source is not None:  # only what the loader accepted and read: never a refused file
            result.sources[shown] = sink.source
    return result
