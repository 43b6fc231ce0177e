"""Render a paper table's measured rows as ``tableN.md`` (GitHub markdown), ``tableN.csv`` and
``tableN.json`` (the rows as :func:`skmobile.tables.measure.build_rows` returns them).

With training results the rows also hold the proxy ``top1_err`` (mean over seeds), ``top1_err_std``,
``top1_err_n``, ``top1_err_seeds`` and ``proxy`` (data set, budget, epochs); the markdown then gains
the accuracy column and the :class:`AccuracySections` (protocol, conclusions, figures).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from ..tables import Table
from ..tables.measure import UNITS
from . import table_proxy

_LABELS = {"params_m": "#P (M)", "gflops": "GFLOPs", "mflops": "MFLOPs", "top1_err": "top-1 err (%)",
           "cifar10_err": "CIFAR-10 err (%)", "cifar100_err": "CIFAR-100 err (%)"}


@dataclass(frozen=True)
class AccuracySections:
    """What a table report with proxy accuracy adds to the markdown."""

    command: str                         # the command that regenerates the report
    protocol: dict                       # data set, budget, epochs, seeds (report.accuracy.protocol)
    conclusions: list                    # the paper's claims with verdicts (report.conclusions)
    figures: tuple[tuple[str, str], ...] = ()   # (file name, caption), in order
    statistics_lines: tuple[str, ...] = ()      # rank agreement and resolving power (report.conclusions)
    metadata: dict | None = None         # commit, versions, hardware, device, ... (report.metadata)
    summary: tuple[str, ...] = ()        # the one-screen summary the report opens with (report.summary)


def _fmt(v, nd=3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _columns(table: Table) -> list[str]:
    keys = ["params_m"] + ([table.flops_key] if table.flops_key else [])
    accuracy = [k for k in ("top1_err", "cifar10_err", "cifar100_err") if any(k in r.paper for r in table.rows)]
    return keys + accuracy


def _has_accuracy(rows: list[dict]) -> bool:
    return any(r["measured"] and r["measured"].get("top1_err") is not None for r in rows)


def _proxy_cell(m: dict | None) -> str:
    if not m or m.get("top1_err") is None:
        return "—"
    std, ci = m.get("top1_err_std"), m.get("top1_err_ci95")
    ci_txt = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "[—]"
    return f"{m['top1_err']:.2f} {ci_txt} SD {'—' if std is None else f'{std:.2f}'} (n={m['top1_err_n']})"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and how to show it ("code": a model name, "bad": a diff that does not
    round to the paper's value)."""

    text: str
    style: str | None = None


CONVENTIONS_TEXT = ("Conventions: params `learnable` = trainable parameters (BN gamma/beta included); "
                    "`learnable+bn_stats` adds BN running mean/var. FLOPs `paper` = conv + fc MACs + M per SK "
                    "output element (the weighted sum); `paper+bn` adds one per BN output element (the SENet "
                    "paper's convention, which the SKNet paper copied for its ResNeXt/SENet rows).")


