"""Plain sentences for one comparison of a table report: the test and its verdict, its resolving
power, and whether it is a fair test on the proxy (markdown and HTML print the same words)."""

from __future__ import annotations

from . import fairness
from .resolving import seeds_text
from .stats import LOWER, SMALL_GAIN, TIE


def _gap(c: dict) -> str:
    what = {LOWER: "gap", TIE: "difference", SMALL_GAIN: "gain"}.get(c.get("kind", LOWER), "gap")
    text = (f"{c['better']} {c['mean_better']:.2f}% vs {c['worse']} {c['mean_worse']:.2f}% "
            f"(n={c['n_better']}/{c['n_worse']}): {what} {c['diff_pp']:+.2f} pp")
    if c.get("diff_ci95"):
        lo, hi = c["diff_ci95"]
        text += f" [95% CI {lo:+.2f}, {hi:+.2f}"
        if c.get("ci_holm") and c.get("holm_level"):
            hl, hh = c["ci_holm"]
            text += f"; {100 * (1 - c['holm_level']):.1f}% (Holm-level) CI {hl:+.2f}, {hh:+.2f}"
        text += "]"
    return text


def verdict_sentence(c: dict) -> str:
    """The comparison, its test and verdict, and the paper's gap."""
    paper = "—" if c.get("paper_diff_pp") is None else f"{c['paper_diff_pp']:+.2f} pp"
    if c["diff_pp"] is None:
        return f"{c['better']} vs {c['worse']}: not measured. Paper (ImageNet): {paper}."
    if c["verdict"] == fairness.NOT_TESTABLE:
        return f"{c['reason']}. For information: {_gap(c)}. Paper (ImageNet): {paper}."
    if c["p"] is None:
        return f"{_gap(c)}; {c['reason']}. Paper (ImageNet): {paper}."
    test = {LOWER: "Welch p", TIE: "TOST p", SMALL_GAIN: "one-sided p"}.get(c.get("kind", LOWER), "p")
    holm = "" if c.get("p_holm") is None else f", Holm p={c['p_holm']:.3g}"
    return (f"{_gap(c)}, Hedges' g={c['hedges_g']:+.2f}, Welch t={c['welch_t']:+.2f}, {test}={c['p']:.3g}{holm} "
            f"-> {c['verdict']}: {c['reason']}. Paper (ImageNet): {paper}.")


def power_sentence(c: dict) -> str | None:
    """Smallest gap this comparison detects, and the seeds per row the paper's gap (or the margin) needs."""
    if c.get("detectable_gap_pp") is None:
        return None
    level = c["holm_level"]
    where = "at its Holm level" if c.get("p_holm") is not None else "at the Holm level it would have as a test"
    text = (f"Resolving power: with n={min(c['n_better'], c['n_worse'])} seeds per row and their pooled SD "
            f"{c['pair_sd_pp']:.2f} pp, the smallest gap detected with power 0.8 {where} (alpha={level:.3g}) is "
            f"{c['detectable_gap_pp']:.2f} pp")
    if c.get("kind", LOWER) == LOWER:
        if c.get("paper_diff_pp") in (None, 0):
            return text + "."
        return (text + f"; the paper's gap ({c['paper_diff_pp']:+.2f} pp) needs "
                f"{seeds_text(c.get('seeds_for_paper_gap'))} seeds per row at this SD.")
    reach = ("" if c.get("margin_reachable") else
             f"; the ±{c['margin_pp']:g} pp margin cannot be reached with the seeds at hand (the interval at this "
             "level is wider than the margin)")
    return (text + reach + f"; showing a gap below {c['margin_pp']:g} pp takes about "
            f"{seeds_text(c.get('seeds_for_margin'))} seeds per row at this SD.")


def fairness_sentence(c: dict) -> str | None:
    """The proxy's relative body cost against the paper's, and the map rule of the distinguishing paths."""
    if not c.get("cost"):
        return None
    return (f"Fair test? {fairness.cost_text(c['cost'])}; judged on the body counts, tolerance "
            f"±{c['cost']['tolerance_pp']:g} pp; {fairness.map_text(c['map_rule'])}.")


def detail_sentences(c: dict) -> list[str]:
    return [s for s in (power_sentence(c), fairness_sentence(c)) if s]
