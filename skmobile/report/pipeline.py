"""Write a table's report: its complexity rows alone (``reproduce --no-train``), or with proxy
accuracy from study records (md/csv/json, conclusions, figures, HTML)."""

from __future__ import annotations

import json
from pathlib import Path

from ..tables import Table, get_table
from ..tables.measure import build_rows
from . import summary, table_proxy
from .paper_table import AccuracySections, write_files
from .study import Record

REPORT_TABLES = (4, 6, 7)


def search_points(table: Table, rows: list[dict], records: list[Record]) -> list[tuple[float, float]]:
    """(MFLOPs, error %) of search trials that are not rows of this table, in this table's MFLOPs range."""
    from . import figures as figs

    labels = {r.label for r in table.rows}
    key = table.flops_key
    xs = [figs._to_mflops((r["measured"] or {}).get(key), key) for r in rows]
    xs = [x for x in xs if x]
    if not xs:
        return []
    lo, hi = min(xs) / 2, max(xs) * 2
    pts = []
    for rec in records:
        if rec.label in labels or rec.macs is None or rec.test_error is None:
            continue
        x = float(rec.macs) / 1e6
        if lo <= x <= hi:
            pts.append((round(x, 4), round(rec.test_error, 4)))
    return sorted(pts)


def write_complexity_report(number: int, out_dir: str | Path = "reports", progress=None) -> tuple[list[dict], list[Path]]:
    """Measure every row of Table ``number`` and write ``out_dir/tableN.{md,csv,json}``; (rows, paths)."""
    table = get_table(number)
    rows = build_rows(table, progress)
    if number in REPORT_TABLES:
        table_proxy.attach(table, rows)
    return rows, write_files(table, rows, out_dir)


CAPTIONS = {
    "pareto": "Error vs full-size MFLOPs in two panels with their own y scales: the paper's ImageNet error at "
              "the paper's FLOPs (left); the proxy's test error, mean and 95% CI over seeds, at the measured "
              "FLOPs, with search trials in this range and their Pareto front when it has two or more points "
              "(right). Numbers are the table's rows.",
    "latency": "Proxy test error (mean, 95% CI over seeds) against each cost of the full-size model, one panel "
               "per cost with its own x axis: measured MFLOPs, then batch-1 CPU latency per runtime (median, "
               "bars from the 10th to the 90th percentile). Each panel's line is the Pareto front over the "
               "table's rows; numbers are the table's rows.",
    "complexity": "Paper vs measured #P and FLOPs of the full-size model; points on the line match.",
    "seeds": "Proxy test error of every seed per row, with the mean and its 95% CI.",
}


def _accuracy(table: Table, records: list[Record], progress, latency):
    """(rows with accuracy and latency attached, per-row records, protocol) of one table."""
    from . import latency_columns as lc
    from .accuracy import attach_accuracy, protocol, table_records
    from .budgets import budgets_present

    rows = build_rows(table, progress)
    table_proxy.attach(table, rows)
    mine = [r for r in records if r.table in (None, table.number)]
    present = budgets_present(mine)
    if len(present) > 1:  # the accuracy column shows one budget's runs: the longest-trained one
        mine = [r for r in mine if r.budget == present[0]]
    per_row = table_records(table, mine)
    attach_accuracy(table, rows, per_row)
    if latency is not None:
        lc.attach(rows, latency, table.flops_key)
    return rows, per_row, protocol(per_row)


def _figures(table: Table, rows: list[dict], records: list[Record], proto: dict, out: Path, has_runs: bool):
    """{kind: {"png": path, ...}} and the order the report shows them in."""
    from . import figures as figs  # matplotlib and scipy: only when a report has accuracy
    from . import latency_columns as lc

    n = table.number
    made = {"complexity": figs.save(figs.complexity(n, rows, table.flops_key), out, f"table{n}_complexity")}
    if has_runs:
        made["pareto"] = figs.save(figs.error_vs_flops(n, rows, table.flops_key, search_points(table, rows, records),
                                                       proto), out, f"table{n}_pareto")
        if lc.runtimes_in(rows):
            made["latency"] = figs.save(figs.error_vs_latency(n, rows, table.flops_key, proto), out,
                                        f"table{n}_pareto_latency")
        made["seeds"] = figs.save(figs.seed_spread(n, rows, proto), out, f"table{n}_seeds")
    return made, [k for k in ("pareto", "latency", "seeds", "complexity") if k in made]


