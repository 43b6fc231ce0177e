"""CUDA SK fusion kernels (numba-cuda), the same five steps and array conventions as ``cpu.py``.

Reductions (pool, da) give each (n, c) plane one block (NCHW) or each (n, 32-channel tile) one
block (channels_last), accumulate in fp32 per thread and finish with a fixed-order tree reduction
in shared memory: no atomics, so results are bitwise reproducible. Element-wise steps are flat
grid-stride loops. fp16 inputs are read as fp16 and accumulated in fp32. No warp intrinsics, so the
same code runs under ``NUMBA_ENABLE_CUDASIM=1``.
"""

from __future__ import annotations

from numba import cuda, float32

MAXM = 8  # most branches the da kernels keep accumulators for
TPB = 256  # threads per block of the element-wise kernels
TILE_C = 32  # channels per block of the channels_last reductions
TILE_L = 8  # rows of the channels_last reduction block


def _jit(fn):
    return cuda.jit(fn)




# ---------------------------------------------------------------- NCHW: (N, C, L)
@_jit
def pool_nchw(us, s):
    n_, c_, l_ = us[0].shape
    p = cuda.blockIdx.x
    n = p // c_
    c = p - n * c_
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    acc = float32(0.0)
    for m in range(len(us)):
        u = us[m]
        i = tid
        while i < l_:
            acc += float32(u[n, c, i])
            i += nt
    sh = cuda.shared.array(1024, float32)
    sh[tid] = acc
    cuda.syncthreads()
    step = nt // 2  # fixed-order tree reduction over the block
    while step > 0:
        if tid < step:
            sh[tid] += sh[tid + step]
        cuda.syncthreads()
        step //= 2
    if tid == 0:
        s[n, c] = sh[0] / float32(l_)


@_jit
def select_nchw(us, a, v):
    n_, c_, l_ = us[0].shape
    total = n_ * c_ * l_
    idx = cuda.grid(1)
    stride = cuda.gridsize(1)
    while idx < total:
        p = idx // l_
        i = idx - p * l_
        n = p // c_
        c = p - n * c_
        acc = float32(us[0][n, c, i]) * float32(a[n, 0, c])
        for m in range(1, len(us)):
            acc = acc + float32(us[m][n, c, i]) * float32(a[n, m, c])
        v[n, c, i] = acc
        idx += stride


