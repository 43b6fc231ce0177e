"""Turn a table's claims into verdicts the data can carry.

Per comparison: the Welch test (:mod:`.stats`), the fairness check (:mod:`.fairness`: relative body
cost against the paper's, map rule of the distinguishing paths) and the resolving power
(:mod:`.resolving`). A confounded comparison is "not testable on this proxy" and leaves the Holm
family; a secondary comparison (shown beside a claim, e.g. Table 7's best pair per M) also stays out
of it and carries no verdict. Only the fair comparisons form the Holm family and get "holds", "does not
hold" or "inconclusive"; ties and small gains are judged on their interval at their own Holm level.
"""

from __future__ import annotations

from . import fairness, resolving
from .stats import FAILS, HOLDS, INCONCLUSIVE, Comparison, holm, rnd, welch

SECONDARY_VERDICT = "secondary (not in the verdict)"


def _labels(x) -> list[str]:
    return [x] if isinstance(x, str) else list(x)


def block_name(x) -> str:
    labels = _labels(x)
    if len(labels) == 1:
        return labels[0]
    return f"M={len(labels[0].split(' ')[0].split('+'))} mean of {len(labels)} rows ({', '.join(labels)})"


def block_errors(x, errors: dict[str, list[float]]) -> list[float]:
    """Per-seed errors of a row, or of a block: the mean over its rows seed by seed (rows sorted by seed)."""
    rows = [errors.get(lab, []) for lab in _labels(x)]
    n = min((len(r) for r in rows), default=0)
    return [sum(r[i] for r in rows) / len(rows) for i in range(n)]


def block_paper(x, paper: dict[str, float | None]) -> float | None:
    vals = [paper.get(lab) for lab in _labels(x)]
    return None if None in vals or not vals else sum(vals) / len(vals)


def _compare(table, pair, errors, shapes, margin):
    better, worse, kind = pair[:3]
    a, b = block_errors(better, errors), block_errors(worse, errors)
    c = welch(block_name(better), a, block_name(worse), b, kind=kind,
              margin=None if kind == "lower" else margin)
    c.extra["secondary"] = len(pair) > 3
    if shapes is not None and all(lab in shapes for lab in _labels(better) + _labels(worse)):
        c.extra["fair"] = fairness.judge(table, _labels(better), _labels(worse), shapes)
    return c, a, b


def _confound(c: Comparison) -> str | None:
    return (c.extra.get("fair") or {}).get("confound")


def test_comparisons(table, pairs_by_claim, errors, shapes, margin, alpha) -> list[list[tuple]]:
    """[[(Comparison, better errors, worse errors), ...] per claim], verdicts set."""
    tested = [[_compare(table, p, errors, shapes, margin) for p in pairs] for pairs in pairs_by_claim]
    flat = [t for claim in tested for t in claim]
    fair = [c for c, _, _ in flat if not _confound(c) and not c.extra["secondary"]]
    levels = resolving.holm_levels(fair, alpha)
    for c, a, b in flat:
        if id(c) in levels and c.kind != "lower":
            c.extra["ci_holm"] = resolving.welch_interval(c, a, b, levels[id(c)])
    holm(fair, alpha)
    for c, a, b in flat:
        if c in fair:
            continue
        c.p_adj, c.family = None, len(levels)
        if _confound(c):
            c.verdict, c.reason = fairness.NOT_TESTABLE, _confound(c)
        else:
            c.verdict, c.reason = SECONDARY_VERDICT, "shown beside the claim's test, not part of it"
    return tested, levels


def claim_verdict(comps: list[Comparison]) -> str:
    """Over the claim's own comparisons (secondary ones aside): "not testable on this proxy" when none is
    fair; "does not hold" when a fair one fails; "holds" only when every one is fair and holds."""
    own = [c for c in comps if not c.extra.get("secondary")]
    fair = [c for c in own if c.verdict != fairness.NOT_TESTABLE]
    if not fair:
        return fairness.NOT_TESTABLE
    if any(c.verdict == FAILS for c in fair):
        return FAILS
    if len(fair) == len(own) and all(c.verdict == HOLDS for c in fair):
        return HOLDS
    return INCONCLUSIVE


def comparison_dict(c: Comparison, a: list[float], b: list[float], level: float | None, paper_gap) -> dict:
    d = c.to_dict()
    d["paper_diff_pp"] = None if paper_gap is None else round(paper_gap, 2)
    d["role"] = "secondary" if c.extra.get("secondary") else "test"
    fair = c.extra.get("fair")
    if fair:
        d.update(cost=fair["cost"], map_rule=fair["map_rule"], confound=fair["confound"])
    if level is not None:
        d.update(resolving.resolve(c, a, b, level, paper_gap))
    elif len(a) >= 2 and len(b) >= 2:  # untested here: its power at the strictest level of the table
        d.update(resolving.resolve(c, a, b, c.extra.get("level_if_tested", 0.05), paper_gap))
    if "ci_holm" in c.extra:
        d["ci_holm"] = c.extra["ci_holm"]
    return d


def paper_gap(table, c: Comparison, better, worse) -> float | None:
    paper = {r.label: r.paper.get("top1_err") for r in table.rows}
    pa, pb = block_paper(better, paper), block_paper(worse, paper)
    return None if pa is None or pb is None else rnd(pb - pa, 4)
