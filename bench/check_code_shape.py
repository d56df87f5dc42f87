"""Shape of the package's code (issue 14): the import graph of ``src/peftdebias`` has no
cycles, and no function is longer than ``MAX_LINES`` lines.

Imports at any depth count (a function-level import is still a dependency). A package's
``__init__`` re-exporting its submodules is a dependency of the package on them, not of the
submodules on each other.

    python bench/check_code_shape.py          # prints the cycles and long functions; rc 1 if any
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "peftdebias"
PACKAGE = "peftdebias"
MAX_LINES = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _is_type_checking(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` blocks hold annotations only, not run-time imports."""
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules that ``path`` imports (any depth; ``from X import y`` counts the
    submodule ``X.y`` when it is one, else ``X``)."""
    name = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block)
                   for n in ast.walk(block)}  # fmt: skip
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path.name == "__init__.py", node)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def graph() -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports(p, modules) for p in paths}


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """The modules ``start`` imports directly or through others (itself only via a cycle)."""
    seen: set[str] = set()
    todo = list(edges.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, ()))
    return seen


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module: modules that reach
    each other (the graph has a few hundred modules, so reachability per module is cheap)."""
    reach = {node: reachable(edges, node) for node in edges}
    found: list[list[str]] = []
    placed: set[str] = set()
    for node in sorted(edges):
        if node in placed:
            continue
        component = {node} | {m for m in reach[node] if node in reach.get(m, ())}
        placed |= component
        if len(component) > 1:
            found.append(sorted(component))
    return found


def long_functions(limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """``(file:line name, length)`` of every function longer than ``limit`` lines."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name}"
                    found.append((where, length))
    return sorted(found, key=lambda item: -item[1])


def main() -> int:
    found = cycles(graph())
    for component in found:
        print("import cycle: " + " <-> ".join(component))
    long = long_functions()
    for where, length in long:
        print(f"{length} lines: {where}")
    print(f"{len(found)} import cycles, {len(long)} functions over {MAX_LINES} lines")
    return 1 if found or long else 0


if __name__ == "__main__":
    sys.exit(main())
