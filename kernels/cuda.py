"""CUDA SK fusion kernels (numba-cuda), the same five steps and array conventions as ``cpu.py``.

NCHW kernels see each branch as planes (P = N*C, L = H*W) and give each plane one warp-wide row of
a (32, 8) block. channels_last reductions give each (n, 32-channel tile) one block; its
element-wise steps are flat grid-stride loops. Reductions accumulate in fp32 per thread and finish
with a fixed-order tree in shared memory: no atomics, so results are bitwise reproducible. fp16 inputs are read as fp16 and accumulated in fp32. No warp intrinsics, so the
same code runs under ``NUMBA_ENABLE_CUDASIM=1``.
"""

from __future__ import annotations

from numba import cuda, float32

from .cuda_dtypes import cv, ld

MAXM = 8  # most branches the da kernels keep accumulators for
TPB = 256  # threads per block of the element-wise kernels
TILE_C = 32  # channels per block of the channels_last reductions
TILE_L = 8  # rows of the channels_last reduction block
THREADS = 256  # threads per NCHW block (the simulator launches 64)


# ---------------------------------------------------------------- NCHW: planes (P = N*C, L)
# Block (lanes, rows): each row of 8, 16 or 32 threads (``lanes_for``: by plane size) owns one
# (n, c) plane, so there is no per-element index division; loops are unrolled by four for
# memory-level parallelism; row sums finish with a fixed-order tree over the lanes in shared
# memory, all rows of the block at once. The trees are written out in each kernel on purpose: a
# cuda.jit device function would make compile_ptx ask for a CUDA driver, and CI (no GPU) type-checks
# every kernel through compile_ptx (tried: CudaSupportError without a driver).
@cuda.jit
def pool_nchw(us, s):
    p_, l_ = us[0].shape
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    row = cuda.threadIdx.y
    p = cuda.blockIdx.x * cuda.blockDim.y + row
    x0 = float32(0.0)
    x1 = float32(0.0)
    x2 = float32(0.0)
    x3 = float32(0.0)
    if p < p_:
        for m in range(len(us)):
            u = us[m]
            i = lane
            while i + 3 * nl < l_:
                x0 += ld(u[p, i])
                x1 += ld(u[p, i + nl])
                x2 += ld(u[p, i + 2 * nl])
                x3 += ld(u[p, i + 3 * nl])
                i += 4 * nl
            while i < l_:
                x0 += ld(u[p, i])
                i += nl
    sh = cuda.shared.array(THREADS, float32)
    sh[row * nl + lane] = (x0 + x1) + (x2 + x3)
    cuda.syncthreads()
    step = nl // 2
    while step > 0:
        if lane < step:
            sh[row * nl + lane] += sh[row * nl + lane + step]
        cuda.syncthreads()
        step //= 2
    if lane == 0 and p < p_:
        s[p] = cv(sh[row * nl] / float32(l_), s)


@cuda.jit
def select_nchw(us, a, v):
    p_, l_ = v.shape
    c_ = a.shape[2]
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    p = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    if p < p_:
        n = p // c_
        c = p - n * c_
        nm = len(us)
        w = cuda.local.array(MAXM, float32)
        for m in range(nm):
            w[m] = ld(a[n, m, c])
        i = lane
        while i + 3 * nl < l_:
            x0 = float32(0.0)
            x1 = float32(0.0)
            x2 = float32(0.0)
            x3 = float32(0.0)
            for m in range(nm):
                u = us[m]
                x0 += ld(u[p, i]) * w[m]
                x1 += ld(u[p, i + nl]) * w[m]
                x2 += ld(u[p, i + 2 * nl]) * w[m]
                x3 += ld(u[p, i + 3 * nl]) * w[m]
            v[p, i] = cv(x0, v)
            v[p, i + nl] = cv(x1, v)
            v[p, i + 2 * nl] = cv(x2, v)
            v[p, i + 3 * nl] = cv(x3, v)
            i += 4 * nl
        while i < l_:
            x0 = float32(0.0)
            for m in range(nm):
                x0 += ld(us[m][p, i]) * w[m]
            v[p, i] = cv(x0, v)
            i += nl


@cuda.jit
def attn_grad_nchw(dv, us, da):
    p_, l_ = dv.shape
    c_ = da.shape[2]
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    row = cuda.threadIdx.y
    p = cuda.blockIdx.x * cuda.blockDim.y + row
    nm = len(us)
    acc = cuda.local.array(MAXM, float32)
    for m in range(nm):
        acc[m] = 0.0
    if p < p_:
        i = lane
        while i + 3 * nl < l_:
            g0 = ld(dv[p, i])
            g1 = ld(dv[p, i + nl])
            g2 = ld(dv[p, i + 2 * nl])
            g3 = ld(dv[p, i + 3 * nl])
            for m in range(nm):
                u = us[m]
                acc[m] += (g0 * ld(u[p, i]) + g1 * ld(u[p, i + nl])) + (
                    g2 * ld(u[p, i + 2 * nl]) + g3 * ld(u[p, i + 3 * nl]))
            i += 4 * nl
        while i < l_:
            g0 = ld(dv[p, i])
            for m in range(nm):
                acc[m] += g0 * ld(us[m][p, i])
            i += nl
    sh = cuda.shared.array(THREADS, float32)
    for m in range(nm):
        sh[row * nl + lane] = acc[m]
        cuda.syncthreads()
        step = nl // 2  # fixed-order tree (inlined: compile_ptx type-checks it without a GPU)
        while step > 0:
            if lane < step:
                sh[row * nl + lane] += sh[row * nl + lane + step]
            cuda.syncthreads()
            step //= 2
        if lane == 0 and p < p_:
            n = p // c_
            da[n, m, p - n * c_] = cv(sh[row * nl], da)
        cuda.syncthreads()


