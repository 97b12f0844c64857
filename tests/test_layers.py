"""The layout's rule, checked: imports run one way, from the pages down to the tables
(docs/architecture.md, "The layout"), and no module imports itself back through others.

Every import counts, including those inside functions: an import moved into a
function to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reports", "starmap")
# Lowest first. A module may import its own layer or any layer below it.
LAYERS = (
    ("reports.domain",),
    ("reports.models",),
    ("reports.events", "reports.pipelines", "reports.providers", "reports.documents"),
    ("reports.runtime",),
    ("reports.streams",),
    ("reports.notify",),
    ("reports.live",),
    ("reports.web",),
    ("reports.client_report", "starmap"),
    ("reports.management", "reports.apps"),
)
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300


def layer_of(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/architecture.md")


def modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imports(path: Path) -> set[str]:
    """Every first-party module the file imports, at any depth of the code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    known = {name for name, _ in modules()}
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    return {name: imports(path) - {name} for name, path in modules()}


def test_every_import_runs_to_the_same_layer_or_below() -> None:
    upward = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_no_module_imports_itself_back() -> None:
    edges = graph()
    # Modules that import each other through packages' __init__ re-exports count too.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    # A package importing its own submodules (its __init__ re-exports) is no cycle.
    real = [c for c in cycles if not all(m.startswith(c[0] + ".") for m in c[1:-1])]
    assert real == []


def test_modules_and_classes_read_in_one_sitting() -> None:
    long_modules: list[str] = []
    long_classes: list[str] = []
    for name, path in modules():
        text = path.read_text()
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    long_classes.append(f"{name}.{node.name}: {length} lines")
    assert (long_modules, long_classes) == ([], [])
