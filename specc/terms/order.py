"""Term ordering: which terms and values an expression reads, and an order in which each comes after
what it reads (with the cycles that prevent one)."""

from __future__ import annotations

from specc.expr import ast
from specc.expr.signals import TERM_NAMESPACE, VALUE_NAMESPACE


def namespace_refs(node: ast.Node, namespace: str) -> list[tuple[str, ast.Span]]:
    """The `<namespace>.<name>` references of an expression, with the span of each name."""
    refs: list[tuple[str, ast.Span]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if (
            isinstance(current, ast.Component)
            and isinstance(current.base, ast.Name)
            and current.base.name == namespace
        ):
            refs.append((current.name, current.name_span))
        stack.extend(ast.children(current))
    return refs


def term_refs(node: ast.Node) -> list[tuple[str, ast.Span]]:
    """The `term.<name>` references of an expression."""
    return namespace_refs(node, TERM_NAMESPACE)


def value_refs(node: ast.Node) -> list[tuple[str, ast.Span]]:
    """The `value.<name>` references of an expression."""
    return namespace_refs(node, VALUE_NAMESPACE)


def dependency_order(
    reads: dict[str, list[tuple[str, ast.Span]]],
) -> tuple[list[str], list[tuple[str, ast.Span, list[str]]]]:
    """Names ordered so that each comes after the names it reads, and the cycles met on the way.

    A depth-first search with an explicit stack (a spec's chain of references can be as long as
    the spec: no recursion limit to hit). Each cycle is (the name whose reference closes it,
    that reference's span, the cycle from the name read back to itself). References to names
    outside `reads` are left to the checker.
    """
    order: list[str] = []
    state: dict[str, str] = {}
    cycles: list[tuple[str, ast.Span, list[str]]] = []
    for root in reads:
        if root in state:
            continue
        state[root] = "active"
        path = [root]
        stack = [iter(reads[root])]
        while stack:
            for ref, span in stack[-1]:
                if ref not in reads or state.get(ref) == "done":
                    continue
                if state.get(ref) == "active":
                    cycles.append((path[-1], span, [*path[path.index(ref) :], ref]))
                    continue
                state[ref] = "active"
                path.append(ref)
                stack.append(iter(reads[ref]))
                break
            else:
                stack.pop()
                name = path.pop()
                state[name] = "done"
                order.append(name)
    return order, cycles


def shorten_cycle(cycle: list[str], keep: int = 8) -> list[str]:
    """A long cycle as its first and last names around an ellipsis: a message, not a dump."""
    return cycle if len(cycle) <= keep else [*cycle[: keep // 2], "...", *cycle[-keep // 2 :]]