@cuda.jit
def select_bwd_nchw(dv, us, a, da, du):
    p_, l_ = dv.shape
    c_ = da.shape[2]
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    row = cuda.threadIdx.y
    p = cuda.blockIdx.x * cuda.blockDim.y + row
    nm = len(us)
    acc = cuda.local.array(MAXM, float32)
    w = cuda.local.array(MAXM, float32)
    for m in range(nm):
        acc[m] = 0.0
    if p < p_:
        n = p // c_
        c = p - n * c_
        for m in range(nm):
            w[m] = ld(a[n, m, c])
        i = lane
        while i + 3 * nl < l_:
            g0 = ld(dv[p, i])
            g1 = ld(dv[p, i + nl])
            g2 = ld(dv[p, i + 2 * nl])
            g3 = ld(dv[p, i + 3 * nl])
            for m in range(nm):
                u = us[m]
                acc[m] += (g0 * ld(u[p, i]) + g1 * ld(u[p, i + nl])) + (
                    g2 * ld(u[p, i + 2 * nl]) + g3 * ld(u[p, i + 3 * nl]))
                du[m][p, i] = cv(w[m] * g0, du[m])
                du[m][p, i + nl] = cv(w[m] * g1, du[m])
                du[m][p, i + 2 * nl] = cv(w[m] * g2, du[m])
                du[m][p, i + 3 * nl] = cv(w[m] * g3, du[m])
            i += 4 * nl
        while i < l_:
            g0 = ld(dv[p, i])
            for m in range(nm):
                acc[m] += g0 * ld(us[m][p, i])
                du[m][p, i] = cv(w[m] * g0, du[m])
            i += nl
    sh = cuda.shared.array(THREADS, float32)
    for m in range(nm):
        sh[row * nl + lane] = acc[m]
        cuda.syncthreads()
        step = nl // 2
        while step > 0:
            if lane < step:
                sh[row * nl + lane] += sh[row * nl + lane + step]
            cuda.syncthreads()
            step //= 2
        if lane == 0 and p < p_:
            n = p // c_
            da[n, m, p - n * c_] = cv(sh[row * nl], da)
        cuda.syncthreads()


@cuda.jit
def fused_bwd_nchw(dv, a, ds, du):
    p_, l_ = dv.shape
    c_ = a.shape[2]
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    p = cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y
    if p < p_:
        n = p // c_
        c = p - n * c_
        nm = len(du)
        w = cuda.local.array(MAXM, float32)
        for m in range(nm):
            w[m] = ld(a[n, m, c])
        b = ld(ds[p]) / float32(l_)
        i = lane
        while i + 3 * nl < l_:
            g0 = ld(dv[p, i])
            g1 = ld(dv[p, i + nl])
            g2 = ld(dv[p, i + 2 * nl])
            g3 = ld(dv[p, i + 3 * nl])
            for m in range(nm):
                du[m][p, i] = cv(w[m] * g0 + b, du[m])
                du[m][p, i + nl] = cv(w[m] * g1 + b, du[m])
                du[m][p, i + 2 * nl] = cv(w[m] * g2 + b, du[m])
                du[m][p, i + 3 * nl] = cv(w[m] * g3 + b, du[m])
            i += 4 * nl
        while i < l_:
            g0 = ld(dv[p, i])
            for m in range(nm):
                du[m][p, i] = cv(w[m] * g0 + b, du[m])
            i += nl


# ---------------------------------------------------------------- NHWC: (N, L, C)
@cuda.jit
def pool_nhwc(us, s):
    n_, l_, c_ = us[0].shape
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    c = cuda.blockIdx.x * TILE_C + tx
    n = cuda.blockIdx.y
    acc = float32(0.0)
    if c < c_:
        for m in range(len(us)):
            u = us[m]
            i = ty
            while i < l_:
                acc += ld(u[n, i, c])
                i += TILE_L
    sh = cuda.shared.array((TILE_L, TILE_C), float32)
    sh[ty, tx] = acc
    cuda.syncthreads()
    step = TILE_L // 2
    while step > 0:
        if ty < step:
            sh[ty, tx] += sh[ty + step, tx]
        cuda.syncthreads()
        step //= 2
    if ty == 0 and c < c_:
        s[n, c] = cv(sh[0, tx] / float32(l_), s)


