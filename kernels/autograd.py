"""Autograd glue: ``pool(branches)`` and ``select(branches, attn)`` on the numba kernels.

Two Functions, one per step, so SKConv2d's two calls stay as they are. The backward saves a pass
by *linking* them: the attention a is computed from s = pool(branches), so autograd always runs
select's backward before pool's. When select sees (through attn's graph) that its branches are the
ones pool saw, its backward only computes da = sum dV * U_m (one read of dV and the branches) and
hands dV to pool's backward, which writes every dU_m = a_m * dV + ds / HW in one more pass.
Unlinked (select or pool used alone) each backward is self-contained. Unsupported inputs (dtype,
device, M > 8, tracing/compiling) run the torch reference, with a one-time warning where it matters.
"""

from __future__ import annotations

import weakref
from typing import Sequence

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from skmobile.layers.sk_fusion import torch_pool, torch_select

from . import ops
from .warn import fallback

MAX_PATHS = 8


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()


_KERNEL_DTYPES = {"cpu": (torch.float32, torch.float64), "cuda": (torch.float32, torch.float16, torch.bfloat16)}


def _compiled_op_fits(branches: Sequence[Tensor], attn: Tensor | None = None) -> bool:
    """Whether ``torch.compile`` can put the custom ops here (tensor metadata only, so dynamo traces
    it): not while exporting (ONNX/export graphs keep the plain torch ops), and only for inputs the
    kernels take."""
    exporting = getattr(torch.compiler, "is_exporting", lambda: False)()
    if exporting or torch.jit.is_tracing() or not branches or len(branches) > MAX_PATHS:
        return False
    b0 = branches[0]
    dtypes = _KERNEL_DTYPES.get(b0.device.type, ())
    if b0.dim() != 4 or b0.dtype not in dtypes or any(b.shape != b0.shape or b.dtype != b0.dtype
                                                      or b.device != b0.device for b in branches):
        return False
    if attn is None:
        return True
    same_dtype = b0.device.type == "cpu"
    return (attn.dtype in dtypes and attn.device == b0.device and (attn.dtype == b0.dtype or not same_dtype)
            and tuple(attn.shape) == (b0.shape[0], len(branches), b0.shape[1]))


def choose_backend(branches: Sequence[Tensor], attn: Tensor | None = None):
    """The backend that runs these inputs, or None for the torch reference."""
    if _tracing() or not branches:
        return None
    b0 = branches[0]
    if b0.dim() != 4 or len(branches) > MAX_PATHS:
        return None
    tensors = list(branches) + ([attn] if attn is not None else [])
    if any(t.device != b0.device or t.shape != b0.shape for t in branches):
        return None
    backend = ops.backend_for(b0)
    if backend is None:
        return None
    reason = backend.unusable_reason()
    if reason:
        fallback(backend.name, reason)
        return None
    bad = [t.dtype for t in tensors if t.dtype not in backend.dtypes]
    if backend.name == "cpu" and attn is not None and attn.dtype != b0.dtype:
        bad.append(attn.dtype)
    if bad or any(t.dtype != b0.dtype for t in branches):
        fallback(backend.name, f"numba fusion does not support {sorted({str(d) for d in bad}) or 'mixed branch dtypes'} "
                 f"on {backend.name}")
        return None
    return backend


# ---------------------------------------------------------------- the link between the two steps
class _Link:
    """What one pool call leaves for the select call on the same branches."""

    __slots__ = ("refs", "claimed", "dv", "attn", "__weakref__")

    def __init__(self, branches):
        self.refs = [weakref.ref(b) for b in branches]
        self.claimed = False
        self.dv = self.attn = None


def _graph_reaches(start, link, limit: int = 512) -> bool:
    """Whether pool's backward node for ``link`` lies in the graph below ``start``.

    ``next_functions`` hands out a fresh Python wrapper per C++ node and call, so visited nodes
    are kept alive here: an id() of a freed wrapper can be reused by the next one, which would
    then be skipped as "seen" (this made the walk miss pool's node on a GPU machine)."""
    seen: dict = {}
    stack = [start]
    while stack and len(seen) < limit:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        if getattr(node, "sk_link", None) is link:
            return True
        stack.extend(f for f, _ in getattr(node, "next_functions", ()))
    return False


def _claim_link(branches, attn: Tensor):
    link = getattr(branches[0], "_sk_link", None)
    if link is None or link.claimed or len(link.refs) != len(branches):
        return None
    if any(r() is not b for r, b in zip(link.refs, branches)):
        return None
    if attn.grad_fn is None or not _graph_reaches(attn.grad_fn, link):
        return None
    link.claimed = True
    return link