def table_cells(table: Table, rows: list[dict]) -> tuple[list[str], list[list[Cell]]]:
    """(header, one list of cells per row): the one table both the markdown and the HTML show."""
    from ..train.proxy_shape import shape_text
    from . import latency_columns as lc

    keys = _columns(table)
    cx = [k for k in keys if k in UNITS]
    acc = [k for k in keys if k not in UNITS]
    proxy = _has_accuracy(rows)
    runtimes = lc.runtimes_in(rows)
    head = ["Row", "Model"]
    for k in cx:
        head += [f"{_LABELS[k]} paper", "measured", "diff"]
    head += [lc.header(rt) for rt in runtimes]
    head += [f"{_LABELS[k]} paper" + (" (ImageNet)" if k == "top1_err" else "") for k in acc]
    if proxy:
        head += ["proxy err (%) mean [95% CI] SD (n)", "proxy net: #P, MACs, stage maps"]
    head += ["conventions", "note"]
    body = []
    for r in rows:
        cells = [Cell(r["label"]), Cell(r["model"], "code") if r["model"] else Cell("(reference only)")]
        for k in cx:
            p = r["paper"].get(k)
            m = r["measured"].get(k) if r["measured"] else None
            d = r["diff"].get(k + "_pct") if r["diff"] else None
            nd = table.precision.get(k, 2) + 2
            bad = bool(r["match"] and r["match"].get(k) is False)
            cells += [Cell(_fmt(p, table.precision.get(k, 2)) if p is not None else "—"), Cell(_fmt(m, nd)),
                      Cell("—" if d is None else f"{d:+.2f}%", "bad" if bad else None)]
        lat = (r["measured"] or {}).get("latency") or {}
        cells += [Cell(lc.cell(lat.get(rt))) for rt in runtimes]
        cells += [Cell(_fmt(r["paper"].get(k), 2)) for k in acc]
        if proxy:
            cells += [Cell(_proxy_cell(r["measured"])), Cell(shape_text((r["measured"] or {}).get("proxy")))]
        conv = {k: v for k, v in (r["measured"]["convention"] if r["measured"] else {}).items() if k in UNITS}
        cells.append(Cell(", ".join(f"{_LABELS[k].split(' ')[0]}: {v}" for k, v in conv.items()) or "—"))
        cells.append(Cell(r["note"] or ""))
        body.append(cells)
    return head, body


