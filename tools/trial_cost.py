"""Time one training step of a model's trial proxy in two forms, interleaved, and print what a trial costs.

Both forms run in the same process, in alternating rounds, so a busy machine slows both alike; the
ratio is the figure to read. The default pair is the trial budget's SKNet proxy before and after its
groups were scaled with the width (cardinality 32 kept at quarter width vs cardinality, SK groups and
L scaled to it):

    .venv/bin/python tools/trial_cost.py [--model sknet50] [--rounds 3] [--steps 8] [--threads 1]

``make demo`` trains the same proxy (the ablation space's candidates are ``sknet50`` rows).
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from skmobile.bench_model import time_training
from skmobile.train import build_proxy_model
from skmobile.train.proxy import ProxyInput, proxy_recipe

FORMS = {"groups kept (cardinality 32)": {"scale_groups": False},
         "groups scaled with the width": {"scale_groups": True}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="sknet50")
    ap.add_argument("--forms", default=json.dumps(FORMS), help="JSON {name: proxy kwargs overrides}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    recipe = proxy_recipe(args.model, "trial")
    data = ProxyInput()
    forms = json.loads(args.forms)
    nets = {name: build_proxy_model(args.model, data, "trial", **kw) for name, kw in forms.items()}
    rates: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(args.rounds):
        for name, net in nets.items():
            rates[name].append(time_training(net, recipe.batch_size, data.in_chans, data.image_size,
                                             data.num_classes, args.steps))
    images = recipe.train_limit * recipe.epochs
    first = statistics.median(rates[next(iter(rates))])
    print(f"{args.model} trial proxy, batch {recipe.batch_size}, {args.threads} thread(s), {args.rounds} interleaved "
          f"rounds of {args.steps} steps; a trial trains {images} images")
    for name, r in rates.items():
        med = statistics.median(r)
        params = sum(p.numel() for p in nets[name].parameters())
        print(f"  {name:<32} {params:>9,} params  {med:7.0f} images/s  {images / med:6.1f} s per trial's training  "
              f"x{first / med:.2f}")


if __name__ == "__main__":
    main()
