"""Do onnxruntime's kernels run slower inside a whole model than alone? (issue 17's predictor miss)

The latency predictor times each layer alone, many calls back to back, and sums. If a model comes
out slower than that sum, the gap is either in the kernels themselves (their weights, code and
branch history are colder inside a model, where ~50-300 other kernels run between two calls of
one) or between them (the executor's per-node work). onnxruntime's profiler times each kernel, so
running it on the whole model and on every layer alone splits the two: this prints, per operator
type, the median kernel time per inference summed over the model's nodes, in the model and alone.
Both sides run under the profiler (it adds its own work around each kernel, not inside it).
Boundary reorders (a layer alone reorders into and out of onnxruntime's blocked layout) are left
out on both sides.

    .venv/bin/python tools/ort_kernel_gap.py mobilenetv2_050 shufflenetv2_x0_5 [--runs 150]

One core, nothing else running: `taskset -c 1` on the development machine.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REORDERS = {"ReorderInput", "ReorderOutput"}


def kernel_ms_by_op(onnx_path: str, shapes, runs: int, workdir: str) -> tuple[dict[str, float], int]:
    """({op type: median kernel ms per inference, summed over its nodes}, nodes per inference)
    from onnxruntime's profile of ``runs`` inferences (the first third left out as warm-up)."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = 1, 1, 3
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.enable_profiling, opts.profile_file_prefix = True, str(Path(workdir) / "profile")
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {m.name: rng.standard_normal(s, dtype=np.float32) for m, s in zip(sess.get_inputs(), shapes)}
    for _ in range(runs):
        sess.run(None, feed)
    events = json.loads(Path(sess.end_profiling()).read_text())
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_run = len(nodes) // runs
    samples: dict[int, list[float]] = collections.defaultdict(list)
    ops: dict[int, str] = {}
    for i, e in enumerate(nodes[(runs // 3) * per_run:]):
        samples[i % per_run].append(e["dur"] / 1e3)
        ops[i % per_run] = e["args"]["op_name"]
    by_op: dict[str, float] = collections.defaultdict(float)
    for i, values in samples.items():
        if ops[i] not in REORDERS:
            by_op[ops[i]] += statistics.median(values)
    return dict(by_op), per_run


def gap(name: str, runs: int) -> dict:
    import torch

    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch, build, input_shape
    from skmobile.latency.runtimes import export

    arch = Arch(name)
    model = build(arch)
    shape = input_shape(arch, model, 1)
    with tempfile.TemporaryDirectory(prefix="skmobile-gap-") as tmp:
        in_model, nodes = kernel_ms_by_op(export(model, Path(tmp) / f"{name}.onnx", shape), [shape], runs, tmp)
        alone: dict[str, float] = collections.defaultdict(float)
        exported = 0
        for i, unit in enumerate(predictor.units_of(arch)):
            path = str(Path(tmp) / f"unit{i}.onnx")
            try:
                predictor._export_unit(unit.make().eval(), [torch.randn(*s) for s in unit.shapes], path, 17)
            except Exception:  # noqa: BLE001 - as in the table: a layer that cannot export alone is left out
                continue
            exported += 1
            for op, ms in kernel_ms_by_op(path, unit.shapes, max(30, runs // 3), tmp)[0].items():
                alone[op] += ms
    return {"model": name, "nodes": nodes, "layers": exported, "in_model": in_model, "alone": dict(alone)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--runs", type=int, default=150, help="profiled inferences of the whole model")
    args = ap.parse_args()
    for name in args.models:
        r = gap(name, args.runs)
        print(f"\n{name}: {r['nodes']} nodes in the model, {r['layers']} layers alone; median kernel ms per inference")
        print(f"{'op':20s} {'in model':>9s} {'alone':>9s} {'model/alone':>11s}")
        for op in sorted(set(r["in_model"]) | set(r["alone"]), key=lambda o: -r["in_model"].get(o, 0.0)):
            a, b = r["in_model"].get(op, 0.0), r["alone"].get(op, 0.0)
            print(f"{op:20s} {a:9.3f} {b:9.3f} {(f'{a / b:10.2f}x' if b else '-'):>11s}")
        tm, ta = sum(r["in_model"].values()), sum(r["alone"].values())
        print(f"{'all kernels':20s} {tm:9.3f} {ta:9.3f} {tm / ta:10.2f}x")


if __name__ == "__main__":
    from skmobile.errors import run_or_exit

    run_or_exit(main)
