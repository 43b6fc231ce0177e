"""The paper's conclusions per table, worded as the paper words them, tested on proxy errors over seeds.

Each claim is a list of pairwise comparisons (:mod:`.stats`): "A has lower error than B" (Welch),
"A and B tie" (TOST equivalence within :data:`EQUIVALENCE_MARGIN_PP`) or "A gains little over B"
(one-sided Welch against the same margin). All comparisons of a table form ONE Holm family. A claim
holds when every comparison holds, does not hold when any is significant against it, and is
inconclusive otherwise (including too few seeds).

Claims (Li et al., CVPR 2019, Sec. 4.1 and 4.2):

- Table 4: SK beats both the ShuffleNetV2 baseline and SE at each width.
- Table 6: the two best settings are 5x5 (G=64) and 3x3 with D=2, which tie (20.80 vs 20.79); and
  dilated 3x3 kernels are moderately better than large kernels of the same receptive field.
- Table 7: more paths in general lower the error; SK attention beats the plain sum for M=2 and M=3;
  M=3 gains little over M=2 (20.79 -> 20.76), so M=2 is preferred.
"""

from __future__ import annotations

import re

from ..tables import Table
from .stats import (ALPHA, LOWER, POWER, SMALL_GAIN, TIE, min_detectable_difference, pooled_sd, rank_agreement,
                    rnd)

#: Margin (pp of proxy error) for "tie" and "gains little": just below the smallest gap the paper reads as
#: a real difference (Table 6: 3x3 D=3 20.97 vs 7x7 21.18, 0.21 pp, "moderately better") and far above
#: the gaps it reads as none (0.01 pp in Table 6, 0.03 pp in Table 7).
EQUIVALENCE_MARGIN_PP = 0.2

TEST = (f"Welch's t-test on per-seed proxy test error (scipy.stats, unequal variances): two-sided for 'lower', "
        f"TOST equivalence within the margin for 'tie', one-sided against the margin for 'gains little'; "
        f"Holm-adjusted over the table's fair comparisons (confounded and secondary ones are left out), "
        f"alpha={ALPHA}; a tie or small gain does not hold when the whole Welch interval at the comparison's "
        "Holm level lies beyond the margin; Hedges' g as effect size. A comparison whose proxy relative body "
        "cost differs from the paper's beyond the tolerance, or whose distinguishing paths fit the map in fewer "
        "than half of the SK units, is not testable on this proxy")

Pair = tuple  # (better, worse, kind[, SECONDARY]); better/worse: a row label or a tuple of labels (a block)
#: A comparison shown beside a claim's test but not part of its verdict nor of the Holm family.
SECONDARY = "secondary"


def _m(label: str) -> int:
    return len(label.split(" ")[0].split("+"))


def _claims_table7(table: Table) -> list[tuple[str, str, list[Pair]]]:
    labels = [r.label for r in table.rows if not r.reference_only]
    sets = [p for p in ("K3+K5", "K3+K7", "K5+K7", "K3+K5+K7")
            if f"{p} with SK" in labels and f"{p} (sum)" in labels]
    blocks = {m: tuple(lab for lab in labels if _m(lab) == m) for m in (1, 2, 3)}
    more = [(blocks[m + 1], blocks[m], LOWER) for m in (1, 2) if blocks[m] and blocks[m + 1]]
    best = [("K3+K5 (sum)", "K3 (sum)", LOWER, SECONDARY), ("K3+K5+K7 (sum)", "K3+K5 (sum)", LOWER, SECONDARY)]
    little = [("K3+K5+K7 with SK", "K3+K5 with SK", SMALL_GAIN)]
    return [
        ("more_paths_lower_error", "When the number of paths M grows, the error in general decreases "
         "(mean over the rows of each M: M=2 below M=1, M=3 below M=2; the best plain-sum set per M as a "
         "secondary line)", more + [p for p in best if p[0] in labels and p[1] in labels]),
        ("sk_beats_sum", "SK attention beats the plain sum of the same paths, for M=2 and M=3",
         [(f"{p} with SK", f"{p} (sum)", LOWER) for p in sets]),
        ("m3_gains_little", f"With SK, M=3 gains little over M=2 (paper 20.79 -> 20.76), so M=2 is preferred "
         f"(gain below {EQUIVALENCE_MARGIN_PP:g} pp)", [p for p in little if p[0] in labels and p[1] in labels]),
    ]


def _claims_table6(table: Table) -> list[tuple[str, str, list[Pair]]]:
    def find(prefix):
        return next((r.label for r in table.rows if r.label.startswith(prefix)), None)

    d2, d3, five, seven = find("3x3, D=2"), find("3x3, D=3"), find("5x5, D=1"), find("7x7, D=1")
    claims = []
    if d2 and five:
        others = [r.label for r in table.rows if r.label not in (d2, five) and not r.reference_only]
        claims.append(("two_best_tie", "The two best settings are 5x5 (G=64) and 3x3 with D=2, and they tie "
                       "(paper 20.80 vs 20.79)",
                       [(d2, five, TIE)] + [(best, o, LOWER) for best in (d2, five) for o in others]))
    pairs = [(a, b, LOWER) for a, b in ((d3, seven), (d2, five)) if a and b]
    if pairs:
        claims.append(("dilated_beats_large", "3x3 kernels with dilation are moderately better than large kernels "
                       "of the same receptive field (paper: D=3 20.97 vs 7x7 21.18; D=2 20.79 vs 5x5 20.80)", pairs))
    return claims


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


