"""No import cycle in the package, counting imports inside functions (they only hide a cycle until run time).

A static graph: every ``import`` / ``from ... import`` anywhere in a module (module level or in a function) is
an arrow from that module to the module it names (``from pkg import name`` points at ``pkg.name`` when that is
a module, else at ``pkg``, whose ``__init__`` runs). A strongly connected component of more than one module is
a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_names(package: Path) -> dict[str, Path]:
    out = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph(package: Path) -> dict[str, set[str]]:
    mods = module_names(package)
    top = package.name
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    target = ".".join(base + (node.module.split(".") if node.module else []))
                else:
                    target = node.module or ""
                if target.split(".")[0] != top:
                    continue
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    graph[name].add(full if full in mods else target)
            elif isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.split(".")[0] == top}
    return {m: {t for t in targets if t in mods and t != m} for m, targets in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_package_has_no_import_cycle():
    found = cycles(import_graph(ROOT / "stepstones_lite"))
    assert found == [], f"import cycles (function-level imports included): {found}"


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .a import f\n")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n    return g\n")
    (pkg / "b.py").write_text("from . import a\n\ndef g():\n    return a\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    assert cycles(import_graph(pkg)) == [["pkg.a", "pkg.b"]]


def sys_path_edits(source: str) -> list[int]:
    """Lines of ``source`` that change ``sys.path`` (a call on it such as ``insert``/``append``, or an
    assignment to it): a module found through such an edit imports only where the edit ran."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        target = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value  # sys.path.insert(...)
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t for t in targets if ast.unparse(t) == "sys.path"), None)
        if target is not None and ast.unparse(target) == "sys.path":
            lines.append(node.lineno)
    return sorted(lines)


def test_no_file_edits_sys_path():
    """The package is installed, pytest puts the test folder on sys.path and a script's own folder is its
    sys.path[0]; the official-fixture script hands its subprocesses PYTHONPATH instead."""
    found = {
        str(path.relative_to(ROOT)): lines
        for folder in ("stepstones_lite", "tests", "benchmarks", "data_scripts", "notebooks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if (lines := sys_path_edits(path.read_text()))
    }
    assert found == {}, f"sys.path edits: {found}"


def test_the_sys_path_check_sees_an_edit():
    source = (
        "import sys\nsys.path.insert(0, 'x')\nsys.path.append('y')\nsys.path = ['z']\nprint(sys.path[0])\n"
    )
    assert sys_path_edits(source) == [2, 3, 4]
