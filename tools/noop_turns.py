"""How much does one turn's median of the no-op move within one timing? (issue 17's predictor)

The predictor stores each layer net of the runtime's no-op (its per-call cost) timed in the same
interleaved rounds, so an error in the no-op's median is paid once per layer: 150 times in a
ShuffleNetV2. This times the given models' layers as `--build-table` does, with the no-op in
`--copies` separately labelled turns spread through each round, and prints each copy's median,
their pooled median (what the table uses: `predictor.SHARED_TURNS` pooled turns), and what the
spread between copies would move a model's layer sum by.

    .venv/bin/python tools/noop_turns.py shufflenetv2_x0_5 mobilenetv2_050 [--copies 16] [--rounds 8]

One core, nothing else running: `taskset -c 1` on the development machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch, Setting
    from skmobile.latency.runtimes import torch_threads
    from skmobile.measure.timing import time_rounds

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--copies", type=int, default=16, help="separately labelled no-op turns per round")
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    setting = Setting(runtime="onnxruntime", device="cpu", threads=1)
    units = {name: predictor.units_of(Arch(name)) for name in args.models}
    with tempfile.TemporaryDirectory(prefix="skmobile-noop-") as tmp, torch_threads(1):
        layers = {}
        for us in units.values():
            for u in us:
                if u.key not in layers:
                    fn, _ = predictor.unit_runner(u.make, u.shapes, setting, tmp)
                    if fn is not None:
                        layers[u.key] = fn
        noop = predictor.unit_runner(predictor._noop_module, [(1,)], setting, tmp)[0]
        keys, fns = list(layers), {}
        step = max(1, len(keys) // args.copies)
        for i, key in enumerate(keys):       # a no-op copy every `step` layers
            if i % step == 0 and i // step < args.copies:
                fns[f"noop {i // step}"] = noop
            fns[key] = layers[key]
        plan = replace(predictor.UNIT_PLAN, min_rounds=args.rounds, max_rounds=args.rounds, max_s=1e9)
        timed = time_rounds(fns, plan)
    copies = [timed.spread(k).p50 * 1e6 for k in fns if k.startswith("noop ")]
    pooled = statistics.median(s * 1e6 for k in fns if k.startswith("noop ") for s in timed.samples[k])
    print(f"no-op median per copy (us), {len(copies)} copies x {args.rounds} rounds: "
          + " ".join(f"{c:.2f}" for c in copies))
    print(f"lowest {min(copies):.2f} us, highest {max(copies):.2f} us, pooled {pooled:.2f} us")
    for name, us in units.items():
        n = sum(u.key in layers for u in us)
        total = sum(timed.spread(u.key).p50 * 1e3 for u in us if u.key in layers) - n * pooled / 1e3
        swing = n * (max(copies) - min(copies)) / 1e3
        print(f"{name}: {n} layers, layer sum net of the pooled no-op {total:.3f} ms; netting against the "
              f"lowest instead of the highest copy moves it by {swing:.3f} ms ({100 * swing / total:.1f} %)")


if __name__ == "__main__":
    from skmobile.errors import run_or_exit

    run_or_exit(main)
