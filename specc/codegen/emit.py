"""Lower checked expressions to torch code, in the TorchScript subset.

Only checked AST nodes reach this module, and the only text it copies from a spec
is numbers, through `repr(float)`. Every identifier it writes is its own (`o0`,
`r1`, `d0`, `c3`) or a name from the signal catalog; spec names stay in data tables.

Common subexpressions are computed once per kernel: a node whose code appears more
than once among the kernel's terms is assigned to a temporary at its first use.
Derived signals (the base-frame rotations) are computed once at the top.

The code comes out as `ruff format` writes it: no parentheses around a whole right-hand side, and
no line longer than the project's 110 columns (a subexpression that would make one longer is
assigned to a temporary first), so the generated module is formatted by construction.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from specc.expr import ast
from specc.expr.check import Checked
from specc.expr.functions import FUNCTIONS
from specc.expr.signals import SIGNALS
from specc.expr.types import Type

# How each derived signal is computed from primitives (helpers are defined in the template).
DERIVED_CODE = {
    "base_lin_vel": "quat_rotate_inverse(base_quat, base_lin_vel_world)",
    "base_ang_vel": "quat_rotate_inverse(base_quat, base_ang_vel_world)",
    "projected_gravity": "gravity_in_base_frame(base_quat)",
    "base_height": "base_pos[:, 2] - terrain_height",
}
assert set(DERIVED_CODE) == {n for n, s in SIGNALS.items() if not s.primitive}
# On a plane the ground is at height 0: a flat task's kernels read no terrain (the flat path pays nothing).
PLANE_DERIVED_CODE = {**DERIVED_CODE, "base_height": "base_pos[:, 2]"}

ELEMENTWISE = {
    "abs": "torch.abs({})",
    "sign": "torch.sign({})",
    "exp": "torch.exp({})",
    "log": "torch.log({})",
    "sqrt": "torch.sqrt({})",
    "square": "torch.square({})",
    "sin": "torch.sin({})",
    "cos": "torch.cos({})",
    "tanh": "torch.tanh({})",
    "wrap_angle": "wrap_angle({})",
}
QUAT_SCALAR = {"roll": "quat_roll({})", "pitch": "quat_pitch({})", "yaw": "quat_yaw({})"}
ROTATE = {"rotate": "quat_rotate", "rotate_inverse": "quat_rotate_inverse"}
REDUCE = {
    "sum": "torch.sum({}, dim=-1)",
    "mean": "torch.mean({}, dim=-1)",
    "norm": "torch.sqrt(torch.sum(torch.square({}), dim=-1))",
    "min": "torch.amin({}, dim=-1)",
    "max": "torch.amax({}, dim=-1)",
    "any": "torch.any({}, dim=-1)",
    "all": "torch.all({}, dim=-1)",
    "count": "torch.sum({}.to(torch.float32), dim=-1)",
}
# An expression longer than this is split: its longest subexpressions become temporaries. With the
# indent, `c12 = ` and a wrapper of the caller (scale, clip) a line stays within 110 columns.
MAX_INLINE = 80
FLIPPED = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
TRIVIAL = (ast.Number, ast.Boolean, ast.Name)


def _fill(template: str, argument: str) -> str:
    """`template` with `argument` in its one slot, without parentheses where the slot is a whole
    call argument (`torch.exp(x / 2.0)`, not `torch.exp((x / 2.0))`)."""
    whole = "({})" in template or "({}," in template
    return template.format(unparenthesized(argument) if whole else argument)


def unparenthesized(code: str) -> str:
    """`code` without parentheses around all of it (ruff format drops them on a right-hand side)."""
    while code.startswith("(") and _closing_paren(code) == len(code) - 1:
        code = code[1:-1]
    return code


def _closing_paren(code: str) -> int:
    depth = 0
    for index, ch in enumerate(code):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return index
    return -1


def assignment(name: str, code: str) -> str:
    return f"{name} = {unparenthesized(code)}"


def literal(value: float | bool) -> str:
    """A number as Python source. Refuses nan and inf: the schema and the checker keep them out of
    specs, and `repr` would write the bare names `nan` / `inf`, which are no Python literals."""
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"non-finite number {number!r} cannot be written into generated code")
    return repr(number)


@dataclass
class TermCode:
    """One term's code: the statements it needs and the expression that is its value."""

    lines: list[str]
    value: str


