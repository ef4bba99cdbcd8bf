"""The package's shape: imports point down the layers, no cycles, no oversized modules.

The import graph is read from the source (module-level and function-level imports,
not those under ``if TYPE_CHECKING:``, which never run), so a cycle that only closes
when a function first runs is caught too. Importing ``a.b.c`` runs ``a/__init__`` and
``a/b/__init__`` first: those edges count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "grader"
MAX_LINES = 800

# From the bottom up; a module may import its own layer and the ones below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("grader.errors", "grader.messages", "grader.version", "grader.settings", "grader.answers",
     "grader.submission", "grader.results", "grader.literals", "grader.tables",
     "grader.calls", "grader.parse", "grader.atomic", "grader.points", "grader.layouts",
     "grader.late"),
    ("grader.kernel",),
    ("grader.checks",),
    ("grader.rubric",),
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """The grader modules ``module`` imports, by name, wherever the import statement is."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from grader.kernel import sandbox` imports the submodule too
            found.update(f"{base}.{a.name}" for a in node.names
                         if f"{base}.{a.name}" in MODULES)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in MODULES and m != module}


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        targets = _imported(tree, name, path.name == "__init__.py")
        edges = set(targets)
        for target in targets:  # importing a.b.c runs the packages a and a.b first
            parts = target.split(".")
            for i in range(1, len(parts)):
                parent = ".".join(parts[:i])
                if parent in MODULES and not (name == parent or name.startswith(parent + ".")):
                    edges.add(parent)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _layer(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in layer):
            return i
    return None


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    tree = ast.parse("def f():\n    from grader.checks import numeric\n"
                     "from . import protocol\n"
                     "if TYPE_CHECKING:\n    import grader.rubric\n")
    found = _imported(tree, "grader.checks.toy", False)
    assert {"grader.checks", "grader.checks.numeric", "grader.checks.protocol"} <= found
    assert "grader.rubric" not in found


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_imports_point_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        mine = _layer(module)
        for target in targets:
            theirs = _layer(target)
            if mine is not None and (theirs is None or theirs > mine):
                upward.append(f"{module} -> {target}")
    assert upward == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_oversized(module: str) -> None:
    lines = MODULES[module].read_text("utf-8").count("\n")
    assert lines <= MAX_LINES, f"{module} has {lines} lines; split it along its sections"
