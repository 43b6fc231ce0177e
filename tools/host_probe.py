"""Host-time probe: what one SK fusion step costs around its kernels, at a tiny shape.

Run: ``python tools/host_probe.py [--device cpu|cuda] [--rounds 25] [--steps 500]``. At
1x2x8x4x4 the kernels take next to nothing, so the time of a forward+backward step (pool, the SK
attention, select, backward) is host time: Python, autograd, the small torch ops, the launches.
Rows: the torch fusion; the numba path; the numba path with its kernel launches stubbed out (what
the glue costs); the attention alone (what every backend pays). On CUDA no step is synchronised,
so the figures are host time while the GPU keeps up. Also times the fast CUDA launcher's own
argument packing (``cuda_launch.spec_of`` + ``abi_args``) for the fused backward's 45 parameters,
on CPU tensors. Min and 25th percentile over interleaved rounds (shared machines are noisy). Not a
test and not a report (notes in reports/kernels.md).
"""

from __future__ import annotations

import argparse
import time

import torch

from skmobile.kernels import autograd, cuda_launch, ops
from skmobile.kernels.bench import attention, attention_weights
from skmobile.layers.sk_fusion import torch_pool, torch_select

N, M, C, HW = 1, 2, 8, 4


def per_step_us(fn, steps: int, device) -> float:
    for _ in range(20):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    us = (time.perf_counter() - t0) / steps * 1e6
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return us


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--steps", type=int, default=500)
    args = ap.parse_args()
    device = torch.device(args.device)
    w = tuple(t.to(device) for t in attention_weights(M, C))
    branches = [torch.randn(N, C, HW, HW, device=device, requires_grad=True) for _ in range(M)]
    s0 = torch.zeros(N, C, device=device, requires_grad=True)

    def fusion_step(pool, select):
        return lambda: select(branches, attention(pool(branches), w)).sum().backward()

    backend = type(ops.backend_for(branches[0]))
    real_launch = backend.launch
    rows = {
        "torch fusion": fusion_step(torch_pool, torch_select),
        "numba": fusion_step(autograd.pool, autograd.select),
        "numba, launches stubbed": fusion_step(autograd.pool, autograd.select),
        "attention alone": lambda: attention(s0, w).sum().backward(),
    }
    times: dict = {k: [] for k in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            backend.launch = (lambda *a, **k: None) if "stubbed" in name else real_launch
            times[name].append(per_step_us(fn, args.steps, device))
    backend.launch = real_launch
    print(f"{N}x{M}x{C}x{HW}x{HW} forward+backward on {device}, {args.rounds} rounds x {args.steps} steps:")
    for name, ts in times.items():
        ts.sort()
        print(f"  {name:24s} min {ts[0]:7.1f} us  p25 {ts[len(ts) // 4]:7.1f} us")

    plane = (32 * 128, 56 * 56)
    launch_args = (torch.empty(plane), torch.empty(32, M, 128), torch.empty(32 * 128),
                   tuple(torch.empty(plane) for _ in range(M)))

    def pack():
        flat: list = []
        for a in launch_args:
            cuda_launch.abi_args(a, flat)
        return tuple(cuda_launch.spec_of(a) for a in launch_args), flat

    n_params = len(pack()[1])
    best = min(per_step_us(pack, 5000, torch.device("cpu")) for _ in range(5))
    print(f"  fast-launch argument packing, fused backward ({n_params} parameters): {best:.1f} us")


if __name__ == "__main__":
    main()
