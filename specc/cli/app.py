"""The `specc` command group and what its commands share: loading a spec, `--set` overrides,
printing diagnostics.

The commands live in `compile_commands` (front end) and `run_commands` (runtime); this module
imports neither, so every command module may import it without a cycle.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from specc import __version__


def echo_diagnostics(items, sources: dict[str, str], files: int, fmt: str = "text") -> None:
    from specc.report.formats import render

    text = render(items, fmt, sources, files)
    if text:
        click.echo(text)


def load_checked_task(spec: Path, overrides: dict[str, Any] | None = None, run_on: str | None = None):
    """Check a spec for a command; on errors print them and exit 1.

    `run_on` resolves it for a run on that device, or "spec" for the spec's own (see `load_spec`).
    An override that does not fit the spec is a usage error (exit 2) naming the option that gave
    it: `--set KEY=VALUE` as the user typed it, or the key for overrides of other options.
    """
    from specc.diagnostics import DiagnosticSink, display_path
    from specc.spec.load import OverrideError
    from specc.task import check_task

    sink = DiagnosticSink(display_path(spec))
    try:
        task = check_task(spec, sink, overrides, run_on=run_on)
    except OverrideError as err:
        arguments = overrides.arguments if isinstance(overrides, SetOverrides) else {}
        lines = []
        for problem in err.problems:
            override = problem.override
            given = arguments.get(override.key) if override is not None else None
            if given:
                what = f"--set {given}"
            elif override is not None:
                what = f"{override.key} = {override.value!r}"
            else:
                what = "the overrides"
            lines.append(f"{what}: {problem.message}" + (f" ({problem.fix})" if problem.fix else ""))
        raise click.UsageError("\n".join(lines)) from None
    if sink.items:
        sources = {sink.path: sink.source} if sink.source is not None else {}  # what the loader read
        echo_diagnostics(sink.items, sources, 1)
    if task is None:
        sys.exit(1)
    return task


def layout_rows(task, group: str = "policy") -> list[dict[str, Any]]:
    """An observation group's layout as `specc layout --json` and the export metadata write it."""
    return [
        {"name": s.name, "offset": s.offset, "size": s.size, "scale": s.scale}
        for s in task.group_layout(group)
    ]


class SetOverrides(dict):
    """`--set` overrides by dotted key, remembering each one's argument as typed for error messages."""

    def __init__(self) -> None:
        super().__init__()
        self.arguments: dict[str, str] = {}


def parse_set(values: tuple[str, ...]) -> SetOverrides:
    """`--set key=value`: values are parsed as TOML values (numbers, booleans, strings, arrays).

    The key is checked against the spec later (`load_checked_task`); here only the argument's form.
    """
    from specc.spec.load import tomllib

    out = SetOverrides()
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise click.BadParameter(f"'{item}' is not KEY=VALUE", param_hint="'--set'")
        if any(not part.strip() for part in key.split(".")):
            raise click.BadParameter(
                f"'{item}': '{key}' has an empty part; write e.g. sim.num_envs=64", param_hint="'--set'"
            )
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except (ValueError, RecursionError):
            value = raw  # a bare word is a string
        out[key] = value
        out.arguments[key] = item
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="specc")
def main() -> None:
    """specc: compile declarative RL task specs into fused torch kernels and train them with PPO."""
