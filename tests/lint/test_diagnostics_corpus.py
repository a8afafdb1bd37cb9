"""Every broken spec of the corpus gets exactly its expected diagnostic, at its exact line and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from layout import TESTS

from specc.diagnostics import Severity
from specc.lint import lint_paths

CORPUS = sorted((TESTS / "diagnostics").glob("bad_*.toml"))
EXPECT = re.compile(r"^# expect: (SPC\d{3}) (\d+):(\d+)$", re.M)
EXPECT_MESSAGE = re.compile(r"^# expect-message: (.+)$", re.M)


def test_corpus_has_at_least_forty_cases():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_broken_spec_reports_its_code_at_its_position(path: Path):
    expected = {(m.group(1), int(m.group(2)), int(m.group(3))) for m in EXPECT.finditer(path.read_text())}
    assert expected, "the case file has no '# expect:' line"
    result = lint_paths([path])
    errors = {
        (d.code, d.position.line, d.position.col) for d in result.diagnostics if d.severity is Severity.ERROR
    }
    assert errors == expected
    messages = [d.message for d in result.diagnostics]
    for text in EXPECT_MESSAGE.findall(path.read_text()):
        assert any(text in message for message in messages), (text, messages)
