"""Measure a paper table's rows: each row's model built at full size and profiled under the
convention the row names (:mod:`skmobile.profile`), beside the paper's cells.

:func:`build_rows` returns one plain dict per row (``label``, ``model``, ``spec``, ``group``,
``paper``, ``measured`` with its ``convention``, ``diff``, ``match``, ``note`` and, for rows with a
base row, ``delta_vs``): the stable schema of ``reports/tableN.json``. :mod:`skmobile.report`
renders them and adds proxy accuracy.
"""

from __future__ import annotations

import copy
import json

from ..profile import profile_model
from ._table import Table, TableRow

#: Divisor of each complexity cell (params in millions, FLOPs in G or M multiply-adds).
UNITS = {"params_m": 1e6, "gflops": 1e9, "mflops": 1e6}


_CACHE: dict[tuple, dict] = {}


def measure_row(row: TableRow, table: Table) -> dict:
    """Measured complexity of one row: {params_m, gflops|mflops, convention: {cell: convention}}."""
    key = (table.number, table.input_size, row.label, row.model, json.dumps(row.kwargs, sort_keys=True),
           row.params_convention, row.flops_convention)
    if key not in _CACHE:
        _CACHE[key] = _measure_row(row, table)
    return copy.deepcopy(_CACHE[key])


def _measure_row(row: TableRow, table: Table) -> dict:
    kwargs = dict(row.kwargs)
    kwargs.setdefault("num_classes", 1000)
    flops_convention = row.flops_convention
    c = profile_model(row.model, input_size=table.input_size, convention=flops_convention,
                      bn_stats=row.params_convention == "learnable+bn_stats", **kwargs)
    measured = {"params_m": round(c.params_counted / 1e6, 4)}
    convention = {"params_m": row.params_convention}
    if table.flops_key:
        measured[table.flops_key] = round(c.macs / UNITS[table.flops_key], 4)
        convention[table.flops_key] = flops_convention
    measured["convention"] = convention
    return measured


def _rounds_to(value: float, paper: float, decimals: int) -> bool:
    return round(value + 1e-12, decimals) == round(paper, decimals)


def build_rows(table: Table, progress=None) -> list[dict]:
    rows = []
    for row in table.rows:
        if progress:
            progress(row.label)
        record = {"label": row.label, "model": row.model, "spec": row.kwargs or None,
                  "group": row.group or None, "paper": dict(row.paper), "measured": None, "diff": None,
                  "match": None, "note": row.note or None}
        if not row.reference_only:
            measured = measure_row(row, table)
            record["measured"] = measured
            diff, match = {}, {}
            for key in ("params_m", table.flops_key):
                if key and key in row.paper and key in measured:
                    delta = measured[key] - row.paper[key]
                    diff[key] = round(delta, 4)
                    diff[key + "_pct"] = round(100 * delta / row.paper[key], 2)
                    match[key] = _rounds_to(measured[key], row.paper[key], table.precision.get(key, 2))
            record["diff"], record["match"] = diff, match
        rows.append(record)
    _add_deltas(table, rows)
    return rows


def _add_deltas(table: Table, rows: list[dict]) -> None:
    """For rows with a baseline: the cost over it, paper vs measured (what SK or SE adds)."""
    by_label = {r["label"]: r for r in rows}
    for row, record in zip(table.rows, rows):
        base = by_label.get(row.baseline) if row.baseline else None
        if not base or not record["measured"] or not base["measured"]:
            continue
        delta = {}
        for key in ("params_m", table.flops_key):
            if key and key in record["paper"] and key in base["paper"]:
                delta[key] = {"paper": round(record["paper"][key] - base["paper"][key], 4),
                              "measured": round(record["measured"][key] - base["measured"][key], 4)}
        record["delta_vs"] = {"baseline": row.baseline, **delta}


__all__ = ["UNITS", "build_rows", "measure_row"]
