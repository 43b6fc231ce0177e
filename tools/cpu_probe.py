"""CPU probe for the numba fusion kernels: each step alone, its time and GB/s, per layout.

Run: ``python tools/cpu_probe.py [--batch 32] [--reps 7]``. Each kernel runs on buffers allocated
and touched beforehand (no page faults, no torch ops in between), best of ``reps`` calls after a
warm-up, SKNet-50's stage shapes with M = 2. GB/s counts the bytes a step must read and write;
the roof is a large ``Tensor.copy_`` in the same run. Comparing this with ``skmobile bench kernels``
(a whole step among torch ops) tells whether time goes to the kernels or around them. Not a test
and not a report (notes in reports/kernels.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from skmobile.kernels import cpu
from skmobile.kernels.bench import copy_bandwidth

STAGES = [(128, 56), (256, 28), (512, 14), (1024, 7)]


def best_ms(fn, reps: int) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def steps(layout: str, n: int, m: int, c: int, hw: int):
    """{step: (call, tensors moved)} on random float32 data in ``layout``."""
    rng = np.random.default_rng(0)
    length = hw * hw
    plane = (n * c, length) if layout == "nchw" else (n, length, c)
    vec = (n * c,) if layout == "nchw" else (n, c)
    us = tuple(rng.standard_normal(plane, dtype=np.float32) for _ in range(m))
    dv = rng.standard_normal(plane, dtype=np.float32)
    a = rng.random((n, m, c), dtype=np.float32)
    s, ds = np.zeros(vec, np.float32), rng.standard_normal(vec, dtype=np.float32)
    da = np.zeros((n, m, c), np.float32)
    v = np.zeros(plane, np.float32)
    du = np.zeros((m, *plane), np.float32)
    k = cpu.KERNELS[layout]
    return {
        "pool": (lambda: k["pool"](us, s), m),
        "select": (lambda: k["select"](us, a, v), m + 1),
        "attn_grad": (lambda: k["attn_grad"](dv, us, da), m + 1),
        "select_bwd": (lambda: k["select_bwd"](dv, us, a, da, du), 2 * m + 1),
        "fused_bwd": (lambda: k["fused_bwd"](dv, a, ds, du), m + 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--paths", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--layouts", default="nchw,nhwc", help="nchw (planes N*C x HW), nhwc (N x HW x C)")
    args = ap.parse_args()
    roof = copy_bandwidth(torch.device("cpu"))
    print(f"copy bandwidth {roof:.1f} GB/s; {torch.get_num_threads()} threads; best of {args.reps}")
    for layout in args.layouts.split(","):
        for c, hw in STAGES:
            nbytes = args.batch * c * hw * hw * 4
            cells = []
            for name, (fn, tensors) in steps(layout, args.batch, args.paths, c, hw).items():
                ms = best_ms(fn, args.reps)
                cells.append(f"{name} {ms:.2f} ms {tensors * nbytes / ms / 1e6:.0f} GB/s")
            print(f"{layout} {args.batch}x{args.paths}x{c}x{hw}x{hw}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
