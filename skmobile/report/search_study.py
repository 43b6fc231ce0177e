"""A report for one search study (``skmobile report --study NAME``): what the search found.

Read through :func:`skmobile.search.storage.open_storage`. Complete trials are grouped into
configurations (the same network, see :mod:`skmobile.report.paper_match`); a configuration trained
with several seeds gets the mean and a 95 % t-interval of its proxy error over seeds (a reused
result counts once: it is the same seed). Written: STEM.md, STEM.csv (one row per configuration),
STEM.json (everything, trials included), STEM.html (figures embedded) and the figures as PNG.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

from ..errors import SKMobileError
from . import study_figures as sfig
from .factors import effects, factors, varying
from .figures import plt
from .importance import importances
from .paper_match import config_key, paper_rows_for, paper_rows_in_space, short_name
from .pareto import pareto_front
from .stats import rnd
from .study_cells import BEST_SHOWN, NO_LATENCY, best, best_cost_cells, best_cost_head, cost_head, \
    flops_latency_lines, fmt, importance_caveat, protocol

ERROR_NAME = "proxy validation error (%)"


# --- reading ---------------------------------------------------------------------------------------

def open_study(storage: str | None, name: str):
    """The study ``name`` in ``storage`` (never creates a database or a study)."""
    from ..search.storage import open_study as storage_open_study

    return storage_open_study(storage, name)


def is_search_study(study) -> bool:
    """True for a study made by ``skmobile search --space`` (not a paper-table grid)."""
    from ..search.spaces import SPACES

    if study.user_attrs.get("space") in SPACES:
        return True
    return any(t.user_attrs.get("space") in SPACES for t in study.get_trials(deepcopy=False)[:20])


def _error(attrs: dict, values) -> float | None:
    v = attrs.get("val_error")
    if v is None and values:
        v = values[0]
    if v is None:
        return None
    v = float(v)
    if attrs.get("error_unit") in ("fraction", "frac"):
        v *= 100
    return v if math.isfinite(v) else None


def _latency_keys(attrs: dict) -> list[str]:
    """``latency_ms`` (the search's full-size latency, median) and any ``*_latency_ms`` beside it."""
    return sorted(k for k, v in attrs.items() if (k == "latency_ms" or k.endswith("_latency_ms"))
                  and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def _trial_row(t) -> dict | None:
    a = t.user_attrs
    err = _error(a, t.values)
    model = a.get("model")
    if err is None or not model:
        return None
    spec = a.get("spec") or {}
    if isinstance(spec, str):
        spec = json.loads(spec)
    mflops = a.get("mflops", (a["macs"] / 1e6) if a.get("macs") is not None else None)
    test = a.get("test_error")
    row = {"number": t.number, "label": a.get("label") or model, "model": model, "spec": spec,
           "config": config_key(model, spec), "seed": a.get("seed"), "error": err,
           "test_error": None if test is None else float(test) * (100 if a.get("error_unit") == "fraction" else 1),
           "mflops": None if mflops is None else float(mflops),
           "params_m": None if a.get("params") is None else float(a["params"]) / 1e6,
           "reused_from": a.get("reused_from"), "factors": factors(model, spec),
           "dataset": a.get("dataset"), "budget": a.get("budget"), "epochs": a.get("epochs"),
           "setup": _setup(a)}
    for k in _latency_keys(a):
        row[k] = float(a[k])
    if "latency_ms" in row:
        row["latency_runtime"] = a.get("latency_runtime")
        row["latency_threads"] = a.get("latency_threads")
        row["latency_setting"] = _latency_setting(a)
    return row


def _setup(a: dict) -> str:
    """What a trial's error was measured under: data set, budget, training images, epochs. Trials of
    different setups are never pooled into one configuration row."""
    images = a.get("train_images")
    return (f"{a.get('dataset') or 'data set ?'}, budget {a.get('budget') or '?'}, "
            f"{'all' if images is None else images} training images, {a.get('epochs') or '?'} epoch(s)")


def _latency_setting(a: dict) -> str:
    """How a trial's latency was obtained, in words: runtime, threads, batch, device, measured or predicted."""
    threads = a.get("latency_threads")
    parts = [f"{threads} thread{'' if threads == 1 else 's'}" if threads is not None else None,
             f"batch {a['latency_batch']}" if a.get("latency_batch") is not None else None,
             a.get("latency_device"), a.get("latency_source")]
    parts = [p for p in parts if p]
    return (a.get("latency_runtime") or "latency setting not recorded") + (f" ({', '.join(parts)})" if parts else "")


def _ci95(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, half-width of the 95 % t-interval); half-width None for fewer than 2 values."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    from scipy import stats as st

    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return mean, st.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))