# ---------------------------------------------------------------- autograd Functions
class _Pool(Function):
    @staticmethod
    def forward(ctx, backend, link, *branches):
        layout = ops.layout_of(branches[0])
        us = [ops.to_layout(b, layout) for b in branches]
        ctx.backend, ctx.sk_link, ctx.layout = backend, link, layout
        ctx.shape, ctx.dtype = branches[0].shape, branches[0].dtype
        return ops.pool(backend, us, layout)

    @staticmethod
    @once_differentiable
    def backward(ctx, ds):
        link, need = ctx.sk_link, ctx.needs_input_grad[2:]
        n, c, h, w = ctx.shape
        if link is not None and link.dv is not None:
            dv, attn = link.dv, link.attn
            link.dv = link.attn = None
            dus = ops.fused_backward(ctx.backend, dv, attn, ds.contiguous(), ctx.shape, ctx.dtype, ctx.layout)
        else:
            g = (ds / (h * w)).to(ctx.dtype).reshape(n, c, 1, 1).expand(n, c, h, w)
            dus = [g] * len(need)
        return (None, None, *[d if k else None for d, k in zip(dus, need)])


class _Select(Function):
    @staticmethod
    def forward(ctx, backend, link, attn, *branches):
        layout = ops.layout_of(branches[0])
        us = [ops.to_layout(b, layout) for b in branches]
        attn = attn.contiguous()
        ctx.backend, ctx.sk_link, ctx.layout = backend, link, layout
        ctx.save_for_backward(attn, *us)
        return ops.select(backend, us, attn, layout)

    @staticmethod
    @once_differentiable
    def backward(ctx, dv):
        attn, *us = ctx.saved_tensors
        need_a, need_u = ctx.needs_input_grad[2], any(ctx.needs_input_grad[3:])
        dv = ops.to_layout(dv, ctx.layout)
        link, m = ctx.sk_link, len(us)
        da, dus = None, [None] * m
        if link is not None and need_u:  # pool's backward writes the branch grads
            da = ops.attn_grad(ctx.backend, dv, us, attn, ctx.layout) if need_a else None
            link.dv, link.attn = dv, attn
        elif need_u:
            da, dus = ops.select_backward(ctx.backend, dv, us, attn, ctx.layout)
            dus = [d if k else None for d, k in zip(dus, ctx.needs_input_grad[3:])]
        elif need_a:
            da = ops.attn_grad(ctx.backend, dv, us, attn, ctx.layout)
        return (None, None, da if need_a else None, *dus)


# ---------------------------------------------------------------- the fusion steps SKConv2d calls
def _grad_wanted(tensors) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def pool(branches: Sequence[Tensor], backend=None) -> Tensor:
    """s[n, c] = mean over H, W of sum_m U_m (numba; torch for unsupported inputs).

    ``backend`` forces a kernel backend (tests: the CUDA kernels in the simulator on CPU tensors).
    Under ``torch.compile`` it is the ``skmobile::sk_pool`` custom op.
    """
    if backend is None and torch.compiler.is_compiling():
        from . import custom_ops

        return custom_ops.pool(branches) if _compiled_op_fits(branches) else torch_pool(branches)
    backend = backend or choose_backend(branches)
    if backend is None:
        return torch_pool(branches)
    if not _grad_wanted(branches):
        layout = ops.layout_of(branches[0])
        return ops.pool(backend, [ops.to_layout(b, layout) for b in branches], layout)
    link = _Link(branches)
    s = _Pool.apply(backend, link, *branches)
    try:
        branches[0]._sk_link = link
    except (AttributeError, RuntimeError):  # pragma: no cover - tensor subclasses without __dict__
        pass
    return s


def select(branches: Sequence[Tensor], attn: Tensor, backend=None) -> Tensor:
    """V = sum_m a[:, m] * U_m (numba; torch for unsupported inputs; ``skmobile::sk_select`` under
    ``torch.compile``)."""
    if backend is None and torch.compiler.is_compiling():
        from . import custom_ops

        fits = _compiled_op_fits(branches, attn)
        return custom_ops.select(branches, attn) if fits else torch_select(branches, attn)
    backend = backend or choose_backend(branches, attn)
    if backend is None or attn.shape != (branches[0].shape[0], len(branches), branches[0].shape[1]):
        return torch_select(branches, attn)
    if not _grad_wanted(list(branches) + [attn]):
        layout = ops.layout_of(branches[0])
        us = [ops.to_layout(b, layout) for b in branches]
        return ops.select(backend, us, attn.contiguous(), layout)
    link = _claim_link(branches, attn)
    return _Select.apply(backend, link, attn, *branches)
