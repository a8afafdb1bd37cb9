"""The checking pass: infer every node's type and shape against the signal catalog.

It reports unknown names (with suggestions), arity, booleans used as numbers and the
reverse, unknown components and body groups, broadcasting errors and division by a
literal zero. It folds constant arithmetic so that codegen never has to.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from specc.diagnostics import suggest
from specc.expr import ast
from specc.expr.functions import CONSTANTS, FUNCTIONS
from specc.expr.signals import SIGNALS, TERM_NAMESPACE, VALUE_NAMESPACE, XYZ
from specc.expr.types import Type, broadcast


@dataclass(frozen=True)
class CheckError:
    code: str
    message: str
    span: ast.Span
    fix: str | None = None


@dataclass(frozen=True)
class Context:
    """What names mean for one expression: sizes from the robot, commands, groups, other terms."""

    joint_names: tuple[str, ...]
    feet_names: tuple[str, ...]
    command_names: tuple[str, ...]
    body_groups: Mapping[str, int]  # group name -> number of bodies
    term_types: Mapping[str, Type] = field(default_factory=dict)  # `term.<name>` targets
    term_section: str | None = None  # "rewards" / "terminations": enables term.<name>
    scan_points: int = 0  # points of [terrain.height_scan]; 0: the spec has no height scan
    action_names: tuple[str, ...] | None = None  # driven joints, in action order (None: every joint)
    frame_names: tuple[str, ...] = ()  # named frames (objects included): frame_pos[<name>]

    @property
    def actions(self) -> tuple[str, ...]:
        return self.joint_names if self.action_names is None else self.action_names

    # `value.<name>` targets: the [values] checked so far (a value sees those it may depend on).
    value_types: Mapping[str, Type] = field(default_factory=dict)
    value_names: tuple[str, ...] = ()  # every value of the spec, for did-you-mean and cycle messages
    # Vector commands (targets): name -> (first index in the commands vector, component names).
    command_vectors: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)


@dataclass
class Checked:
    """A checked expression: its root, and the type of every node."""

    root: ast.Node
    types: dict[ast.Node, Type]
    terms_read: set[str] = field(default_factory=set)
    signals_read: set[str] = field(default_factory=set)
    values_read: set[str] = field(default_factory=set)
    commands_read: set[str] = field(default_factory=set)  # command names; "*": the whole vector
    selections: set[tuple[str, str]] = field(default_factory=set)  # (signal, group or frame) read

    @property
    def type(self) -> Type:
        return self.types[self.root]


class _Abort(Exception):
    pass


class Checker:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.errors: list[CheckError] = []
        self.types: dict[ast.Node, Type] = {}
        self.terms_read: set[str] = set()
        self.signals_read: set[str] = set()
        self.selections: set[tuple[str, str]] = set()
        self.values_read: set[str] = set()
        self.commands_read: set[str] = set()

    def fail(self, code: str, message: str, span: ast.Span, fix: str | None = None) -> NoReturn:
        self.errors.append(CheckError(code, message, span, fix))
        raise _Abort

    def run(self, root: ast.Node) -> Checked | None:
        try:
            self.visit(root)
        except _Abort:
            return None
        return Checked(
            root,
            self.types,
            self.terms_read,
            self.signals_read,
            self.values_read,
            self.commands_read,
            self.selections,
        )

    def visit(self, node: ast.Node) -> Type:
        method: Callable[[ast.Node], Type] = getattr(self, "visit_" + type(node).__name__)
        result = method(node)
        self.types[node] = result
        return result

    # -- leaves ---------------------------------------------------------------------------
    def visit_Number(self, node: ast.Number) -> Type:
        if not math.isfinite(node.value):
            self.fail("SPC104", "number is too large", node.span)
        return Type("float", (), const=node.value)

    def visit_Boolean(self, node: ast.Boolean) -> Type:
        return Type("bool", (), const=node.value)

    def visit_Name(self, node: ast.Name) -> Type:
        name = node.name
        if name == "commands":
            if not self.ctx.command_names:
                self.fail("SPC202", "the spec defines no commands", node.span, "add [commands.ranges]")
            self.signals_read.add(name)
            self.commands_read.add("*")
            return Type("float", (len(self.ctx.command_names),), self.ctx.command_names)
        if name == TERM_NAMESPACE:
            self.fail("SPC213", "'term' needs a term name: term.<name>", node.span)
        if name == VALUE_NAMESPACE:
            self.fail("SPC217", "'value' needs a value name: value.<name>", node.span)
        if name in CONSTANTS:
            return Type("float", (), const=CONSTANTS[name].value)
        signal = SIGNALS.get(name)
        if signal is None:
            self.unknown_name(name, node.span)
        assert signal is not None
        if signal.selectable and signal.selects == "frame":
            frames = (
                ", ".join(self.ctx.frame_names) or "none: declare [frames.<name>] or [scene.objects.<name>]"
            )
            self.fail("SPC210", f"'{name}' needs a frame: {name}[<frame>]", node.span, f"frames: {frames}")
        if signal.selectable:
            groups = ", ".join(sorted(self.ctx.body_groups)) or "none defined"
            self.fail(
                "SPC210", f"'{name}' needs a body group: {name}[<group>]", node.span, f"groups: {groups}"
            )
        if "P" in signal.shape and not self.ctx.scan_points:
            self.fail(
                "SPC202",
                f"'{name}' needs a scan pattern",
                node.span,
                "add [terrain.height_scan] (x = [-0.8, 0.8], y = [-0.5, 0.5], resolution = 0.1)",
            )
        self.signals_read.add(name)
        return Type(
            signal.dtype,
            self.resolve_shape(signal.shape, 0),
            self.component_names(signal.shape, signal.components),
        )

    def component_names(
        self, shape: tuple[str | int, ...], names: tuple[str, ...] | None
    ) -> tuple[str, ...] | None:
        """Joint- and action-sized vectors are indexed by joint name, feet-sized ones by foot link name."""
        if names is not None or not shape:
            return names
        return {"J": self.ctx.joint_names, "A": self.ctx.actions, "F": self.ctx.feet_names}.get(
            str(shape[-1])
        )

    def unknown_name(self, name: str, span: ast.Span) -> None:
        if name in FUNCTIONS:
            self.fail("SPC202", f"'{name}' is a function, not a signal", span, f"call it: {name}(...)")
        candidates = [*SIGNALS, *CONSTANTS, "commands", TERM_NAMESPACE, VALUE_NAMESPACE]
        guess = suggest(name, candidates)
        fix = f"did you mean '{guess}'?" if guess else "see `specc signals` for the catalog"
        self.fail("SPC202", f"unknown signal '{name}'", span, fix)

    def resolve_shape(self, shape: tuple[str | int, ...], group_size: int) -> tuple[int, ...]:
        sizes = {
            "J": len(self.ctx.joint_names),
            "A": len(self.ctx.actions),
            "F": len(self.ctx.feet_names),
            "C": len(self.ctx.command_names),
            "G": group_size,
            "P": self.ctx.scan_points,
        }
        return tuple(sizes[d] if isinstance(d, str) else d for d in shape)

    # -- access -----------------------------------------------------------------------------
    def visit_Select(self, node: ast.Select) -> Type:
        if (
            not isinstance(node.base, ast.Name)
            or node.base.name not in SIGNALS
            or not SIGNALS[node.base.name].selectable
        ):
            selectable = [n for n, s in SIGNALS.items() if s.selectable]
            self.fail("SPC210", "only " + ", ".join(selectable) + " take a body group or a frame", node.span)
        signal = SIGNALS[node.base.name]
        if signal.selects == "frame":
            if node.group not in self.ctx.frame_names:
                guess = suggest(node.group, list(self.ctx.frame_names), cutoff=0.5)
                fix = (
                    f"did you mean '{guess}'?"
                    if guess
                    else f"frames: {', '.join(self.ctx.frame_names) or 'none: declare [frames.<name>]'}"
                )
                self.fail("SPC210", f"unknown frame '{node.group}'", node.group_span, fix)
            self.signals_read.add(signal.name)
            self.selections.add((signal.name, node.group))
            result = Type(signal.dtype, self.resolve_shape(signal.shape, 1), signal.components)
            self.types[node.base] = result
            return result
        size = self.ctx.body_groups.get(node.group)
        if size is None:
            guess = suggest(node.group, list(self.ctx.body_groups), cutoff=0.5)
            fix = (
                f"did you mean '{guess}'?"
                if guess
                else f"groups: {', '.join(sorted(self.ctx.body_groups)) or 'none: list links in [robot] feet / terminate_contacts / penalize_contacts'}"
            )
            self.fail("SPC210", f"unknown body group '{node.group}'", node.group_span, fix)
        self.signals_read.add(signal.name)
        self.selections.add((signal.name, node.group))
        result = Type(signal.dtype, self.resolve_shape(signal.shape, size), signal.components)
        self.types[node.base] = result
        return result

    def visit_Component(self, node: ast.Component) -> Type:
        if isinstance(node.base, ast.Name) and node.base.name == TERM_NAMESPACE:
            return self.term_reference(node)
        if isinstance(node.base, ast.Name) and node.base.name == VALUE_NAMESPACE:
            return self.value_reference(node)
        if isinstance(node.base, ast.Name) and node.base.name == "commands":
            return self.command_reference(node)
        base = self.visit(node.base)
        names = base.components
        if names is None:
            self.fail("SPC207", f"{base.describe()} has no named components", node.name_span)
        if node.name in names:
            return Type(base.dtype, base.shape[:-1])
        # Swizzles: .xy, .xz ... of x/y/z-style single-letter components.
        if all(len(n) == 1 for n in names) and all(ch in names for ch in node.name) and len(node.name) > 1:
            return Type(base.dtype, base.shape[:-1] + (len(node.name),), tuple(node.name))
        guess = suggest(node.name, list(names), cutoff=0.5)
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        fix = f"did you mean '{guess}'?" if guess else f"components: {shown}"
        self.fail("SPC207", f"unknown component '{node.name}'", node.name_span, fix)
        raise AssertionError  # unreachable

    def term_reference(self, node: ast.Component) -> Type:
        if self.ctx.term_section is None:
            self.fail("SPC213", "term references are only allowed in rewards and terminations", node.span)
        target = self.ctx.term_types.get(node.name)
        if target is None:
            guess = suggest(node.name, list(self.ctx.term_types), cutoff=0.5)
            fix = f"did you mean '{guess}'?" if guess else None
            self.fail(
                "SPC213",
                f"no {self.ctx.term_section} term named '{node.name}' (or it depends on this one)",
                node.name_span,
                fix,
            )
        self.terms_read.add(node.name)
        return target

    def value_reference(self, node: ast.Component) -> Type:
        target = self.ctx.value_types.get(node.name)
        if target is None:
            if node.name in self.ctx.value_names:
                raise _Abort  # the value has an error of its own (or is in a cycle), reported there
            guess = suggest(node.name, self.ctx.value_names, cutoff=0.5)
            fix = (
                f"did you mean '{guess}'?"
                if guess
                else f"values: {', '.join(self.ctx.value_names) or 'none: define them in [values]'}"
            )
            self.fail("SPC217", f"no value named '{node.name}'", node.name_span, fix)
        self.values_read.add(node.name)
        return target

    def command_reference(self, node: ast.Component) -> Type:
        """`commands.<name>`: one command, or a vector command (a target) as a whole."""
        names = self.ctx.command_names
        if not names:
            self.fail("SPC202", "the spec defines no commands", node.base.span, "add [commands.ranges]")
        self.signals_read.add("commands")
        self.types[node.base] = Type("float", (len(names),), names)
        vector = self.ctx.command_vectors.get(node.name)
        if vector is not None:
            self.commands_read.add(node.name)
            return Type("float", (len(vector[1]),), vector[1])
        if node.name in names:
            self.commands_read.add(node.name)
            return Type("float", ())
        readable = [n for n in names if "." not in n] + list(self.ctx.command_vectors)
        guess = suggest(node.name, readable, cutoff=0.5)
        fix = f"did you mean '{guess}'?" if guess else f"commands: {', '.join(readable)}"
        self.fail("SPC207", f"unknown command '{node.name}'", node.name_span, fix)
        raise AssertionError  # unreachable

    # -- operators ----------------------------------------------------------------------------
    def number(self, node: ast.Node, what: str) -> Type:
        t = self.visit(node)
        if t.dtype == "bool":
            self.fail(
                "SPC206",
                f"{what} needs a number but this is a boolean",
                node.span,
                "convert it explicitly: float(...)",
            )
        return t

    def boolean(self, node: ast.Node, what: str) -> Type:
        t = self.visit(node)
        if t.dtype != "bool":
            self.fail(
                "SPC211",
                f"{what} needs a boolean but this is a number",
                node.span,
                "compare it, e.g. (... > 0.0)",
            )
        return t

    def join(self, a: Type, b: Type, span: ast.Span) -> tuple[int, ...]:
        shape = broadcast(a.shape, b.shape)
        if shape is None:
            self.fail("SPC212", f"shapes do not match: {a.describe()} and {b.describe()}", span)
        return shape

    def visit_Unary(self, node: ast.Unary) -> Type:
        t = self.number(node.operand, f"unary '{node.op}'")
        const = None if t.const is None else (-t.const if node.op == "-" else t.const)
        return Type("float", t.shape, t.components, const)

    def visit_Binary(self, node: ast.Binary) -> Type:
        a = self.number(node.left, f"'{node.op}'")
        b = self.number(node.right, f"'{node.op}'")
        if node.op == "/" and b.const is not None and b.const == 0:
            self.fail("SPC208", "division by zero", node.right.span)
        shape = self.join(a, b, node.op_span)
        const = None
        if a.const is not None and b.const is not None:
            const = _fold(node.op, float(a.const), float(b.const))
            if const is None:
                self.fail("SPC104", f"constant '{node.op}' overflows or is undefined", node.span)
        comps = a.components if a.shape == shape else b.components if b.shape == shape else None
        return Type("float", shape, comps, const)

    def visit_Compare(self, node: ast.Compare) -> Type:
        a = self.number(node.left, f"'{node.op}'")
        b = self.number(node.right, f"'{node.op}'")
        shape = self.join(a, b, node.op_span)
        if a.const is not None and b.const is not None:
            self.fail("SPC104", "comparison of two constants is always the same", node.span)
        return Type("bool", shape)

    def visit_Logic(self, node: ast.Logic) -> Type:
        a = self.boolean(node.left, f"'{node.op}'")
        b = self.boolean(node.right, f"'{node.op}'")
        return Type("bool", self.join(a, b, node.op_span))

    def visit_Not(self, node: ast.Not) -> Type:
        t = self.boolean(node.operand, "'not'")
        return Type("bool", t.shape, const=None if t.const is None else not t.const)

    # -- calls -------------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> Type:
        func = FUNCTIONS.get(node.func)
        if func is None:
            if node.func in SIGNALS:
                self.fail(
                    "SPC203",
                    f"'{node.func}' is a signal, not a function",
                    node.func_span,
                    f"remove the parentheses: {node.func}",
                )
            guess = suggest(node.func, list(FUNCTIONS))
            fix = f"did you mean '{guess}'?" if guess else f"functions: {', '.join(FUNCTIONS)}"
            self.fail("SPC203", f"unknown function '{node.func}'", node.func_span, fix)
        n = len(node.args)
        if not func.min_args <= n <= func.max_args:
            want = (
                str(func.min_args)
                if func.min_args == func.max_args
                else f"{func.min_args} or {func.max_args}"
            )
            self.fail(
                "SPC204",
                f"{node.func}() takes {want} argument{'s' if want != '1' else ''}, got {n}",
                node.span,
                f"{node.func}: {func.doc}",
            )
        kind = func.kind
        if kind == "elementwise":
            t = self.number(node.args[0], f"{node.func}()")
            const = None
            if t.const is not None:
                const = _fold_call(node.func, float(t.const))
                if const is None:
                    self.fail("SPC104", f"{node.func}({t.const}) is undefined", node.span)
            return Type("float", t.shape, t.components, const)
        if kind in ("reduce", "bool_reduce", "count") or (kind == "min_max" and n == 1):
            if kind in ("bool_reduce", "count"):
                t = self.boolean(node.args[0], f"{node.func}()")
            else:
                t = self.number(node.args[0], f"{node.func}()")
            if t.is_scalar:
                self.fail(
                    "SPC212", f"{node.func}() reduces a vector, but this is {t.describe()}", node.args[0].span
                )
            return Type("bool" if kind == "bool_reduce" else "float", t.shape[:-1])
        if kind == "min_max":
            a = self.number(node.args[0], f"{node.func}()")
            b = self.number(node.args[1], f"{node.func}()")
            const = None
            if a.const is not None and b.const is not None:
                const = (min if node.func == "min" else max)(float(a.const), float(b.const))
            return Type("float", self.join(a, b, node.span), const=const)
        if kind == "clamp":
            t = self.number(node.args[0], "clamp()")
            low = self.number(node.args[1], "clamp()")
            high = self.number(node.args[2], "clamp()")
            if low.const is None:
                self.fail("SPC215", "clamp() bounds must be constant numbers", node.args[1].span)
            if high.const is None:
                self.fail("SPC215", "clamp() bounds must be constant numbers", node.args[2].span)
            lo, hi = float(low.const), float(high.const)
            if lo > hi:
                self.fail("SPC104", "clamp() low bound is above its high bound", node.span)
            const = None if t.const is None else min(max(float(t.const), lo), hi)
            return Type("float", t.shape, t.components, const)
        if kind == "where":
            self.boolean(node.args[0], "where() condition")
            cond = self.types[node.args[0]]
            a = self.number(node.args[1], "where()")
            b = self.number(node.args[2], "where()")
            shape = self.join(cond, Type("float", self.join(a, b, node.span)), node.span)
            return Type("float", shape)
        if kind == "cast":
            t = self.boolean(node.args[0], "float()")
            return Type("float", t.shape, t.components, None if t.const is None else float(t.const))
        if kind == "flatten":
            t = self.number(node.args[0], "flatten()")
            return Type("float", (math.prod(t.shape),) if t.shape else ())
        if kind == "binary":
            a = self.number(node.args[0], f"{node.func}()")
            b = self.number(node.args[1], f"{node.func}()")
            shape = self.join(a, b, node.span)
            const = None
            if a.const is not None and b.const is not None:
                const = math.atan2(float(a.const), float(b.const))
            return Type("float", shape, const=const)
        if kind == "quat_scalar":
            q = self.vector(node.args[0], node.func, 4, "a quaternion (w, x, y, z)")
            return Type("float", q.shape[:-1])
        if kind == "quat_pair":
            a = self.vector(node.args[0], node.func, 4, "a quaternion (w, x, y, z)")
            b = self.vector(node.args[1], node.func, 4, "a quaternion (w, x, y, z)")
            return Type("float", self.join(a, b, node.span)[:-1])
        if kind == "dot":
            a = self.vector(node.args[0], node.func, None, "a vector")
            b = self.vector(node.args[1], node.func, None, "a vector")
            if a.shape[-1] != b.shape[-1]:
                self.fail(
                    "SPC216",
                    f"dot() needs vectors of one length: {a.describe()} and {b.describe()}",
                    node.span,
                )
            return Type("float", self.join(a, b, node.span)[:-1])
        if kind == "cross":
            a = self.vector(node.args[0], node.func, 3, "a 3-vector")
            b = self.vector(node.args[1], node.func, 3, "a 3-vector")
            return Type("float", self.join(a, b, node.span), XYZ)
        if kind == "rotate":
            q = self.vector(node.args[0], node.func, 4, "a quaternion (w, x, y, z)")
            v = self.vector(node.args[1], node.func, 3, "a 3-vector")
            shape = self.join(Type("float", q.shape[:-1] + (3,)), v, node.span)
            return Type("float", shape, XYZ)
        raise AssertionError(kind)

    def vector(self, node: ast.Node, func: str, size: int | None, what: str) -> Type:
        """A number argument whose last axis is `size` long (any length when None)."""
        t = self.number(node, f"{func}()")
        if not t.shape or (size is not None and t.shape[-1] != size):
            fix = "a quaternion has 4 components, w first: base_quat" if size == 4 else None
            self.fail("SPC216", f"{func}() needs {what} here, but this is {t.describe()}", node.span, fix)
        return t


def _fold_call(func: str, x: float) -> float | None:
    table: dict[str, Callable[[float], float]] = {
        "abs": abs,
        "sign": lambda v: float((v > 0) - (v < 0)),
        "exp": math.exp,
        "log": math.log,
        "sqrt": math.sqrt,
        "square": lambda v: v * v,
        "sin": math.sin,
        "cos": math.cos,
        "tanh": math.tanh,
        "wrap_angle": lambda v: (v + math.pi) % (2 * math.pi) - math.pi,
    }
    try:
        value = table[func](x)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _fold(op: str, a: float, b: float) -> float | None:
    try:
        value = {"+": a + b, "-": a - b, "*": a * b}.get(op)
        if value is None:
            value = a / b if op == "/" else float(a**b)
    except (OverflowError, ZeroDivisionError, TypeError):
        return None
    if isinstance(value, complex) or not math.isfinite(value):
        return None
    return value


def check_expression(root: ast.Node, ctx: Context) -> tuple[Checked | None, list[CheckError]]:
    checker = Checker(ctx)
    return checker.run(root), checker.errors
