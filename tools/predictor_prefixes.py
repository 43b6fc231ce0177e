"""Where along a model does the predictor's miss build up? (issue 17)

Cuts each model after its stem and after each of its first stages (ShuffleNetV2) or blocks
(MobileNets), exports every prefix as a graph of its own, and times every prefix in the same
interleaved rounds as all of their layers alone (`LatencyTable.time_units`, as `--build-table`
does: the no-op and reorder pairs pooled over several turns, each prefix over
`predictor.MODEL_TURNS` turns a round). Prints, per prefix, its measured median net of the no-op,
its layers' sum (reorders where the layout changes, as a prediction adds them; no cache term) and
the error, and the same for each step from one prefix to the next.

With ``--cold-kib K``, every layer holding at least K KiB of weights is also timed cold, in the
same rounds: each call after an untimed read of twice the last-level cache and then of the
layer's input (``--cold-input``: not the input), so its weights come from memory while its input
is warm, as in a model; net of the no-op timed the same way and of its boundary reorders. A
second layers' sum then uses those cold times for those layers: does a measured cold cost close
the gap that the streaming-read cache term leaves?

    .venv/bin/python tools/predictor_prefixes.py shufflenetv2_x0_5 shufflenetv2_x1_0 --cuts 0,1,2,3,all

One core, nothing else running: `taskset -c 1` on the development machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def prefix(model, k: str):
    """The stem and the first ``k`` stages (ShuffleNetV2) or blocks (MobileNets) of ``model``; the
    whole model (head included) for ``k`` "all"."""
    from torch import nn

    if k == "all":
        return model
    body = model.stages if hasattr(model, "stages") else model.blocks
    return nn.Sequential(model.stem, *list(body)[:int(k)]).eval()


def main() -> None:
    from skmobile.latency import memory, predictor
    from skmobile.latency.measure import Arch, Setting, build, input_shape
    from skmobile.latency.runtimes import export, ort_runner, torch_threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--cuts", default="0,1,2,3,all",
                    help="numbers of stages/blocks after the stem, comma-separated; all: the whole model")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--cold-kib", type=int, default=0,
                    help="also time layers with at least this many KiB of weights cold (0: none)")
    ap.add_argument("--cold-input", action="store_true", help="leave the cold layers' input cold too")
    args = ap.parse_args()
    cuts = args.cuts.split(",")
    setting = Setting(runtime="onnxruntime", device="cpu", threads=1)
    table = predictor.LatencyTable({}, {})
    units, runners = {}, {}
    with tempfile.TemporaryDirectory(prefix="skmobile-prefix-") as tmp, torch_threads(1):
        for name in args.models:
            model = build(Arch(name)).eval()
            shape = input_shape(Arch(name), model, 1)
            for k in cuts:
                label = f"{name} {'whole' if k == 'all' else f'stem+{k}'}"
                piece = prefix(model, k)
                units[label] = predictor.collect_units(piece, shape)
                runners[label] = ort_runner(export(piece, Path(tmp) / f"p{len(runners)}.onnx", shape), shape)
        runners["no-op"] = predictor.unit_runner(predictor._noop_module, [(1,)], setting, tmp)[0]
        turns = {k: predictor.MODEL_TURNS for k in runners}
        heavy = {u.key: u for us in units.values() for u in us if args.cold_kib and u.weight_bytes >= args.cold_kib * 1024}
        prepare = {}
        if heavy:
            import numpy as np

            flush = np.ones(2 * (memory.llc_bytes() or 32 * 2 ** 20) // 4, np.float32).max   # read: evicts the LLC
            for i, u in enumerate(heavy.values()):
                runners[f"cold {i}"] = fn = predictor.unit_runner(u.make, u.shapes, setting, tmp)[0]
                warm = [] if args.cold_input else fn.inputs
                prepare[f"cold {i}"] = (lambda warm=warm: (flush(), [a.max() for a in warm]))
            runners["cold no-op"], prepare["cold no-op"] = runners["no-op"], flush
            turns["cold no-op"] = predictor.SHARED_TURNS
        plan = replace(predictor.CHECK_PLAN, min_rounds=args.rounds, max_rounds=args.rounds, max_s=1e9)
        _, measured = table.time_units([u for us in units.values() for u in us], setting, plan,
                                       alongside=runners, turns=turns, prepare=prepare)
    noop = measured.pop("no-op").p50
    extra = {}
    if heavy:
        cold_noop = measured.pop("cold no-op").p50
        print(f"layers with >= {args.cold_kib} KiB of weights, hot (the table) and cold (after a "
              f"{2 * (memory.llc_bytes() or 32 * 2 ** 20) / 2 ** 20:g} MiB read"
              + (")" if args.cold_input else " and a read of the input)") + ", ms net of the no-op and reorders:")
        for i, (key, u) in enumerate(heavy.items()):
            e = table.entries.get(key)
            if e is None:
                continue
            reorders = (e.get("reorder_in_ms") or 0.0) + (e.get("reorder_out_ms") or 0.0)
            cold = measured.pop(f"cold {i}").p50 - cold_noop - reorders
            extra[key] = max(0.0, cold - e["ms"])
            print(f"  {u.kind:14s} {u.weight_bytes / 2 ** 20:6.2f} MiB  hot {e['ms']:7.3f}  cold {cold:7.3f}")
    print(f"{'prefix':32s} {'layers':>6s} {'measured ms':>11s} {'layers ms':>9s} {'error %':>7s}   "
          f"{'step: measured':>14s} {'layers':>7s} {'error %':>7s}"
          + (f"   {'cold heavy: layers':>18s} {'error %':>7s} {'step error %':>12s}" if heavy else ""))
    last = {}
    for label, us in units.items():
        name = label.split(" ")[0]
        hot = table.hot_sum(us)[0]
        cold = hot + sum(extra.get(u.key, 0.0) for u in us)
        meas = measured[label].p50 - noop
        step, cold_step = f"{'':14s} {'':7s} {'':7s}", ""
        if name in last:
            dm, dl, dc = meas - last[name][0], hot - last[name][1], cold - last[name][2]
            if dm > 0:
                step = f"{dm:14.3f} {dl:7.3f} {100 * (dl - dm) / dm:+7.1f}"
                cold_step = f"{100 * (dc - dm) / dm:+12.1f}"
        print(f"{label:32s} {len(us):6d} {meas:11.3f} {hot:9.3f} {100 * (hot - meas) / meas:+7.1f}   {step}"
              + (f"   {cold:18.3f} {100 * (cold - meas) / meas:+7.1f} {cold_step}" if heavy else ""))
        last[name] = (meas, hot, cold)


if __name__ == "__main__":
    from skmobile.errors import run_or_exit

    run_or_exit(main)