def _metadata(per_row, proto, rows, metadata, latency, rendered_by) -> dict:
    from . import latency_columns as lc
    from .metadata import run_metadata

    meta = dict(metadata) if metadata is not None else run_metadata(per_row, proto, rows)
    meta = {k: v for k, v in meta.items() if not k.startswith("latency ")}  # this rendering's latency, or none
    meta.update(lc.metadata(rows, latency.command if latency is not None else None))
    if rendered_by:  # a re-rendering: the data came from ``command``, the page from ``rendered_by``
        meta["rendered by"] = rendered_by
    return meta


def _write_summary_json(out: Path, table: Table, rows, proto, concl, tstats, meta) -> Path:
    from . import latency_columns as lc

    summary = {"table": table.number, "protocol": proto, "conclusions": concl, "statistics": tstats, "metadata": meta}
    if lc.runtimes_in(rows):
        summary["flops_vs_latency"] = lc.findings(rows, table.flops_key)
    path = out / f"table{table.number}_conclusions.json"
    path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return path


def _write_html(out: Path, table: Table, rows, sections: AccuracySections, figures) -> Path:
    from . import latency_columns as lc
    from .conclusions import verdict_sentence
    from .html import conclusions_html, page, table_html
    from .paper_table import CONVENTIONS_TEXT, caveats, flops_latency_lines, metadata_lines

    proto = sections.protocol
    intro = [f"**{summary.TITLE}**"] + [f"- {x}" for x in sections.summary] + [
        f"Regenerated by: {sections.command}",
        f"Complexity columns: the full-size model ({table.input_size} px, 1000 classes), FLOPs = multiply-adds. "
        f"Accuracy: paper = ImageNet top-1 error; proxy = test error of the small proxy model on "
        f"{proto['dataset']} (budget {proto['budget']}, {proto['epochs']} epochs), mean, 95% CI and sample SD over "
        f"seeds {', '.join(map(str, proto['seeds'])) or '—'}; its level is not comparable with ImageNet."]
    latency_text = lc.paragraph(rows, table.input_size)
    intro += ([latency_text] if latency_text else []) + list(sections.statistics_lines)
    html = page(f"Table {table.number}: {table.title}", intro, table_html(table, rows),
                conclusions_html(sections.conclusions, verdict_sentence), figures, list(table.notes),
                caveats(rows, sections), CONVENTIONS_TEXT, metadata_lines(sections.metadata),
                flops_latency_lines(table, rows))
    path = out / f"table{table.number}.html"
    path.write_text(html)
    return path


def write_table_report(number: int, records: list[Record], out_dir: str | Path, command: str,
                       progress=None, metadata: dict | None = None, rendered_by: str | None = None,
                       latency=None) -> dict:
    """Everything for Table ``number``; returns {"rows", "conclusions", "protocol", "paths"}.

    ``latency`` (a :class:`skmobile.report.latency_columns.RowLatency`) adds the batch-1 CPU latency
    columns, the ratios over the base row, the FLOPs-vs-latency findings and the error-vs-latency figure."""
    from .accuracy import errors_by_label
    from .budgets import budget_resolution, report_lines
    from .conclusions import conclusions, statistics_lines, table_statistics
    from .fairness import shapes_for

    table, out = get_table(number), Path(out_dir)
    rows, per_row, proto = _accuracy(table, records, progress, latency)
    errors = errors_by_label(per_row)
    concl = conclusions(table, errors, shapes_for(table, rows, proto["budget"], proto["dataset"]))
    tstats = table_statistics(table, errors)
    stat_lines = statistics_lines(tstats) + report_lines(
        budget_resolution(table, [r for r in records if r.table in (None, number)]), proto["budget"])
    made, order = _figures(table, rows, records, proto, out, bool(per_row))
    meta = _metadata(per_row, proto, rows, metadata, latency, rendered_by)
    sections = AccuracySections(command, proto, concl, tuple((made[k]["png"].name, CAPTIONS[k]) for k in order),
                                tuple(stat_lines), meta, tuple(summary.summary_lines(table, rows, proto, concl)))
    paths = write_files(table, rows, out, sections)
    cpath = _write_summary_json(out, table, rows, proto, concl, tstats, meta)
    hpath = _write_html(out, table, rows, sections, [(made[k]["png"], CAPTIONS[k]) for k in order])
    all_paths = paths + [cpath, hpath] + [p for k in order for p in made[k].values()]
    return {"rows": rows, "conclusions": concl, "protocol": proto, "paths": all_paths}
