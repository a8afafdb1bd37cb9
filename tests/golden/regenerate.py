"""Regenerate the golden copies of the shipped tasks' generated modules: `python tests/golden/regenerate.py`.

`tests/golden/<task>.py` is what `specc compile tasks/<task>.toml` writes. tests/codegen/test_golden_modules.py
fails when rendering differs from them, so a change to code generation shows up in review as a
diff of generated code; run this script and commit the new copies when the change is intended.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))  # a script: the tests' helpers

from golden_modules import GOLDEN, ROOT, TASKS, golden_path, render  # noqa: E402


def main() -> int:
    for spec in TASKS:
        path = golden_path(spec)
        source = render(spec)
        if path.exists() and path.read_text(encoding="utf-8") == source:
            print(f"unchanged {path.relative_to(ROOT)}")
            continue
        path.write_text(source, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    stale = {p.stem for p in GOLDEN.glob("*.py")} - {s.stem for s in TASKS} - {"regenerate", "__init__"}
    for name in sorted(stale):
        (GOLDEN / f"{name}.py").unlink()
        print(f"removed tests/golden/{name}.py (no tasks/{name}.toml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
