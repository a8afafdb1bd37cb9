"""Section typing: each expression of the spec parsed and checked, and its value fitted to its section.

A reward is a number per env, a termination or an eval criterion a boolean per env, an observation a
number or a vector per env, a computed command a number per env; values may be anything but empty.
Sections whose terms read each other (`term.<name>`, `value.<name>`) are checked in dependency order
(`specc.terms.order`). A finding inside an expression is reported at its characters in the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from specc.diagnostics import DiagnosticSink
from specc.expr import ast
from specc.expr.check import Checked, Context, check_expression
from specc.expr.parse import ParseError, parse_expression
from specc.expr.types import Type
from specc.spec.load import SpecDocument
from specc.spec.positions import KeyPath
from specc.spec.schema import Spec
from specc.terms.order import dependency_order, shorten_cycle, term_refs, value_refs


@dataclass(frozen=True)
class CheckedTerm:
    section: str  # values | observations | rewards | terminations | eval | commands
    name: str
    source: str
    checked: Checked
    scale: float = 1.0
    clip: float | None = None
    noise: float = 0.0

    @property
    def size(self) -> int:
        shape = self.checked.type.shape
        return shape[0] if shape else 1


# All expressions of one spec together: parsing costs ~10 us a character, so this bounds lint's time
# on a hostile 1 MB spec (a real spec's expressions add up to a few kilobytes).
MAX_SPEC_EXPRESSION_CHARS = 32_768


def within_expression_budget(document: SpecDocument, spec: Spec, sink: DiagnosticSink) -> bool:
    """Whether the spec's expressions fit MAX_SPEC_EXPRESSION_CHARS; if not, a diagnostic where they stop fitting."""
    total = 0
    located: list[tuple[KeyPath, str]] = [
        (("observations", i, "expr"), term.expr) for i, term in enumerate(spec.observations)
    ]
    located += [(("rewards", "terms", n, "expr"), t.expr) for n, t in spec.rewards.terms.items()]
    located += [(("terminations", "terms", n, "expr"), t.expr) for n, t in spec.terminations.terms.items()]
    rule = spec.terrain.curriculum
    located += [
        (("terrain", "curriculum", n), e)
        for n, e in (("promote", rule.promote), ("demote", rule.demote))
        if e
    ]
    located += [(("values", n), source) for n, source in spec.values.items()]
    located += [(("commands", "computed", n), source) for n, source in spec.commands.computed.items()]
    located += [(("eval", n), getattr(spec.eval, n)) for n in ("success", "failure") if getattr(spec.eval, n)]
    for path, source in located:
        total += len(source)
        if total > MAX_SPEC_EXPRESSION_CHARS:
            document.report(
                sink,
                "SPC214",
                f"the spec's expressions are longer than {MAX_SPEC_EXPRESSION_CHARS} characters in all",
                path,
                fix="a task needs a few kilobytes of expressions; remove generated terms",
            )
            return False
    return True


def check_computed_commands(
    document, sink, ctx: Context, computed: dict[str, str], values: list[CheckedTerm]
) -> list[CheckedTerm]:
    """Computed commands: one number per env each, read from the state, never from computed commands
    (the generated module computes them all at once, before anything reads them)."""
    reads_through_values = {v.name: set(v.checked.commands_read) for v in values}
    for value in values:  # values come in dependency order: fold in what the values they read read
        for name in value.checked.values_read:
            reads_through_values[value.name] |= reads_through_values.get(name, set())
    out = []
    for name, source in computed.items():
        path = ("commands", "computed", name)
        term = check_term(document, sink, ctx, "commands", name, source, path)
        if term is None:
            continue
        reads = set(term.checked.commands_read)
        for read in term.checked.values_read:
            reads |= reads_through_values.get(read, set())
        circular = sorted(r for r in reads if r in computed or r == "*")
        if circular:
            what = "the whole commands vector" if "*" in circular else f"commands.{circular[0]}"
            report_at(
                document,
                sink,
                path,
                term.checked.root.span,
                "SPC218",
                f"computed command '{name}' reads {what}, which is (or includes) a computed command",
                "read sampled commands and signals only, e.g. commands.heading",
            )
            continue
        out.append(term)
    return out


def check_section(document, sink, base_ctx: Context, section: str, terms: dict[str, tuple[str, dict]]):
    """Check a section whose terms may read each other (`term.<name>`), in dependency order."""
    parsed: dict[str, ast.Node] = {}
    for name, (source, _) in terms.items():
        node = _parse(document, sink, source, (section, "terms", name, "expr"))
        if node is not None:
            parsed[name] = node
    order, broken = _dependency_order(document, sink, section, parsed)
    out: list[CheckedTerm] = []
    types: dict[str, Type] = {}
    for name in order:
        source, extra = terms[name]
        if name in broken or any(
            ref in broken or (ref in parsed and ref not in types) for ref, _ in term_refs(parsed[name])
        ):
            broken.add(name)
            continue
        ctx = dataclasses.replace(base_ctx, term_types=types, term_section=section)  # types: not copied
        term = check_term(
            document,
            sink,
            ctx,
            section,
            name,
            source,
            (section, "terms", name, "expr"),
            node=parsed[name],
            **extra,
        )
        if term is not None:
            types[name] = term.checked.type
            out.append(term)
    return out


