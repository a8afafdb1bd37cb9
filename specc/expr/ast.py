"""The typed-by-checking AST of specc expressions: frozen dataclasses with source spans.

Spans are character offsets into the decoded expression string; the loader maps
them to file lines and columns.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int


@dataclass(frozen=True)
class Node:
    span: Span


@dataclass(frozen=True)
class Number(Node):
    value: float


@dataclass(frozen=True)
class Boolean(Node):
    value: bool


@dataclass(frozen=True)
class Name(Node):
    """A bare name: a signal, or the namespaces `commands` and `term`."""

    name: str


@dataclass(frozen=True)
class Component(Node):
    """`base.x`, `base.xy`, `commands.lin_vel_x`, `term.other`."""

    base: Node
    name: str
    name_span: Span


@dataclass(frozen=True)
class Select(Node):
    """`contact_force[feet]`: a named body group."""

    base: Node
    group: str
    group_span: Span


@dataclass(frozen=True)
class Call(Node):
    func: str
    args: tuple[Node, ...]
    func_span: Span


@dataclass(frozen=True)
class Unary(Node):
    op: str  # "-" or "+"
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str  # + - * / **
    left: Node
    right: Node
    op_span: Span


@dataclass(frozen=True)
class Compare(Node):
    op: str
    left: Node
    right: Node
    op_span: Span


@dataclass(frozen=True)
class Logic(Node):
    op: str  # "and" / "or"
    left: Node
    right: Node
    op_span: Span


@dataclass(frozen=True)
class Not(Node):
    operand: Node


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of `node`, in source order."""
    if isinstance(node, (Component, Select)):
        return (node.base,)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, (Unary, Not)):
        return (node.operand,)
    if isinstance(node, (Binary, Compare, Logic)):
        return (node.left, node.right)
    return ()
