"""Where along a model does the predictor's miss build up? (issue 17)

Cuts each model after its stem and after each of its first stages (ShuffleNetV2) or blocks
(MobileNets), exports every prefix as a graph of its own, and times every prefix in the same
interleaved rounds as all of their layers alone (`LatencyTable.time_units`, as `--build-table`
does: the no-op and reorder pairs pooled over several turns, each prefix over
`predictor.MODEL_TURNS` turns a round). Prints, per prefix, its measured median net of the no-op,
its layers' sum (reorders where the layout changes, as a prediction adds them; no cache term) and
the error, and the same for each step from one prefix to the next.

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
    from skmobile.latency import predictor
    from skmobile.latency.measure import Arch, Setting, build, input_shape
    from skmobile.latency.runtimes import export, ort_runner, torch_threads

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--cuts", default="0,1,2,3,all",
                    help="numbers of stages/blocks after the stem, comma-separated; all: the whole model")
    ap.add_argument("--rounds", type=int, default=12)
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
        plan = replace(predictor.CHECK_PLAN, min_rounds=args.rounds, max_rounds=args.rounds, max_s=1e9)
        _, measured = table.time_units([u for us in units.values() for u in us], setting, plan,
                                       alongside=runners, turns={k: predictor.MODEL_TURNS for k in runners})
    noop = measured.pop("no-op").p50
    print(f"{'prefix':32s} {'layers':>6s} {'measured ms':>11s} {'layers ms':>9s} {'error %':>7s}   "
          f"{'step: measured':>14s} {'layers':>7s} {'error %':>7s}")
    last = {}
    for label, us in units.items():
        name = label.split(" ")[0]
        hot = table.hot_sum(us)[0]
        meas = measured[label].p50 - noop
        step = ""
        if name in last:
            dm, dl = meas - last[name][0], hot - last[name][1]
            step = f"{dm:14.3f} {dl:7.3f} {100 * (dl - dm) / dm:+7.1f}" if dm > 0 else ""
        print(f"{label:32s} {len(us):6d} {meas:11.3f} {hot:9.3f} {100 * (hot - meas) / meas:+7.1f}   {step}")
        last[name] = (meas, hot)


if __name__ == "__main__":
    main()
