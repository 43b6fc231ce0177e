"""Compare predictor evaluations: per-model errors of one or more `--build-table` runs side by side,
the median error by footprint band (with and without the cache term), and how far the same
model's measured latency and layer sum moved between runs (the noise floor of the machine):

    .venv/bin/python tools/predictor_runs.py RUN1.json [RUN2.json ...]

Each RUN is a table written by `skmobile bench latency --build-table --table RUN.json` (with its
default --check, so it holds measured and predicted latency per model).
"""

from __future__ import annotations

import argparse
import statistics

from skmobile.latency.predictor import LatencyTable

BANDS = ((0, 12), (12, 20), (20, 30), (30, 1e9))


def _order(name: str) -> tuple:
    return (not name.startswith("shufflenet"), name)


def per_model_markdown(runs: list[LatencyTable]) -> list[str]:
    head = "| model | footprint MiB |" + "".join(
        f" run {i} measured p50 ms (p10-p90) | layers alone ms | cache term ms | predicted ms | error % (without the term) |"
        for i in range(1, len(runs) + 1))
    lines = [head, "|---|---:|" + "---:|" * 5 * len(runs)]
    for name in sorted(runs[0].models, key=_order):
        rows = [t.models.get(name, {}) for t in runs]
        if not all("measured_ms" in r for r in rows):
            continue
        cells = "".join(f" {r['measured_ms']:.3f} ({r['measured_p10_ms']:.2f}-{r['measured_p90_ms']:.2f}) | "
                        f"{r['layers_alone_ms']:.3f} | {r['cache_term_ms']:.3f} | {r['predicted_ms']:.3f} | "
                        f"{r['error_pct']:+.1f} ({r['error_layers_alone_pct']:+.1f}) |" for r in rows)
        lines.append(f"| {name} | {rows[0]['footprint_mib']:.1f} |{cells}")
    return lines


def band_lines(run: LatencyTable, label: str) -> list[str]:
    rows = [r for r in run.models.values() if "error_layers_alone_pct" in r]
    out = []
    for lo, hi in BANDS:
        band = [r for r in rows if lo <= r["footprint_mib"] < hi]
        if band:
            span = f"{lo}-{hi:g} MiB" if hi < 1e9 else f">= {lo} MiB"
            out.append(f"- {label}, footprint {span} ({len(band)} models): median error "
                       f"{statistics.median(r['error_pct'] for r in band):+.1f} % with the cache term, "
                       f"{statistics.median(r['error_layers_alone_pct'] for r in band):+.1f} % without")
    return out


def drift_lines(a: LatencyTable, b: LatencyTable, label: str) -> list[str]:
    names = [n for n in a.models if "measured_ms" in a.models[n] and "measured_ms" in b.models.get(n, {})]
    if not names:
        return []
    meas = sorted(abs(b.models[n]["measured_ms"] / a.models[n]["measured_ms"] - 1) * 100 for n in names)
    alone = sorted(abs(b.models[n]["layers_alone_ms"] / a.models[n]["layers_alone_ms"] - 1) * 100 for n in names)
    return [f"- {label}: measured p50 moved by a median {statistics.median(meas):.1f} % (largest {meas[-1]:.1f} %; "
            f"{sum(m > 10 for m in meas)} of {len(names)} models by more than 10 %); the layer sums by a median "
            f"{statistics.median(alone):.1f} % (largest {alone[-1]:.1f} %)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    args = ap.parse_args()
    runs = [LatencyTable.load(p) for p in args.tables]
    print("\n".join(per_model_markdown(runs)))
    print()
    for i, run in enumerate(runs, 1):
        print("\n".join(band_lines(run, f"run {i}")))
    for i in range(1, len(runs)):
        print("\n".join(drift_lines(runs[0], runs[i], f"run 1 -> run {i + 1}")))


if __name__ == "__main__":
    main()
