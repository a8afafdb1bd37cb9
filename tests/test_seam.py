"""The generated module is the seam: the runtime imports nothing of the compiler but leaf packages.

The runtime (specc/runtime/**/*.py) may import `specc.runtime.*`, the
package's `__version__`, and the leaf modules below, which themselves import no other part of specc.
Anything else it needs about a task travels in the generated module. Checked on the source with
`ast`, lazy imports inside functions included, so a violation fails here before it ships.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "specc" / "runtime"
# Leaf modules both sides may import: plain data and bounded file reading, no compiler passes.
LEAVES = ("specc.model", "specc.untrusted_files")


def _specc_imports(path: Path, package: str, executed_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every `specc...` import in the file, relative imports resolved; with
    `executed_only`, not those under `if TYPE_CHECKING:` (annotations only: no import at run time)."""
    found: list[tuple[int, str]] = []
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skipped: set[int] = set()
    if executed_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped |= {id(child) for statement in node.body for child in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{module}" if module else base
            # `from m import x`: x may be a module of package m, so each is recorded as m.x.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return [(line, m) for line, m in found if m == "specc" or m.startswith("specc.")]


def _allowed(module: str) -> bool:
    return (
        module.startswith("specc.runtime")
        or module == "specc.__version__"
        or any(module == leaf or module.startswith(leaf + ".") for leaf in LEAVES)
    )


def _package_of(path: Path, root: Path, name: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((name, *parts[:-1])) if path.name != "__init__.py" else ".".join((name, *parts))


def test_the_runtime_imports_only_leaf_packages_of_the_compiler() -> None:
    offending = []
    for path in sorted(RUNTIME.rglob("*.py")):
        package = _package_of(path, RUNTIME, "specc.runtime")
        for line, module in _specc_imports(path, package):
            if not _allowed(module):
                offending.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not offending, "the runtime reaches into the compiler:\n" + "\n".join(offending)


def test_the_leaf_packages_import_no_other_part_of_specc() -> None:
    offending = []
    for leaf in LEAVES:
        relative = Path(*leaf.split(".")[1:])
        folder = ROOT / "specc" / relative
        files = sorted(folder.rglob("*.py")) if folder.is_dir() else [folder.with_suffix(".py")]
        assert files and all(f.exists() for f in files), f"leaf {leaf} not found"
        for path in files:
            package = _package_of(path, ROOT / "specc", "specc")
            for line, module in _specc_imports(path, package):
                if not any(module == x or module.startswith(x + ".") for x in LEAVES):
                    offending.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    assert not offending, "a leaf package imports the compiler:\n" + "\n".join(offending)


def test_the_import_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from . import env\nfrom ..task import x\nimport specc.robot.urdf\n"
        "def f():\n    from specc.codegen.render import render_module\n"
    )
    imports = [m for _, m in _specc_imports(module, "specc.runtime")]
    expected = ["specc.runtime.env", "specc.task.x", "specc.robot.urdf", "specc.codegen.render.render_module"]
    assert imports == expected
    assert [m for m in imports if not _allowed(m)] == expected[1:]


def _module_name(path: Path) -> str:
    """The import name of a file of the checkout: its path (specc/runtime/env.py is specc.runtime.env)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_module_of_specc_imports_itself_through_others() -> None:
    """No import cycle among specc's modules (the compiler's and the runtime's), lazy imports included."""
    files = sorted((ROOT / "specc").rglob("*.py"))
    names = {_module_name(path): path for path in files}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for _, module in _specc_imports(path, package, executed_only=True):
            while module not in names and "." in module:  # `from m import name`: the module m
                module = module.rpartition(".")[0]
            if module != name:
                targets.add(module)
        graph[name] = targets
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:  # iterative depth-first search
            following = next(stack[-1], None)
            if following is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(following) == 1:
                cycles.append(" -> ".join(path[path.index(following) :] + [following]))
            elif not state.get(following):
                state[following] = 1
                path.append(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


# The compiler's files that may import the runtime: the CLI, which drives both sides.
RUNTIME_CALLERS = ("specc/cli/",)


def test_only_the_cli_imports_the_runtime() -> None:
    """The compiler's passes (spec, expressions, robot import, codegen, targets) never reach into the
    runtime: what a run needs of them travels in the generated module."""
    offending = []
    for path in sorted((ROOT / "specc").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(RUNTIME_CALLERS) or path.is_relative_to(RUNTIME):
            continue
        for line, module in _specc_imports(path, _module_name(path).rpartition(".")[0]):
            if module.startswith("specc.runtime"):
                offending.append(f"{relative}:{line}: imports {module}")
    assert not offending, "the compiler reaches into the runtime:\n" + "\n".join(offending)