@cuda.jit
def select_nhwc(us, a, v):
    n_, l_, c_ = us[0].shape
    total = n_ * l_ * c_
    idx = cuda.grid(1)
    stride = cuda.gridsize(1)
    while idx < total:
        r = idx // c_
        c = idx - r * c_
        n = r // l_
        i = r - n * l_
        acc = ld(us[0][n, i, c]) * ld(a[n, 0, c])
        for m in range(1, len(us)):
            acc = acc + ld(us[m][n, i, c]) * ld(a[n, m, c])
        v[n, i, c] = cv(acc, v)
        idx += stride


@cuda.jit
def attn_grad_nhwc(dv, us, da):
    n_, l_, c_ = dv.shape
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    c = cuda.blockIdx.x * TILE_C + tx
    n = cuda.blockIdx.y
    acc = cuda.local.array(MAXM, float32)
    nm = len(us)
    for m in range(nm):
        acc[m] = 0.0
    if c < c_:
        i = ty
        while i < l_:
            g = ld(dv[n, i, c])
            for m in range(nm):
                acc[m] += g * ld(us[m][n, i, c])
            i += TILE_L
    sh = cuda.shared.array((TILE_L, TILE_C), float32)
    for m in range(nm):
        sh[ty, tx] = acc[m]
        cuda.syncthreads()
        step = TILE_L // 2
        while step > 0:
            if ty < step:
                sh[ty, tx] += sh[ty + step, tx]
            cuda.syncthreads()
            step //= 2
        if ty == 0 and c < c_:
            da[n, m, c] = cv(sh[0, tx], da)
        cuda.syncthreads()


@cuda.jit
def select_bwd_nhwc(dv, us, a, da, du):
    n_, l_, c_ = dv.shape
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    c = cuda.blockIdx.x * TILE_C + tx
    n = cuda.blockIdx.y
    acc = cuda.local.array(MAXM, float32)
    nm = len(us)
    for m in range(nm):
        acc[m] = 0.0
    if c < c_:
        i = ty
        while i < l_:
            g = ld(dv[n, i, c])
            for m in range(nm):
                acc[m] += g * ld(us[m][n, i, c])
                du[m][n, i, c] = cv(ld(a[n, m, c]) * g, du[m])
            i += TILE_L
    sh = cuda.shared.array((TILE_L, TILE_C), float32)
    for m in range(nm):
        sh[ty, tx] = acc[m]
        cuda.syncthreads()
        step = TILE_L // 2
        while step > 0:
            if ty < step:
                sh[ty, tx] += sh[ty + step, tx]
            cuda.syncthreads()
            step //= 2
        if ty == 0 and c < c_:
            da[n, m, c] = cv(sh[0, tx], da)
        cuda.syncthreads()


@cuda.jit
def fused_bwd_nhwc(dv, a, ds, du):
    n_, l_, c_ = dv.shape
    total = n_ * l_ * c_
    idx = cuda.grid(1)
    stride = cuda.gridsize(1)
    while idx < total:
        r = idx // c_
        c = idx - r * c_
        n = r // l_
        g = ld(dv[n, r - n * l_, c])
        b = ld(ds[n, c]) / float32(l_)
        for m in range(len(du)):
            du[m][n, r - n * l_, c] = cv(ld(a[n, m, c]) * g + b, du[m])
        idx += stride


KERNELS = {
    "nchw": dict(pool=pool_nchw, select=select_nchw, attn_grad=attn_grad_nchw,
                 select_bwd=select_bwd_nchw, fused_bwd=fused_bwd_nchw),
    "nhwc": dict(pool=pool_nhwc, select=select_nhwc, attn_grad=attn_grad_nhwc,
                 select_bwd=select_bwd_nhwc, fused_bwd=fused_bwd_nhwc),
}
REDUCTIONS = ("pool", "attn_grad", "select_bwd")


def lanes_for(length: int) -> int:
    """Threads per NCHW plane of ``length`` = H*W elements: a warp for large planes, fewer for
    small ones (7x7, 14x14) so that lanes are not left idle."""
    return 8 if length <= 64 else 16 if length <= 256 else 32


def grid_block(step: str, layout: str, shape, sim: bool = False):
    """(grid, block) of kernel ``step`` for planes ``shape``: (P, L) for nchw, (N, L, C) for nhwc."""
    if layout == "nchw":
        lanes = lanes_for(shape[1])
        rows = (64 if sim else THREADS) // lanes  # the simulator runs one OS thread per CUDA thread
        return (shape[0] + rows - 1) // rows, (lanes, rows)
    if step in REDUCTIONS:
        n_, l_, c_ = shape
        return ((c_ + TILE_C - 1) // TILE_C, n_), (TILE_C, TILE_L)
    total = shape[0] * shape[1] * shape[2]
    tpb = 32 if sim else TPB
    cap = 4 if sim else 65535 * 4
    return max(1, min((total + tpb - 1) // tpb, cap)), tpb


def launch(step: str, layout: str, shape, args, stream=0, sim: bool = False):
    """Launch kernel ``step`` through numba's dispatcher (the simulator, and the fallback path)."""
    grid, block = grid_block(step, layout, shape, sim)
    KERNELS[layout][step][grid, block, stream](*args)
