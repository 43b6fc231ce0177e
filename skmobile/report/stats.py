"""Per-row seed summaries and the tests behind every conclusion.

Three kinds of comparison between two rows' per-seed errors, each with one p-value:

- ``lower``: "row A has lower error than row B", Welch's two-sided t-test;
- ``tie``: "rows A and B tie", two one-sided Welch tests (TOST) of equivalence within ``margin`` pp;
- ``small_gain``: "A gains little over B", one-sided Welch test that B - A is below ``margin`` pp.

Every comparison of a table enters one Holm family (:func:`holm`), so a verdict accounts for all the
tests the table makes. Differences carry a Welch 95% confidence interval, row means a t interval, and a
table reports the smallest difference its seeds could detect (:func:`min_detectable_difference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st

ALPHA = 0.05
POWER = 0.8
LEVEL = 0.95
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
LOWER, TIE, SMALL_GAIN = "lower", "tie", "small_gain"


def rnd(x: float | None, nd: int = 4) -> float | None:
    """Round for stable JSON (None and NaN become None)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), nd) + 0.0  # + 0.0 turns -0.0 into 0.0


def sig(x: float | None, digits: int = 4) -> float | None:
    """Round to significant digits (p-values)."""
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


@dataclass(frozen=True)
class Summary:
    mean: float | None
    std: float | None  # sample standard deviation (ddof=1); None for n < 2
    n: int
    ci_lo: float | None = None  # t-based 95% confidence interval of the mean; None for n < 2
    ci_hi: float | None = None


def mean_ci(values, level: float = LEVEL) -> tuple[float, float] | None:
    """t-based confidence interval of the mean: mean -+ t_{n-1} * s / sqrt(n) (None for n < 2)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return None
    half = _st.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return float(v.mean() - half), float(v.mean() + half)


def summarize(values: list[float]) -> Summary:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return Summary(None, None, 0)
    ci = mean_ci(v)
    return Summary(rnd(v.mean()), rnd(v.std(ddof=1)) if v.size > 1 else None, int(v.size),
                   rnd(ci[0]) if ci else None, rnd(ci[1]) if ci else None)


@dataclass
class Comparison:
    """``better`` is claimed to have lower error than ``worse`` (``lower``), to tie with it (``tie``) or
    to gain little over it (``small_gain``, ``better`` being the richer configuration)."""
    better: str
    worse: str
    mean_better: float | None
    mean_worse: float | None
    n_better: int
    n_worse: int
    diff: float | None          # mean(worse) - mean(better), percentage points; > 0 favours ``better``
    hedges_g: float | None      # standardised effect size (same sign as diff)
    t: float | None             # Welch t of the difference (no margin)
    p: float | None             # p-value of this comparison's own test (see ``kind``)
    p_adj: float | None = None  # Holm-adjusted over the whole table
    verdict: str = INCONCLUSIVE
    reason: str = ""
    kind: str = LOWER
    margin: float | None = None  # pp, for ``tie`` and ``small_gain``
    df: float | None = None      # Welch-Satterthwaite degrees of freedom
    ci_lo: float | None = None   # 95% Welch confidence interval of ``diff``
    ci_hi: float | None = None
    p_welch: float | None = None  # two-sided Welch p of a difference (also for ties and small gains)
    family: int = 0              # number of tests in the Holm family
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"better": self.better, "worse": self.worse, "mean_better": self.mean_better,
                "mean_worse": self.mean_worse, "n_better": self.n_better, "n_worse": self.n_worse,
                "diff_pp": self.diff, "diff_ci95": [self.ci_lo, self.ci_hi] if self.ci_lo is not None else None,
                "hedges_g": self.hedges_g, "welch_t": self.t, "welch_df": self.df, "p_welch": self.p_welch,
                "kind": self.kind, "margin_pp": self.margin, "p": self.p, "p_holm": self.p_adj,
                "holm_family": self.family, "verdict": self.verdict, "reason": self.reason}


def _welch_parts(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(standard error of mean(b) - mean(a), Welch-Satterthwaite df)."""
    qa, qb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(qa + qb)
    df = (qa + qb) ** 2 / (qa ** 2 / (a.size - 1) + qb ** 2 / (b.size - 1))
    return se, df