def _configurations(trials: list[dict], costs: list[str]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for t in trials:
        groups.setdefault((t["config"], t.get("setup")), []).append(t)
    mixed = len({setup for _, setup in groups}) > 1  # then each row names its setup
    out = []
    for (key, setup), ts in groups.items():
        by_seed = {}
        for t in sorted(ts, key=lambda t: t["number"]):
            by_seed[t["seed"]] = t  # one value per seed: a reused result is the same seed's number
        per_seed = list(by_seed.values())
        mean, half = _ci95([t["error"] for t in per_seed])
        tests = [t["test_error"] for t in per_seed if t["test_error"] is not None]
        tmean, thalf = _ci95(tests)
        first = ts[0]
        rows = paper_rows_for(first["model"], first["spec"])
        label = first["label"] + (f" [{setup}]" if mixed else "")
        c = {"config": key, "label": label, "setup": setup, "model": first["model"], "spec": first["spec"],
             "factors": first["factors"], "trials": [t["number"] for t in ts],
             "seeds": sorted((t["seed"] for t in per_seed), key=lambda s: (s is None, s or 0)), "n": len(per_seed),
             "error_mean": rnd(mean), "error_ci95": rnd(half), "test_error_mean": rnd(tmean),
             "test_error_ci95": rnd(thalf), "paper_rows": rows,
             "paper_tag": "; ".join(short_name(r) for r in rows)}
        for cost in costs:
            vals = [t[cost] for t in ts if t.get(cost) is not None]
            c[cost] = rnd(sum(vals) / len(vals), 4) if vals else None
        for key in ("latency_runtime", "latency_threads", "latency_setting"):
            seen = sorted({str(t[key]) for t in ts if t.get(key) is not None})
            if seen:
                c[key] = " / ".join(seen)
        out.append(c)
    out.sort(key=lambda c: (c["error_mean"], c.get("mflops") or 0, c["label"]))
    for rank, c in enumerate(out, 1):
        c["rank"] = rank
    for cost in costs:
        front = set(pareto_front([(c[cost], c["error_mean"]) for c in out if c.get(cost) is not None]))
        for c in out:
            c[f"front_{cost}"] = c.get(cost) is not None and (c[cost], c["error_mean"]) in front
    return out


def collect(study, storage_shown: str) -> dict:
    """Everything the report shows, as plain JSON-able data."""
    from optuna.trial import TrialState

    from ..search.spaces import SPACES

    all_trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in all_trials) for s in TrialState}
    trials = [r for t in all_trials if t.state == TrialState.COMPLETE for r in [_trial_row(t)] if r]
    latency = sorted({k for t in trials for k in t if k == "latency_ms" or k.endswith("_latency_ms")})
    costs = ["mflops", "params_m"] + latency
    configs = _configurations(trials, costs)
    space_name = study.user_attrs.get("space")
    space = SPACES.get(space_name)
    names = varying(trials)
    second = (study.metric_names or [None, "mflops"])[-1] if len(study.directions) > 1 else None
    objectives = ["error"] + ([second] if second in costs else [])  # mflops, or latency_ms
    by_key = {c["config"]: c for c in configs}
    paper = []
    for e in (paper_rows_in_space(space) if space else []):
        c = by_key.get(e["key"])
        paper.append({"table": e["table"], "label": e["label"], "paper": e["paper"], "flops_key": e["flops_key"],
                      "searched": c is not None, "configuration": c["label"] if c else None,
                      "error_mean": c["error_mean"] if c else None, "error_ci95": c["error_ci95"] if c else None,
                      "n": c["n"] if c else 0, "mflops": c["mflops"] if c else None})
    problems = [{"number": t.number, "state": t.state.name.lower(),
                 "reason": t.user_attrs.get("fail_reason") or t.user_attrs.get("rejected")}
                for t in all_trials if t.state in (TrialState.FAIL, TrialState.PRUNED)]
    return {
        "study": study.study_name, "storage": storage_shown, "space": space_name,
        "space_description": space.description if space else None, "space_size": space.size if space else None,
        "objective": study.user_attrs.get("objective"), "metric_names": study.metric_names,
        "dataset": study.user_attrs.get("dataset"), "budget": _budget(study.user_attrs),
        "trial_datasets": sorted({str(t["dataset"]) for t in trials if t["dataset"] is not None}),
        "counts": counts, "complete": len(trials), "configurations": len(configs),
        "reused": sum(t["reused_from"] is not None for t in trials), "costs": costs, "error": ERROR_NAME,
        "factors": names, "trials": trials, "configs": configs,
        "importances": importances(trials, names, objectives),
        "effects": effects(trials, names, costs), "paper_rows": paper, "not_complete": problems,
        "flops_vs_latency": flops_vs_latency(configs),
    }


