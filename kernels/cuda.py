"""CUDA SK fusion kernels (numba-cuda), the same five steps and array conventions as ``cpu.py``.

NCHW kernels see each branch as planes (P = N*C, L = H*W) and give each plane one row of a block.
channels_last kernels see (N, L, K) arrays of channel units (one element, or two bfloat16
channels packed in an int32; see cuda_dtypes.py), 32 units per block row and the sample in a grid
dimension. Reductions accumulate in fp32 per thread and finish with one fixed-order tree in shared
memory (``tree_sum``, a device function every reduction calls): no atomics, so results are bitwise
reproducible. 16-bit inputs are widened to fp32 for the arithmetic. No warp intrinsics, so the same
code runs under ``NUMBA_ENABLE_CUDASIM=1``. Device functions compile for the current device's compute
capability; ``compile_ptx`` without a driver needs one given (the tests give 7.5).
"""

from __future__ import annotations

from numba import cuda, float32

from .cuda_dtypes import cv, hi, ld, lo, pk, width
from .steps import backward_steps

MAXM = 8  # most branches the da kernels keep accumulators for
TILE_C = 32  # channel units per channels_last block
RED_ROWS = 16  # rows of a channels_last reduction block (the simulator launches 2)
MAX_RED_ROWS = 16  # shared-memory rows of the channels_last reductions
RED_PLANE = MAX_RED_ROWS * TILE_C  # shared-memory slots of one channels_last reduction plane ...
RED_SLOTS = 2 * RED_PLANE  # ... and of both (the two channels of a bfloat16 pair)
EW_ROWS = 8  # rows of a channels_last element-wise block (the simulator launches 2)
ROWS_PER_THREAD = 4  # rows each thread of a channels_last element-wise block writes
THREADS = 256  # threads per NCHW block (the simulator launches 64)


# ---------------------------------------------------------------- NCHW: planes (P = N*C, L)
# Block (lanes, rows): each row of 8, 16 or 32 threads (``lanes_for``: by plane size) owns one
# (n, c) plane, so there is no per-element index division; loops are unrolled by four for
# memory-level parallelism; row sums finish with the fixed-order tree of ``tree_sum`` over the
# lanes in shared memory, all rows of the block at once.
@cuda.jit(device=True)
def tree_sum(sh, i, k, n, stride, planes, plane):
    """Fixed-order tree sum in shared memory: thread ``k`` of the ``n`` (a power of two) along the reduced
    axis owns slot ``i``; its partners sit ``stride`` slots apart, and the sum ends in the slot of
    ``k = 0``. ``planes`` sums (1 or 2) run at once, ``plane`` slots apart. Every thread of the block
    calls it (it synchronises); no atomics, so the result is the same on every run."""
    step = n // 2
    while step > 0:
        if k < step:
            for q in range(planes):
                j = i + q * plane
                sh[j] += sh[j + step * stride]
        cuda.syncthreads()
        step //= 2


@cuda.jit(device=True)
def row_sum(sh, x, lane, nl, row):
    """Tree-sum each row's per-lane values ``x`` over the row's ``nl`` lanes; the sum ends in ``sh[row * nl]``.
    Every thread of the block calls it (it synchronises)."""
    sh[row * nl + lane] = x
    cuda.syncthreads()
    tree_sum(sh, row * nl + lane, lane, nl, 1, 1, 0)


@cuda.jit(device=True)
def branch_sums_nchw(acc, nm, da, p, p_, c_):
    """da[n, m, c] of plane p = (n, c): each branch's per-lane sums ``acc`` tree-summed over the row."""
    lane = cuda.threadIdx.x
    nl = cuda.blockDim.x
    row = cuda.threadIdx.y
    sh = cuda.shared.array(THREADS, float32)
    for m in range(nm):
        row_sum(sh, acc[m], lane, nl, row)
        if lane == 0 and p < p_:
            n = p // c_
            da[n, m, p - n * c_] = cv(sh[row * nl], da)
        cuda.syncthreads()