def _claims_table4(table: Table) -> list[tuple[str, str, list[Pair]]]:
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
        pairs = [(k["sk"], k[b], LOWER) for b in ("se", "base") if "sk" in k and b in k]
        if pairs:
            claims.append((f"sk_beats_se_and_base_{w}x", f"ShuffleNetV2 {w}x: SK has lower error than both the "
                           "baseline and SE", pairs))
    return claims


_CLAIMS = {4: _claims_table4, 6: _claims_table6, 7: _claims_table7}


def claims(table: Table) -> list[tuple[str, str, list[Pair]]]:
    """(id, the paper's wording, [(better, worse, kind), ...]) for every claim tested on ``table``."""
    return _CLAIMS.get(table.number, lambda t: [])(table)


def conclusions(table: Table, errors: dict[str, list[float]], shapes: dict | None = None,
                margin: float = EQUIVALENCE_MARGIN_PP, alpha: float = ALPHA) -> list[dict]:
    """Test every claim of ``table`` on per-row per-seed errors (label -> list of % errors). ``shapes``
    (:func:`skmobile.report.fairness.shapes_for`: the trained proxies) makes confounded comparisons "not
    testable on this proxy" (:mod:`.judge`); the fair ones form one Holm family."""
    from . import judge

    found = claims(table)
    tested, levels = judge.test_comparisons(table, [pairs for _, _, pairs in found], errors, shapes, margin, alpha)
    strictest = alpha / max(1, len(levels))
    out = []
    for (cid, text, pairs), comps in zip(found, tested):
        items = []
        for pair, (c, a, b) in zip(pairs, comps):
            c.extra["level_if_tested"] = strictest
            items.append(judge.comparison_dict(c, a, b, levels.get(id(c)), judge.paper_gap(table, c, *pair[:2])))
        out.append({"id": cid, "claim": text, "verdict": judge.claim_verdict([c for c, _, _ in comps]),
                    "test": TEST, "comparisons": items})
    return out


def table_statistics(table: Table, errors: dict[str, list[float]], alpha: float = ALPHA,
                     power: float = POWER, margin: float = EQUIVALENCE_MARGIN_PP) -> dict:
    """Rank agreement with the paper, pooled seed SD and the smallest detectable difference of one table."""
    rows = [r for r in table.rows if not r.reference_only and errors.get(r.label)
            and r.paper.get("top1_err") is not None]
    means = [sum(errors[r.label]) / len(errors[r.label]) for r in rows]
    agree = rank_agreement(means, [r.paper["top1_err"] for r in rows])
    groups = [errors[r.label] for r in rows]
    sd, dof = pooled_sd(groups)
    ns = [len(g) for g in groups if len(g) >= 2]
    n = min(ns) if ns else 0
    family = sum(len(p) == 3 for _, _, pairs in claims(table) for p in pairs)  # secondary lines are not tests
    return {"rank_agreement_with_paper": agree, "rows_measured": len(rows),
            "pooled_seed_sd_pp": rnd(sd), "pooled_sd_df": dof, "seeds_per_row": n,
            "min_detectable_diff_pp": rnd(min_detectable_difference(sd, n, alpha, power)),
            "min_detectable_diff_holm_pp": rnd(min_detectable_difference(sd, n, alpha / max(family, 1), power)),
            "alpha": alpha, "power": power, "holm_family": family, "margin_pp": margin,
            "detectable_rule": (f"smallest true gap a two-sided two-sample t-test with {n} seeds per row and the "
                                f"pooled seed SD detects with power {power} at alpha={alpha} (and at "
                                f"alpha/{family}, the strictest Holm step over the table's {family} tests)")}


def statistics_lines(stats: dict) -> list[str]:
    """Plain sentences for a report: rank agreement with the paper and the run's resolving power."""
    ra = stats["rank_agreement_with_paper"]
    if ra["spearman"] is None:
        rank = f"Rank agreement with the paper: not computable ({ra['n']} rows measured, need >= 3 with spread)."
    else:
        rank = (f"Rank agreement between proxy and paper error over {ra['n']} rows: Spearman rho "
                f"{ra['spearman']:+.2f} (p={ra['spearman_p']:.3g}), Kendall tau {ra['kendall_tau']:+.2f} "
                f"(p={ra['kendall_p']:.3g}).")
    if stats["min_detectable_diff_pp"] is None:
        power = "Resolving power: not computable (fewer than 2 seeds per row)."
    else:
        power = (f"Resolving power over the whole table, for orientation only (each comparison above prints its "
                 f"own, from its two rows' SD and its Holm level): pooled seed SD {stats['pooled_seed_sd_pp']:.2f} pp with "
                 f"{stats['seeds_per_row']} seeds per row; the smallest gap this run detects with power "
                 f"{stats['power']:g} is {stats['min_detectable_diff_pp']:.2f} pp at alpha={stats['alpha']:g} and "
                 f"{stats['min_detectable_diff_holm_pp']:.2f} pp at the strictest Holm step "
                 f"(alpha/{stats['holm_family']}). Ties and small gains are tested against a margin of "
                 f"±{stats['margin_pp']:g} pp.")
    return [rank, power]


def verdict_sentence(c: dict) -> str:
    """One plain sentence for a comparison (:func:`skmobile.report.sentences.verdict_sentence`)."""
    from .sentences import verdict_sentence as sentence

    return sentence(c)
