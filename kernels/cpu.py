"""CPU SK fusion kernels: ``numba.njit(parallel=True)``, one pass per step, no temporaries.

Every kernel sees the M branches as a tuple of arrays in one of two layouts: ``nchw`` = planes
(N*C, L) with L = H*W (contiguous NCHW; per-plane s and ds are (N*C,)) or ``nhwc`` = (N, L, C)
(channels_last). The attention a and its gradient da are (N, M, C) in both.
Outputs are written into caller-allocated arrays. ``du`` is one (M, ...) array whose slices are
the M branch gradients. Reductions use ``fastmath={"reassoc"}`` only (so LLVM may vectorise a
sum; the order is fixed by the compiled code, results are reproducible run to run); the
element-wise kernels are exact IEEE (no contraction), so V matches torch bit for bit.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from numba import njit, prange

from .steps import backward_steps

# Which thread pool runs the prange loops matters as much as the loops. numba's "workqueue" pool
# competes for the cores with torch's OpenMP threads, which keep spinning after each torch op.
# numba's "omp" layer binds its GOMP_* calls to the libgomp torch has already loaded into the
# global symbol scope, so the kernels run in torch's own warm pool (reports/kernels.md compares the
# two layers). So: omp first when torch uses OpenMP, workqueue as the fallback, unless the user
# chose a layer. LOCK serialises launches (workqueue is not re-entrant).
if "NUMBA_THREADING_LAYER" not in os.environ and "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
    import torch

    if torch.backends.openmp.is_available():
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "workqueue", "tbb"]
        numba.config.THREADING_LAYER = "default"
    else:
        numba.config.THREADING_LAYER = "workqueue"
LOCK = threading.Lock()

# GNU OpenMP is not fork-safe: numba kills a forked child (SIGTERM) that starts a parallel region
# after its parent ran one with the "omp" layer. A child forked after a launch therefore marks the
# kernels unusable, and the fusion falls back to torch there (autograd.choose_backend).
_state = {"launched": False, "unusable_in_child": False}


def note_launch() -> None:
    _state["launched"] = True


def usable() -> bool:
    """False in a process forked after this one ran a kernel on the OpenMP layer."""
    return not _state["unusable_in_child"]


def _after_fork_in_child() -> None:
    if _state["launched"] and numba.threading_layer() == "omp":
        _state["unusable_in_child"] = True


os.register_at_fork(after_in_child=_after_fork_in_child)

_RED = dict(parallel=True, cache=True, fastmath={"reassoc"}, nogil=True)
_ELT = dict(parallel=True, cache=True, nogil=True)
RB = 64  # rows (H*W positions) per task in the channels_last reductions


# ---------------------------------------------------------------- NCHW: planes (P = N*C, L)
# One plane per prange iteration; n, c = divmod(p, C) once per plane (the CUDA kernels' layout).
@njit(**_RED)
def pool_nchw(us, s):
    """s[p] = mean_L sum_m us[m][p, :]."""
    p_, l_ = us[0].shape
    inv = 1.0 / l_
    for p in prange(p_):
        acc = s[p]  # s, da arrive zero-filled: the accumulator takes their dtype
        for m in range(len(us)):
            u = us[m]
            for i in range(l_):
                acc += u[p, i]
        s[p] = acc * inv

@njit(**_ELT)
def select_nchw(us, a, v):
    """v[p, :] = sum_m a[n, m, c] * us[m][p, :] (torch's order: ((a0 u0) + a1 u1) + ...)."""
    p_, l_ = us[0].shape
    c_ = a.shape[2]
    for p in prange(p_):
        n = p // c_
        c = p - n * c_
        u = us[0]
        w = a[n, 0, c]
        for i in range(l_):
            v[p, i] = u[p, i] * w
        for m in range(1, len(us)):
            u = us[m]
            w = a[n, m, c]
            for i in range(l_):
                v[p, i] = v[p, i] + u[p, i] * w

@njit(**_RED)
def _plane_dots(dv, us, a, da, du):
    """da = sum_L dv * u_m per plane; where ``du`` is not None, also du[m] = a_m * dv in the same pass
    (numba compiles the branch for ``None`` away)."""
    p_, l_ = dv.shape
    c_ = da.shape[2]
    for p in prange(p_):
        n = p // c_
        c = p - n * c_
        for m in range(len(us)):
            u = us[m]
            acc = da[n, m, c]
            if du is None:
                for i in range(l_):
                    acc += dv[p, i] * u[p, i]
            else:
                w = a[n, m, c]
                for i in range(l_):
                    g = dv[p, i]
                    acc += g * u[p, i]
                    du[m, p, i] = w * g
            da[n, m, c] = acc


@njit(**_ELT)
def fused_bwd_nchw(dv, a, ds, du):
    """Pool + select backward for the branches, one pass: du[m] = a_m * dv + ds / L."""
    p_, l_ = dv.shape
    c_ = a.shape[2]
    inv = 1.0 / l_
    for p in prange(p_):
        n = p // c_
        c = p - n * c_
        g = ds[p] * inv
        for m in range(a.shape[1]):
            w = a[n, m, c]
            for i in range(l_):
                du[m, p, i] = w * dv[p, i] + g


# ---------------------------------------------------------------- NHWC: (N, L, C)
# Reductions: one task per (n, block of RB rows) reads whole contiguous rows and keeps C partial
# sums; a second loop adds the blocks in order (deterministic). tools/cpu_probe.py at SKNet-50's
# batch-32 stages: 18-39 GB/s, where the earlier tasks (one n, 64 channels, all rows: reads with a
# stride of C) ran at 5-11 GB/s.
@njit(**_RED)
def _add_blocks(part, out, scale):
    """out[n, m, c] = (out[n, m, c] + sum_b part[n, b, m, c]) * scale, the blocks in order."""
    n_, nb, m_, c_ = part.shape
    for n in prange(n_):
        for m in range(m_):
            for c in range(c_):
                x = out[n, m, c]
                for b in range(nb):
                    x += part[n, b, m, c]
                out[n, m, c] = x * scale


@njit(**_RED)
def pool_nhwc(us, s):
    """s[n, c] = mean_L sum_m us[m][n, :, c]: partial sums per block of RB rows, then summed in order."""
    n_, l_, c_ = us[0].shape
    nb = (l_ + RB - 1) // RB
    part = np.zeros((n_, nb, 1, c_), s.dtype)
    for t in prange(n_ * nb):
        n = t // nb
        b = t - n * nb
        acc = part[n, b, 0]
        for m in range(len(us)):
            u = us[m]
            for i in range(b * RB, min(l_, b * RB + RB)):
                for c in range(c_):
                    acc[c] += u[n, i, c]
    _add_blocks(part, s.reshape(n_, 1, c_), 1.0 / l_)


@njit(**_ELT)
def select_nhwc(us, a, v):
    n_, l_, c_ = us[0].shape
    for r in prange(n_ * l_):
        n = r // l_
        i = r - n * l_
        u = us[0]
        for c in range(c_):
            v[n, i, c] = u[n, i, c] * a[n, 0, c]
        for m in range(1, len(us)):
            u = us[m]
            for c in range(c_):
                v[n, i, c] = v[n, i, c] + u[n, i, c] * a[n, m, c]


@njit(**_RED)
def _dot_blocks(dv, us, a, da, du):
    """da = sum_L dv * u_m by row blocks; where ``du`` is not None, also du[m] = a_m * dv in the same pass
    (numba compiles the branch for ``None`` away)."""
    n_, l_, c_ = dv.shape
    m_ = len(us)
    nb = (l_ + RB - 1) // RB
    part = np.zeros((n_, nb, m_, c_), da.dtype)
    for t in prange(n_ * nb):
        n = t // nb
        b = t - n * nb
        for m in range(m_):
            u = us[m]
            acc = part[n, b, m]
            if du is None:
                for i in range(b * RB, min(l_, b * RB + RB)):
                    for c in range(c_):
                        acc[c] += dv[n, i, c] * u[n, i, c]
            else:
                w = a[n, m]
                g = du[m, n]
                for i in range(b * RB, min(l_, b * RB + RB)):
                    for c in range(c_):
                        x = dv[n, i, c]
                        acc[c] += x * u[n, i, c]
                        g[i, c] = w[c] * x
    _add_blocks(part, da, 1.0)


@njit(**_ELT)
def fused_bwd_nhwc(dv, a, ds, du):
    n_, l_, c_ = dv.shape
    inv = 1.0 / l_
    for r in prange(n_ * l_):
        n = r // l_
        i = r - n * l_
        for m in range(a.shape[1]):
            for c in range(c_):
                du[m, n, i, c] = a[n, m, c] * dv[n, i, c] + ds[n, c] * inv


attn_grad_nchw, select_bwd_nchw = backward_steps(_plane_dots)
attn_grad_nhwc, select_bwd_nhwc = backward_steps(_dot_blocks)

KERNELS = {
    "nchw": dict(pool=pool_nchw, select=select_nchw, attn_grad=attn_grad_nchw,
                 select_bwd=select_bwd_nchw, fused_bwd=fused_bwd_nchw),
    "nhwc": dict(pool=pool_nhwc, select=select_nhwc, attn_grad=attn_grad_nhwc,
                 select_bwd=select_bwd_nhwc, fused_bwd=fused_bwd_nhwc),
}
