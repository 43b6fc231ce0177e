"""report.stats and the table-wide conclusions: synthetic numbers, answers computed independently
(scipy's own tests with shifted samples, hand-worked Holm, Monte Carlo power)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

from skmobile.report.conclusions import EQUIVALENCE_MARGIN_PP, conclusions, statistics_lines, table_statistics
from skmobile.report.judge import SECONDARY_VERDICT
from skmobile.report.stats import (FAILS, HOLDS, INCONCLUSIVE, LOWER, SMALL_GAIN, TIE, holm, holm_adjust, mean_ci,
                                   min_detectable_difference, pooled_sd, rank_agreement, summarize, welch)
from skmobile.tables import get_table

A = [10.1, 10.4, 9.8, 10.0, 10.3]
B = [10.9, 11.3, 10.6, 11.4]


def test_mean_ci_matches_scipy_t_interval():
    lo, hi = mean_ci(A)
    want = st.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=st.sem(A))
    assert (lo, hi) == pytest.approx(want, rel=1e-12)
    s = summarize(A)
    assert (s.ci_lo, s.ci_hi) == pytest.approx(want, abs=1e-4) and s.n == 5
    assert mean_ci([3.0]) is None and summarize([3.0]).ci_lo is None


def test_welch_difference_ci_and_p_match_scipy():
    c = welch("a", A, "b", B)
    ref = st.ttest_ind(B, A, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert c.diff == pytest.approx(np.mean(B) - np.mean(A), abs=1e-4)
    assert (c.ci_lo, c.ci_hi) == pytest.approx((ci.low, ci.high), abs=1e-4)
    assert c.df == pytest.approx(ref.df, abs=0.01)
    assert c.p == pytest.approx(ref.pvalue, rel=1e-3) and c.p_welch == c.p


def test_tost_matches_two_shifted_one_sided_scipy_tests():
    margin = 0.5
    a, b = [10.0, 10.2, 9.9, 10.1, 10.05], [10.1, 10.15, 10.0, 10.2, 10.1]
    c = welch("a", a, "b", b, kind=TIE, margin=margin)
    b = np.asarray(b)
    # H0: mean(b) - mean(a) <= -margin  <=>  shift b up by the margin and test "greater"
    p_low = st.ttest_ind(b + margin, a, equal_var=False, alternative="greater").pvalue
    p_high = st.ttest_ind(b - margin, a, equal_var=False, alternative="less").pvalue
    assert c.p == pytest.approx(max(p_low, p_high), rel=1e-3)
    assert c.p < 0.05  # equivalent within 0.5 pp


def test_small_gain_is_one_sided_against_the_margin():
    margin = 0.3
    rich, poor = [10.0, 10.1, 9.95, 10.05], [10.05, 10.1, 10.0, 10.1]
    c = welch("rich", rich, "poor", poor, kind=SMALL_GAIN, margin=margin)
    want = st.ttest_ind(np.asarray(poor) - margin, rich, equal_var=False, alternative="less").pvalue
    assert c.p == pytest.approx(want, rel=1e-3)
    with pytest.raises(ValueError, match="margin"):
        welch("a", A, "b", B, kind=TIE)


def test_holm_hand_worked():
    # sorted: 0.01*3 = 0.03; 0.03*2 = 0.06; max(0.06, 0.04*1) = 0.06; input order kept
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_family_spans_every_comparison_and_kind():
    strong = welch("a", [9.0, 9.1, 8.9], "b", [11.0, 11.2, 10.9])           # p ~ 1e-4
    weak = welch("a", [10.0, 10.4, 9.9], "b", [10.5, 10.9, 10.6])          # p ~ 0.04 alone
    tie = welch("a", [10.0, 10.3, 9.8], "b", [10.1, 10.2, 10.0], kind=TIE, margin=0.2)
    alone = welch("a", [10.0, 10.4, 9.9], "b", [10.5, 10.9, 10.6])
    holm([alone])
    assert alone.p < 0.05 and alone.verdict == HOLDS  # significant on its own ...
    comps = [strong, weak, tie]
    holm(comps)
    assert all(c.family == 3 for c in comps)
    adjusted = holm_adjust([c.p for c in comps])
    assert [c.p_adj for c in comps] == pytest.approx(adjusted, rel=1e-3)
    assert strong.verdict == HOLDS
    assert weak.p_adj > 0.05 and weak.verdict == INCONCLUSIVE  # ... but not in a family of three
    assert "no difference detected" in weak.reason and tie.verdict == INCONCLUSIVE


def test_tie_fails_only_when_the_ci_clears_the_margin():
    far = welch("a", [9.0, 9.1, 8.9], "b", [11.0, 11.2, 10.9], kind=TIE, margin=0.2)
    close = welch("a", [10.0, 10.01, 9.99, 10.0, 10.02], "b", [10.0, 10.02, 10.01, 9.99, 10.0], kind=TIE, margin=0.2)
    holm([far, close])
    assert far.verdict == FAILS and "outside" in far.reason
    assert close.verdict == HOLDS and "equivalent within ±0.2 pp" in close.reason


def test_min_detectable_difference_known_values_and_monte_carlo():
    # Cohen's tables: d = 0.5 needs 64 per group, d = 1.0 needs 17 (alpha 0.05 two-sided, power 0.8)
    assert min_detectable_difference(1.0, 64) == pytest.approx(0.5, abs=0.005)
    assert min_detectable_difference(1.0, 17) == pytest.approx(1.0, abs=0.02)
    assert min_detectable_difference(2.0, 17) == pytest.approx(2 * min_detectable_difference(1.0, 17))
    assert min_detectable_difference(1.0, 5, alpha=0.005) > min_detectable_difference(1.0, 5)
    assert min_detectable_difference(None, 5) is None and min_detectable_difference(1.0, 1) is None
    # simulate: at the returned gap, a Welch-free pooled t-test rejects in about 80 % of runs
    sd, n = 0.25, 5
    gap = min_detectable_difference(sd, n)
    rng = np.random.default_rng(0)
    x = rng.normal(0, sd, (20000, n))
    y = rng.normal(gap, sd, (20000, n))
    power = float((st.ttest_ind(y, x, axis=1).pvalue < 0.05).mean())
    assert power == pytest.approx(0.8, abs=0.015)


def test_pooled_sd_and_rank_agreement():
    sd, dof = pooled_sd([[1.0, 2.0, 3.0], [5.0, 7.0], [4.0]])
    assert dof == 3 and sd == pytest.approx(np.sqrt((2 * 1.0 + 1 * 2.0) / 3))
    x, y = [1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 6.0]
    ra = rank_agreement(x, y)
    assert ra["spearman"] == pytest.approx(st.spearmanr(x, y).statistic, abs=1e-3)
    assert ra["kendall_tau"] == pytest.approx(st.kendalltau(x, y).statistic, abs=1e-3)
    assert ra["kendall_tau"] == pytest.approx(0.6)  # 8 concordant, 2 discordant pairs of 10
    assert rank_agreement([1.0, 2.0], [2.0, 1.0])["spearman"] is None


# --- the paper's claims, Holm over the table ------------------------------------------------------------

T6, T7 = get_table(6), get_table(7)


def _paper_like(table, spread=0.05, n=5, shift=None, seed=None):
    """Per-seed errors centred exactly on the paper's values (plus ``shift`` per label): the same evenly
    spaced offsets in every row, or seeded normal noise of SD ``spread`` when ``seed`` is given."""
    shift = shift or {}
    rng = np.random.default_rng(seed) if seed is not None else None
    offsets = np.linspace(-spread, spread, n)
    return {r.label: list(r.paper["top1_err"] + shift.get(r.label, 0.0)
                          + (rng.normal(0, spread, n) if rng is not None else offsets))
            for r in table.rows if not r.reference_only}


def test_table7_claims_are_the_papers_and_share_one_family():
    out = conclusions(T7, _paper_like(T7))
    ids = [c["id"] for c in out]
    assert ids == ["more_paths_lower_error", "sk_beats_sum", "m3_gains_little"]
    comps = [x for c in out for x in c["comparisons"]]
    tests = [x for x in comps if x["role"] == "test"]
    assert len(comps) == 9 and len(tests) == 7 and {x["holm_family"] for x in tests} == {7}
    secondary = [x for x in comps if x["role"] == "secondary"]  # the best plain-sum pair per M: no verdict
    assert [x["better"] for x in secondary] == ["K3+K5 (sum)", "K3+K5+K7 (sum)"]
    assert {x["verdict"] for x in secondary} == {SECONDARY_VERDICT} and {x["p_holm"] for x in secondary} == {None}
    more = out[0]["comparisons"][0]  # block means: the mean over the rows of each M, seed by seed
    assert more["better"].startswith("M=2 mean of 6 rows") and more["worse"].startswith("M=1 mean of 3 rows")
    m1 = [r.paper["top1_err"] for r in T7.rows if r.label in ("K3 (sum)", "K5 (sum)", "K7 (sum)")]
    m2 = [r.paper["top1_err"] for r in T7.rows if r.label.split(" ")[0].count("+") == 1]
    assert more["paper_diff_pp"] == pytest.approx(np.mean(m1) - np.mean(m2), abs=0.01)
    assert more["mean_worse"] == pytest.approx(np.mean(m1), abs=1e-3)
    little = out[2]["comparisons"][0]
    assert little["kind"] == SMALL_GAIN and little["margin_pp"] == EQUIVALENCE_MARGIN_PP
    assert little["better"] == "K3+K5+K7 with SK" and little["worse"] == "K3+K5 with SK"
    # errors at the paper's values with a small seed SD: every claim of the paper holds
    assert [c["verdict"] for c in out] == [HOLDS, HOLDS, HOLDS]
    # a big M=3 gain (1 pp) breaks "gains little" and nothing else
    big = conclusions(T7, _paper_like(T7, shift={"K3+K5+K7 with SK": -1.0}))
    assert [c["verdict"] for c in big] == [HOLDS, HOLDS, FAILS]


def test_table6_tie_and_dilation_on_paper_like_numbers():
    tie, dilated = conclusions(T6, _paper_like(T6, spread=0.02, n=8))
    assert tie["comparisons"][0]["kind"] == TIE and tie["comparisons"][0]["verdict"] == HOLDS
    assert all(x["kind"] == LOWER for x in tie["comparisons"][1:] + dilated["comparisons"])
    # D=2 vs 5x5 differ by 0.01 pp in the paper: "lower" cannot be shown there
    d2_vs_5 = dilated["comparisons"][1]
    assert d2_vs_5["verdict"] == INCONCLUSIVE and dilated["verdict"] == INCONCLUSIVE
    assert dilated["comparisons"][0]["verdict"] == HOLDS


def test_table_statistics_rank_and_power():
    errs = _paper_like(T7, spread=0.3, n=5, seed=1)
    s = table_statistics(T7, errs)
    labels = [r.label for r in T7.rows]
    means = [np.mean(errs[lab]) for lab in labels]
    paper = [r.paper["top1_err"] for r in T7.rows]
    assert s["rank_agreement_with_paper"]["kendall_tau"] == pytest.approx(st.kendalltau(means, paper).statistic,
                                                                           abs=1e-3)
    assert s["rank_agreement_with_paper"]["n"] == 11 and s["seeds_per_row"] == 5 and s["holm_family"] == 7
    sd, _ = pooled_sd(list(errs.values()))
    assert s["pooled_seed_sd_pp"] == pytest.approx(sd, abs=1e-4)
    assert s["min_detectable_diff_pp"] == pytest.approx(min_detectable_difference(sd, 5), abs=1e-4)
    assert s["min_detectable_diff_holm_pp"] > s["min_detectable_diff_pp"]
    lines = statistics_lines(s)
    assert "Kendall tau" in lines[0] and f"{s['min_detectable_diff_pp']:.2f} pp" in lines[1]
    empty = table_statistics(T7, {})
    assert "not computable" in " ".join(statistics_lines(empty))