@dataclass
class KernelEmitter:
    """Emits the terms of one kernel function, sharing temporaries and derived signals between them."""

    group_slices: dict[str, tuple[int, int]]  # body group -> slice of the contact_force input
    frame_rows: dict[str, int] = field(default_factory=dict)  # frame -> row of the frame_* inputs
    term_values: dict[str, str] = field(default_factory=dict)  # term name -> variable holding its value
    # [values] name -> the variable holding it (fixed for the whole module: v0, v1, ...)
    value_vars: dict[str, str] = field(default_factory=dict)
    # vector command name -> (first index, length) in the commands input
    command_vectors: dict[str, tuple[int, int]] = field(default_factory=dict)
    derived_used: list[str] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _temps: dict[str, str] = field(default_factory=dict)
    _temp_count: int = 0
    _canon: dict[int, str] = field(default_factory=dict)
    _lines: list[str] = field(default_factory=list)

    def count(self, checked: Checked) -> None:
        """First pass over every term of the kernel: count repeated subexpressions."""
        self._canonical(checked.root, checked)
        stack = [checked.root]
        while stack:
            node = stack.pop()
            if not isinstance(node, TRIVIAL) and checked.types[node].const is None:
                canon = self._canonical(node, checked)
                if not canon.isidentifier():  # a value's or a term's variable is shared already
                    self._counts[canon] += 1
            stack.extend(ast.children(node))

    def term(self, checked: Checked) -> TermCode:
        self._lines = []
        value = self._emit(checked.root, checked)
        t = checked.type
        if t.const is not None:
            value = self.constant_tensor(t.const, t.dtype)
        return TermCode(self._lines, value)

    def temporary(self, code: str, lines: list[str]) -> str:
        """Assign `code` to a new temporary, appending the assignment to `lines`; return its name."""
        name = f"c{self._temp_count}"
        self._temp_count += 1
        lines.append(assignment(name, code))
        return name

    # -- the canonical code of a node (no temporaries), used as the key for sharing ---------------
    def _canonical(self, node: ast.Node, checked: Checked) -> str:
        key = id(node)
        if key not in self._canon:
            self._canon[key] = self._code(
                node, checked, lambda child: self._canonical(child, checked), track_derived=False
            )
        return self._canon[key]

    def _emit(self, node: ast.Node, checked: Checked) -> str:
        children: dict[int, str] = {}  # id(child) -> its code, each child emitted once
        hoisted: dict[int, str] = {}  # id(child) -> the temporary holding it
        computed: set[int] = set()  # children worth a temporary: neither leaves nor constants

        def sub(child: ast.Node) -> str:
            if id(child) in hoisted:
                return hoisted[id(child)]
            if id(child) not in children:
                children[id(child)] = self._emit(child, checked)
                if not isinstance(child, TRIVIAL) and checked.types[child].const is None:
                    computed.add(id(child))
            return children[id(child)]

        code = self._code(node, checked, sub, track_derived=True)
        while len(code) > MAX_INLINE:  # too long for one line: hoist the longest subexpression
            # The longest first; of equal ones the first written (dicts keep order: output is deterministic).
            candidates = [key for key in children if key in computed and key not in hoisted]
            if not candidates:
                break
            key = max(candidates, key=lambda k: len(children[k]))
            hoisted[key] = self.temporary(children[key], self._lines)
            code = self._code(node, checked, sub, track_derived=True)
        if isinstance(node, TRIVIAL) or checked.types[node].const is not None:
            return code
        canon = self._canonical(node, checked)
        if self._counts[canon] < 2:
            return code
        if canon not in self._temps:
            self._temps[canon] = self.temporary(code, self._lines)
        return self._temps[canon]

    def constant_tensor(self, value: float | bool, dtype: str) -> str:
        """A per-env tensor holding a constant; `episode_time` gives it its shape and device."""
        if dtype == "bool":
            return f"(torch.full_like(episode_time, {literal(value)}) > 0.5)"
        return f"torch.full_like(episode_time, {literal(value)})"

    def _code(
        self, node: ast.Node, checked: Checked, sub: Callable[[ast.Node], str], track_derived: bool
    ) -> str:
        types = checked.types
        t = types[node]
        if t.const is not None:
            return literal(t.const)
        if isinstance(node, ast.Name):
            if node.name in DERIVED_CODE and track_derived and node.name not in self.derived_used:
                self.derived_used.append(node.name)
            return node.name
        if isinstance(node, ast.Select):
            assert isinstance(node.base, ast.Name)
            if SIGNALS[node.base.name].selects == "frame":
                return f"{node.base.name}[:, {self.frame_rows[node.group]}]"
            start, end = self.group_slices[node.group]
            return f"contact_force[:, {start}:{end}]"
        if isinstance(node, ast.Component):
            if isinstance(node.base, ast.Name) and node.base.name == "term":
                # While counting, later terms have no variable yet; their name is a unique key.
                return self.term_values.get(node.name, f"<term {node.name}>")
            if isinstance(node.base, ast.Name) and node.base.name == "value":
                return self.value_vars[node.name]
            if (
                isinstance(node.base, ast.Name)
                and node.base.name == "commands"
                and node.name in self.command_vectors
            ):
                start, size = self.command_vectors[node.name]
                return f"commands[:, {start}:{start + size}]"
            base_code = sub(node.base)
            names = types[node.base].components or ()
            if node.name in names:
                return f"{base_code}[..., {names.index(node.name)}]"
            indices = [names.index(ch) for ch in node.name]
            if indices == list(range(indices[0], indices[0] + len(indices))):
                return f"{base_code}[..., {indices[0]}:{indices[-1] + 1}]"
            return "torch.stack([" + ", ".join(f"{base_code}[..., {i}]" for i in indices) + "], dim=-1)"
        if isinstance(node, ast.Unary):
            operand = sub(node.operand)
            return f"(-{operand})" if node.op == "-" else operand
        if isinstance(node, ast.Not):
            return f"(~{self._tensor(node.operand, types, sub)})"
        if isinstance(node, (ast.Binary, ast.Compare, ast.Logic)):
            return self._binary(node, types, sub)
        if isinstance(node, ast.Call):
            return self._call(node, types, sub)
        raise AssertionError(type(node).__name__)

    def _tensor(self, node: ast.Node, types: dict[ast.Node, Type], sub: Callable[[ast.Node], str]) -> str:
        t = types[node]
        return self.constant_tensor(t.const, t.dtype) if t.const is not None else sub(node)

    def _broadcast(self, code: str, shape: tuple[int, ...], to: tuple[int, ...]) -> str:
        """Per-env shapes broadcast from the right; torch's batch axis needs the missing axes after it."""
        for _ in range(len(to) - len(shape)):
            code = f"{code}.unsqueeze(1)"
        return code

    def _binary(
        self,
        node: ast.Binary | ast.Compare | ast.Logic,
        types: dict[ast.Node, Type],
        sub: Callable[[ast.Node], str],
    ) -> str:
        result = types[node]
        left_t, right_t = types[node.left], types[node.right]
        shape = result.shape
        if isinstance(node, ast.Logic):
            left = self._broadcast(self._tensor(node.left, types, sub), left_t.shape, shape)
            right = self._broadcast(self._tensor(node.right, types, sub), right_t.shape, shape)
            return f"({left} {'&' if node.op == 'and' else '|'} {right})"
        left = (
            literal(left_t.const)
            if left_t.const is not None
            else self._broadcast(sub(node.left), left_t.shape, shape)
        )
        right = (
            literal(right_t.const)
            if right_t.const is not None
            else self._broadcast(sub(node.right), right_t.shape, shape)
        )
        if isinstance(node, ast.Compare):
            if left_t.const is not None:  # keep the tensor on the left: x > 1.0
                return f"({right} {FLIPPED[node.op]} {left})"
            return f"({left} {node.op} {right})"
        if node.op == "**":
            return f"torch.pow({left}, {right})"
        return f"({left} {node.op} {right})"

    def _call(self, node: ast.Call, types: dict[ast.Node, Type], sub: Callable[[ast.Node], str]) -> str:
        func = FUNCTIONS[node.func]
        args = node.args
        if func.kind == "elementwise":
            return _fill(ELEMENTWISE[node.func], sub(args[0]))
        if func.kind in ("reduce", "bool_reduce", "count") or (func.kind == "min_max" and len(args) == 1):
            return _fill(REDUCE[node.func], sub(args[0]))
        if func.kind == "min_max":
            a_t, b_t = types[args[0]], types[args[1]]
            bound = "max" if node.func == "min" else "min"
            if a_t.const is not None:
                return f"torch.clamp({sub(args[1])}, {bound}={literal(a_t.const)})"
            if b_t.const is not None:
                return f"torch.clamp({sub(args[0])}, {bound}={literal(b_t.const)})"
            shape = types[node].shape
            a = self._broadcast(sub(args[0]), a_t.shape, shape)
            b = self._broadcast(sub(args[1]), b_t.shape, shape)
            return f"torch.{'minimum' if node.func == 'min' else 'maximum'}({a}, {b})"
        if func.kind == "clamp":
            low, high = types[args[1]].const, types[args[2]].const
            assert low is not None and high is not None  # the checker requires constant bounds (SPC215)
            return f"torch.clamp({sub(args[0])}, {literal(low)}, {literal(high)})"
        if func.kind == "where":
            shape = types[node].shape
            parts = [self._broadcast(self._tensor(a, types, sub), types[a].shape, shape) for a in args]
            return f"torch.where({parts[0]}, {parts[1]}, {parts[2]})"
        if func.kind == "cast":
            return f"{sub(args[0])}.to(torch.float32)"
        if func.kind == "flatten":
            return f"torch.flatten({sub(args[0])}, 1)" if len(types[args[0]].shape) > 1 else sub(args[0])
        shape = types[node].shape
        if func.kind == "binary":  # atan2
            a, b = (self._broadcast(self._tensor(x, types, sub), types[x].shape, shape) for x in args)
            return f"torch.atan2({a}, {b})"
        if func.kind == "quat_scalar":
            return QUAT_SCALAR[node.func].format(sub(args[0]))
        # The rest pair vectors over their last axis: broadcast the leading per-env axes.
        vector_shape = shape if func.kind in ("cross", "rotate") else shape + (0,)
        a, b = (self._broadcast(sub(x), types[x].shape, vector_shape) for x in args)
        if func.kind == "quat_pair":
            return f"quat_angle({a}, {b})"
        if func.kind == "dot":
            return f"torch.sum({a} * {b}, dim=-1)"
        if func.kind == "cross":
            return f"torch.cross({a}, {b}, dim=-1)"
        if func.kind == "rotate":
            return f"{ROTATE[node.func]}({a}, {b})"
        raise AssertionError(func.kind)
