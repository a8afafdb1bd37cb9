"""Where the checkout's parts are, for tests at any depth below tests/ and for their helpers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parents[1]  # tests/
ROOT = TESTS.parent  # the checkout


def bench_script(name: str, as_module: str) -> ModuleType:
    """bench/`name`.py imported as module `as_module` (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(as_module, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
