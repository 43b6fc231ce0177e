"""Which cache rule fits? Re-predict the models of a checked latency table under each rule (issue 17).

Reads a table written by `skmobile bench latency --build-table --check` whose weight-heavy layers
were also timed cold (entries with ``cold_ms``), rebuilds each measured model's layers, and prints,
per rule, how many models fall within +-10 % of their measured median and the mean absolute error,
then each model's error under every rule. Nothing is timed: every rule is judged on the same run.

Rules for what a layer's weights cost inside a whole model beyond its time alone:

* ``none``: nothing (the layers' sum);
* ``stream``: the streaming-read cache term (:func:`skmobile.latency.memory.cache_term_ms`);
* ``cold``: a layer timed cold (and weight-heavy: ``predictor.times_cold``) pays its measured cold
  extra (cold - hot), the others the streaming term;
* ``cold-scaled`` (the predictor's rule): that extra scaled by the share of a full miss that the streaming term charges at
  the model's footprint and pause (curve(footprint, pause) - curve(own)) / (curve(largest, longest) - curve(own)).

Each rule also with ``+nodes``: one node's dispatch (the table's ``node_ms``) added per layer found
in the table, which each entry, net of a one-node no-op, leaves out.

    .venv/bin/python tools/predictor_rules.py runs/predictor_onnxruntime.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RULES = ("none", "stream", "cold", "cold-scaled")


def layer_costs(table, units, rule: str, pause_ms: float) -> float:
    """ms the ``rule`` adds to the layers' sum of ``units`` re-read every ``pause_ms`` (see the module docstring)."""
    from skmobile.latency import memory

    if rule == "none":
        return 0.0
    if rule == "cold-scaled":
        return table.cache_term(units, pause_ms)[0]        # the predictor's own rule
    curve, footprint = table.curve(), table.cache_term(units, pause_ms)[1]
    stream = [(u.weight_bytes, u.own_bytes) for u in units]
    if rule == "stream":
        return memory.cache_term_ms(stream, footprint, curve, pause_ms)
    extras = [table.cold_extra_ms(u) for u in units]
    return (sum(e for e in extras if e is not None)
            + memory.cache_term_ms([s for s, e in zip(stream, extras) if e is None], footprint, curve, pause_ms))


def main() -> None:
    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables", nargs="+", help="tables written by --build-table --check")
    ap.add_argument("--within", type=float, default=10.0)
    ap.add_argument("--weight-ratio", type=float, default=predictor.COLD_WEIGHT_RATIO,
                    help="use a layer's cold time only where its weight bytes are at least this many times "
                         "its input and output bytes (default: the predictor's COLD_WEIGHT_RATIO)")
    args = ap.parse_args()
    predictor.COLD_WEIGHT_RATIO = args.weight_ratio
    units_of = {}
    for path in args.tables:
        table = predictor.LatencyTable.load(path)
        rows = {n: r for n, r in table.models.items() if "measured_ms" in r}
        combos = [r + n for r in RULES for n in ("", "+nodes")]
        errors = {c: {} for c in combos}
        for name, row in rows.items():
            units = units_of.setdefault(name, predictor.units_of(Arch(name), table.setting.get("batch", 1)))
            nodes = (table.node_ms or 0.0) * sum(u.key in table.entries for u in units)
            hot = table.hot_sum(units)[0] - nodes         # the layers' sum without the node term
            for rule in RULES:
                pred = hot + layer_costs(table, units, rule, hot + nodes)
                errors[rule][name] = 100 * (pred - row["measured_ms"]) / row["measured_ms"]
                errors[rule + "+nodes"][name] = 100 * (pred + nodes - row["measured_ms"]) / row["measured_ms"]
        cold = sum("cold_ms" in e for e in table.entries.values())
        print(f"{path}: {len(rows)} models measured, {cold} layers timed cold, one node {table.node_ms} ms")
        for c in combos:
            errs = errors[c].values()
            inside = sum(abs(e) <= args.within for e in errs)
            print(f"  {c:18s} within +-{args.within:g} %: {inside:2d} of {len(rows)}   "
                  f"mean abs error {sum(abs(e) for e in errs) / max(1, len(rows)):5.1f} %")
        print(f"  {'model':24s}" + "".join(f"{c.replace('cold-scaled', 'scaled').replace('+nodes', '+n'):>9s}" for c in combos))
        for name in rows:
            print(f"  {name:24s}" + "".join(f"{errors[c][name]:+8.1f}%" for c in combos))


if __name__ == "__main__":
    from skmobile.errors import run_or_exit

    run_or_exit(main)
