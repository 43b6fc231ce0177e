"""The one-screen summary a table report opens with: what was trained, which of the paper's claims are
tested fairly and what they show, which are not testable on this proxy and why, and what it would take
to test them. Everything comes from the report's own rows, conclusions and the proxy recipes, so a
re-rendering from the committed files gives the same words."""

from __future__ import annotations

from ..tables import Table
from . import fairness
from .resolving import seeds_text

TITLE = "Summary"
#: The table budget's run, the way to test what the trial proxy cannot.
TABLE_BUDGET_COMMAND = "skmobile reproduce --table {n} --train --budget table --seeds 5 --device cuda"


def _images(budget: str, dataset: str | None) -> str:
    from ..search.trainer import ProxyTrainer
    from ..train.proxy import BUDGETS

    if budget not in BUDGETS:
        return "images not recorded"
    small = {"trial": ProxyTrainer.TRIAL_BUDGET, "table": ProxyTrainer.TABLE_BUDGET}.get(budget, {})
    return (f"{small.get('val_size', 5000):,} held out for validation; tested on "
            + (f"the fixed {small['test_limit']:,}-image subset of the test split" if small.get("test_limit")
               else "the whole test split"))


def _proxy_forms(table: Table, rows: list[dict], budget: str, dataset: str | None) -> list[str]:
    """One phrase per proxy form the rows trained: family, width, depth, groups, stem, maps, warm-up (the
    recipe's today, or the earlier form the runs' recorded parameter counts identify)."""
    from ..train.proxy import proxy_recipe

    shapes = fairness.shapes_for(table, rows, budget, dataset)
    forms = {}
    for row, rec in zip(table.rows, rows):
        px = (rec.get("measured") or {}).get("proxy") or {}
        if row.reference_only or not px:
            continue
        r = proxy_recipe(row.model, budget)
        former = (shapes.get(row.label) or {}).get("former_form")
        kw = {**r.model_kwargs, **(former or {})}
        groups = (" (cardinality, SK groups and L scaled with it)" if kw.get("scale_groups") else
                  " (cardinality kept, SK groups fitted: the earlier form, identified by the recorded parameter "
                  "counts)" if former else "")
        text = (f"{r.family}: width x{kw.get('width_mult', 1):g}" + groups
                + (f", depth x{kw['depth_mult']:g}" if "depth_mult" in kw else ", full depth")
                + f", 3x3/{kw.get('stem_stride', 1)} stem, stage maps {'/'.join(map(str, px.get('stage_maps') or []))} px"
                + f", {f'{r.train_limit:,}' if r.train_limit else 'all'} training images, {r.epochs} epoch(s), lr {r.lr:g} per {r.batch_size}"
                + ("" if r.warmup_epochs is None else f", warm-up {r.warmup_epochs:g} epoch"))
        forms.setdefault(text, None)
    return list(forms)


def _fair_line(claim: dict) -> str:
    parts = []
    for x in claim["comparisons"]:
        if x.get("role") == "secondary" or x["verdict"] == fairness.NOT_TESTABLE or x["diff_pp"] is None:
            continue
        gap = f"{x['diff_pp']:+.2f} pp"
        power = "" if x.get("detectable_gap_pp") is None else f", detectable {x['detectable_gap_pp']:.2f} pp"
        need = x.get("seeds_for_paper_gap") if x.get("kind") == "lower" else x.get("seeds_for_margin")
        parts.append(f"{x['better']} vs {x['worse']}: {x['verdict']} ({gap}{power}; paper's gap "
                     f"{'—' if x.get('paper_diff_pp') is None else format(x['paper_diff_pp'], '+.2f')} pp needs "
                     f"{seeds_text(need)} seeds per row)")
    return f"{claim['claim']}: **{claim['verdict']}**" + (" — " + "; ".join(parts) if parts else "")


def _untestable_line(claim: dict) -> str:
    reasons = []
    for x in claim["comparisons"]:
        if x["verdict"] == fairness.NOT_TESTABLE and x.get("role") != "secondary" and x["reason"] not in reasons:
            reasons.append(x["reason"])
    shown = reasons[:2] + ([f"{len(reasons) - 2} more in the detail below"] if len(reasons) > 2 else [])
    return f"{claim['claim']}: " + "; ".join(shown)


def summary_lines(table: Table, rows: list[dict], proto: dict, concl: list[dict]) -> list[str]:
    """The summary's bullet lines (markdown inline syntax; the HTML page renders the same)."""
    budget = proto.get("budget") or ""
    seeds = proto.get("seeds") or []
    ns = sorted({(r.get("measured") or {}).get("top1_err_n") for r in rows} - {None})
    per_row = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}-{ns[-1]}" if ns else "0"
    lines = [f"Trained: **{proto.get('dataset')}**, budget **{budget}**, {per_row} seed(s) per row "
             f"(of seeds {', '.join(map(str, seeds))}); {_images(budget, proto.get('dataset'))}. Proxies: "
             + "; ".join(_proxy_forms(table, rows, budget, proto.get("dataset"))) + "."]
    fair = [c for c in concl if c["verdict"] != fairness.NOT_TESTABLE]
    untestable = [c for c in concl if any(x["verdict"] == fairness.NOT_TESTABLE and x.get("role") != "secondary"
                                          for x in c["comparisons"])]
    lines += [f"Tested fairly: {_fair_line(c)}." for c in fair] or ["Tested fairly: none of the paper's claims."]
    lines += [f"Not testable on this proxy: {_untestable_line(c)}." for c in untestable]
    if untestable:
        lines.append(f"What it would take: the table budget's proxy (width 0.75 with groups scaled, within 3% in "
                     f"cost on Table 6, every SK map at least 7 px, 55,000 images for 8 epochs) removes these "
                     f"confounds: `{TABLE_BUDGET_COMMAND.format(n=table.number)}` on a GPU (its time per trial is "
                     f"not measured yet); the fair comparisons need the seeds per row printed with them.")
    return lines
