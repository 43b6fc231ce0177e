"""Which terms of the old latency predictor earn their place? A paired ablation on the same runs.

Reads tables written by ``skmobile bench latency --build-table --check`` with the predictor of
table format 5 (layers timed alone, NCHWc layout walk, one node's dispatch per layer, cache term
with cold weight-heavy layers). For each run it re-predicts every measured model with each subset
of those terms, nothing re-timed, and prints Kendall's tau (predicted vs measured) and the median
absolute error per variant, so every variant is judged on the same measurements.

Variants (``sum`` is the simplest predictor: the runtime's per-call overhead once, plus every layer
as timed alone, its own boundary reorders included):

* ``layout``: the NCHWc walk (a reorder only where the layout changes) instead of each layer's own;
* ``node``: one node's dispatch per layer;
* ``cache``: the cache term (streaming reads, cold weight-heavy layers scaled by the miss share).

It needs the format-5 predictor (``skmobile/latency/predictor.py`` and ``memory.py`` as they were
before the predictor was simplified): run it from a checkout of that commit, e.g.
``git worktree add /tmp/old <commit> && PYTHONPATH=/tmp/old python experiments/predictor_terms.py RUN*.json``.
Not part of the package or of the test suite.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics


def variants(table, units) -> dict[str, float]:
    """Predicted ms of one model under every subset of the three terms."""
    node = (table.node_ms or 0.0) * sum(u.key in table.entries for u in units)
    walk = table.hot_sum(units)[0] - node                      # overhead + layers + reorders by the walk
    own = table.overhead_ms
    for u in units:
        e = table.entries.get(u.key)
        if e is not None:
            own += e["ms"] + (e.get("reorder_in_ms") or 0.0) + (e.get("reorder_out_ms") or 0.0)
    out = {}
    for layout, nodes, cache in itertools.product((False, True), repeat=3):
        hot = (walk if layout else own) + (node if nodes else 0.0)
        ms = hot + (table.cache_term(units, hot)[0] if cache else 0.0)
        name = "+".join(n for n, on in (("layout", layout), ("node", nodes), ("cache", cache)) if on) or "sum"
        out[name if name == "sum" else "sum+" + name] = ms
    return out


def tau(xs: list[float], ys: list[float]) -> float:
    from skmobile.report.stats import rank_agreement

    return rank_agreement(xs, ys)["kendall_tau"]


def main() -> None:
    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+")
    ap.add_argument("--json", help="also write the per-run figures here")
    args = ap.parse_args()
    units_of, result = {}, {}
    for path in args.tables:
        table = predictor.LatencyTable.load(path)
        rows = {n: r for n, r in table.models.items() if "measured_ms" in r}
        preds = {}
        for name in rows:
            units = units_of.setdefault(name, predictor.units_of(Arch(name), table.setting.get("batch", 1)))
            preds[name] = variants(table, units)
            assert abs(preds[name]["sum+layout+node+cache"] - rows[name]["predicted_ms"]) < 1e-3 * rows[name]["predicted_ms"] + 1e-3
        measured = [rows[n]["measured_ms"] for n in rows]
        per = {}
        for v in next(iter(preds.values())):
            p = [preds[n][v] for n in rows]
            errs = [abs(a / b - 1) * 100 for a, b in zip(p, measured)]
            per[v] = {"tau": round(tau(p, measured), 4), "median_abs_error_pct": round(statistics.median(errs), 2),
                      "within_10": sum(e <= 10 for e in errs)}
        result[path] = per
        print(f"{path}: {len(rows)} models")
        for v, r in per.items():
            print(f"  {v:24s} tau {r['tau']:.3f}  median |error| {r['median_abs_error_pct']:5.1f} %  "
                  f"within +-10 %: {r['within_10']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
