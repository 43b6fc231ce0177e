"""Verdicts the data can carry: confounded comparisons are not testable on the proxy, fair ones keep
their verdicts, every comparison prints its resolving power, ties use Holm-level intervals."""

import numpy as np
import pytest

from skmobile.report import fairness
from skmobile.report.conclusions import conclusions
from skmobile.report.resolving import one_sample_detectable, seeds_for_gap
from skmobile.report.sentences import detail_sentences, verdict_sentence
from skmobile.report.stats import FAILS, INCONCLUSIVE, min_detectable_difference, t_power
from skmobile.tables import get_table

T6, T7 = get_table(6), get_table(7)
HEAD = (2049000, 2048000)  # a 1000-class head on 2048 features: params, MACs


def _shape(params, macs, paths, units=(14, 7, 4, 4, 2)):
    """A synthetic proxy: body cost, its SK paths (name, footprint) and its SK units' maps."""
    return {"params": params, "macs": macs, "total_params": params + 5130, "total_macs": macs + 5120,
            "units": list(units), "paths": list(paths), "full_head": HEAD, "recorded_params": None}


def _paper_body(label, table=T7):
    row = next(r for r in table.rows if r.label == label)
    return row.paper["params_m"] * 1e6 - HEAD[0], row.paper[table.flops_key] * 1e9 - HEAD[1]


def _t7_shapes(path_cost=0.19):
    """Table 7 proxies: SK over sum as in the paper; each extra path costs ``path_cost`` of the body
    (the paper: about 0.06), so the 'more paths' comparisons are confounded and SK vs sum is fair;
    ``path_cost=None``: every row at the paper's own body cost (1/40 of it), so no cost confound."""
    out = {}
    for r in T7.rows:
        paths = r.label.split(" ")[0].split("+")
        named = [(p, {"K3": 3, "K5": 5, "K7": 7}[p]) for p in paths]
        if path_cost is None:
            params, macs = _paper_body(r.label)
            out[r.label] = _shape(params / 40, macs / 400, named)
            continue
        base = 600_000 * (1 + path_cost * (len(paths) - 1))
        if "with SK" in r.label:  # the paper's relative SK overhead, exactly
            sk, plain = _paper_body(r.label), _paper_body(r.label.replace("with SK", "(sum)"))
            out[r.label] = _shape(base * sk[0] / plain[0], 8e6 * sk[1] / plain[1], named)
        else:
            out[r.label] = _shape(base, 8e6, named)
    return out


def _errors(sk=22.0, plain=20.0, n=5):
    offsets = np.linspace(-0.2, 0.2, n)
    return {r.label: list((sk if "with SK" in r.label else plain) + offsets) for r in T7.rows}


def test_confounded_pair_is_not_testable_and_a_fair_clear_gap_still_does_not_hold():
    out = {c["id"]: c for c in conclusions(T7, _errors(), _t7_shapes())}
    more, sk = out["more_paths_lower_error"], out["sk_beats_sum"]
    assert more["verdict"] == fairness.NOT_TESTABLE
    for x in more["comparisons"]:
        assert x["verdict"] == fairness.NOT_TESTABLE and "in the paper (beyond ±3 pp)" in x["reason"]
        assert x["p_holm"] is None and "holds" not in verdict_sentence(x)
    # SK 2 pp worse than the sum in every set, at the paper's relative cost: a fair test that fails
    assert sk["verdict"] == FAILS and {x["verdict"] for x in sk["comparisons"]} == {FAILS}
    assert {x["holm_family"] for x in sk["comparisons"]} == {4}  # the 4 SK-vs-sum pairs; M=3's extra path is dearer
    assert {x["holm_level"] for x in sk["comparisons"]} == {0.0125}
    for x in sk["comparisons"]:
        assert x["confound"] is None and abs(x["cost"]["proxy_params_pct"] - x["cost"]["paper_params_pct"]) < 1e-6
        assert x["map_rule"] == {"rows": []}  # the same paths on both sides: nothing to fit
        lines = detail_sentences(x)
        assert lines[0].startswith("Resolving power: with n=5") and "seeds per row" in lines[0]
        assert "tolerance ±3 pp" in lines[1] and "no distinguishing SK path" in lines[1]


def test_paths_that_read_mostly_padding_make_a_pair_not_testable():
    shapes = _t7_shapes(path_cost=None)  # the paper's cost everywhere: only the map rule can object
    out = {c["id"]: c for c in conclusions(T7, _errors(), shapes)}
    more = out["more_paths_lower_error"]["comparisons"][0]
    assert more["verdict"] == fairness.NOT_TESTABLE
    assert "fits the map in 2 of 5 SK units (maps 14/7/4/2 px): it reads mostly padding" in more["reason"]
    for s in shapes.values():
        s["units"] = [14, 14, 7, 7, 7]  # every K5/K7 fits: the same pair becomes a fair test
    fair = {c["id"]: c for c in conclusions(T7, _errors(), shapes)}["more_paths_lower_error"]["comparisons"][0]
    assert fair["verdict"] != fairness.NOT_TESTABLE and fair["p_holm"] is not None