def _budget(attrs: dict) -> str | None:
    """The study's budget with its overrides (``trial (train-limit 256, epochs 1)``)."""
    from .study import budget_overrides

    note = budget_overrides(attrs)
    budget = attrs.get("budget")
    return f"{budget} ({note})" if budget and note else budget


def flops_vs_latency(configs: list[dict]) -> list[dict]:
    """Where FLOPs and latency disagree over the configurations (their means), one result per latency
    setting (runtime, threads, ...: latencies of different settings are not compared)."""
    from .disagreement import compare

    groups: dict[str, list] = {}
    for c in configs:
        if c.get("latency_ms") is not None and c.get("mflops") is not None:
            groups.setdefault(c.get("latency_setting") or "setting not recorded", []).append(
                (c["label"], c["mflops"], c["latency_ms"]))
    return [{"setting": key, **compare(items)} for key, items in sorted(groups.items())]


# --- writing ---------------------------------------------------------------------------------------

def stem_for(study_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", study_name).strip("._") or "study"


def _err(mean, half, n=None) -> str:
    if mean is None:
        return "—"
    text = f"{mean:.2f}" + (f" ± {half:.2f}" if half is not None else "")
    return text + (f" (n={n})" if n is not None else "")


def _paper_cell(rows: list[dict]) -> str:
    return "; ".join(f"Table {r['table']} \"{r['label']}\": {fmt(r['paper'].get('top1_err'))} %" for r in rows)


def to_markdown(data: dict, figures: list[tuple[str, str]], command: str) -> str:
    lines = (_md_intro(data, command) + _md_front(data, figures) + _md_best(data) + _md_paper_rows(data)
             + _md_importances(data) + _md_effects(data))
    if data["not_complete"]:
        lines += ["## Failed and pruned trials", ""]
        lines += [f"- trial {p['number']} {p['state']}: {p['reason'] or 'no reason recorded'}" for p in data["not_complete"]]
    return "\n".join(lines).rstrip() + "\n"


def _md_intro(data: dict, command: str) -> list[str]:
    c = data["counts"]
    return [f"# Search study `{data['study']}`" + (f": {data['space_description']}" if data["space_description"] else ""),
            "", f"Regenerated by `{command}` from {data['storage']}.", "",
            f"Space **{data['space']}** ({data['space_size']} configurations), objective {data['objective']} "
            f"({', '.join(data['metric_names'] or [])}), {protocol(data)}. Trials: {c['complete']} complete "
            f"({data['reused']} reused an identical earlier trial), {c['fail']} failed, {c['pruned']} pruned, "
            f"{c['running']} running, {c['waiting']} waiting; {data['configurations']} distinct configurations.",
            "", f"Error = {data['error']} of the small proxy model (what the search minimises); test error on the "
            "fixed test subset beside it. Mean ± half-width of the 95 % t-interval over seeds where a configuration "
            "was trained with several seeds. Costs are the full-size model's (224 px, 1000 classes, paper convention). "
            "Proxy errors rank configurations; their level is not comparable with the paper's ImageNet errors."]


def _md_front(data: dict, figures: list[tuple[str, str]]) -> list[str]:
    lines = ["", "## Pareto front", ""]
    front = [x for x in data["configs"] if x.get("front_mflops")]
    if front:
        lines += ["Configurations on the error vs MFLOPs front (configuration means):", ""]
        for x in sorted(front, key=lambda x: x["mflops"]):
            lines.append(f"- {x['label']}: {_err(x['error_mean'], x['error_ci95'], x['n'])} % at "
                         f"{x['mflops']:.1f} MFLOPs" + (f" — paper row: {x['paper_tag']}" if x["paper_rows"] else ""))
    else:
        lines.append("No complete trial yet.")
    if not any("latency" in k for k in data["costs"]):
        lines += ["", NO_LATENCY]
    for name, caption in figures:
        lines += ["", f"![{caption}]({name})"]
    return lines


def _md_best(data: dict) -> list[str]:
    costs = data["costs"]
    lines = ["", f"## Best configurations (top {BEST_SHOWN} by mean error, plus every front and paper-row "
             "configuration)", "", "seeds = how many seeds a row's mean is over.", ""]
    head = ["#", "configuration", "front", "seeds", "val err (%)", "test err (%)"] + best_cost_head(costs) + \
           ["paper row (ImageNet top-1 err)"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x in best(data):
        cells = [str(x["rank"]), f"`{x['label']}`", "✓" if x.get("front_mflops") else "",
                 str(x["n"]), _err(x["error_mean"], x["error_ci95"]),
                 _err(x["test_error_mean"], x["test_error_ci95"])] + best_cost_cells(x, costs) + \
                [("**paper** " + _paper_cell(x["paper_rows"])) if x["paper_rows"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    flops_latency = flops_latency_lines(data)
    if flops_latency:
        lines += ["", "## FLOPs vs latency", "", flops_latency[0], ""] + [f"- {x}" for x in flops_latency[1:]]
    return lines


def _md_paper_rows(data: dict) -> list[str]:
    lines = ["", "## Paper rows in this space", ""]
    if not data["paper_rows"]:
        return lines + ["This space holds no row of Tables 4, 6 or 7."]
    lines += ["| table | row | paper #P (M) | paper FLOPs | paper top-1 err (%) | searched | proxy val err (%) "
              "| MFLOPs (full size) |", "|---|---|---|---|---|---|---|---|"]
    for r in data["paper_rows"]:
        p = r["paper"]
        flops = p.get(r["flops_key"])
        unit = "G" if r["flops_key"] == "gflops" else "M"
        lines.append(f"| {r['table']} | {r['label']} | {fmt(p.get('params_m'))} | "
                     f"{'—' if flops is None else f'{flops} {unit}'} | {fmt(p.get('top1_err'))} | "
                     f"{'yes' if r['searched'] else 'no'} | {_err(r['error_mean'], r['error_ci95'], r['n'] or None)} "
                     f"| {fmt(r['mflops'], 1)} |")
    return lines


def _md_importances(data: dict) -> list[str]:
    lines = ["", "## Parameter importances (fANOVA)", "",
             "Optuna's `FanovaImportanceEvaluator(seed=0)` per objective, over the searched factors "
             "(categorical; `n/a` where a factor does not apply to a configuration)."]
    for obj, res in data["importances"].items():
        lines += ["", f"**{obj}** ({res['trials']} trials): " + (
            ", ".join(f"{k} {v:.3f}" for k, v in res["importances"].items()) if "importances" in res
            else f"not computed: {res['reason']}.")]
        caveat = importance_caveat(res)
        if caveat:
            lines[-1] += f" Caveat: {caveat}."
    return lines


def _md_effects(data: dict) -> list[str]:
    costs = data["costs"]
    lines = ["", "## How each factor moves error and cost", ""]
    if not data["effects"]:
        lines.append("No searched factor varies across the complete trials.")
    for name, rows in data["effects"].items():
        head = [name, "trials", "configs", "mean val err (%)", "best val err (%)"] + \
               [f"mean {h}" for h in cost_head(costs)]
        lines += [f"### {name}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            lines.append("| " + " | ".join([str(r["level"]), str(r["trials"]), str(r["configs"]),
                                            fmt(r["mean_error"]), fmt(r["min_error"])]
                                           + [fmt(r[f"mean_{k}"], 1 if k == "mflops" else 3) for k in costs]) + " |")
        lines.append("")
    return lines


def to_csv(data: dict) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    costs = data["costs"]
    w.writerow(["rank", "label", "model", "spec", "front_mflops", "n_seeds", "seeds", "trials", "val_error_mean",
                "val_error_ci95", "test_error_mean", "test_error_ci95", *costs,
                *(["latency_runtime", "latency_threads"] if "latency_ms" in costs else []), "paper_rows"])
    for c in data["configs"]:
        w.writerow([c["rank"], c["label"], c["model"], json.dumps(c["spec"], sort_keys=True), c["front_mflops"], c["n"],
                    " ".join(map(str, c["seeds"])), " ".join(map(str, c["trials"])), c["error_mean"],
                    "" if c["error_ci95"] is None else c["error_ci95"],
                    "" if c["test_error_mean"] is None else c["test_error_mean"],
                    "" if c["test_error_ci95"] is None else c["test_error_ci95"],
                    *["" if c.get(k) is None else c[k] for k in costs],
                    *([c.get("latency_runtime") or "", c.get("latency_threads") or ""] if "latency_ms" in costs else []),
                    c["paper_tag"]])
    return buf.getvalue()


def _save(fig, out: Path, stem: str) -> dict:
    """``stem``.png (no timestamp), as :func:`skmobile.report.figures.save` but without the SVG."""
    path = out / f"{stem}.png"
    fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)
    return {"png": path}


def write_study_report(storage: str | None, name: str, out_dir: str | Path, command: str) -> dict:
    """Read study ``name`` and write its report into ``out_dir``; returns {"data", "paths", "html"}."""
    from ..search.storage import parse_storage
    from .study_html import to_html

    study = open_study(storage, name)
    data = collect(study, parse_storage(storage).redacted())
    if not data["trials"]:
        raise SKMobileError(f"study {name!r} has no complete trial with a proxy error yet "
                            f"({', '.join(f'{v} {k}' for k, v in data['counts'].items() if v) or 'no trials'}); "
                            "run `skmobile search` to add some")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem_for(name)
    made: list[tuple[str, Path, str]] = []  # (id, png path, caption)
    title = f"study {name}: {data['complete']} complete trials"
    for cost in data["costs"]:
        fig = sfig.error_vs_cost(data["trials"], data["configs"], cost, ERROR_NAME, f"{title}, error vs {cost}")
        paths = _save(fig, out, f"{stem}_pareto_{cost}")
        made.append((f"pareto_{cost}", paths["png"],
                     f"Proxy validation error vs {sfig.cost_label(cost)}: every complete trial, the Pareto front of "
                     "configuration means, and paper rows (stars)."))
    if any("importances" in r for r in data["importances"].values()):
        paths = _save(sfig.importance_bars(data["importances"], f"{title}: fANOVA importances"), out,
                     f"{stem}_importances")
        made.append(("importances", paths["png"], "fANOVA importance of each searched factor, per objective."))
    if data["effects"]:
        paths = _save(sfig.factor_effects(data["effects"], ERROR_NAME, f"{title}: error per factor level"), out,
                     f"{stem}_factors")
        made.append(("factors", paths["png"], "Mean (bars) and best (dots) proxy validation error per level of "
                     "each searched factor."))
    md = out / f"{stem}.md"
    md.write_text(to_markdown(data, [(p.name, cap) for _, p, cap in made], command))
    csv_path = out / f"{stem}.csv"
    csv_path.write_text(to_csv(data))
    js = out / f"{stem}.json"
    js.write_text(json.dumps({"command": command, **data}, indent=1, sort_keys=True, default=str) + "\n")
    html = out / f"{stem}.html"
    html.write_text(to_html(data, made, command))
    figs = [png for _, png, _ in made]
    return {"data": data, "paths": [md, csv_path, js, html, *figs], "html": html}