def delta_cells(table: Table, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """"Cost over the base row (paper vs measured)": (header, rows); no rows when the table has none."""
    from . import latency_columns as lc

    cx = [k for k in _columns(table) if k in UNITS]
    head = ["Row", "vs"] + [h for k in cx for h in (f"Δ{_LABELS[k]} paper", "Δ measured")]
    runtimes = lc.runtimes_in(rows)
    if runtimes:  # ratios of the measured cost over the base row: FLOPs beside latency
        head += [f"{_LABELS.get(table.flops_key, 'FLOPs').split(' ')[0]} ratio measured"] + \
                [f"latency ratio {rt}" for rt in runtimes]
    body = []
    for r in rows:
        d = r.get("delta_vs")
        if not d:
            continue
        cells = [r["label"], d["baseline"]]
        for k in cx:
            cells += [f"{d[k]['paper']:+.3f}", f"{d[k]['measured']:+.3f}"] if k in d else ["—", "—"]
        if runtimes:
            ratio = d.get("ratio") or {}
            cells += ["—" if ratio.get(k) is None else f"{ratio[k]:.3f}x" for k in ["flops", *runtimes]]
        body.append(cells)
    return head, body


def caveats(rows: list[dict], sections: "AccuracySections | None") -> list[str]:
    """What a reader must know before trusting the accuracy column (empty without one)."""
    if sections is None or not _has_accuracy(rows):
        return []
    out = ["Proxy and ImageNet errors are not comparable in level: the proxy is a smaller network trained on "
           "another data set for a short budget."]
    if sections.conclusions:
        out.append("An *inconclusive* verdict means the proxy cannot tell at this run's resolving power, not that "
                   "the claim is false.")
    small = sorted({r["label"] for r in rows
                    if ((r["measured"] or {}).get("proxy") or {}).get("stage_maps") is None
                    and (r["measured"] or {}).get("top1_err") is not None})
    if small:
        budgets = sorted({str(((r["measured"] or {}).get("proxy") or {}).get("budget")) for r in rows
                          if r["label"] in small})
        out.append(f"The proxy's own size was not recorded for {len(small)} row(s) (budget {', '.join(budgets)}; runs "
                   "made before skmobile recorded it): their proxy net column shows —, so this report cannot show "
                   "which network each of them trained, nor whether the rows it compares were complexity-matched in "
                   "the proxy. Rerunning the report's command on a fresh storage trains and records it.")
    return out


def flops_latency_lines(table: Table, rows: list[dict]) -> list[str]:
    """[the rule, one finding per runtime, the Pareto fronts] when rows carry latency; else []."""
    from . import disagreement
    from . import latency_columns as lc

    if not lc.runtimes_in(rows):
        return []
    out = [disagreement.rule()]
    out += lc.finding_lines(rows, table.flops_key)
    front = lc.front_line(rows, table.flops_key)
    return out + ([front] if front else [])


def metadata_lines(meta: dict | None) -> list[str]:
    """The run metadata as "key: value" lines, sorted by key as the JSON stores them (markdown and HTML
    show the same)."""
    return [f"{k}: {v}" for k, v in sorted((meta or {}).items())]


def conclusion_lines(sections: AccuracySections) -> list[str]:
    """The "Does the paper's conclusion hold on the proxy?" section, its test, statistics and figures."""
    from .conclusions import verdict_sentence
    from .sentences import detail_sentences

    lines = ["", "## Does the paper's conclusion hold on the proxy?", ""]
    for c in sections.conclusions:
        lines.append(f"- **{c['claim']}: {c['verdict']}**")
        for x in c["comparisons"]:
            lines.append(f"  - {x['verdict']}: {verdict_sentence(x)}")
            lines += [f"    - {d}" for d in detail_sentences(x)]
    if sections.conclusions:
        lines += ["", f"Test: {sections.conclusions[0]['test']}."]
        for sentence in sections.statistics_lines:
            lines += ["", sentence]
    else:
        lines.append("No claim of the paper is tested for this table.")
    for name, caption in sections.figures:
        lines += ["", f"![{caption}]({name})"]
    return lines


def to_markdown(table: Table, rows: list[dict], sections: AccuracySections | None = None) -> str:
    """The table as GitHub markdown; ``sections`` (a report with proxy accuracy) add the protocol,
    the conclusions, the figures, the caveats and the run metadata."""
    proxy = _has_accuracy(rows)
    head, body = table_cells(table, rows)
    command = sections.command if sections else f"skmobile reproduce --table {table.number} --no-train"
    lines = [f"# Table {table.number}: {table.title}", ""]
    if sections is not None and sections.summary:
        from .summary import TITLE

        lines += [f"## {TITLE}", ""] + [f"- {x}" for x in sections.summary] + [""]
    lines += [f"Complexity of the full-size model ({table.input_size} px input); FLOPs are multiply-adds. "
             f"Regenerated by `{command}`. A diff in **bold** does not round to the paper's printed value."]
    if proxy:
        p = sections.protocol if sections else {}
        lines += ["", f"Accuracy: the paper's column is ImageNet top-1 error; the proxy column is the test "
                  f"error of the small proxy model trained on **{p.get('dataset')}** with budget "
                  f"**{p.get('budget')}** ({p.get('epochs')} epochs): mean, t-based 95% confidence interval and sample SD "
                  f"over seeds {', '.join(map(str, p.get('seeds', [])))} (n per row shown). Proxy and ImageNet "
                  "errors are not comparable in level; how far their rankings agree is measured below."]
    from . import latency_columns as lc

    latency_text = lc.paragraph(rows, table.input_size)
    if latency_text:
        lines += ["", latency_text]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cells in body:
        shown = [f"`{c.text}`" if c.style == "code" else f"**{c.text}**" if c.style == "bad" else c.text
                 for c in cells]
        lines.append("| " + " | ".join(shown) + " |")
    dhead, dbody = delta_cells(table, rows)
    if dbody:
        lines += ["", "## Cost over the base row (paper vs measured)", "",
                  "| " + " | ".join(dhead) + " |", "|" + "---|" * len(dhead)]
        lines += ["| " + " | ".join(cells) + " |" for cells in dbody]
    intro, phead, pbody = table_proxy.cells(table, rows)
    if pbody:
        lines += ["", f"## {table_proxy.TITLE}", "", intro, "",
                  "| " + " | ".join(phead) + " |", "|" + "---|" * len(phead)]
        lines += ["| " + " | ".join(cells) + " |" for cells in pbody]
    flops_latency = flops_latency_lines(table, rows)
    if flops_latency:
        lines += ["", "## FLOPs vs latency", "", flops_latency[0], ""] + [f"- {x}" for x in flops_latency[1:]]
    if sections is not None:
        lines += conclusion_lines(sections)
    notes = caveats(rows, sections)
    if notes:
        lines += ["", "## Caveats", ""] + [f"- {n}" for n in notes]
    if table.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in table.notes]
    lines += ["", CONVENTIONS_TEXT]
    if sections is not None and sections.metadata:
        lines += ["", "## Run metadata", ""] + [f"- {x}" for x in metadata_lines(sections.metadata)]
    return "\n".join(lines) + "\n"


