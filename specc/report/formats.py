"""Render diagnostics for people and machines: text, json, github, sarif.

text follows ruff and mypy (`path:line:col: CODE message`, the source line, a caret);
github writes workflow commands that annotate the pull request; sarif is SARIF 2.1.0
for code-scanning tools.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from specc import __version__
from specc.diagnostics import CODES, Diagnostic, Severity

FORMATS = ("text", "json", "github", "sarif")


def render(diagnostics: Sequence[Diagnostic], fmt: str, sources: dict[str, str], files_checked: int) -> str:
    renderer: Callable[..., str] = {
        "text": render_text,
        "json": render_json,
        "github": render_github,
        "sarif": render_sarif,
    }[fmt]
    return renderer(sorted(diagnostics, key=Diagnostic.sort_key), sources, files_checked)


def render_text(diagnostics: Sequence[Diagnostic], sources: dict[str, str], files_checked: int) -> str:
    out: list[str] = []
    split: dict[str, list[str]] = {}  # each source split once: 100,000 findings in a 1 MB spec stay linear
    for d in diagnostics:
        out.append(f"{d.path}:{d.position.line}:{d.position.col}: {d.code} [{d.severity.value}] {d.message}")
        lines = split.get(d.path)
        if lines is None:
            # Lines as positions count them; a file with no source (refused, unread) shows none.
            lines = split[d.path] = sources[d.path].split("\n") if d.path in sources else []
        if 0 < d.position.line <= len(lines):
            line = lines[d.position.line - 1].rstrip("\r")
            gutter = f"{d.position.line:>4} | "
            width = 1
            if d.end and d.end.line == d.position.line and d.end.col > d.position.col:
                width = d.end.col - d.position.col
            shown, col = _window(line, d.position.col)
            out.append(gutter + shown)
            out.append(" " * (len(gutter) + col - 1) + "^" * max(1, min(width, len(shown) - col + 1)))
        if d.fix:
            out.append(f"  fix: {d.fix}")
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if diagnostics:
        out.append(
            f"Found {errors} error{'s' * (errors != 1)} and {warnings} warning{'s' * (warnings != 1)} "
            f"in {files_checked} file{'s' * (files_checked != 1)}."
        )
    else:
        out.append(f"All checks passed ({files_checked} file{'s' * (files_checked != 1)}).")
    return "\n".join(out)


SOURCE_WINDOW = 120  # characters of a source line shown around a finding


def _window(line: str, col: int) -> tuple[str, int]:
    """At most SOURCE_WINDOW characters of `line` around column `col`, and the column within them.

    A 1 MB one-line spec with many findings would otherwise print the megabyte once per finding.
    """
    if len(line) <= SOURCE_WINDOW:
        return line, col
    start = max(0, min(col - 1 - SOURCE_WINDOW // 2, len(line) - SOURCE_WINDOW))
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + SOURCE_WINDOW < len(line) else ""
    return prefix + line[start : start + SOURCE_WINDOW] + suffix, col - start + len(prefix)


def _as_dict(d: Diagnostic) -> dict[str, object]:
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "fix": d.fix,
        "path": d.path,
        "line": d.position.line,
        "column": d.position.col,
        "end_line": d.end.line if d.end else None,
        "end_column": d.end.col if d.end else None,
    }


def render_json(diagnostics: Sequence[Diagnostic], sources: dict[str, str], files_checked: int) -> str:
    return json.dumps([_as_dict(d) for d in diagnostics], indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diagnostics: Sequence[Diagnostic], sources: dict[str, str], files_checked: int) -> str:
    out = []
    for d in diagnostics:
        level = "error" if d.severity is Severity.ERROR else "warning"
        props = f"file={_escape_property(d.path)},line={d.position.line},col={d.position.col}"
        if d.end:
            props += f",endLine={d.end.line},endColumn={d.end.col}"
        props += f",title={_escape_property(d.code)}"
        message = d.message + (f" (fix: {d.fix})" if d.fix else "")
        out.append(f"::{level} {props}::{_escape_data(message)}")
    return "\n".join(out)


def render_sarif(diagnostics: Sequence[Diagnostic], sources: dict[str, str], files_checked: int) -> str:
    used = sorted({d.code for d in diagnostics})
    rules = [
        {"id": code, "name": CODES[code].title().replace(" ", ""), "shortDescription": {"text": CODES[code]}}
        for code in used
    ]
    results = []
    for d in diagnostics:
        region: dict[str, int] = {"startLine": d.position.line, "startColumn": d.position.col}
        if d.end:
            region.update(endLine=d.end.line, endColumn=d.end.col)
        message = d.message + (f" (fix: {d.fix})" if d.fix else "")
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": used.index(d.code),
                "level": "error" if d.severity is Severity.ERROR else "warning",
                "message": {"text": message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": Path(d.path).as_posix()},
                            "region": region,
                        }
                    }
                ],
            }
        )
    log = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "specc", "version": __version__, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)
