"""The code map holds: each package imports only those below it, and no module imports
itself back through others (README, "Code map")."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "migrator"
# Lowest first; a package may import only packages before it in this list.
ORDER = (
    "ground",
    "transport",
    "lenses",
    "config",
    "host",
    "rules",
    "plan",
    "delivery",
    "executor",
    "inventory",
    "fleet",
    "cli",
)
GROUND = {"errors", "exit_status", "endpoint", "address"}


def _layer(module: str) -> str:
    parts = module.split(".")
    return "ground" if len(parts) < 2 or parts[1] in GROUND else parts[1]


def _imports() -> dict[str, set[str]]:
    """Every migrator module and the migrator modules it imports (anywhere in its body)."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        targets = found.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "migrator":
                    targets.update(f"migrator.{alias.name}" for alias in node.names)
                elif node.module.startswith("migrator."):
                    targets.add(node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("migrator."))
    return found


def test_no_package_imports_one_above_it() -> None:
    upward = [
        (module, target)
        for module, targets in _imports().items()
        for target in targets
        if (_layer(module) == "lab" and _layer(target) not in ("lab", "ground"))
        or (
            _layer(module) in ORDER
            and _layer(target) in ORDER
            and ORDER.index(_layer(target)) > ORDER.index(_layer(module))
        )
    ]
    assert upward == []


def test_no_import_circle() -> None:
    graph = _imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            if target in graph:
                visit(target, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_at_most_four_modules_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 4, top


def test_the_executor_does_not_load_planning() -> None:
    """Applying a saved plan needs the Plan record, not Augeas, deepdiff or the rules."""
    code = (
        "import sys, migrator.executor.apply, migrator.executor.rollback, migrator.executor.status;"
        "print(sorted(m for m in ('augeas', 'deepdiff', 'migrator.rules', 'migrator.config')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
