"""No import cycles in the package, function-level imports included.

Every module under autoglm_tui/ is parsed with `ast`; every `import` and `from ... import`
anywhere in it (module level, inside functions and methods, inside try/except) that names an
autoglm_tui module is an edge of the graph. `from pkg import name` is an import of the submodule
`pkg.name` when there is one, else of `pkg` itself; relative imports are resolved. Imports
under `if TYPE_CHECKING:` are left out: they never run, so they cannot make an import cycle
(type-only references between modules are allowed). Importing `a.b.c` also runs the
`__init__` of `a` and `a.b`, but those implicit parent imports are not edges: a package's
`__init__` re-exporting its submodules is the usual shape, not a cycle. Submodules of a
package therefore import each other by their full module path, never from the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "autoglm_tui"

# Cycles known today, each to be fixed by its owner; the entry goes when the fix lands (an
# entry that no longer matches a cycle fails the test, so it cannot linger).
ALLOWED: dict[frozenset[str], str] = {
}


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str  # file:line of the import


def module_names() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, anywhere, except under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def edges() -> list[Edge]:
    modules = module_names()
    out: list[Edge] = []
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base_parts = package.split(".")
                    base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                    base = ".".join(base_parts + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                if target in modules and target != name:
                    out.append(Edge(name, target, where))
    return out


def cycles(graph_edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    graph: dict[str, set[str]] = {}
    for e in graph_edges:
        graph.setdefault(e.src, set()).add(e.dst)
        graph.setdefault(e.dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # recursion depth is bounded by the module count (~150)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def describe(comp: list[str], graph_edges: list[Edge]) -> str:
    members = set(comp)
    lines = [f"  {e.src} -> {e.dst}  ({e.where})" for e in graph_edges
             if e.src in members and e.dst in members]
    return "cycle among " + ", ".join(comp) + ":\n" + "\n".join(sorted(set(lines)))


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    found = {(e.src, e.dst) for e in edges()}
    # a function-level import (commands import what they use inside run())
    assert ("autoglm_tui.commands.rules", "autoglm_tui.alerting.rule_files") in found
    # `from pkg import submodule` is an import of the submodule
    assert ("autoglm_tui.analysis.alerts.kinds.threshold",
            "autoglm_tui.analysis.alerts.fields") in found
    # TYPE_CHECKING-only imports are not edges
    assert ("autoglm_tui.monitor", "autoglm_tui.alerting.pipeline") not in found


def test_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    made = [Edge("a", "b", "a.py:1"), Edge("b", "c", "b.py:9"), Edge("c", "a", "c.py:3"),
            Edge("c", "d", "c.py:4")]
    assert cycles(made) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    graph_edges = edges()
    found = cycles(graph_edges)
    unexpected = [c for c in found if not any(set(c) <= allowed for allowed in ALLOWED)]
    assert not unexpected, "\n\n".join(describe(c, graph_edges) for c in unexpected)
    stale = [why for allowed, why in ALLOWED.items()
             if not any(set(c) <= allowed for c in found)]
    assert not stale, f"these cycles are gone: delete their ALLOWED entries: {stale}"