def welch(better_label: str, better: list[float], worse_label: str, worse: list[float], *, kind: str = LOWER,
          margin: float | None = None, level: float = LEVEL) -> Comparison:
    """Compare two rows' per-seed errors; the test is chosen by ``kind`` (module docstring)."""
    if kind not in (LOWER, TIE, SMALL_GAIN):
        raise ValueError(f"unknown comparison kind {kind!r}")
    if kind != LOWER and (margin is None or margin <= 0):
        raise ValueError(f"a {kind} comparison needs a margin > 0 (pp); got {margin}")
    a, b = np.asarray(better, float), np.asarray(worse, float)
    c = Comparison(better_label, worse_label, rnd(a.mean()) if a.size else None,
                   rnd(b.mean()) if b.size else None, int(a.size), int(b.size), None, None, None, None,
                   kind=kind, margin=margin)
    if a.size == 0 or b.size == 0:
        c.reason = "not measured"
        return c
    diff = float(b.mean() - a.mean())
    c.diff = rnd(diff)
    if a.size < 2 or b.size < 2:
        c.reason = "fewer than 2 seeds on a side: no test possible"
        return c
    va, vb = a.var(ddof=1), b.var(ddof=1)
    pooled = math.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / (a.size + b.size - 2))
    if pooled == 0:
        c.reason = "zero variance on both sides: no test possible"
        return c
    j = 1 - 3 / (4 * (a.size + b.size) - 9)  # Hedges' small-sample correction
    c.hedges_g = rnd(j * diff / pooled, 3)
    se, df = _welch_parts(a, b)
    half = _st.t.ppf(0.5 + level / 2, df) * se
    c.df, c.ci_lo, c.ci_hi = rnd(df, 2), rnd(diff - half), rnd(diff + half)
    c.t = rnd(diff / se, 3)
    c.p_welch = sig(2 * _st.t.sf(abs(diff / se), df))
    if kind == LOWER:
        p = c.p_welch
    elif kind == TIE:  # TOST: H0 diff <= -margin and H0 diff >= +margin, both rejected
        p = max(_st.t.sf((diff + margin) / se, df), _st.t.cdf((diff - margin) / se, df))
    else:  # small gain: H0 diff >= margin
        p = _st.t.cdf((diff - margin) / se, df)
    c.p = sig(float(p))
    return c


