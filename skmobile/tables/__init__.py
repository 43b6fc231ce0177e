"""The paper's tables as data, one module per table (``tableN.py`` defines ``TABLE``)."""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import SKMobileError
from ._table import Table, TableRow


def table_numbers() -> list[int]:
    return sorted(int(m.name[5:]) for m in pkgutil.iter_modules(__path__)
                  if m.name.startswith("table") and m.name[5:].isdigit())


def get_table(number: int) -> Table:
    numbers = table_numbers()
    if number not in numbers:
        raise SKMobileError(f"unknown table {number!r}; allowed: {', '.join(map(str, numbers))}")
    return importlib.import_module(f"{__name__}.table{number}").TABLE


__all__ = ["Table", "TableRow", "get_table", "table_numbers"]
