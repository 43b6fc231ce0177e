"""The metadata block of a table report: what code, libraries, hardware, device, threads, dates,
budget, proxy and data set produced its accuracy column. Everything comes from the trials' records
(not from the machine rendering the report), so re-rendering the same study gives the same bytes."""

from __future__ import annotations

from .study import Record

NOT_RECORDED = "not recorded"


def _joined(values) -> str:
    vals = sorted({str(v) for v in values if v not in (None, "", {})})
    return ", ".join(vals) if vals else NOT_RECORDED


def _versions(recs: list[Record]) -> str:
    seen = sorted({", ".join(f"{k} {v}" for k, v in sorted(m["versions"].items()))
                   for r in recs for m in [r.meta or {}] if isinstance(m.get("versions"), dict)})
    return "; ".join(seen) if seen else NOT_RECORDED


def _dates(recs: list[Record]) -> str:
    days = sorted({(r.meta or {}).get("date") for r in recs} - {None})
    if not days:
        return NOT_RECORDED
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def run_metadata(per_row: dict[str, list[Record]], protocol: dict, rows: list[dict]) -> dict:
    """Ordered {name: text} for the report's metadata block (markdown, HTML and JSON)."""
    from ..train.proxy_shape import shape_text

    recs = [r for rs in per_row.values() for r in rs]
    shapes = sorted({shape_text(((r["measured"] or {}).get("proxy"))) for r in rows
                     if (r["measured"] or {}).get("top1_err") is not None})
    shapes = [s for s in shapes if s != "—"]
    meta = (lambda key: _joined((r.meta or {}).get(key) for r in recs))
    return {
        "git commit": meta("git_commit"),
        "library versions": _versions(recs),
        "hardware": meta("hardware"),
        "device": meta("device"),
        "threads": meta("threads"),
        "date (trials finished)": _dates(recs),
        "budget": protocol.get("budget") or NOT_RECORDED,
        "epochs": protocol.get("epochs") or NOT_RECORDED,
        "data set": protocol.get("dataset") or NOT_RECORDED,
        "proxy shape": ("; ".join(shapes) if len(shapes) <= 2 else "per row, see the proxy net column")
        if shapes else NOT_RECORDED,
        "studies": ", ".join(protocol.get("studies", [])) or NOT_RECORDED,
    }
