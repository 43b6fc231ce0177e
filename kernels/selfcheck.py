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
    (2, 2, 70, 3, 7),  # channels_last: 35 bfloat16 pairs = two 32-unit tiles, rows in two blocks
]


TOLERANCES = {torch.float32: 1e-5, torch.float64: 1e-10, torch.float16: 4e-3, torch.bfloat16: 1e-2}


def check_case(backend, device, dtype, n, m, c, h, w, channels_last=False, attn_dtype=None,
               amp=False) -> float:
    """Max error of (s, V, dU_1..M, dw) against the torch fusion in float64 on the same (rounded)
    inputs, relative to max(1, |reference|). ``attn_dtype`` (default ``dtype``) makes the attention
    a different dtype from the branches, as under autocast (16-bit branches, float32 softmax);
    ``amp`` runs the kernels under autocast, so V keeps the 16-bit branches' dtype.
    Returns inf when an output has the wrong shape, dtype or layout."""
    g = torch.Generator().manual_seed(n * 100 + m * 10 + c)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    adt = attn_dtype or dtype
    base = [torch.randn(n, c, h, w, generator=g) for _ in range(m)]
    wt = torch.randn(1, m, c, generator=g)
    dv = torch.randn(n, c, h, w, generator=g)
    attn0 = torch.rand(n, m, c, generator=g)
    vdt = dtype if amp else torch.promote_types(dtype, adt)

    def inputs(dt, at, dev):
        q = (lambda t, d: t.to(d).to(torch.float64)) if dt == torch.float64 else (lambda t, d: t)
        bs = [q(b, dtype).to(dev, dt).contiguous(memory_format=mf).requires_grad_() for b in base]
        return bs, q(wt, adt).to(dev, at).requires_grad_(), q(dv, vdt).to(dev, dt).contiguous(memory_format=mf)

    def run(pool, select, branches, w, dv_):
        s = pool(branches)
        attn = (s.to(w.dtype).unsqueeze(1) * w).softmax(dim=1)
        v = select(branches, attn)
        return [s, v, *torch.autograd.grad(v, list(branches) + [w], dv_.to(v.dtype))]

    f64 = torch.float64
    ref = run(torch_pool, torch_select, *inputs(f64, f64, "cpu"))
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=amp):
        out = run(lambda b: autograd.pool(b, backend=backend),
                  lambda b, a: autograd.select(b, a, backend=backend), *inputs(dtype, adt, device))
    expect = [dtype, vdt] + [dtype] * m + [adt]
    # select alone (unlinked backward: one pass writes dU_m = a_m dV and da)
    bs, _, dv_ = inputs(dtype, adt, device)
    a_out = attn0.to(adt).to(device).requires_grad_()
    a_ref = attn0.to(adt).double().requires_grad_()
    rb, _, rdv = inputs(f64, f64, "cpu")
    ref += list(torch.autograd.grad(torch_select(rb, a_ref), rb + [a_ref], rdv))
    with torch.autocast(torch.device(device).type, dtype=dtype, enabled=amp):
        v_out = autograd.select(bs, a_out, backend=backend)
    out += list(torch.autograd.grad(v_out, bs + [a_out], dv_.to(vdt)))
    expect += [dtype] * m + [adt]
    err = 0.0
    for r, o, dt in zip(ref, out, expect):
        if o.shape != r.shape or o.dtype != dt:
            return float("inf")
        err = max(err, (o.double().cpu() - r).abs().max().item() / max(1.0, r.abs().max().item()))
    if channels_last and not out[1].is_contiguous(memory_format=torch.channels_last):
        return float("inf")
    return err


def _pairs_as_expected(backend, before, dtype, attn_dtype, amp, case, channels_last) -> bool:
    """Whether the launches since ``before`` read bfloat16 pairs exactly where they should: every
    step of an all-bfloat16 (or autocast) channels_last case with an even channel count on the CUDA
    kernels, and nothing in NCHW or other dtypes. Mixed bfloat16/float32 without autocast is not
    judged (there V is float32, so only the pooling reads pairs)."""
    if attn_dtype is not None and not amp:
        return True
    delta = ops.CALLS - before
    steps = [k for k in delta if "/" not in k]
    want = (getattr(backend, "pairs", False) and channels_last and dtype == torch.bfloat16
            and case[2] % 2 == 0)
    return all(delta[f"{k}/pairs"] == (delta[k] if want else 0) for k in steps)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=["cpu", "cuda", "cuda-sim"], default="cuda-sim")
    p.add_argument("--dtype", default="float32", help="comma list of float32, float16, bfloat16, float64; "
                   "'bfloat16/float32' = bfloat16 branches with a float32 attention, '+amp' after it: "
                   "under autocast (V in the branches' dtype)")
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
        spec, amp = name.removesuffix("+amp"), name.endswith("+amp")
        dtype, _, attn_name = spec.partition("/")
        dtype = getattr(torch, dtype)
        attn_dtype = getattr(torch, attn_name) if attn_name else None
        tol = TOLERANCES[dtype]
        for case in CASES:
            for cl in (False, True):
                before = ops.CALLS.copy()
                err = check_case(backend, device, dtype, *case, channels_last=cl, attn_dtype=attn_dtype,
                                 amp=amp)
                ok = err <= tol and _pairs_as_expected(backend, before, dtype, attn_dtype, amp, case, cl)
                failed += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {args.backend} {name} NMCHW={case} "
                      f"{'channels_last' if cl else 'nchw'} max_rel_err={err:.3g}")
    runs = 2 * len(CASES) * len(dtypes)
    linked = ops.CALLS["fused_bwd"] == runs and ops.CALLS["select_bwd"] == runs
    print(f"{'ok  ' if linked else 'FAIL'} launches {dict(sorted(ops.CALLS.items()))}")
    return 1 if failed or not linked else 0


if __name__ == "__main__":
    sys.exit(main())
