"""Rebuild a paper table's rows, measure them, and write them beside the paper's numbers.

Complexity columns describe the full-size model of each row (224 px, 1000 classes unless the table
says otherwise), each cell under the convention the row names (see :mod:`skmobile.profile`).
Output: ``tableN.md`` (GitHub-renderable), ``tableN.csv`` and ``tableN.json`` (a stable interface:
a list of rows with ``label``, ``model``, ``paper``, ``measured`` (with ``convention``), ``diff``).
With training results (:mod:`skmobile.report`), ``measured`` also holds the proxy ``top1_err`` (mean
over seeds), ``top1_err_std``, ``top1_err_n``, ``top1_err_seeds`` and ``proxy`` (data set, budget,
epochs); the markdown then gains the accuracy column, the protocol and the conclusions.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

from .profile import profile_model
from .tables import Table, TableRow, get_table

_UNITS = {"params_m": 1e6, "gflops": 1e9, "mflops": 1e6}
_LABELS = {"params_m": "#P (M)", "gflops": "GFLOPs", "mflops": "MFLOPs", "top1_err": "top-1 err (%)",
           "cifar10_err": "CIFAR-10 err (%)", "cifar100_err": "CIFAR-100 err (%)"}


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
        measured[table.flops_key] = round(c.macs / _UNITS[table.flops_key], 4)
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


def _fmt(v, nd=3) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _columns(table: Table) -> list[str]:
    keys = ["params_m"] + ([table.flops_key] if table.flops_key else [])
    extra = [k for k in ("top1_err", "cifar10_err", "cifar100_err") if any(k in r.paper for r in table.rows)]
    return keys + extra


def _has_accuracy(rows: list[dict]) -> bool:
    return any(r["measured"] and r["measured"].get("top1_err") is not None for r in rows)


def _proxy_cell(m: dict | None) -> str:
    if not m or m.get("top1_err") is None:
        return "—"
    std, ci = m.get("top1_err_std"), m.get("top1_err_ci95")
    ci_txt = f"[{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "[—]"
    return f"{m['top1_err']:.2f} {ci_txt} SD {'—' if std is None else f'{std:.2f}'} (n={m['top1_err_n']})"


def to_markdown(table: Table, rows: list[dict], extra: dict | None = None) -> str:
    """The table as GitHub markdown; ``extra`` (from skmobile.report) adds accuracy sections."""
    extra = extra or {}
    keys = _columns(table)
    cx = [k for k in keys if k in _UNITS]
    acc = [k for k in keys if k not in _UNITS]
    proxy = _has_accuracy(rows)
    head = ["Row", "Model"]
    for k in cx:
        head += [f"{_LABELS[k]} paper", "measured", "diff"]
    head += [f"{_LABELS[k]} paper" + (" (ImageNet)" if k == "top1_err" else "") for k in acc]
    if proxy:
        head.append("proxy err (%) mean [95% CI] SD (n)")
    head += ["conventions", "note"]
    command = extra.get("command") or f"skmobile reproduce --table {table.number} --no-train"
    lines = [f"# Table {table.number}: {table.title}", "",
             f"Complexity of the full-size model ({table.input_size} px input); FLOPs are multiply-adds. "
             f"Regenerated by `{command}`. A diff in **bold** does not round to the paper's printed value."]
    if proxy:
        p = extra.get("protocol") or {}
        lines += ["", f"Accuracy: the paper's column is ImageNet top-1 error; the proxy column is the test "
                  f"error of the small proxy model trained on **{p.get('dataset')}** with budget "
                  f"**{p.get('budget')}** ({p.get('epochs')} epochs): mean, t-based 95% confidence interval and sample SD "
                  f"over seeds {', '.join(map(str, p.get('seeds', [])))} (n per row shown). Proxy and ImageNet "
                  "errors are not comparable in level; how far their rankings agree is measured below."]
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["label"], f"`{r['model']}`" if r["model"] else "(reference only)"]
        for k in cx:
            p = r["paper"].get(k)
            m = r["measured"].get(k) if r["measured"] else None
            d = r["diff"].get(k + "_pct") if r["diff"] else None
            nd = table.precision.get(k, 2) + 2
            dtxt = "—" if d is None else f"{d:+.2f}%"
            if r["match"] and r["match"].get(k) is False:
                dtxt = f"**{dtxt}**"
            cells += [_fmt(p, table.precision.get(k, 2)) if p is not None else "—", _fmt(m, nd), dtxt]
        cells += [_fmt(r["paper"].get(k), 2) for k in acc]
        if proxy:
            cells.append(_proxy_cell(r["measured"]))
        conv = {k: v for k, v in (r["measured"]["convention"] if r["measured"] else {}).items() if k in _UNITS}
        cells.append(", ".join(f"{_LABELS[k].split(' ')[0]}: {v}" for k, v in conv.items()) or "—")
        cells.append(r["note"] or "")
        lines.append("| " + " | ".join(cells) + " |")
    deltas = [r for r in rows if r.get("delta_vs")]
    if deltas:
        lines += ["", "## Cost over the base row (paper vs measured)", "",
                  "| Row | vs | " + " | ".join(f"Δ{_LABELS[k]} paper | Δ measured" for k in cx) + " |",
                  "|---|---|" + "---|---|" * len(cx)]
        for r in deltas:
            d = r["delta_vs"]
            cells = [r["label"], d["baseline"]]
            for k in cx:
                cells += [f"{d[k]['paper']:+.3f}", f"{d[k]['measured']:+.3f}"] if k in d else ["—", "—"]
            lines.append("| " + " | ".join(cells) + " |")
    if "conclusions" in extra:
        lines += ["", "## Does the paper's conclusion hold on the proxy?", ""]
        for c in extra["conclusions"]:
            lines.append(f"- **{c['claim']}: {c['verdict']}**")
            for x in c["comparisons"]:
                paper = "—" if x["paper_diff_pp"] is None else f"{x['paper_diff_pp']:+.2f} pp"
                lines.append(f"  - {x['verdict']}: {extra['sentence'](x)} Paper (ImageNet): {paper}.")
        if extra["conclusions"]:
            lines += ["", f"Test: {extra['conclusions'][0]['test']}. An *inconclusive* verdict means the proxy "
                      "cannot tell at this run's resolving power, not that the claim is false."]
            for sentence in extra.get("statistics_lines", []):
                lines += ["", sentence]
        else:
            lines.append("No claim of the paper is tested for this table.")
    for name, caption in extra.get("figures", []):
        lines += ["", f"![{caption}]({name})"]
    if table.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in table.notes]
    lines += ["", "Conventions: params `learnable` = trainable parameters (BN gamma/beta included); "
              "`learnable+bn_stats` adds BN running mean/var. FLOPs `paper` = conv + fc MACs + M per SK "
              "output element (the weighted sum); `paper+bn` adds one per BN output element (the SENet "
              "paper's convention, which the SKNet paper copied for its ResNeXt/SENet rows)."]
    return "\n".join(lines) + "\n"


def _opt(v) -> str:
    return "" if v is None else f"{v:.4f}"


def to_csv(table: Table, rows: list[dict]) -> str:
    keys = _columns(table)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["label", "model", "spec"]
    for k in keys:
        header += [f"paper_{k}"] + ([f"measured_{k}", f"diff_{k}_pct", f"convention_{k}"] if k in _UNITS else [])
    proxy = _has_accuracy(rows)
    if proxy:
        header += ["measured_top1_err", "top1_err_std", "top1_err_n", "top1_err_seeds", "dataset", "budget", "epochs"]
    header.append("note")
    w.writerow(header)
    for r in rows:
        line = [r["label"], r["model"] or "", json.dumps(r["spec"], sort_keys=True) if r["spec"] else ""]
        for k in keys:
            line.append(r["paper"].get(k, ""))
            if k in _UNITS:
                m = r["measured"] or {}
                line += [m.get(k, ""), (r["diff"] or {}).get(k + "_pct", ""), m.get("convention", {}).get(k, "")]
        if proxy:
            m = r["measured"] or {}
            px = m.get("proxy") or {}
            seeds = " ".join(f"{s['seed']}:{s['top1_err']:.4f}" for s in m.get("top1_err_seeds", []))
            line += [_opt(m.get("top1_err")), _opt(m.get("top1_err_std")), m.get("top1_err_n", ""), seeds,
                     px.get("dataset") or "", px.get("budget") or "", px.get("epochs") or ""]
        line.append(r["note"] or "")
        w.writerow(line)
    return buf.getvalue()


def write_files(table: Table, rows: list[dict], out_dir: str | Path, extra: dict | None = None) -> list[Path]:
    """Write ``out_dir/tableN.{md,csv,json}`` (byte-stable: no timestamps, sorted keys)."""
    number = table.number
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext, text in (("md", to_markdown(table, rows, extra)), ("csv", to_csv(table, rows)),
                      ("json", json.dumps(rows, indent=1, sort_keys=True) + "\n")):
        path = out / f"table{number}.{ext}"
        path.write_text(text)
        paths.append(path)
    return paths


def reproduce(number: int, out_dir: str | Path = "reports", progress=None) -> tuple[list[dict], list[Path]]:
    """Measure every row of Table ``number`` and write ``out_dir/tableN.{md,csv,json}``."""
    table = get_table(number)
    rows = build_rows(table, progress)
    return rows, write_files(table, rows, out_dir)