@cuda.jit(device=True)
def plane_of_thread(x):
    """(lane, lanes per row, plane p, planes P, plane length L) of this thread for NCHW planes ``x``."""
    p_, l_ = x.shape
    return cuda.threadIdx.x, cuda.blockDim.x, cuda.blockIdx.x * cuda.blockDim.y + cuda.threadIdx.y, p_, l_


@cuda.jit(device=True)
def plane_weights(a, p, nm, w):
    """w[m] = a[n, m, c] as float32 for plane p = (n, c) and the ``nm`` branches; returns ``nm``."""
    c_ = a.shape[2]
    n = p // c_
    c = p - n * c_
    for m in range(nm):
        w[m] = ld(a[n, m, c])
    return nm


@cuda.jit(device=True)
def ld4(x, p, i, nl):
    """Elements i, i + nl, i + 2 nl, i + 3 nl of plane ``p`` of ``x`` as float32."""
    return ld(x[p, i]), ld(x[p, i + nl]), ld(x[p, i + 2 * nl]), ld(x[p, i + 3 * nl])


@cuda.jit(device=True)
def scaled_grad(du, w, nm, p, i, g, b):
    """du[m][p, i] = w[m] * g + b for each of the ``nm`` branches."""
    for m in range(nm):
        du[m][p, i] = cv(w[m] * g + b, du[m])


@cuda.jit(device=True)
def scaled_grad4(du, w, nm, p, i, nl, g0, g1, g2, g3, b):
    """``scaled_grad`` at elements i, i + nl, i + 2 nl, i + 3 nl (gradients g0..g3)."""
    for m in range(nm):
        d = du[m]
        d[p, i] = cv(w[m] * g0 + b, d)
        d[p, i + nl] = cv(w[m] * g1 + b, d)
        d[p, i + 2 * nl] = cv(w[m] * g2 + b, d)
        d[p, i + 3 * nl] = cv(w[m] * g3 + b, d)


@cuda.jit(device=True)
def lane_sum(u, p, lane, nl, l_):
    """This lane's share of the sum of plane ``p`` of ``u``: elements lane, lane + nl, ..., four per step."""
    x0 = float32(0.0)
    x1 = float32(0.0)
    x2 = float32(0.0)
    x3 = float32(0.0)
    i = lane
    while i + 3 * nl < l_:
        y0, y1, y2, y3 = ld4(u, p, i, nl)
        x0 += y0
        x1 += y1
        x2 += y2
        x3 += y3
        i += 4 * nl
    while i < l_:
        x0 += ld(u[p, i])
        i += nl
    return (x0 + x1) + (x2 + x3)


@cuda.jit
def pool_nchw(us, s):
    lane, nl, p, p_, l_ = plane_of_thread(us[0])
    x = float32(0.0)
    if p < p_:
        for m in range(len(us)):
            x += lane_sum(us[m], p, lane, nl, l_)
    row = cuda.threadIdx.y
    sh = cuda.shared.array(THREADS, float32)
    row_sum(sh, x, lane, nl, row)
    if lane == 0 and p < p_:
        s[p] = cv(sh[row * nl] / float32(l_), s)


@cuda.jit
def select_nchw(us, a, v):
    lane, nl, p, p_, l_ = plane_of_thread(v)
    w = cuda.local.array(MAXM, float32)
    if p < p_:
        nm = plane_weights(a, p, len(us), w)
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


