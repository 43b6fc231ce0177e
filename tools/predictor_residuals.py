"""Is the predictor's miss a cost per graph node? A checked table's residuals against graph size (issue 17).

For each measured model of a table written by `skmobile bench latency --build-table` (onnxruntime,
with its default check): the model's graph as onnxruntime optimises it on this machine, its nodes
counted by op type; the table's time for the model's residual adds (which a whole graph may fuse
into a convolution); and the residual (measured - predicted) per node and per layer. Then a charge
per node, and one per layer, fitted (least squares through zero) to the *other* models' residuals
and added to each model's prediction: how many models fall within +-10 % that way. A charge that
brought the misses in would point at a per-node cost inside a whole graph (dispatch, cold code)
that the layers timed alone do not pay; one that does not leaves the miss elsewhere.

    .venv/bin/python tools/predictor_residuals.py RUN.json [--within 10] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def graph_ops(name: str, workdir: str) -> Counter:
    """Op types of ``name``'s onnxruntime-optimised graph on this machine (batch 1, one thread)."""
    import onnx

    from skmobile.latency.measure import Arch, build, input_shape
    from skmobile.latency.runtimes import export, ort_runner

    arch = Arch(name)
    model = build(arch)
    shape = input_shape(arch, model, 1)
    path = export(model, Path(workdir) / f"{name}.onnx", shape, name=name)
    optimized = str(Path(workdir) / f"{name}.opt.onnx")
    ort_runner(path, shape, optimized_path=optimized)
    return Counter(node.op_type for node in onnx.load(optimized).graph.node)


def fit_charge(residual: dict[str, float], size: dict[str, int], names) -> float:
    """The charge per unit of ``size`` that best fits the ``names``' residuals (least squares through zero)."""
    den = sum(size[m] ** 2 for m in names)
    return sum(residual[m] * size[m] for m in names) / den if den else 0.0


def loo_charges(residual: dict[str, float], size: dict[str, int]) -> dict[str, float]:
    """Per model, the charge per unit of ``size`` fitted to every other model's residual."""
    return {name: fit_charge(residual, size, [m for m in residual if m != name]) for name in residual}


def main() -> None:
    from skmobile.errors import SKMobileError
    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("table", help="a table written by --build-table (onnxruntime, checked)")
    ap.add_argument("--within", type=float, default=10.0)
    ap.add_argument("--workdir", help="keep the exported graphs here and reuse those already there "
                                      "(default: a temporary directory)")
    args = ap.parse_args()
    table = predictor.LatencyTable.load(args.table)
    if table.setting.get("runtime") != "onnxruntime":
        raise SKMobileError(f"table {args.table!r} is for runtime {table.setting.get('runtime')!r}; "
                            "graph nodes are counted for: onnxruntime")
    rows = {n: r for n, r in table.models.items() if "measured_ms" in r}
    if not rows:
        raise SKMobileError(f"table {args.table!r} has no measured models; build it with --build-table (checked)")
    nodes, layers = {}, {}
    with tempfile.TemporaryDirectory(prefix="skmobile-residuals-") as tmp:
        workdir = args.workdir or tmp
        Path(workdir).mkdir(parents=True, exist_ok=True)
        for name in rows:
            ops = graph_ops(name, workdir)
            units = predictor.units_of(Arch(name))
            nodes[name], layers[name] = sum(ops.values()), len(units)
            adds = sum(table.entries.get(u.key, {}).get("ms", 0.0) for u in units if u.kind == "glue:add")
            print(f"{name}: {dict(ops)}; its residual adds timed alone: {adds:.3f} ms")
    residual = {n: r["measured_ms"] - r["predicted_ms"] for n, r in rows.items()}
    print(f"\n{'model':24s} {'measured':>9s} {'predicted':>9s} {'error':>7s} {'nodes':>6s} {'layers':>6s} "
          f"{'us/node':>8s} {'us/layer':>8s}")
    for n, r in rows.items():
        print(f"{n:24s} {r['measured_ms']:9.3f} {r['predicted_ms']:9.3f} {r['error_pct']:+6.1f}% {nodes[n]:6d} "
              f"{layers[n]:6d} {1e3 * residual[n] / nodes[n]:8.2f} {1e3 * residual[n] / layers[n]:8.2f}")
    for label, size in (("node", nodes), ("layer", layers)):
        charges = loo_charges(residual, size)
        errors = [100 * (r["predicted_ms"] + charges[n] * size[n] - r["measured_ms"]) / r["measured_ms"]
                  for n, r in rows.items()]
        everyone = fit_charge(residual, size, list(residual))
        print(f"a charge per {label} fitted to the other models: {sum(abs(e) <= args.within for e in errors)} of "
              f"{len(rows)} within +-{args.within:g} %, mean abs error {sum(map(abs, errors)) / len(errors):.1f} % "
              f"(fitted to all: {1e3 * everyone:+.2f} us per {label})")


if __name__ == "__main__":
    from skmobile.errors import run_or_exit

    run_or_exit(main)
