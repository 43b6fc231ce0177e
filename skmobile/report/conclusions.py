"""The paper's conclusions per table, tested on the proxy errors over seeds.

Each claim is a list of pairwise comparisons ("row A has lower error than row B"), tested with
Welch's two-sided t-test over seeds and Holm-adjusted within the claim. A claim holds when every
comparison is significant in its direction, does not hold when any is significant against it, and is
inconclusive otherwise (including too few seeds).
"""

from __future__ import annotations

import re

from ..tables import Table
from .stats import ALPHA, Comparison, combine, holm, welch

TEST = (f"Welch's two-sided t-test on per-seed proxy test error (scipy.stats.ttest_ind, equal_var=False), "
        f"Holm-adjusted within each claim, alpha={ALPHA}; effect size Hedges' g and the difference of "
        "means in percentage points")


def _claims_table7(table: Table) -> list[tuple[str, str, list[tuple[str, str]]]]:
    labels = {r.label for r in table.rows}
    sets = [p for p in ("K3+K5", "K3+K7", "K5+K7", "K3+K5+K7")
            if f"{p} with SK" in labels and f"{p} (sum)" in labels]
    paths = [("K3+K5+K7 with SK", "K3+K5 with SK"), ("K3+K5 (sum)", "K3 (sum)"), ("K3+K5+K7 (sum)", "K3+K5 (sum)")]
    return [
        ("sk_beats_sum", "SK attention beats the plain sum of the same paths, for each kernel set",
         [(f"{p} with SK", f"{p} (sum)") for p in sets]),
        ("more_paths_help", "More paths help (M=3 over M=2 with SK; M=2 over M=1 and M=3 over M=2 without)",
         [(a, b) for a, b in paths if a in labels and b in labels]),
    ]


def _claims_table6(table: Table) -> list[tuple[str, str, list[tuple[str, str]]]]:
    best = next((r.label for r in table.rows if r.label.startswith("3x3, D=2, G=32")), None)
    if best is None:
        return []
    return [("five_by_five_best", f"The 5x5-equivalent second branch ({best}) has the lowest error",
             [(best, r.label) for r in table.rows if r.label != best and not r.reference_only])]


def table4_kind(label: str) -> str:
    """'sk', 'se' or 'base' from a Table 4 row label."""
    if re.search(r"\+\s*SK\b", label):
        return "sk"
    if re.search(r"\+\s*SE\b", label):
        return "se"
    return "base"


def table4_width(label: str) -> str | None:
    m = re.search(r"(\d+(?:\.\d+)?)\s*[x×]", label)
    return m.group(1) if m else None


def _claims_table4(table: Table) -> list[tuple[str, str, list[tuple[str, str]]]]:
    by_width: dict[str, dict[str, str]] = {}
    for r in table.rows:
        if r.reference_only or "original" in r.label.lower():
            continue
        w = table4_width(r.label)
        if w is not None:
            by_width.setdefault(w, {})[table4_kind(r.label)] = r.label
    claims = []
    for w in sorted(by_width, key=float):
        k = by_width[w]
        pairs = [(k[a], k[b]) for a, b in (("sk", "se"), ("se", "base")) if a in k and b in k]
        if pairs:
            claims.append((f"sk_se_base_{w}x", f"ShuffleNetV2 {w}x: SK beats SE beats the base", pairs))
    return claims


_CLAIMS = {4: _claims_table4, 6: _claims_table6, 7: _claims_table7}


def conclusions(table: Table, errors: dict[str, list[float]]) -> list[dict]:
    """Test every claim of ``table`` on per-row per-seed errors (label -> list of % errors)."""
    paper = {r.label: r.paper.get("top1_err") for r in table.rows}
    out = []
    for cid, text, pairs in _CLAIMS.get(table.number, lambda t: [])(table):
        comps: list[Comparison] = [welch(a, errors.get(a, []), b, errors.get(b, [])) for a, b in pairs]
        holm(comps)
        items = []
        for c in comps:
            d = c.to_dict()
            pa, pb = paper.get(c.better), paper.get(c.worse)
            d["paper_diff_pp"] = round(pb - pa, 2) if pa is not None and pb is not None else None
            items.append(d)
        out.append({"id": cid, "claim": text, "verdict": combine(comps), "test": TEST, "comparisons": items})
    return out


def verdict_sentence(c: dict) -> str:
    """One plain sentence for a comparison."""
    if c["diff_pp"] is None:
        return f"{c['better']} vs {c['worse']}: not measured."
    base = (f"{c['better']} {c['mean_better']:.2f}% vs {c['worse']} {c['mean_worse']:.2f}% "
            f"(n={c['n_better']}/{c['n_worse']}): gap {c['diff_pp']:+.2f} pp (positive = the claimed direction)")
    if c["p"] is None:
        return f"{base}; {c['reason']}."
    return (f"{base}, Hedges' g={c['hedges_g']:+.2f}, Welch t={c['welch_t']:+.2f}, p={c['p']:.3g}, "
            f"Holm p={c['p_holm']:.3g} -> {c['verdict']}" + (f" ({c['reason']})." if c["verdict"] == "inconclusive" else "."))