@cuda.jit(device=True)
def dots_nchw(dv, us, a, da, du):
    """da = sum_L dv * u_m per plane; where ``du`` is not None (select_bwd) also du[m] = a_m * dv in the
    same pass (numba compiles the branches for ``None`` away)."""
    lane, nl, p, p_, l_ = plane_of_thread(dv)
    c_ = da.shape[2]
    nm = len(us)
    acc = cuda.local.array(MAXM, float32)
    w = cuda.local.array(MAXM, float32)
    for m in range(nm):
        acc[m] = 0.0
    if p < p_:
        if du is not None:
            plane_weights(a, p, nm, w)
        i = lane
        while i + 3 * nl < l_:
            g0, g1, g2, g3 = ld4(dv, p, i, nl)
            for m in range(nm):
                u0, u1, u2, u3 = ld4(us[m], p, i, nl)
                acc[m] += (g0 * u0 + g1 * u1) + (g2 * u2 + g3 * u3)
            if du is not None:
                scaled_grad4(du, w, nm, p, i, nl, g0, g1, g2, g3, float32(0.0))
            i += 4 * nl
        while i < l_:
            g0 = ld(dv[p, i])
            for m in range(nm):
                acc[m] += g0 * ld(us[m][p, i])
            if du is not None:
                scaled_grad(du, w, nm, p, i, g0, float32(0.0))
            i += nl
    branch_sums_nchw(acc, nm, da, p, p_, c_)


@cuda.jit
def fused_bwd_nchw(dv, a, ds, du):
    lane, nl, p, p_, l_ = plane_of_thread(dv)
    w = cuda.local.array(MAXM, float32)
    if p < p_:
        nm = plane_weights(a, p, len(du), w)
        b = ld(ds[p]) / float32(l_)
        i = lane
        while i + 3 * nl < l_:
            g0, g1, g2, g3 = ld4(dv, p, i, nl)
            scaled_grad4(du, w, nm, p, i, nl, g0, g1, g2, g3, b)
            i += 4 * nl
        while i < l_:
            scaled_grad(du, w, nm, p, i, ld(dv[p, i]), b)
            i += nl


# ---------------------------------------------------------------- NHWC: (N, L, K) units
# channels_last branches are (N, L, K) arrays of channel units (cuda_dtypes.py: one element, or two
# bfloat16 channels in an int32); the per-channel arrays (attention, s, ds, da) stay per channel,
# unit k covering channels k * width .. k * width + width - 1. Every block is (TILE_C units, rows)
# with the sample n in a grid dimension, so no thread divides an index. Reductions: one block per
# (32-unit tile, n) walks all L rows, four rows per step; element-wise steps: each thread handles
# ROWS_PER_THREAD rows of one unit.
@cuda.jit(device=True)
def unit_sum(sh, x0, x1, tx, ty):
    """Tree-sum each unit's per-row values ``x0``/``x1`` (its first and last channel) over the block's rows;
    the sums end in ``sh[tx]`` and ``sh[RED_PLANE + tx]``. Every thread of the block calls it."""
    sh[ty * TILE_C + tx] = x0
    sh[RED_PLANE + ty * TILE_C + tx] = x1
    cuda.syncthreads()
    tree_sum(sh, ty * TILE_C + tx, ty, cuda.blockDim.y, TILE_C, 2, RED_PLANE)


@cuda.jit(device=True)
def unit_of_reduction(x):
    """(unit k, sample n, row ty, rows per block, rows L, units K, channels per unit) of this thread in a
    channels_last reduction block over ``x``."""
    n_, l_, k_ = x.shape
    return (cuda.blockIdx.x * TILE_C + cuda.threadIdx.x, cuda.blockIdx.y, cuda.threadIdx.y, cuda.blockDim.y,
            l_, k_, width(x))


@cuda.jit(device=True)
def branch_sums_nhwc(acc0, acc1, nm, da, n, k, k_, wd):
    """da[n, m, channels of unit k]: each branch's per-row sums (``acc0``/``acc1``: the unit's first and
    last channel) tree-summed over the block's rows, both channels at once."""
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    sh = cuda.shared.array(RED_SLOTS, float32)
    for m in range(nm):
        unit_sum(sh, acc0[m], acc1[m], tx, ty)
        if ty == 0 and k < k_:
            c = k * wd
            da[n, m, c] = cv(sh[tx], da)
            if wd == 2:
                da[n, m, c + 1] = cv(sh[RED_PLANE + tx], da)
        cuda.syncthreads()