def holm_adjust(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    out = [0.0] * len(pvalues)
    running, m = 0.0, len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def _verdict(c: Comparison, alpha: float) -> None:
    """Set ``c.verdict`` and a reason that names the test; the sentence around it shows the 95% CI."""
    where = f"Holm over the table's {c.family} tests" if c.family > 1 else "a single test"
    if c.p_adj is None:
        c.verdict = INCONCLUSIVE
        return
    significant = c.p_adj < alpha
    if c.kind == LOWER:
        if significant:
            c.verdict = HOLDS if c.diff > 0 else FAILS
            c.reason = f"significant at alpha={alpha}, {where}"
        else:
            c.verdict = INCONCLUSIVE
            direction = "points the claimed way" if c.diff > 0 else "points against the claim"
            c.reason = f"no difference detected at alpha={alpha}, {where}; the gap {direction}"
        return
    lo, hi = c.extra.get("ci_holm") or (c.ci_lo, c.ci_hi)
    ci = "Holm-level CI" if c.extra.get("ci_holm") else "95% CI"
    if c.kind == TIE:
        if significant:
            c.verdict = HOLDS
            c.reason = f"equivalent within ±{c.margin:g} pp: TOST significant at alpha={alpha}, {where}"
        elif lo > c.margin or hi < -c.margin:
            c.verdict = FAILS
            c.reason = f"the whole {ci} lies outside the ±{c.margin:g} pp margin"
        else:
            c.verdict = INCONCLUSIVE
            found = "a difference detected" if c.p_welch < alpha else "no difference detected"
            c.reason = (f"{found} (two-sided Welch p={c.p_welch:.3g}), but equivalence within ±{c.margin:g} pp "
                        f"is not shown at alpha={alpha}, {where}")
        return
    if significant:
        c.verdict = HOLDS
        c.reason = f"the gain is below {c.margin:g} pp: one-sided test significant at alpha={alpha}, {where}"
    elif lo > c.margin:
        c.verdict = FAILS
        c.reason = f"the whole {ci} of the gain lies above the {c.margin:g} pp margin"
    else:
        c.verdict = INCONCLUSIVE
        c.reason = f"a gain below {c.margin:g} pp is not shown at alpha={alpha}, {where}"


def holm(comparisons: list[Comparison], alpha: float = ALPHA) -> None:
    """Holm-adjust the p-values of ALL ``comparisons`` (one family: a table's tests) and set each verdict."""
    tested = [c for c in comparisons if c.p is not None]
    for c, p in zip(tested, holm_adjust([c.p for c in tested])):
        c.p_adj, c.family = sig(p), len(tested)
    for c in comparisons:
        _verdict(c, alpha)


def combine(comparisons: list[Comparison]) -> str:
    """A claim holds when every comparison holds; fails when any significantly contradicts it."""
    verdicts = [c.verdict for c in comparisons]
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    return INCONCLUSIVE


def pooled_sd(groups: list[list[float]]) -> tuple[float | None, int]:
    """(pooled within-row sample SD, its degrees of freedom) over rows with >= 2 seeds."""
    used = [np.asarray(g, float) for g in groups if len(g) >= 2]
    dof = sum(g.size - 1 for g in used)
    if dof == 0:
        return None, 0
    return math.sqrt(sum((g.size - 1) * g.var(ddof=1) for g in used) / dof), dof


def t_power(diff: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of a two-sided two-sample t-test with ``n`` seeds per row, true gap ``diff``, seed SD ``sd``."""
    df = 2 * n - 2
    nc = diff / (sd * math.sqrt(2 / n))
    crit = _st.t.ppf(1 - alpha / 2, df)
    upper, lower = _st.nct.sf(crit, df, nc), _st.nct.cdf(-crit, df, nc)  # scipy gives NaN for tiny tails
    return float(np.nan_to_num(upper, nan=1.0 if nc > 0 else 0.0) + np.nan_to_num(lower, nan=0.0 if nc > 0 else 1.0))


def min_detectable_difference(sd: float | None, n: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest true gap (same unit as ``sd``) a two-sided two-sample t-test with ``n`` seeds per row
    detects at ``alpha`` with probability ``power`` (noncentral t; None for n < 2 or sd = 0)."""
    if sd is None or sd <= 0 or n < 2:
        return None
    se = sd * math.sqrt(2 / n)
    hi = 4 * se
    while t_power(hi, sd, n, alpha) < power and hi < 1e6 * se:
        hi *= 2
    return float(_opt.brentq(lambda d: t_power(d, sd, n, alpha) - power, 1e-9 * se, hi, xtol=1e-10 * se))


def rank_agreement(x: list[float], y: list[float]) -> dict:
    """Spearman rho and Kendall tau-b (with two-sided p-values) between paired values (n >= 3)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"n": int(x.size), "spearman": None, "spearman_p": None, "kendall_tau": None, "kendall_p": None}
    rho, tau = _st.spearmanr(x, y), _st.kendalltau(x, y)
    return {"n": int(x.size), "spearman": rnd(float(rho.statistic), 3), "spearman_p": sig(float(rho.pvalue)),
            "kendall_tau": rnd(float(tau.statistic), 3), "kendall_p": sig(float(tau.pvalue))}
