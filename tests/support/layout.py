"""Where the checkout's parts are, for tests at any depth below tests/ and for their helpers."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]  # tests/
ROOT = TESTS.parent  # the checkout
