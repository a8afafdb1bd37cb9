"""The isaacgym-stubs package as the checks use it: its gymapi.pyi, made parseable, and our gymtorch.pyi.

isaacgym-stubs 1.1rc4 ships only `gymapi.pyi`, and two lines of it are not valid Python: the
properties `RigidContact.lambda` and `SoftContact.lambda` (a keyword, so no Python code can access
them as attributes). They are renamed `lambda_`; nothing else is changed. `gymtorch.pyi` here holds the two functions of Isaac
Gym's own gymtorch.py.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent


@lru_cache(maxsize=1)
def gymapi_stub_source() -> str:
    files = metadata.files("isaacgym-stubs") or []
    path = next(f for f in files if str(f).endswith("gymapi.pyi"))
    text = Path(str(path.locate())).read_text(encoding="utf-8")
    assert text.count("def lambda(") == 2, "isaacgym-stubs changed: review the keyword fix"
    return text.replace("def lambda(", "def lambda_(")


@lru_cache(maxsize=1)
def gymapi_stub() -> ast.Module:
    return ast.parse(gymapi_stub_source())


def gymtorch_stub() -> ast.Module:
    return ast.parse((HERE / "gymtorch.pyi").read_text(encoding="utf-8"))


def write_stub_tree(folder: Path) -> Path:
    """A stub package `isaacgym` (gymapi, gymtorch) under `folder`, for mypy's MYPYPATH."""
    package = folder / "isaacgym"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.pyi").write_text("from . import gymapi as gymapi, gymtorch as gymtorch\n")
    (package / "gymapi.pyi").write_text(gymapi_stub_source(), encoding="utf-8")
    (package / "gymtorch.pyi").write_text((HERE / "gymtorch.pyi").read_text(encoding="utf-8"))
    return folder
