"""Per-row seed summaries and the two-sample test behind every conclusion (Welch's t-test)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

ALPHA = 0.05
HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"


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


def summarize(values: list[float]) -> Summary:
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return Summary(None, None, 0)
    return Summary(rnd(v.mean()), rnd(v.std(ddof=1)) if v.size > 1 else None, int(v.size))


@dataclass
class Comparison:
    """``better`` is claimed to have lower error than ``worse``."""
    better: str
    worse: str
    mean_better: float | None
    mean_worse: float | None
    n_better: int
    n_worse: int
    diff: float | None          # mean(worse) - mean(better), percentage points; > 0 favours the claim
    hedges_g: float | None      # standardised effect size (same sign as diff)
    t: float | None
    p: float | None             # two-sided Welch p-value
    p_adj: float | None = None  # Holm-adjusted within the claim
    verdict: str = INCONCLUSIVE
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"better": self.better, "worse": self.worse, "mean_better": self.mean_better,
                "mean_worse": self.mean_worse, "n_better": self.n_better, "n_worse": self.n_worse,
                "diff_pp": self.diff, "hedges_g": self.hedges_g, "welch_t": self.t, "p": self.p,
                "p_holm": self.p_adj, "verdict": self.verdict, "reason": self.reason}


def welch(better_label: str, better: list[float], worse_label: str, worse: list[float]) -> Comparison:
    """Welch's two-sample t-test of mean error; effect size as Hedges' g."""
    a, b = np.asarray(better, float), np.asarray(worse, float)
    c = Comparison(better_label, worse_label, rnd(a.mean()) if a.size else None,
                   rnd(b.mean()) if b.size else None, int(a.size), int(b.size), None, None, None, None)
    if a.size == 0 or b.size == 0:
        c.reason = "not measured"
        return c
    c.diff = rnd(b.mean() - a.mean())
    if a.size < 2 or b.size < 2:
        c.reason = "fewer than 2 seeds on a side: no test possible"
        return c
    va, vb = a.var(ddof=1), b.var(ddof=1)
    pooled = math.sqrt(((a.size - 1) * va + (b.size - 1) * vb) / (a.size + b.size - 2))
    if pooled == 0:
        c.reason = "zero variance on both sides: no test possible"
        return c
    j = 1 - 3 / (4 * (a.size + b.size) - 9)  # Hedges' small-sample correction
    c.hedges_g = rnd(j * (b.mean() - a.mean()) / pooled, 3)
    res = _st.ttest_ind(b, a, equal_var=False)
    c.t, c.p = rnd(float(res.statistic), 3), sig(float(res.pvalue))
    return c


def holm(comparisons: list[Comparison], alpha: float = ALPHA) -> None:
    """Holm-adjust the p-values of one claim's comparisons and set each verdict."""
    tested = sorted((c for c in comparisons if c.p is not None), key=lambda c: (c.p, c.better, c.worse))
    m, running = len(tested), 0.0
    for i, c in enumerate(tested):
        running = max(running, min(1.0, (m - i) * c.p))
        c.p_adj = sig(running)
    for c in comparisons:
        if c.p_adj is None:
            c.verdict = INCONCLUSIVE
        elif c.p_adj < alpha:
            c.verdict = HOLDS if c.diff > 0 else FAILS
            c.reason = f"significant at alpha={alpha} (Holm-adjusted)" if m > 1 else f"significant at alpha={alpha}"
        else:
            c.verdict = INCONCLUSIVE
            direction = "points the claimed way" if c.diff > 0 else "points against the claim"
            c.reason = f"difference {direction} but is not significant (p={c.p_adj:.3g} >= {alpha}): evidence too weak"


def combine(comparisons: list[Comparison]) -> str:
    """A claim holds when every comparison holds; fails when any significantly contradicts it."""
    verdicts = [c.verdict for c in comparisons]
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if any(v == FAILS for v in verdicts):
        return FAILS
    return INCONCLUSIVE
