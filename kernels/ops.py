"""Tensor-level fusion steps: layout handling, output allocation, and launching on a backend.

A backend turns a torch tensor into what its kernels take (a numpy view on CPU; a numba device
array through ``__cuda_array_interface__`` on CUDA) and launches a step. Branches are seen through
views without copies: contiguous NCHW -> planes (N*C, H*W) ("nchw"), channels_last -> (N, H*W, C)
("nhwc"); anything else is converted once to NCHW. Gradients come back in the forward's layout.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Sequence

import torch
from torch import Tensor

from . import buffers
from .warn import warn_once


# ---------------------------------------------------------------- layouts
def layout_of(t: Tensor) -> str:
    if t.is_contiguous():
        return "nchw"
    if t.is_contiguous(memory_format=torch.channels_last):
        return "nhwc"
    return "nchw"


def to_layout(t: Tensor, layout: str) -> Tensor:
    if layout == "nchw":
        return t if t.is_contiguous() else t.contiguous()
    cl = torch.channels_last
    return t if t.is_contiguous(memory_format=cl) else t.contiguous(memory_format=cl)


def planes(t: Tensor, layout: str) -> Tensor:
    """The view the kernels index: planes (N*C, L) for "nchw", (N, L, C) for "nhwc";
    ``t`` must already be in ``layout``."""
    n, c, h, w = t.shape
    if layout == "nchw":
        return t.view(n * c, h * w)
    return t.permute(0, 2, 3, 1).reshape(n, h * w, c)


def empty_like_layout(shape, layout: str, dtype, device) -> Tensor:
    """An output of NCHW ``shape`` laid out as ``layout`` (pooled on CPU: see buffers.py)."""
    n, c, h, w = shape
    if layout == "nchw":
        return buffers.empty((n, c, h, w), dtype, device)
    return buffers.empty((n, h, w, c), dtype, device).permute(0, 3, 1, 2)


def empty_grads(m: int, shape, layout: str, dtype, device):
    """One (M, ...) buffer as the kernels index it, and the same buffer as an (M, N, C, H, W) tensor
    whose slices are in ``layout`` (no copies)."""
    n, c, h, w = shape
    if layout == "nchw":
        buf = buffers.empty((m, n, c, h, w), dtype, device)
        return buf.view(m, n * c, h * w), buf
    buf = buffers.empty((m, n, h, w, c), dtype, device)
    return buf.view(m, n, h * w, c), buf.permute(0, 1, 4, 2, 3)


# ---------------------------------------------------------------- backends
class CpuBackend:
    name = "cpu"
    dtypes = (torch.float32, torch.float64)

    def __init__(self):
        from . import cpu

        self.kernels, self.lock, self.cpu = cpu.KERNELS, cpu.LOCK, cpu

    def array(self, t: Tensor):
        return t.detach().numpy()

    def planes(self, t: Tensor, layout: str, pair: bool = False):
        """``planes(t, layout)`` as a numpy view (numpy's reshape costs a fraction of torch's view;
        ``copy=False`` raises rather than hand the kernels a copy)."""
        a = t.detach().numpy()
        n, c, h, w = a.shape
        if layout == "nchw":
            return a.reshape(n * c, h * w, copy=False)
        return a.transpose(0, 2, 3, 1).reshape(n, h * w, c, copy=False)

    def grads(self, du3: Tensor, pair: bool = False):
        """The branch-gradient buffer (M, ...) as the kernels take it: one array (``pair`` is a
        CUDA channels_last notion, never set here)."""
        return self.array(du3)

    def unusable_reason(self) -> str | None:
        if self.cpu.usable():
            return None
        return ("this process was forked after its parent ran the numba CPU kernels on GNU OpenMP, "
                "which is not fork-safe")

    def launch(self, step: str, layout: str, shape, args) -> None:
        with self.lock:
            self.kernels[layout][step](*args)
            self.cpu.note_launch()


class CudaBackend:
    """numba-cuda kernels on torch's current stream; ``sim=True`` runs them in the CUDA simulator
    on CPU tensors (``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is first imported).

    On a GPU, tensors go to the kernels as they are and ``cuda_launch.Launcher`` passes them in
    numba's argument ABI (``fast=True``); ``fast=False`` goes through numba's dispatcher with
    ``__cuda_array_interface__`` views, at a higher host cost per launch (see ``cuda_launch``).
    """

    name = "cuda"
    dtypes = (torch.float32, torch.float16, torch.bfloat16)
    pairs = True  # channels_last bfloat16 rows go to the kernels as int32 pairs (see paired())

    def __init__(self, sim: bool | None = None, fast: bool = True):
        from numba import cuda as nb_cuda

        from . import cuda

        self.sim = bool(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1") if sim is None else sim
        self.nb_cuda = nb_cuda
        self.mod = cuda
        self.launcher = None
        if fast and not self.sim:
            from .cuda_launch import Launcher

            self.launcher = Launcher()

    def unusable_reason(self) -> str | None:
        return None

    def array(self, t: Tensor):
        t = t.detach()
        if t.dtype == torch.bfloat16:  # the kernels see bfloat16 as its bits (cuda_dtypes.py)
            t = t.view(torch.int16)
        if self.sim:
            return t.numpy()
        if self.launcher is not None:
            return t
        return self.nb_cuda.as_cuda_array(t, sync=False)

    def planes(self, t: Tensor, layout: str, pair: bool = False):
        p = planes(t, layout)
        return self.array(p.view(torch.int32) if pair else p)

    def grads(self, du3: Tensor, pair: bool = False):
        """The branch-gradient buffer (M, ...) as a tuple of M arrays: M is then a compile-time
        constant and the per-branch weights stay in registers."""
        if pair:
            du3 = du3.view(torch.int32)
        return tuple(self.array(d) for d in du3.unbind(0))

    def launch(self, step: str, layout: str, shape, args, device=None) -> None:
        if self.sim:  # external streams are unsupported in the simulator
            return self.mod.launch(step, layout, shape, args, stream=0, sim=True)
        handle = torch.cuda.current_stream(device).cuda_stream
        if self.launcher is not None:
            grid, block = self.mod.grid_block(step, layout, shape)
            try:
                return self.launcher(self.mod.KERNELS[layout][step], grid, block, handle, args)
            except Exception as exc:  # e.g. another cuda.core API: numba's dispatcher still works
                warn_once("cuda-launch", f"skmobile.kernels: fast CUDA launch failed ({exc}); "
                          f"using numba's dispatcher (slower launches)")
                self.launcher = None
                args = tuple(self._numba_args(a) for a in args)
        self.mod.launch(step, layout, shape, args, stream=self.nb_cuda.external_stream(handle))

    def _numba_args(self, a):
        if isinstance(a, tuple):
            return tuple(self._numba_args(t) for t in a)
        return self.nb_cuda.as_cuda_array(a, sync=False) if isinstance(a, Tensor) else a


_BACKENDS: dict[str, object] = {}


def backend_for(t: Tensor):
    """The kernel backend for tensors like ``t`` (created once), or None."""
    kind = t.device.type
    if kind not in ("cpu", "cuda"):
        return None
    if kind not in _BACKENDS:
        _BACKENDS[kind] = CpuBackend() if kind == "cpu" else CudaBackend(sim=False)
    return _BACKENDS[kind]


# ---------------------------------------------------------------- the five steps
#: Launches per step name, and per "step/pairs" for launches on bfloat16 pairs (tests check that the
#: linked backward path and the paired reads are the ones taken).
CALLS: Counter = Counter()


def paired(backend, layout: str, tensors: Sequence[Tensor]) -> bool:
    """Whether a CUDA channels_last launch reads these tensors (branches, V, dV, dU; N, C first)
    as int32 units of two bfloat16 channels: all bfloat16, an even channel count and 4-byte
    aligned. Every big array of one launch is read the same way."""
    if not getattr(backend, "pairs", False) or layout != "nhwc" or tensors[0].shape[1] % 2:
        return False
    return all(t.dtype == torch.bfloat16 and t.storage_offset() % 2 == 0 for t in tensors)


def _per_plane(backend, t: Tensor, layout: str):
    """An (N, C) tensor as the kernels index it: (N*C,) for NCHW planes."""
    return backend.array(t.view(-1) if layout == "nchw" else t)


def _us(backend, branches: Sequence[Tensor], layout: str, pair: bool = False):
    return tuple(backend.planes(b, layout, pair) for b in branches)


def _launch(backend, step, layout, shape3, args, device, pair: bool = False):
    CALLS[step] += 1
    if pair:
        CALLS[f"{step}/pairs"] += 1
    if isinstance(backend, CudaBackend):
        backend.launch(step, layout, shape3, args, device)
    else:
        backend.launch(step, layout, shape3, args)


def pool(backend, branches: Sequence[Tensor], layout: str) -> Tensor:
    """s (N, C), dtype of the branches; branches already in ``layout``."""
    b0 = branches[0]
    n, c = b0.shape[:2]
    s = torch.zeros((n, c), dtype=b0.dtype, device=b0.device)  # tiny; zeros seed the CPU accumulators
    pair = paired(backend, layout, branches)
    us = _us(backend, branches, layout, pair)
    _launch(backend, "pool", layout, us[0].shape, (us, _per_plane(backend, s, layout)), b0.device, pair)
    return s


def select_dtype(branch: Tensor, attn: Tensor) -> torch.dtype:
    """V's dtype: the branches' under autocast when they are 16-bit (the attention comes out of
    softmax in float32 there, and V goes on to a 16-bit conv), else torch's promotion."""
    if branch.dtype in (torch.float16, torch.bfloat16) and torch.is_autocast_enabled(branch.device.type):
        return branch.dtype
    return torch.promote_types(branch.dtype, attn.dtype)


