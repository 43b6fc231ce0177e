"""Attach proxy accuracy (mean, SD and 95% CI over seeds) from study records to a table's measured rows."""

from __future__ import annotations

from ..tables import Table
from .stats import rnd, summarize
from .study import Record


def table_records(table: Table, records: list[Record]) -> dict[str, list[Record]]:
    """Records of this table's rows, by row label; one per seed (the latest run of a seed wins)."""
    labels = {r.label for r in table.rows if not r.reference_only}
    by_label: dict[str, dict] = {}
    for rec in records:
        if rec.label not in labels or rec.test_error is None:
            continue
        if rec.table is not None and rec.table != table.number:
            continue
        by_label.setdefault(rec.label, {})[rec.seed] = rec
    return {lab: [d[s] for s in sorted(d, key=lambda s: (s is None, s or 0))] for lab, d in by_label.items()}


def errors_by_label(per_row: dict[str, list[Record]]) -> dict[str, list[float]]:
    return {lab: [r.test_error for r in recs] for lab, recs in per_row.items()}


def _one(values) -> str | None:
    vals = sorted({v for v in values if v is not None}, key=str)
    return ", ".join(str(v) for v in vals) if vals else None


def protocol(per_row: dict[str, list[Record]]) -> dict:
    """Data set, budget, epochs and seeds behind the accuracy column (joined when rows differ)."""
    recs = [r for rs in per_row.values() for r in rs]
    return {"dataset": _one(r.dataset for r in recs), "budget": _one(r.budget for r in recs),
            "epochs": _one(r.epochs for r in recs), "seeds": sorted({r.seed for r in recs if r.seed is not None}),
            "studies": sorted({r.study for r in recs}), "runs": len(recs)}


def proxy_shape(recs: list[Record]) -> dict:
    """The trained proxy's parameters, MACs and stage maps over a row's runs (None where not recorded;
    the runs of one row and budget build the same network, so the first recorded one stands)."""
    def first(values):
        return next((v for v in values if v is not None), None)

    maps = first(r.proxy_maps for r in recs)
    return {"params": first(r.proxy_params for r in recs), "macs": first(r.proxy_macs for r in recs),
            "stage_maps": list(maps) if maps else None}


def attach_accuracy(table: Table, rows: list[dict], per_row: dict[str, list[Record]]) -> None:
    """Add measured top1_err (mean), std, n, per-seed values, data set and budget to each row."""
    for row in rows:
        recs = per_row.get(row["label"])
        if not recs or row["measured"] is None:
            continue
        s = summarize([r.test_error for r in recs])
        m = row["measured"]
        m["top1_err"], m["top1_err_std"], m["top1_err_n"] = s.mean, s.std, s.n
        m["top1_err_ci95"] = [s.ci_lo, s.ci_hi] if s.ci_lo is not None else None
        m["top1_err_seeds"] = [{"seed": r.seed, "top1_err": rnd(r.test_error)} for r in recs]
        p = protocol({row["label"]: recs})
        m["proxy"] = {"dataset": p["dataset"], "budget": p["budget"], "epochs": p["epochs"], **proxy_shape(recs)}
        m["convention"]["top1_err"] = f"proxy test error (%) on {p['dataset']}, budget {p['budget']}"