@cuda.jit(device=True)
def unit_of_thread(x):
    """(unit k, sample n, first row, row stride, rows L, units K, channels per unit) of this thread in a
    channels_last element-wise block over ``x``."""
    n_, l_, k_ = x.shape
    nr = cuda.blockDim.y
    i0 = cuda.blockIdx.y * (ROWS_PER_THREAD * nr) + cuda.threadIdx.y
    return cuda.blockIdx.x * TILE_C + cuda.threadIdx.x, cuda.blockIdx.z, i0, nr, l_, k_, width(x)


@cuda.jit(device=True)
def unit_weights(a, n, c0, c1, nm, w0, w1):
    """w0[m], w1[m] = a[n, m, c0], a[n, m, c1] as float32 (a unit's first and last channel); returns ``nm``."""
    for m in range(nm):
        w0[m] = ld(a[n, m, c0])
        w1[m] = ld(a[n, m, c1])
    return nm


@cuda.jit(device=True)
def row_share(u, n, k, ty, nr, l_):
    """This thread's share of the sums over rows of unit ``k`` of sample ``n`` of ``u`` (first and last
    channel of the unit): rows ty, ty + nr, ..., four per step."""
    acc0 = float32(0.0)
    acc1 = float32(0.0)
    i = ty
    while i + 3 * nr < l_:
        x0 = u[n, i, k]
        x1 = u[n, i + nr, k]
        x2 = u[n, i + 2 * nr, k]
        x3 = u[n, i + 3 * nr, k]
        acc0 += (lo(x0) + lo(x1)) + (lo(x2) + lo(x3))
        acc1 += (hi(x0) + hi(x1)) + (hi(x2) + hi(x3))
        i += 4 * nr
    while i < l_:
        x0 = u[n, i, k]
        acc0 += lo(x0)
        acc1 += hi(x0)
        i += nr
    return acc0, acc1


@cuda.jit
def pool_nhwc(us, s):
    k, n, ty, nr, l_, k_, wd = unit_of_reduction(us[0])
    acc0 = float32(0.0)
    acc1 = float32(0.0)
    if k < k_:
        for m in range(len(us)):
            x0, x1 = row_share(us[m], n, k, ty, nr, l_)
            acc0 += x0
            acc1 += x1
    tx = cuda.threadIdx.x
    sh = cuda.shared.array(RED_SLOTS, float32)
    unit_sum(sh, acc0, acc1, tx, ty)
    if ty == 0 and k < k_:
        c = k * wd
        s[n, c] = cv(sh[tx] / float32(l_), s)
        if wd == 2:
            s[n, c + 1] = cv(sh[RED_PLANE + tx] / float32(l_), s)


@cuda.jit
def select_nhwc(us, a, v):
    k, n, i0, nr, l_, k_, wd = unit_of_thread(us[0])
    w0 = cuda.local.array(MAXM, float32)
    w1 = cuda.local.array(MAXM, float32)
    if k < k_:
        nm = unit_weights(a, n, k * wd, k * wd + wd - 1, len(us), w0, w1)
        for r in range(ROWS_PER_THREAD):
            i = i0 + r * nr
            if i < l_:
                x0 = float32(0.0)
                x1 = float32(0.0)
                for m in range(nm):
                    x = us[m][n, i, k]
                    x0 += lo(x) * w0[m]
                    x1 += hi(x) * w1[m]
                v[n, i, k] = pk(x0, x1, v)


@cuda.jit(device=True)
def dots_nhwc(dv, us, a, da, du):
    """da = sum_L dv * u_m per channel unit; where ``du`` is not None (select_bwd) also du[m] = a_m * dv in
    the same pass, one row per step (attn_grad alone: two rows per step)."""
    k, n, ty, nr, l_, k_, wd = unit_of_reduction(dv)
    nm = len(us)
    acc0 = cuda.local.array(MAXM, float32)
    acc1 = cuda.local.array(MAXM, float32)
    for m in range(nm):
        acc0[m] = 0.0
        acc1[m] = 0.0
    if k < k_:
        if du is None:
            _dots_nhwc_pairs(dv, us, acc0, acc1, n, k, ty, nr, l_, nm)
        else:
            _dots_nhwc_du(dv, us, a, du, acc0, acc1, n, k, ty, nr, l_, nm, wd)
    branch_sums_nhwc(acc0, acc1, nm, da, n, k, k_, wd)


