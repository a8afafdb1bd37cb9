"""Linting untrusted specs: random and hostile strings in every field give diagnostics, never execution.

Each example writes a spec whose expression and name fields hold drawn strings, lints
it, and requires: no exception, only catalogued diagnostic codes with positions, no
side effect (a canary file the payloads try to create stays absent), and, when the
spec happens to be valid, generated code in which no drawn text appears outside
string literals.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_support import ROBOTS

from specc.codegen.render import render_module
from specc.diagnostics import CODES, DiagnosticSink
from specc.lint import lint_paths
from specc.task import check_task

CANARY = Path("/tmp/specc-lint-canary")
HOSTILE = [
    f"__import__('os').system('touch {CANARY}')",
    f"exec(\"open('{CANARY}', 'w')\")",
    f'eval(\'open("{CANARY}", "w")\')',
    f"open('{CANARY}', 'w')",
    "x; import os",
    "lambda: 0",
    "{{ 7 * 7 }}",
    "{% for x in range(3) %}{% endfor %}",
    "$(touch /tmp/specc-lint-canary)",
    "`touch /tmp/specc-lint-canary`",
    "joint_pos.__class__.__mro__",
    "joint_pos[__import__]",
    "().__class__.__bases__[0].__subclasses__()",
    "base_lin_vel\n#",
    '"""',
    "a" * 5000,
    "(" * 500,
    "1e309",
    "\x00\x01\x7f",
    "ünïcödé ⟦ 𝔣",
    "../../../../etc/passwd",
    "package://../../etc/passwd",
    "package://example-robot-data/../../../../etc/passwd",
    "/proc/self/environ",
    "/dev/zero",
    "-" * 350 + "x",
    "+".join(["1"] * 350),
]
STRINGS = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=60))
FIELDS = (
    "obs_expr",
    "reward_expr",
    "term_expr",
    "reward_name",
    "obs_name",
    "joint_pattern",
    "urdf",
    "task_name",
)


def toml_string(value: str) -> str:
    return json.dumps(value)  # JSON strings are TOML basic strings (or fail TOML parsing: a diagnostic)


def spec_text(fields: dict[str, str]) -> str:
    urdf = fields.get("urdf", (ROBOTS / "cartpole.urdf").as_posix())
    return f"""
[task]
name = {toml_string(fields.get("task_name", "fuzz"))}
[robot]
urdf = {toml_string(urdf)}
base = "rail"
fixed_base = true
init_height = 1.0
[robot.pd]
{toml_string(fields.get("joint_pattern", "*"))} = {{ stiffness = 1.0, damping = 0.1, effort = 5.0 }}
[[observations]]
name = {toml_string(fields.get("obs_name", "o"))}
expr = {toml_string(fields.get("obs_expr", "joint_pos"))}
[rewards.terms.{toml_string(fields.get("reward_name", "r"))}]
expr = {toml_string(fields.get("reward_expr", "1.0"))}
weight = 1.0
[terminations.terms.t]
expr = {toml_string(fields.get("term_expr", "abs(joint_pos.hinge) > 0.4"))}
"""


def code_outside_strings(source: str) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return " ".join(t.string for t in tokens if t.type not in (tokenize.STRING, tokenize.COMMENT))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(st.dictionaries(st.sampled_from(FIELDS), STRINGS, min_size=1, max_size=4))
def test_hostile_fields_give_only_diagnostics(tmp_path, fields):
    path = tmp_path / "spec.toml"
    path.write_text(spec_text(fields), encoding="utf-8")
    result = lint_paths([path])
    assert not CANARY.exists()
    for d in result.diagnostics:
        assert d.code in CODES and d.position.line >= 1 and d.position.col >= 1
    task = check_task(path, DiagnosticSink(str(path)))
    if task is not None:
        source = render_module(task)
        ast.parse(source)
        code = code_outside_strings(source)
        for value in fields.values():
            if not value.isidentifier() and len(value) > 3 and value.strip():
                assert value not in code


def test_generated_code_calls_only_torch_and_its_own_helpers(tmp_path):
    path = tmp_path / "spec.toml"
    text = spec_text(
        {"reward_expr": "exp(-square(joint_vel.slider)) * where(joint_pos.hinge > 0.0, 1.0, 0.5)"}
    )
    path.write_text(text, encoding="utf-8")
    task = check_task(path, DiagnosticSink(str(path)))
    tree = ast.parse(render_module(task))
    allowed_names = {
        "quat_rotate_inverse",
        "gravity_in_base_frame",
        "quat_rotate",
        "wrap_angle",
        "quat_roll",
        "quat_pitch",
        "quat_yaw",
        "quat_angle",
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            while isinstance(func, ast.Attribute):
                func = func.value
            target = func.id if isinstance(func, ast.Name) else None
            assert target in allowed_names | {"torch"} or isinstance(node.func, ast.Attribute), ast.dump(node)
        assert not isinstance(node, (ast.Import, ast.ImportFrom)) or all(
            alias.name in ("torch", "typing", "Dict", "List", "Tuple", "Tensor") for alias in node.names
        )
