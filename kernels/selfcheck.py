"""Check the kernels of one backend against the torch fusion: values and gradients, both layouts.

``python -m skmobile.kernels.selfcheck --backend cuda-sim`` runs the CUDA kernels in numba's
simulator on CPU tensors (set ``NUMBA_ENABLE_CUDASIM=1`` before Python starts); ``--backend cuda``
runs them on a GPU, ``--backend cpu`` the CPU kernels. Tiny shapes (the simulator runs one OS
thread per CUDA thread). Prints one line per case and exits 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import sys

import torch

from skmobile.layers.sk_fusion import torch_pool, torch_select

from . import autograd, ops

CASES = [  # N, M, C, H, W
    (2, 2, 3, 5, 7),
    (1, 1, 4, 3, 3),
    (2, 3, 3, 4, 5),
    (1, 2, 2, 12, 13),  # L = 156: 16 lanes per plane in the CUDA kernels, unrolled loop and tail
    (1, 2, 1, 17, 16),  # L = 272: 32 lanes per plane
]


def _run(pool, select, branches, w, dv):
    s = pool(branches)
    attn = (s.unsqueeze(1) * w).softmax(dim=1)
    v = select(branches, attn)
    grads = torch.autograd.grad(v, list(branches) + [w], dv)
    return [s, v, *grads]


def check_case(backend, device, dtype, n, m, c, h, w, channels_last=False, tol=1e-5) -> float:
    """Max abs error of (s, V, dU_1..M, dw) against the torch fusion (float64 reference)."""
    g = torch.Generator().manual_seed(n * 100 + m * 10 + c)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    base = [torch.randn(n, c, h, w, generator=g) for _ in range(m)]
    wt = torch.randn(1, m, c, generator=g)
    dv = torch.randn(n, c, h, w, generator=g)

    def inputs(dt, dev):
        bs = [b.to(dev, dt).contiguous(memory_format=mf).requires_grad_() for b in base]
        return bs, wt.to(dev, dt).requires_grad_(), dv.to(dev, dt).contiguous(memory_format=mf)

    ref = _run(torch_pool, torch_select, *inputs(torch.float64, "cpu"))
    out = _run(lambda b: autograd.pool(b, backend=backend), lambda b, a: autograd.select(b, a, backend=backend),
               *inputs(dtype, device))
    # select alone (unlinked backward: one pass writes dU_m = a_m dV and da)
    bs, _, dv_ = inputs(dtype, device)
    attn = torch.rand(n, m, c, generator=g)
    a_ref = attn.double().requires_grad_()
    a_out = attn.to(device, dtype).requires_grad_()
    rb, _, rdv = inputs(torch.float64, "cpu")
    ref += list(torch.autograd.grad(torch_select(rb, a_ref), rb + [a_ref], rdv))
    out += list(torch.autograd.grad(autograd.select(bs, a_out, backend=backend), bs + [a_out], dv_))
    err = 0.0
    for r, o in zip(ref, out):
        if o.shape != r.shape or o.dtype != dtype:
            return float("inf")
        err = max(err, (o.double().cpu() - r).abs().max().item() / max(1.0, r.abs().max().item()))
    if channels_last and not out[1].is_contiguous(memory_format=torch.channels_last):
        return float("inf")
    return err


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["cpu", "cuda", "cuda-sim"], default="cuda-sim")
    p.add_argument("--dtype", default="float32", help="comma list of float32, float16, float64")
    args = p.parse_args(argv)
    if args.backend == "cpu":
        backend, device = ops.CpuBackend(), "cpu"
    else:
        sim = args.backend == "cuda-sim"
        backend, device = ops.CudaBackend(sim=sim), ("cpu" if sim else "cuda")
    failed = 0
    ops.CALLS.clear()
    dtypes = args.dtype.split(",")
    for name in dtypes:
        dtype = getattr(torch, name)
        tol = {torch.float32: 1e-5, torch.float64: 1e-10, torch.float16: 2e-2}[dtype]
        for case in CASES:
            for cl in (False, True):
                err = check_case(backend, device, dtype, *case, channels_last=cl, tol=tol)
                ok = err <= tol
                failed += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {args.backend} {name} NMCHW={case} "
                      f"{'channels_last' if cl else 'nchw'} max_rel_err={err:.3g}")
    runs = 2 * len(CASES) * len(dtypes)
    linked = ops.CALLS["fused_bwd"] == runs and ops.CALLS["select_bwd"] == runs
    print(f"{'ok  ' if linked else 'FAIL'} launches {dict(sorted(ops.CALLS.items()))}")
    return 1 if failed or not linked else 0


if __name__ == "__main__":
    sys.exit(main())