def test_tie_uses_its_holm_level_interval():
    """The committed Table 6's D=2 vs 5x5 pair: its 95% CI [-2.47, -0.54] lies outside ±0.2 pp, but at its
    Holm level the interval reaches the margin: inconclusive, and the margin is out of reach at n=5."""
    errs = {"3x3, D=3, G=32 (resulted 7x7)": [22.18, 21.92, 22.58, 21.44, 21.76],
            "3x3, D=2, G=32 (resulted 5x5)": [22.58, 21.24, 23.4, 22.68, 22.74],
            "3x3, D=1, G=32 (resulted 3x3)": [20.98, 19.86, 22.5, 22.82, 20.94],
            "5x5, D=1, G=64 (resulted 5x5)": [21.36, 20.82, 21.1, 21.08, 20.74],
            "7x7, D=1, G=128 (resulted 7x7)": [19.36, 20.56, 19.96, 20.36, 19.3]}
    tie = conclusions(T6, errs)[0]["comparisons"][0]
    assert tie["kind"] == "tie" and tie["diff_ci95"] == pytest.approx([-2.472, -0.544], abs=1e-3)
    lo, hi = tie["ci_holm"]
    assert lo < -2.47 and hi > -0.2 and tie["verdict"] == INCONCLUSIVE
    assert tie["margin_reachable"] is False and tie["seeds_for_margin"] > 100
    assert "cannot be reached with the seeds at hand" in detail_sentences(tie)[0]


def test_resolving_power_numbers():
    sd, n, level = 0.6, 5, 0.05 / 4
    gap = min_detectable_difference(sd, n, level)
    assert t_power(gap, sd, n, level) == pytest.approx(0.8, abs=1e-6)
    need = seeds_for_gap(0.5, sd, level)
    assert t_power(0.5, sd, need, level) >= 0.8 > t_power(0.5, sd, need - 1, level)
    assert seeds_for_gap(0.0, sd, level) is None
    one = one_sample_detectable(0.05, 5, 0.0125)
    assert 0.05 < one < 0.2  # a one-sample test of 5 values at SD 0.05 needs a change near 3 SD/sqrt(5)


def test_attention_stages_whose_maps_are_too_small_leave_the_holm_family():
    from skmobile.report.attention import judge_changes

    def stage(i, size, values):
        return {"stage": i, "map_size": size, "larger_extent": 5, "larger": "3x3 d2", "smaller": "3x3",
                "changes": [{"factor": 2.0, "per_model": values, "images_rising": [0.5] * len(values)}]}

    result = judge_changes({"models": 5, "alpha": 0.05, "factors": [1.0, 2.0],
                            "stages": [stage(1, 14, [0.10, 0.12, 0.11, 0.13, 0.09]),
                                       stage(2, 4, [0.10, 0.12, 0.11, 0.13, 0.09])]})
    first, second = (st["changes"][0] for st in result["stages"])
    assert result["holm_family"] == 1 and first["verdict"] == "rises" and first["p_holm"] == first["p"]
    assert second["verdict"].startswith("not testable on this proxy") and second["p_holm"] is None
    assert first["detectable"] == pytest.approx(one_sample_detectable(first["sd"], 5, 0.05), abs=1e-5)


@pytest.mark.parametrize("number", [6, 7])
def test_table_budget_proxy_leaves_no_confound_and_the_trial_proxy_does(number):
    """What the summaries say it would take: on the table budget's proxy every comparison of Tables 6 and 7
    is within the cost tolerance and keeps the map rule; on the trial proxy, Table 6 has no fair one."""
    from skmobile.report.conclusions import claims

    table = get_table(number)
    rows = [{"measured": {}} for _ in table.rows]
    pairs = [p for _, _, ps in claims(table) for p in ps]
    as_list = (lambda x: [x] if isinstance(x, str) else list(x))
    for budget in ("table", "trial"):
        shapes = fairness.shapes_for(table, rows, budget, "fashion-mnist")
        found = [fairness.judge(table, as_list(p[0]), as_list(p[1]), shapes)["confound"] for p in pairs]
        if budget == "table":
            assert found == [None] * len(pairs)
        elif number == 6:
            assert all(found)
        else:  # SK over the plain sum of the same paths costs in the proxy what it costs in the paper
            sk_vs_sum = [isinstance(p[0], str) and p[0].endswith("with SK") and p[1] == p[0].replace("with SK", "(sum)")
                         for p in pairs]
            assert sum(sk_vs_sum) == 4 and [c is None for c in found] == sk_vs_sum
