"""What one comparison can resolve: its Holm level, its interval at that level, the smallest gap it
detects, and the seeds per row the paper's own gap (or a tie margin) would need.

A comparison's Holm level is alpha / m over the m fair tests of its table: the level of Holm's first
step, which every comparison must be ready to meet, and the level at which the m intervals hold
together (Bonferroni), so it does not depend on the p-values observed. A tie or small gain is judged on
its Welch interval at confidence 1 - level, like every other verdict. Power uses the two rows' pooled
seed SD and the smaller row's seed count (:func:`skmobile.report.stats.t_power`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

from .stats import LOWER, POWER, Comparison, min_detectable_difference, rnd, t_power

#: Seeds per row beyond which a report says "more than" instead of a number.
MAX_SEEDS = 10_000


def holm_levels(comparisons: list[Comparison], alpha: float) -> dict[int, float]:
    """id(comparison) -> its Holm level alpha / m, over the m comparisons with a p-value."""
    tested = [c for c in comparisons if c.p is not None]
    return {id(c): alpha / len(tested) for c in tested}


def pair_sd(a: list[float], b: list[float]) -> float | None:
    """Pooled sample SD of two rows' per-seed errors (None when either has fewer than 2 seeds)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        return None
    return math.sqrt(((a.size - 1) * a.var(ddof=1) + (b.size - 1) * b.var(ddof=1)) / (a.size + b.size - 2))


def welch_interval(c: Comparison, a: list[float], b: list[float], level: float) -> tuple[float, float] | None:
    """Welch interval of ``c.diff`` at confidence ``1 - level`` (None when it has no test)."""
    if c.df is None or c.diff is None:
        return None
    a, b = np.asarray(a, float), np.asarray(b, float)
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    half = _st.t.ppf(1 - level / 2, c.df) * se
    return rnd(c.diff - half), rnd(c.diff + half)


def seeds_for_gap(gap: float | None, sd: float | None, level: float, power: float = POWER) -> int | None:
    """Seeds per row a two-sided t-test at ``level`` needs to detect ``gap`` with ``power`` (None: no gap
    or no SD; :data:`MAX_SEEDS` + 1 when more than that)."""
    if gap is None or sd is None or sd <= 0 or abs(gap) < 1e-9:
        return None
    for n in range(2, MAX_SEEDS + 1):
        if t_power(abs(gap), sd, n, level) >= power:
            return n
    return MAX_SEEDS + 1


def seeds_for_margin(margin: float, sd: float | None, level: float, power: float = POWER) -> int | None:
    """About how many seeds per row show equivalence within ±``margin`` at ``level`` with ``power`` when
    the true difference is 0 (normal approximation: n = 2 ((z_{1-level} + z_{1-(1-power)/2}) sd / margin)^2)."""
    if sd is None or sd <= 0:
        return None
    z = _st.norm.ppf(1 - level) + _st.norm.ppf(1 - (1 - power) / 2)
    return min(MAX_SEEDS + 1, max(2, math.ceil(2 * (z * sd / margin) ** 2)))


def resolve(c: Comparison, a: list[float], b: list[float], level: float, paper_gap: float | None) -> dict:
    """The resolving-power fields of one comparison, to merge into its dict."""
    sd = pair_sd(a, b)
    n = min(len(a), len(b))
    out = {"holm_level": rnd(level, 6), "pair_sd_pp": rnd(sd), "ci_holm": welch_interval(c, a, b, level),
           "detectable_gap_pp": rnd(min_detectable_difference(sd, n, level)) if sd else None}
    if c.kind == LOWER:
        out["seeds_for_paper_gap"] = seeds_for_gap(paper_gap, sd, level)
    else:
        out["seeds_for_margin"] = seeds_for_margin(c.margin, sd, level)
        ci = out["ci_holm"]
        out["margin_reachable"] = bool(ci and (ci[1] - ci[0]) / 2 < c.margin)
    return out


def seeds_text(n: int | None) -> str:
    if n is None:
        return "—"
    return f"more than {MAX_SEEDS:,}" if n > MAX_SEEDS else f"{n}"


def one_sample_detectable(sd: float | None, n: int, level: float, power: float = POWER) -> float | None:
    """Smallest true mean change a two-sided one-sample t-test of ``n`` values with SD ``sd`` detects at
    ``level`` with ``power`` (noncentral t; None for n < 2 or no SD)."""
    from scipy import optimize as _opt

    if sd is None or sd <= 0 or n < 2:
        return None
    df, se = n - 1, sd / math.sqrt(n)
    crit = _st.t.ppf(1 - level / 2, df)

    def pw(d):
        nc = d / se
        return float(np.nan_to_num(_st.nct.sf(crit, df, nc), nan=1.0) + np.nan_to_num(_st.nct.cdf(-crit, df, nc)))

    hi = 4 * se
    while pw(hi) < power and hi < 1e6 * se:
        hi *= 2
    return float(_opt.brentq(lambda d: pw(d) - power, 1e-9 * se, hi, xtol=1e-10 * se))