def _opt(v) -> str:
    return "" if v is None else f"{v:.4f}"


def to_csv(table: Table, rows: list[dict]) -> str:
    keys = _columns(table)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["label", "model", "spec"]
    for k in keys:
        header += [f"paper_{k}"] + ([f"measured_{k}", f"diff_{k}_pct", f"convention_{k}"] if k in UNITS else [])
    from . import latency_columns as lc

    runtimes = lc.runtimes_in(rows)
    header += [f"latency_{rt}_{q}" for rt in runtimes for q in ("ms", "p10_ms", "p90_ms")]
    proxy = _has_accuracy(rows)
    if proxy:
        header += ["measured_top1_err", "top1_err_std", "top1_err_n", "top1_err_seeds", "dataset", "budget", "epochs",
                   "proxy_params", "proxy_macs", "proxy_stage_maps"]
    table_budget = any(r.get("table_proxy") for r in rows)
    if table_budget:
        header += ["table_proxy_params", "table_proxy_macs", "table_proxy_stage_maps", "table_proxy_map_rule_kept"]
    header.append("note")
    w.writerow(header)
    for r in rows:
        line = [r["label"], r["model"] or "", json.dumps(r["spec"], sort_keys=True) if r["spec"] else ""]
        for k in keys:
            line.append(r["paper"].get(k, ""))
            if k in UNITS:
                m = r["measured"] or {}
                line += [m.get(k, ""), (r["diff"] or {}).get(k + "_pct", ""), m.get("convention", {}).get(k, "")]
        lat = (r["measured"] or {}).get("latency") or {}
        line += ["" if (lat.get(rt) or {}).get(q) is None else lat[rt][q]
                 for rt in runtimes for q in ("ms", "p10_ms", "p90_ms")]
        if proxy:
            m = r["measured"] or {}
            px = m.get("proxy") or {}
            seeds = " ".join(f"{s['seed']}:{s['top1_err']:.4f}" for s in m.get("top1_err_seeds", []))
            line += [_opt(m.get("top1_err")), _opt(m.get("top1_err_std")), m.get("top1_err_n", ""), seeds,
                     px.get("dataset") or "", px.get("budget") or "", px.get("epochs") or "",
                     "" if px.get("params") is None else int(px["params"]),
                     "" if px.get("macs") is None else int(px["macs"]),
                     "/".join(map(str, px.get("stage_maps") or []))]
        if table_budget:
            tp = r.get("table_proxy") or {}
            line += [tp.get("params", ""), tp.get("macs", ""), "/".join(map(str, tp.get("stage_maps") or [])),
                     "" if tp.get("map_rule") is None else not tp["map_rule"]]
        line.append(r["note"] or "")
        w.writerow(line)
    return buf.getvalue()


def write_files(table: Table, rows: list[dict], out_dir: str | Path,
                sections: AccuracySections | None = None) -> list[Path]:
    """Write ``out_dir/tableN.{md,csv,json}`` (byte-stable: no timestamps, sorted keys)."""
    number = table.number
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, text in (("md", to_markdown(table, rows, sections)), ("csv", to_csv(table, rows)),
                      ("json", json.dumps(rows, indent=1, sort_keys=True) + "\n")):
        path = out / f"table{number}.{ext}"
        path.write_text(text)
        paths.append(path)
    return paths