def select(backend, branches: Sequence[Tensor], attn: Tensor, layout: str, dtype=None) -> Tensor:
    """V (N, C, H, W) in ``layout``, of ``dtype`` (default: :func:`select_dtype`)."""
    b0 = branches[0]
    v = empty_like_layout(b0.shape, layout, dtype or select_dtype(b0, attn), b0.device)
    pair = paired(backend, layout, [*branches, v])
    us = _us(backend, branches, layout, pair)
    _launch(backend, "select", layout, us[0].shape,
            (us, backend.array(attn), backend.planes(v, layout, pair)), b0.device, pair)
    return v


def attn_grad(backend, dv: Tensor, branches: Sequence[Tensor], attn: Tensor, layout: str) -> Tensor:
    """da (N, M, C) = sum over H, W of dV * U_m."""
    da = torch.zeros(attn.shape, dtype=attn.dtype, device=attn.device)
    pair = paired(backend, layout, [dv, *branches])
    us = _us(backend, branches, layout, pair)
    dv3 = backend.planes(dv, layout, pair)
    _launch(backend, "attn_grad", layout, dv3.shape, (dv3, us, backend.array(da)), dv.device, pair)
    return da


def select_backward(backend, dv: Tensor, branches: Sequence[Tensor], attn: Tensor, layout: str,
                    stacked: bool = False):
    """(da, [dU_m = a_m * dV]) in one pass; ``stacked``: the dU_m as one (M, N, C, H, W) tensor."""
    b0 = branches[0]
    da = torch.zeros(attn.shape, dtype=attn.dtype, device=attn.device)
    du3, dus = empty_grads(len(branches), b0.shape, layout, b0.dtype, b0.device)
    if not stacked:
        dus = list(dus.unbind(0))
    pair = paired(backend, layout, [dv, *branches])  # the dU_m share the branches' dtype
    us = _us(backend, branches, layout, pair)
    dv3 = backend.planes(dv, layout, pair)
    du_arrays = backend.grads(du3, pair)
    _launch(backend, "select_bwd", layout, dv3.shape,
            (dv3, us, backend.array(attn), backend.array(da), du_arrays), dv.device, pair)
    return da, dus


def fused_backward(backend, dv: Tensor, attn: Tensor, ds: Tensor, shape, dtype, layout: str):
    """[dU_m = a_m * dV + ds / (H W)]: the branch gradients of pool and select in one pass."""
    du3, dus = empty_grads(attn.shape[1], shape, layout, dtype, dv.device)
    pair = dtype == torch.bfloat16 and paired(backend, layout, [dv])
    dv3 = backend.planes(dv, layout, pair)
    du_arrays = backend.grads(du3, pair)
    _launch(backend, "fused_bwd", layout, dv3.shape,
            (dv3, backend.array(attn), _per_plane(backend, ds, layout), du_arrays), dv.device, pair)
    return list(dus.unbind(0))
