"""Front-end commands: lint, schema, signals, layout, compile, robot.

They run the compiler only: no torch and no simulator is imported, so they are fast and safe on
untrusted pull requests. Exit codes: 0 clean, 1 findings or a failed task, 2 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from specc.cli.app import echo_diagnostics, layout_rows, load_checked_task, main


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
def lint(paths: tuple[Path, ...], fmt: str) -> None:
    """Check specs (files or folders) and report diagnostics; exit 1 on any error."""
    from specc.lint import lint_paths

    result = lint_paths(list(paths))
    echo_diagnostics(result.diagnostics, result.sources, result.files_checked, fmt)
    sys.exit(1 if result.has_errors else 0)


@main.command()
def schema() -> None:
    """Print the JSON Schema of spec files (for taplo / Even Better TOML)."""
    from specc.spec.schema import Spec

    document = Spec.model_json_schema()
    document["$schema"] = "http://json-schema.org/draft-07/schema#"
    document["title"] = "specc task spec"
    click.echo(json.dumps(document, indent=2))


@main.command()
@click.option("--markdown", is_flag=True, help="As a Markdown table (the README's).")
def signals(markdown: bool) -> None:
    """List the signals and functions expressions may use."""
    from specc.expr.functions import CONSTANTS, FUNCTIONS
    from specc.expr.signals import SIGNALS

    def shape(s) -> str:
        dims = ", ".join(str(d) for d in s.shape)
        return f"[N, {dims}]" if dims else "[N]"

    if markdown:
        click.echo("| signal | type | shape | components | meaning |\n|---|---|---|---|---|")
        for s in SIGNALS.values():
            comps = "named commands" if s.name == "commands" else ", ".join(s.components or ()) or "-"
            name = f"{s.name}[group]" if s.selectable else s.name
            click.echo(f"| `{name}` | {s.dtype} | {shape(s)} | {comps} | {s.doc} |")
        click.echo("\n| function | arguments | meaning |\n|---|---|---|")
        for f in FUNCTIONS.values():
            arity = str(f.min_args) if f.min_args == f.max_args else f"{f.min_args}-{f.max_args}"
            click.echo(f"| `{f.name}` | {arity} | {f.doc} |")
        for c in CONSTANTS.values():
            click.echo(f"| `{c.name}` | constant | {c.doc} |")
        return
    for s in SIGNALS.values():
        click.echo(f"{s.name:<22} {s.dtype:<6} {shape(s):<12} {s.doc}")
    click.echo("")
    for f in FUNCTIONS.values():
        click.echo(f"{f.name + '()':<22} {f.doc}")
    for c in CONSTANTS.values():
        click.echo(f"{c.name:<22} {c.doc}")


@main.command()
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def layout(spec: Path, as_json: bool) -> None:
    """Print the observation layout of each group (offset, size, name) and the action order."""
    task = load_checked_task(spec)

    if as_json:
        report = {"observations": layout_rows(task)}
        report.update({f"{group}_observations": layout_rows(task, group) for group in task.extra_groups})
        report["actions"] = task.robot.action_names
        click.echo(json.dumps(report, indent=2))
        return
    for group in task.observation_groups:
        title = "policy observations (exported)" if group == "policy" else f"{group} observations"
        click.echo(f"{title}\n{'offset':>6} {'size':>4}  name")
        entries = layout_rows(task, group)
        for s in entries:
            click.echo(f"{s['offset']:>6} {s['size']:>4}  {s['name']}")
        click.echo(f"{sum(s['size'] for s in entries):>6}        total\n")
    click.echo(f"actions ({task.num_actions}): {', '.join(task.robot.action_names)}")


@main.command(name="compile")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--emit", type=click.Path(path_type=Path), required=True, help="Folder to write to.")
@click.option(
    "--target",
    type=click.Choice(["specc", "isaacgym"]),
    default="specc",
    show_default=True,
    help="specc: the kernel module, to read; isaacgym: a Python 3.8 package for Isaac Gym Preview 4.",
)
def compile_(spec: Path, emit: Path, target: str) -> None:
    """Generate the task's kernel module (or, with --target isaacgym, a whole Isaac Gym package)."""
    if target == "isaacgym":
        _compile_isaacgym(spec, emit)
        return
    from specc.codegen.render import render_module

    task = load_checked_task(spec)
    source = render_module(task)
    target_path = emit / f"{task.spec.task.name}_kernels.py"
    try:
        emit.mkdir(parents=True, exist_ok=True)
        target_path.write_text(source, encoding="utf-8")
    except OSError as err:  # a file in the way, a read-only or full disk: one line, no traceback
        click.echo(f"error: cannot write {target_path}: {err.strerror or err}", err=True)
        sys.exit(1)
    click.echo(f"wrote {target_path} ({len(source.splitlines())} lines, spec hash {task.spec_hash})")


