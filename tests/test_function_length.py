"""No function over 60 lines in the product folders (skmobile/, kernels/, search/), by an AST pass:
from its ``def`` line to its last line, nested functions counted in the one that holds them too.
Generated tables (``_model_index.py``) hold no functions."""

from __future__ import annotations

import ast
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("skmobile", "kernels", "search")
MAX_LINES = 60


def long_functions(source: str, where: str, limit: int = MAX_LINES) -> list[str]:
    """'where:line name (N lines)' for every function of ``source`` longer than ``limit`` lines."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                out.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_the_check_counts_from_def_to_the_last_line_nested_functions_included():
    body = "\n".join(f"    x{i} = {i}" for i in range(59))
    assert long_functions(f"def ok():\n{body}\n", "f") == []                       # 60 lines
    assert long_functions(f"def long():\n{body}\n    return x0\n", "f") == ["f:1 long (61 lines)"]
    nested = "def outer():\n    def inner():\n" + "\n".join(f"        y{i} = {i}" for i in range(60)) + "\n"
    assert long_functions(nested, "f") == ["f:1 outer (62 lines)", "f:2 inner (61 lines)"]


def test_no_function_over_60_lines_in_the_product():
    found = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += long_functions(path.read_text(), str(path.relative_to(ROOT)))
    assert found == []
