"""How far to trust a latency table: its check as figures and markdown.

A check (``skmobile bench latency --build-table --check``) times every layer and every whole model
together and cuts its rounds into runs; each run predicts every model from its own layer times and
measures the model in the same rounds. Per run: Kendall's tau-b between predicted and measured
latency over the models (does the table rank them as the machine does?) and the median absolute
error. The noise floor is what the measurements alone give run to run: per pair of runs, the median
over models of |b - a| / a (a the earlier run), and Kendall's tau between the two runs' measurements. A prediction
cannot be judged closer than that.
"""

from __future__ import annotations

import itertools
import statistics

from .stats import rank_agreement


def _tau(a: dict, b: dict) -> float | None:
    names = sorted(b)
    return rank_agreement([a[n] for n in names], [b[n] for n in names])["kendall_tau"]


def _mdae(a: dict, b: dict) -> float:
    """Median over the models of |a - b| / b, in percent."""
    return round(statistics.median(100 * abs(a[n] / b[n] - 1) for n in b), 2)


def figures(check: dict) -> dict:
    """Kendall's tau and the median absolute error per run, and the noise floor per pair of runs."""
    runs = [{"kendall_tau": _tau(r["predicted"], r["measured"]),
             "median_abs_error_pct": _mdae(r["predicted"], r["measured"])} for r in check["runs"]]
    pairs = [{"runs": [i + 1, j + 1], "median_abs_diff_pct": _mdae(b["measured"], a["measured"]),
              "kendall_tau": _tau(a["measured"], b["measured"])}
             for (i, a), (j, b) in itertools.combinations(enumerate(check["runs"]), 2)]
    floor = statistics.median(p["median_abs_diff_pct"] for p in pairs) if pairs else None
    return {"models": len(check["runs"][0]["measured"]) if check["runs"] else 0, "runs": runs,
            "noise_pairs": pairs, "noise_floor_pct": floor}


def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_lines(check: dict) -> list[str]:
    """Tau, median absolute error and noise floor, one line each."""
    fig = figures(check)
    pairs = fig["noise_pairs"]
    return [f"Kendall's tau, predicted vs measured, over {fig['models']} models, per run ({len(fig['runs'])} runs): "
            + ", ".join(_f(r["kendall_tau"], ".3f") for r in fig["runs"]),
            "Median absolute error per run: " + ", ".join(f"{r['median_abs_error_pct']:.1f} %" for r in fig["runs"]),
            "Noise floor, measured vs measured (median over models of |later - earlier| / earlier) per pair of runs: "
            + (", ".join(f"runs {p['runs'][0]}-{p['runs'][1]} {p['median_abs_diff_pct']:.1f} %" for p in pairs)
               + "; Kendall's tau between runs: " + ", ".join(_f(p["kendall_tau"], ".3f") for p in pairs)
               if pairs else "needs 2 runs or more")]


def check_markdown(table, command: str) -> str:
    """The check of ``table`` (a :class:`skmobile.latency.table.LatencyTable` built with --check)."""
    s, m, check = table.setting, table.machine, table.check
    runtime = "" if s["runtime"] == "torch" else f"{m.get('runtime')}, "
    lines = [f"# Latency table check ({s['runtime']}, {s['device']}, {s['threads']} thread(s), batch {s['batch']})",
             "", f"Command: `{command}`", "",
             f"Machine: {m.get('cpu')} ({m.get('logical_cpus')} logical CPUs), {runtime}torch {m.get('torch')}; "
             f"load average at the start {m.get('load_avg')}, at the end {check.get('load_avg_at_end')}; "
             f"{m.get('date')}; clock {table.clock}.", "",
             f"Table: {len(table.entries)} layers timed alone, {len(table.skipped)} left out (cannot run alone), "
             f"per-call overhead {table.overhead_ms:.4f} ms (added once per model). Layers and models were timed in the "
             f"same {check['rounds']} interleaved rounds, cut into {len(check['runs'])} runs of consecutive rounds.", "",
             *[f"- {line}" for line in summary_lines(check)], "",
             "| model | measured p50 ms | p10-p90 ms | predicted ms | error % |", "|---|---:|---:|---:|---:|"]
    for name, r in table.models.items():
        lines.append(f"| {name} | {r['measured_ms']:.3f} | {r['measured_p10_ms']:.3f}-{r['measured_p90_ms']:.3f} | "
                     f"{r['predicted_ms']:.3f} | {r['error_pct']:+.1f} |")
    return "\n".join(lines) + "\n"
