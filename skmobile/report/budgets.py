"""Resolving power of a table's runs per budget: each row's seed SD against the table budget's target,
the smallest detectable difference, and rank agreement (Kendall tau) between budgets and with the paper.
The statistics themselves are :mod:`skmobile.report.stats`'s; this module only groups runs by budget."""

from __future__ import annotations

from ..tables import Table
from .accuracy import table_records
from .study import Record

#: Which budget's runs fill the accuracy column when a study holds several (longest training first).
BUDGET_PREFERENCE = ("table", "default", "trial")


def budgets_present(records: list[Record]) -> list[str]:
    """The budgets among ``records``, most preferred first (unknown names last, sorted)."""
    found = {r.budget for r in records if r.budget}
    return [b for b in BUDGET_PREFERENCE if b in found] + sorted(found - set(BUDGET_PREFERENCE))


def budget_resolution(table: Table, records: list[Record]) -> dict:
    """{"budgets": {name: per-row SDs, pooled SD, smallest detectable difference, rank agreement with
    the paper}, "between": [{a, b, kendall_tau, ...}]} for this table's grid runs."""
    import numpy as np

    from ..train.proxy import TABLE_SD_TARGET_PP
    from .conclusions import table_statistics
    from .stats import rank_agreement, rnd

    out: dict = {"sd_target_pp": TABLE_SD_TARGET_PP, "budgets": {}, "between": []}
    means: dict[str, dict[str, float]] = {}
    for budget in budgets_present([r for r in records if r.table in (None, table.number)]):
        per_row = table_records(table, [r for r in records if r.budget == budget])
        errors = {lab: [r.test_error for r in recs] for lab, recs in per_row.items()}
        rows = []
        for row in table.rows:
            vals = errors.get(row.label)
            if not vals:
                continue
            sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            rows.append({"label": row.label, "n": len(vals), "mean": rnd(float(np.mean(vals))), "sd_pp": rnd(sd),
                         "meets_target": None if sd is None else sd <= TABLE_SD_TARGET_PP})
        means[budget] = {r["label"]: r["mean"] for r in rows}
        out["budgets"][budget] = {"rows": rows, "statistics": table_statistics(table, errors)}
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            common = [lab for lab in means[a] if lab in means[b]]
            agree = rank_agreement([means[a][x] for x in common], [means[b][x] for x in common])
            out["between"].append({"a": a, "b": b, **agree})
    return out


def resolution_lines(res: dict) -> list[str]:
    """Plain lines for the terminal and the report: per-row SD, detectable difference, rank agreement."""
    lines = []
    target = res["sd_target_pp"]
    for budget, part in res["budgets"].items():
        rows = part["rows"]
        st = part["statistics"]
        over = [r for r in rows if r["meets_target"] is False]
        lines.append(f"Budget {budget}: seed SD per row (pp; the table budget's target is <= {target:g}):")
        for r in rows:
            sd = "—" if r["sd_pp"] is None else f"{r['sd_pp']:.2f}"
            flag = "" if r["meets_target"] is None else (" ok" if r["meets_target"] else " ABOVE TARGET")
            lines.append(f"  {r['label']}: mean {r['mean']:.2f}%, SD {sd} (n={r['n']}){flag}")
        mdd = st.get("min_detectable_diff_pp")
        lines.append(f"  {len(over)} of {len(rows)} rows above the SD target; smallest detectable difference "
                     + ("not computable (fewer than 2 seeds per row)" if mdd is None else
                        f"{mdd:.2f} pp (alpha={st['alpha']:g}, power {st['power']:g}, {st['seeds_per_row']} seeds per "
                        f"row; {st['min_detectable_diff_holm_pp']:.2f} pp at the strictest Holm step)"))
        ra = st["rank_agreement_with_paper"]
        lines.append("  rank agreement with the paper: " + (
            f"not computable ({ra['n']} rows)" if ra["kendall_tau"] is None else
            f"Kendall tau {ra['kendall_tau']:+.2f} (p={ra['kendall_p']:.3g}), Spearman {ra['spearman']:+.2f} "
            f"over {ra['n']} rows"))
    for pair in res["between"]:
        lines.append(f"Rank agreement between budgets {pair['a']} and {pair['b']}: " + (
            f"not computable ({pair['n']} common rows)" if pair["kendall_tau"] is None else
            f"Kendall tau {pair['kendall_tau']:+.2f} (p={pair['kendall_p']:.3g}) over {pair['n']} rows"))
    if not res["between"]:
        lines.append("Rank agreement between budgets: the study holds one budget only.")
    return lines


def report_lines(res: dict, shown: str | None) -> list[str]:
    """The report's short form: how many rows of the shown budget miss the SD target, and the rank
    agreement between budgets (per-row SDs are in the table itself)."""
    lines = []
    part = res["budgets"].get(shown)
    if part:
        rows = [r for r in part["rows"] if r["meets_target"] is not None]
        over = [r["label"] for r in rows if not r["meets_target"]]
        lines.append(f"Seed SD against the table budget's target (<= {res['sd_target_pp']:g} pp): {len(over)} of "
                     f"{len(rows)} rows above it" + (f" ({', '.join(over)})." if over else "."))
    for pair in res["between"]:
        lines.append(f"Rank agreement between budgets {pair['a']} and {pair['b']}: " + (
            f"not computable ({pair['n']} common rows)." if pair["kendall_tau"] is None else
            f"Kendall tau {pair['kendall_tau']:+.2f} (p={pair['kendall_p']:.3g}) over {pair['n']} rows."))
    return lines