def _compile_isaacgym(spec: Path, emit: Path) -> None:
    """The Isaac Gym target runs on the GPU: the spec is resolved with its [profile.cuda]."""
    from specc.diagnostics import DiagnosticSink, display_path
    from specc.spec.load import load_spec
    from specc.targets.isaacgym import check_target, emit_package

    task = load_checked_task(spec, run_on="cuda")
    sink = DiagnosticSink(display_path(spec))
    # The positions of the target's findings (the spec was just checked, so it loads).
    document = load_spec(spec, DiagnosticSink(sink.path), run_on="cuda")
    assert document is not None
    check_target(task, document.positions, sink)
    if sink.items:
        echo_diagnostics(sink.items, {sink.path: document.text}, 1)
    if sink.has_errors:
        sys.exit(1)
    try:
        root = emit_package(task, emit)
    except OSError as err:  # as for the kernel module: one line, no traceback
        click.echo(f"error: cannot write the package under {emit}: {err.strerror or err}", err=True)
        sys.exit(1)
    click.echo(f"wrote {root} (Isaac Gym Preview 4 package, spec hash {task.spec_hash}); train it with:")
    click.echo(f"    cd {emit} && python -m {root.name}.train --headless")


@main.command()
@click.argument("urdf")
@click.option("--json", "as_json", is_flag=True, help="As JSON.")
def robot(urdf: str, as_json: bool) -> None:
    """Show what the import sees in a URDF (a path or package:// URI)."""
    from specc.robot.describe import describe_robot

    report, ok = describe_robot(urdf)
    click.echo(json.dumps(report, indent=2) if as_json else report_text(report))
    sys.exit(0 if ok else 1)


def report_text(report: dict[str, Any]) -> str:
    lines = [f"robot {report['name']}  ({report['path']})"]
    if "links" in report:
        lines.append(
            f"root link: {report['root']}   links: {len(report['links'])}   "
            f"total mass: {report['total_mass']:.3f} kg"
        )
        lines.append("movable joints (action order):")
        for j in report["joints"]:
            lim = f"[{j['lower']:.3f}, {j['upper']:.3f}]" if j["lower"] is not None else "unlimited"
            lines.append(
                f"  {j['name']:<16} {j['type']:<10} axis {j['axis']}  limits {lim}  "
                f"effort {j['effort']}  damping {j['damping']}"
            )
        lines.append(f"feet candidates: {', '.join(report['feet_candidates']) or '-'}")
    imported = report.get("import")
    if imported:
        if imported["ok"]:
            how = ' with repair_inertia = "diagonal"' if imported["repair_inertia"] != "none" else ""
            lines.append(
                f"MuJoCo import: ok{how}: {imported['bodies']} bodies, {imported['geoms']} collision geoms, "
                f"{imported['dofs']} dofs, {imported['mass']:.3f} kg"
            )
        else:
            lines.append(f"MuJoCo import: FAILED: {imported['error']}")
    for d in report["diagnostics"]:
        lines.append(
            f"{d['severity']}: {d['code']} {d['message']}" + (f" (line {d['line']})" if d.get("line") else "")
        )
    return "\n".join(lines)
