"""Load ../stubs.py (the parsed isaacgym-stubs) without making `tests` a package."""

import importlib.util
import sys
from pathlib import Path

_NAME = "isaacgym_standin_stubs"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).parent.parent / "stubs.py")
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
stubs = sys.modules[_NAME]