def _dependency_order(
    document: SpecDocument, sink: DiagnosticSink, section: str, parsed: dict[str, ast.Node]
) -> tuple[list[str], set[str]]:
    """Terms in dependency order, and the terms in a cycle (each cycle reported once, at the reference).

    The order is `dependency_order`'s (the one iterative search, shared with [values]).
    """
    order, cycles = dependency_order({name: term_refs(node) for name, node in parsed.items()})
    broken: set[str] = set()  # in a cycle, or reading a term that failed: reported once, not checked
    for name, span, cycle in cycles:
        report_at(
            document,
            sink,
            (section, "terms", name, "expr"),
            span,
            "SPC213",
            f"terms read each other in a cycle: {' -> '.join([*shorten_cycle(cycle[:-1]), cycle[-1]])}",
            None,
        )
        broken.update(cycle[:-1])
    return order, broken


def check_values(document, sink, base_ctx: Context, values: dict[str, str]) -> list[CheckedTerm]:
    """Check [values] in dependency order: each value sees the values it reads, never itself."""
    parsed: dict[str, ast.Node] = {}
    for name, source in values.items():
        node = _parse(document, sink, source, ("values", name))
        if node is not None:
            parsed[name] = node
    reads = {name: value_refs(node) for name, node in parsed.items()}
    order, cycles = dependency_order(reads)
    broken: set[str] = set()
    for name, span, cycle in cycles:
        report_at(
            document,
            sink,
            ("values", name),
            span,
            "SPC217",
            f"values read each other in a cycle: {' -> '.join(cycle)}",
            None,
        )
        broken.update(cycle)
    out: list[CheckedTerm] = []
    types: dict[str, Type] = {}
    for name in order:
        if name in broken:
            continue
        ctx = dataclasses.replace(base_ctx, value_types=types)  # not copied: holds only values checked so far
        term = check_term(
            document, sink, ctx, "values", name, values[name], ("values", name), node=parsed[name]
        )
        if term is not None:
            types[name] = term.checked.type
            out.append(term)
    return out


def _parse(document: SpecDocument, sink: DiagnosticSink, source: str, path: KeyPath) -> ast.Node | None:
    result = parse_expression(source)
    if isinstance(result, ParseError):
        report_at(
            document,
            sink,
            path,
            ast.Span(result.offset, result.offset + 1),
            result.code,
            result.message.replace("$END", "end of expression"),
            result.fix,
        )
        return None
    return result


def check_term(
    document,
    sink,
    ctx: Context,
    section: str,
    name: str,
    source: str,
    path: KeyPath,
    node: ast.Node | None = None,
    **extra,
) -> CheckedTerm | None:
    if node is None:
        node = _parse(document, sink, source, path)
        if node is None:
            return None
    checked, errors = check_expression(node, ctx)
    for error in errors:
        report_at(document, sink, path, error.span, error.code, error.message, error.fix)
    if checked is None:
        return None
    problem = _result_problem(section, name, checked.type)
    if problem is not None:
        code, message, fix = problem
        report_at(document, sink, path, node.span, code, message, fix)
        return None
    return CheckedTerm(section, name, source, checked, **extra)


# What each section's value must be: (kind, dtype, one value per env required).
SECTION_RESULTS = {
    "rewards": ("reward", "float", True),
    "terminations": ("termination", "bool", True),
    "observations": ("observation", "float", False),
    "curriculum": ("curriculum rule", "bool", True),
    "eval": ("eval criterion", "bool", True),
    "commands": ("computed command", "float", True),
}


def _result_problem(section: str, name: str, t: Type) -> tuple[str, str, str | None] | None:
    """Why a term's value does not fit its section (reward: a number per env, termination: a boolean
    per env, observation: a number or a vector per env); None when it fits."""
    if section not in SECTION_RESULTS:  # a named value may be anything but empty
        return ("SPC209", f"value '{name}' has size zero", None) if 0 in t.shape else None
    kind, dtype, scalar = SECTION_RESULTS[section]
    if dtype == "float" and t.dtype == "bool":
        return "SPC206", f"{kind} '{name}' is a boolean", "convert it explicitly: float(...)"
    if dtype == "bool" and t.dtype != "bool":
        return "SPC211", f"{kind} '{name}' is a number, not a boolean", "compare it, e.g. (... < 0.3)"
    if scalar and not t.is_scalar:
        what = "one boolean" if dtype == "bool" else "one number"
        fix = "reduce it: any(...)" if dtype == "bool" else "reduce it, e.g. sum(...) or norm(...)"
        return "SPC205", f"{kind} '{name}' is {t.describe()}, not {what} per env", fix
    if not scalar and len(t.shape) > 1:
        return (
            "SPC209",
            f"{kind} '{name}' is {t.describe()}; an observation is a number or a vector per env",
            "flatten it: flatten(...)",
        )
    if not scalar and t.shape == (0,):
        return "SPC209", f"{kind} '{name}' has size zero", None
    return None


def report_at(
    document: SpecDocument,
    sink: DiagnosticSink,
    path: KeyPath,
    span: ast.Span,
    code: str,
    message: str,
    fix: str | None,
) -> None:
    document.report(sink, code, message, path, fix=fix, chars=(span.start, span.end))


def _failed(document: SpecDocument, sink: DiagnosticSink) -> bool:
    """Whether any error was found, in the file or in a value given on the command line."""
    return sink.has_errors or bool(document.command_line_problems)
