"""The package's import graph, read from the source (every import, those inside functions included):
no cycle, no import pointing up the README's code map, and a code map that names every folder and
top-level module of the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: source folder -> the package it installs as (pyproject.toml's package-dir)
PACKAGE_DIRS = {"skmobile": "skmobile", "search": "skmobile.search", "kernels": "skmobile.kernels"}


def modules() -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its ``__init__.py``)."""
    out = {}
    for folder, package in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package] + parts)] = path
    return out


def _known(name: str, known) -> str | None:
    """``name`` or its nearest enclosing module that is part of the package (None: a third-party import)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _from_target(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    if not node.level:
        return node.module
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(name: str, path: Path, known) -> set[tuple[str, int]]:
    """(module imported, line) for every import in ``path``, at any depth of the syntax tree."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _from_target(node, name, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" for a in node.names]   # a submodule, else its module
        else:
            continue
        out |= {(m, node.lineno) for m in map(lambda t: _known(t, known), targets) if m is not None}
    return out


def import_graph() -> dict[str, set[tuple[str, int]]]:
    known = modules()
    return {name: {(m, line) for m, line in imports_of(name, path, known) if m != name}
            for name, path in known.items()}


def cycles(graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on_stack.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def code_map(readme: str) -> list[list[tuple[str, bool]]]:
    """The README code map's rows, top to bottom, each as (dotted name, names a folder) per path it lists."""
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            rows.append([_dotted(p) for p in re.findall(r"`([^`]*/[^`]*)`", line.split("|")[1])])
    return rows


def _dotted(path: str) -> tuple[str, bool]:
    folder, _, rest = path.rstrip("/").partition("/")
    name = ".".join([PACKAGE_DIRS[folder]] + ([rest.removesuffix(".py").replace("/", ".")] if rest else []))
    return name.removesuffix(".__init__"), path.endswith("/")


def floor_of(module: str, rows) -> int | None:
    """The row of the code map naming ``module``, itself or a folder holding it (the closest wins), or None."""
    best, best_len = None, -1
    for i, entries in enumerate(rows):
        for name, folder in entries:
            if (module == name or (folder and module.startswith(name + "."))) and len(name) > best_len:
                best, best_len = i, len(name)
    return best


def test_the_graph_sees_imports_inside_functions_and_relative_imports(tmp_path):
    known = {"skmobile.a", "skmobile.b", "skmobile.b.c", "skmobile.d"}
    src = tmp_path / "a.py"
    src.write_text("from .b import c, thing\nimport numpy\n\ndef f():\n    from .d import x\n")
    assert imports_of("skmobile.a", src, known) == {("skmobile.b.c", 1), ("skmobile.b", 1), ("skmobile.d", 5)}
    assert cycles({"a": {("b", 1)}, "b": {("c", 1)}, "c": {("a", 1)}, "d": {("a", 1)}}) == [["a", "b", "c"]]
    rows = code_map("## Code map\n| where | what |\n|---|---|\n| `skmobile/cli.py`, `search/` | x |\n"
                    "| `skmobile/__init__.py`, `skmobile/errors.py` | y |\n\n## Next\n| `kernels/` | z |\n")
    assert rows == [[("skmobile.cli", False), ("skmobile.search", True)],
                    [("skmobile", False), ("skmobile.errors", False)]]
    assert floor_of("skmobile.search.runner", rows) == 0 and floor_of("skmobile.errors", rows) == 1
    assert floor_of("skmobile.cli.helpers", rows) is None and floor_of("skmobile.kernels", rows) is None


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_no_import_points_up_the_code_map():
    rows = code_map((ROOT / "README.md").read_text())
    graph = import_graph()
    unnamed = sorted(m for m in graph if floor_of(m, rows) is None)
    assert unnamed == [], f"the README's code map names no row for {unnamed}"
    upward = [f"{a}:{line} imports {b}" for a, targets in sorted(graph.items()) for b, line in sorted(targets)
              if floor_of(b, rows) < floor_of(a, rows)]
    assert upward == []


def test_the_code_map_names_every_folder_and_top_level_module():
    named = {name for row in code_map((ROOT / "README.md").read_text()) for name, _ in row}
    top = {m for m in modules() if m.count(".") <= 1}   # skmobile itself, its modules and its folders
    assert sorted(top - named) == []