@_jit
def attn_grad_nchw(dv, us, da):
    n_, c_, l_ = dv.shape
    p = cuda.blockIdx.x
    n = p // c_
    c = p - n * c_
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    acc = cuda.local.array(MAXM, float32)
    nm = len(us)
    for m in range(nm):
        acc[m] = 0.0
    i = tid
    while i < l_:
        g = float32(dv[n, c, i])
        for m in range(nm):
            acc[m] += g * float32(us[m][n, c, i])
        i += nt
    sh = cuda.shared.array(1024, float32)
    for m in range(nm):
        sh[tid] = acc[m]
        cuda.syncthreads()
        step = nt // 2  # fixed-order tree reduction (inlined: no device function, so
        while step > 0:  # compile_ptx can type-check it without a GPU)
            if tid < step:
                sh[tid] += sh[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            da[n, m, c] = sh[0]
        cuda.syncthreads()


@_jit
def select_bwd_nchw(dv, us, a, da, du):
    n_, c_, l_ = dv.shape
    p = cuda.blockIdx.x
    n = p // c_
    c = p - n * c_
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    acc = cuda.local.array(MAXM, float32)
    nm = len(us)
    for m in range(nm):
        acc[m] = 0.0
    i = tid
    while i < l_:
        g = float32(dv[n, c, i])
        for m in range(nm):
            acc[m] += g * float32(us[m][n, c, i])
            du[m, n, c, i] = float32(a[n, m, c]) * g
        i += nt
    sh = cuda.shared.array(1024, float32)
    for m in range(nm):
        sh[tid] = acc[m]
        cuda.syncthreads()
        step = nt // 2  # fixed-order tree reduction (inlined: no device function, so
        while step > 0:  # compile_ptx can type-check it without a GPU)
            if tid < step:
                sh[tid] += sh[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            da[n, m, c] = sh[0]
        cuda.syncthreads()


@_jit
def fused_bwd_nchw(dv, a, ds, du):
    n_, c_, l_ = dv.shape
    total = n_ * c_ * l_
    idx = cuda.grid(1)
    stride = cuda.gridsize(1)
    while idx < total:
        p = idx // l_
        i = idx - p * l_
        n = p // c_
        c = p - n * c_
        g = float32(dv[n, c, i])
        b = float32(ds[n, c]) / float32(l_)
        for m in range(a.shape[1]):
            du[m, n, c, i] = float32(a[n, m, c]) * g + b
        idx += stride


# ---------------------------------------------------------------- NHWC: (N, L, C)
@_jit
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
                acc += float32(u[n, i, c])
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
        s[n, c] = sh[0, tx] / float32(l_)


@_jit
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
        acc = float32(us[0][n, i, c]) * float32(a[n, 0, c])
        for m in range(1, len(us)):
            acc = acc + float32(us[m][n, i, c]) * float32(a[n, m, c])
        v[n, i, c] = acc
        idx += stride


@_jit
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
            g = float32(dv[n, i, c])
            for m in range(nm):
                acc[m] += g * float32(us[m][n, i, c])
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
            da[n, m, c] = sh[0, tx]
        cuda.syncthreads()


@_jit
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
            g = float32(dv[n, i, c])
            for m in range(nm):
                acc[m] += g * float32(us[m][n, i, c])
                du[m, n, i, c] = float32(a[n, m, c]) * g
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
            da[n, m, c] = sh[0, tx]
        cuda.syncthreads()


@_jit
def fused_bwd_nhwc(dv, a, ds, du):
    n_, l_, c_ = dv.shape
    total = n_ * l_ * c_
    idx = cuda.grid(1)
    stride = cuda.gridsize(1)
    while idx < total:
        r = idx // c_
        c = idx - r * c_
        n = r // l_
        g = float32(dv[n, r - n * l_, c])
        b = float32(ds[n, c]) / float32(l_)
        for m in range(a.shape[1]):
            du[m, n, r - n * l_, c] = float32(a[n, m, c]) * g + b
        idx += stride


KERNELS = {
    "nchw": dict(pool=pool_nchw, select=select_nchw, attn_grad=attn_grad_nchw,
                 select_bwd=select_bwd_nchw, fused_bwd=fused_bwd_nchw),
    "nhwc": dict(pool=pool_nhwc, select=select_nhwc, attn_grad=attn_grad_nhwc,
                 select_bwd=select_bwd_nhwc, fused_bwd=fused_bwd_nhwc),
}
REDUCTIONS = ("pool", "attn_grad", "select_bwd")


def reduction_threads(length: int, cap: int = 256) -> int:
    """Threads per block for an NCHW plane of ``length`` elements (a power of two, 32..256)."""
    t = 32
    while t < cap and t < length:
        t *= 2
    return t


def launch(step: str, layout: str, shape, args, stream=0, sim: bool = False):
    """Launch kernel ``step`` for a 3-D problem ``shape`` (N, C, L) or (N, L, C) on ``stream``."""
    kern = KERNELS[layout][step]
    if step in REDUCTIONS:
        if layout == "nchw":
            n_, c_, l_ = shape
            grid, block = n_ * c_, reduction_threads(l_, 32 if sim else 256)
        else:
            n_, l_, c_ = shape
            grid, block = ((c_ + TILE_C - 1) // TILE_C, n_), (TILE_C, TILE_L)
    else:
        total = shape[0] * shape[1] * shape[2]
        tpb = 32 if sim else TPB  # the simulator runs one OS thread per CUDA thread
        cap = 4 if sim else 65535 * 4
        grid, block = max(1, min((total + tpb - 1) // tpb, cap)), tpb
    kern[grid, block, stream](*args)
