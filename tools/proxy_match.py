"""Print how far Table 6's large-kernel rows are from its 3x3 rows in the SKNet-50 proxy, per width.

With the group width kept (cardinality and SK groups scaled with the width), grouped convs shrink
linearly with the width and 1x1 convs quadratically, so the G=64/128 rows' extra cost grows as the
proxy narrows. This is the measurement behind the width of skmobile.train.proxy's RESNEXT_PROXY:

    .venv/bin/python tools/proxy_match.py [--widths 0.25,0.5,0.625,0.75,1.0] [--image-size 28]

``--budget trial --widths 0.25`` prints the fast trial proxy instead (groups scaled too, stride-2 stem).
"""

from __future__ import annotations

import argparse

import torch

from skmobile.tables import get_table
from skmobile.train import build_proxy_model
from skmobile.train.proxy import ProxyInput
from skmobile.train.proxy_shape import proxy_shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="0.25,0.5,0.625,0.75,1.0")
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--budget", default="table", help="the recipe whose proxy form is built (table: group-scaled)")
    args = ap.parse_args()
    rows = get_table(6).rows
    print("width  row                               params      MACs       dP vs 3x3  dMACs vs 3x3  stage maps")
    for w in (float(x) for x in args.widths.split(",")):
        with torch.device("meta"):
            shapes = [(r.label, proxy_shape(build_proxy_model(r.model, ProxyInput(args.image_size), args.budget,
                                                              width_mult=w, **r.kwargs), args.image_size))
                      for r in rows]
        ref = next(s for label, s in shapes if label.startswith("3x3, D=1"))
        for label, s in shapes:
            print(f"{w:<6} {label:<33} {s['params']:>10,} {s['macs'] / 1e6:>9.1f}M "
                  f"{100 * (s['params'] / ref['params'] - 1):>+9.2f}% {100 * (s['macs'] / ref['macs'] - 1):>+11.2f}%  "
                  + "/".join(map(str, s["stage_maps"])))


if __name__ == "__main__":
    main()