@cuda.jit(device=True)
def add_row_dots(g, us, acc0, acc1, n, i, k, nm):
    """acc0[m], acc1[m] += the products of dv unit ``g`` with row ``i`` of unit ``k`` of each branch."""
    for m in range(nm):
        x = us[m][n, i, k]
        acc0[m] += lo(g) * lo(x)
        acc1[m] += hi(g) * hi(x)


@cuda.jit(device=True)
def _dots_nhwc_pairs(dv, us, acc0, acc1, n, k, ty, nr, l_, nm):
    i = ty
    while i + nr < l_:
        g0 = dv[n, i, k]
        g1 = dv[n, i + nr, k]
        add_row_dots(g0, us, acc0, acc1, n, i, k, nm)
        add_row_dots(g1, us, acc0, acc1, n, i + nr, k, nm)
        i += 2 * nr
    if i < l_:
        add_row_dots(dv[n, i, k], us, acc0, acc1, n, i, k, nm)


@cuda.jit(device=True)
def _dots_nhwc_du(dv, us, a, du, acc0, acc1, n, k, ty, nr, l_, nm, wd):
    w0 = cuda.local.array(MAXM, float32)
    w1 = cuda.local.array(MAXM, float32)
    unit_weights(a, n, k * wd, k * wd + wd - 1, nm, w0, w1)
    i = ty
    while i < l_:
        g = dv[n, i, k]
        add_row_dots(g, us, acc0, acc1, n, i, k, nm)
        for m in range(nm):
            du[m][n, i, k] = pk(w0[m] * lo(g), w1[m] * hi(g), du[m])
        i += nr


@cuda.jit
def fused_bwd_nhwc(dv, a, ds, du):
    k, n, i0, nr, l_, k_, wd = unit_of_thread(dv)
    w0 = cuda.local.array(MAXM, float32)
    w1 = cuda.local.array(MAXM, float32)
    if k < k_:
        c0 = k * wd
        c1 = c0 + wd - 1
        nm = unit_weights(a, n, c0, c1, len(du), w0, w1)
        b0 = ld(ds[n, c0]) / float32(l_)
        b1 = ld(ds[n, c1]) / float32(l_)
        for r in range(ROWS_PER_THREAD):
            i = i0 + r * nr
            if i < l_:
                g = dv[n, i, k]
                g0 = lo(g)
                g1 = hi(g)
                for m in range(nm):
                    du[m][n, i, k] = pk(w0[m] * g0 + b0, w1[m] * g1 + b1, du[m])


attn_grad_nchw, select_bwd_nchw = backward_steps(dots_nchw, cuda.jit)
attn_grad_nhwc, select_bwd_nhwc = backward_steps(dots_nhwc, cuda.jit)


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
    """(grid, block) of kernel ``step`` for planes ``shape``: (P, L) for nchw, (N, L, K units) for nhwc."""
    if layout == "nchw":
        lanes = lanes_for(shape[1])
        rows = (64 if sim else THREADS) // lanes  # the simulator runs one OS thread per CUDA thread
        return (shape[0] + rows - 1) // rows, (lanes, rows)
    n_, l_, k_ = shape
    tiles = (k_ + TILE_C - 1) // TILE_C
    if step in REDUCTIONS:
        return (tiles, n_), (TILE_C, 2 if sim else RED_ROWS)
    rows = 2 if sim else EW_ROWS
    per_block = rows * ROWS_PER_THREAD
    return (tiles, (l_ + per_block - 1) // per_block, n_), (TILE_C, rows)


def launch(step: str, layout: str, shape, args, stream=0, sim: bool = False):
    """Launch kernel ``step`` through numba's dispatcher (the simulator, and the fallback path)."""
    grid, block = grid_block(step, layout, shape, sim)
    KERNELS[layout][step][grid, block, stream](*args)
