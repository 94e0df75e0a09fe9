"""No import cycles among recbench's modules (the graph is read from the source with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

import recbench

ROOT = Path(recbench.__file__).parent


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        for node in nodes:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _without_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # `from recbench.x import y` names the package recbench.x; a package's __init__ re-exporting its
    # modules is not a cycle of the modules themselves, so package nodes are left out here
    packages = {m for m in graph if (ROOT.parent / m.replace(".", "/") / "__init__.py").is_file()}
    return {m: deps - packages for m, deps in graph.items() if m not in packages}


def test_no_import_cycle_at_module_level():
    assert _cycles(_without_packages(_graph(top_level_only=True))) == []


def test_the_run_package_has_no_cycle_even_through_lazy_imports():
    graph = _without_packages(_graph(top_level_only=False))
    run = {
        m: {d for d in deps if d.startswith("recbench.run")}
        for m, deps in graph.items()
        if m.startswith("recbench.run")
    }
    assert _cycles(run) == []
