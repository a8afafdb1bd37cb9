"""Parse expression strings with the lark grammar into the AST, keeping spans."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from specc.expr import ast

MAX_EXPRESSION_CHARS = 2000
MAX_NESTING = 48
# Operators applied to operators: `- - - x`, a 40-term sum. Every later pass (the lark transformer,
# the checker, the emitter, Python compiling the generated module) walks the tree recursively, so
# the depth is bounded here, once, with a diagnostic at the operator where it is exceeded.
MAX_DEPTH = 64


@dataclass(frozen=True)
class ParseError:
    message: str
    offset: int
    fix: str | None = None
    code: str = "SPC201"


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("specc.expr").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _span(meta_or_token: object) -> ast.Span:
    if isinstance(meta_or_token, Token):
        return ast.Span(meta_or_token.start_pos, meta_or_token.end_pos)
    return ast.Span(meta_or_token.start_pos, meta_or_token.end_pos)  # type: ignore[attr-defined]


@v_args(meta=True)
class _ToAst(Transformer):
    def number(self, meta, children):
        (tok,) = children
        return ast.Number(_span(tok), float(tok))

    def true(self, meta, children):
        return ast.Boolean(_span(children[0]), True)

    def false(self, meta, children):
        return ast.Boolean(_span(children[0]), False)

    def name(self, meta, children):
        (tok,) = children
        return ast.Name(_span(tok), str(tok))

    def call(self, meta, children):
        func, *args = children
        return ast.Call(_span(meta), str(func), tuple(args), _span(func))

    def component(self, meta, children):
        base, tok = children
        return ast.Component(_span(meta), base, str(tok), _span(tok))

    def select(self, meta, children):
        base, tok = children
        return ast.Select(_span(meta), base, str(tok), _span(tok))

    def unary(self, meta, children):
        op, operand = children
        return ast.Unary(_span(meta), str(op), operand)

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(_span(meta), str(op), left, right, _span(op))

    def compare(self, meta, children):
        left, op, right = children
        return ast.Compare(_span(meta), str(op), left, right, _span(op))

    def logic(self, meta, children):
        left, op, right = children
        return ast.Logic(_span(meta), str(op), left, right, _span(op))

    def not_(self, meta, children):
        _, operand = children
        return ast.Not(_span(meta), operand)


def parse_expression(source: str) -> ast.Node | ParseError:
    """Parse one expression. Never raises on bad input: returns a ParseError with its offset."""
    if len(source) > MAX_EXPRESSION_CHARS:
        return ParseError(
            f"expression is longer than {MAX_EXPRESSION_CHARS} characters",
            MAX_EXPRESSION_CHARS,
            "split it into several terms",
            "SPC214",
        )
    depth = 0
    for offset, ch in enumerate(source):
        if ch in "([":
            depth += 1
            if depth > MAX_NESTING:
                return ParseError(
                    f"expression nests deeper than {MAX_NESTING} levels",
                    offset,
                    "split it into several terms",
                    "SPC214",
                )
        elif ch in ")]":
            depth -= 1
    if not source.strip():
        return ParseError("expression is empty", 0, "write an expression, e.g. 'square(base_lin_vel.z)'")
    try:
        tree = _parser().parse(source)
    except UnexpectedCharacters as err:
        return ParseError(f"unexpected character {source[err.pos_in_stream]!r}", err.pos_in_stream)
    except UnexpectedEOF:
        return ParseError(
            "expression ends early", len(source), "complete the expression or close its brackets"
        )
    except UnexpectedToken as err:
        if err.token.type == "$END":
            return ParseError(
                "expression ends early", len(source), "complete the expression or close its brackets"
            )
        expected = sorted(_describe(t) for t in err.accepts or err.expected)
        hint = f"expected {', '.join(expected[:6])}" if expected else None
        return ParseError(f"unexpected {err.token.value!r}", err.token.start_pos or 0, hint)
    except UnexpectedInput as err:  # pragma: no cover - other lark input errors
        return ParseError(str(err).splitlines()[0], getattr(err, "pos_in_stream", 0) or 0)
    too_deep = _too_deep(tree)
    if too_deep is not None:
        return ParseError(
            f"expression nests operators deeper than {MAX_DEPTH} levels",
            too_deep,
            "split it into several terms (a term can read another: term.<name>)",
            "SPC214",
        )
    result = _ToAst().transform(tree)
    assert not isinstance(result, Tree)
    return result


def _too_deep(tree: Tree) -> int | None:
    """The offset of the operator of the lowest subtree higher than MAX_DEPTH, or None. Iterative.

    The lowest such subtree is where the limit is crossed reading the source from the inside out:
    its operator is where the limit is crossed (the 64th "+" of a long sum).
    """
    height: dict[int, int] = {}
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        subtrees = [c for c in node.children if isinstance(c, Tree)]
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in subtrees)
            continue
        h = 1 + max((height.pop(id(c)) for c in subtrees), default=0)
        if h > MAX_DEPTH:
            op = next((c for c in node.children if isinstance(c, Token)), None)
            start = op.start_pos if op is not None else getattr(node.meta, "start_pos", 0)
            return start or 0
        height[id(node)] = h
    return None


_TOKEN_NAMES = {
    "RPAR": "')'",
    "LPAR": "'('",
    "COMMA": "','",
    "RSQB": "']'",
    "LSQB": "'['",
    "DOT": "'.'",
    "NAME": "a name",
    "NUMBER": "a number",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "COMP_OP": "a comparison",
    "POW": "'**'",
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "TRUE": "'true'",
    "FALSE": "'false'",
}


def _describe(token_type: str) -> str:
    return _TOKEN_NAMES.get(token_type, token_type.lower())
