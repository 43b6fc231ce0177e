"""The numba fusion as ``torch.library`` custom ops, so ``torch.compile`` keeps it in one graph.

Eager code runs the autograd Functions of ``autograd.py`` (their linked backward saves a pass);
under ``torch.compile`` those cannot be traced (they keep Python state between the two steps), so
``autograd.pool``/``select`` call these ops instead:

* ``skmobile::sk_pool(branches) -> s``; its backward is ds / (H W) broadcast (torch ops, which
  inductor fuses into the branch gradients' sums).
* ``skmobile::sk_select(branches, attn, out_dtype) -> V``; its backward is
  ``skmobile::sk_select_backward(dv, branches, attn) -> (da, dU)`` in one pass, dU stacked
  (M, N, C, H, W) since a custom op's outputs may not alias each other.

Each op has a fake (meta) implementation giving the output's shape, dtype and layout, so dynamo
and AOTAutograd trace them without running the kernels.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from . import ops

_NS = "skmobile"


def _in_layout(branches: Sequence[Tensor]):
    layout = ops.layout_of(branches[0])
    return [ops.to_layout(b, layout) for b in branches], layout


def _empty_in_layout(like: Tensor, dtype) -> Tensor:
    mf = torch.channels_last if ops.layout_of(like) == "nhwc" else torch.contiguous_format
    return torch.empty(like.shape, dtype=dtype, device=like.device).contiguous(memory_format=mf)


# ---------------------------------------------------------------- pool
@torch.library.custom_op(f"{_NS}::sk_pool", mutates_args=())
def sk_pool(branches: list[Tensor]) -> Tensor:
    us, layout = _in_layout(branches)
    return ops.pool(ops.backend_for(us[0]), us, layout)


@sk_pool.register_fake
def _(branches):
    b0 = branches[0]
    return b0.new_empty(b0.shape[:2])


def _pool_setup(ctx, inputs, output):
    (branches,) = inputs
    ctx.shape, ctx.dtype, ctx.m = branches[0].shape, branches[0].dtype, len(branches)


def _pool_backward(ctx, ds):
    n, c, h, w = ctx.shape
    g = (ds / (h * w)).to(ctx.dtype).reshape(n, c, 1, 1).expand(n, c, h, w)
    return [g] * ctx.m


sk_pool.register_autograd(_pool_backward, setup_context=_pool_setup)


# ---------------------------------------------------------------- select
@torch.library.custom_op(f"{_NS}::sk_select", mutates_args=())
def sk_select(branches: list[Tensor], attn: Tensor, out_dtype: torch.dtype) -> Tensor:
    us, layout = _in_layout(branches)
    return ops.select(ops.backend_for(us[0]), us, attn.contiguous(), layout, out_dtype)


@sk_select.register_fake
def _(branches, attn, out_dtype):
    return _empty_in_layout(branches[0], out_dtype)


@torch.library.custom_op(f"{_NS}::sk_select_backward", mutates_args=())
def sk_select_backward(dv: Tensor, branches: list[Tensor], attn: Tensor) -> tuple[Tensor, Tensor]:
    us, layout = _in_layout(branches)
    return ops.select_backward(ops.backend_for(us[0]), ops.to_layout(dv, layout), us, attn.contiguous(), layout,
                               stacked=True)


@sk_select_backward.register_fake
def _(dv, branches, attn):
    b0, m = branches[0], len(branches)
    n, c, h, w = b0.shape
    if ops.layout_of(b0) == "nhwc":
        du = b0.new_empty((m, n, h, w, c)).permute(0, 1, 4, 2, 3)
    else:
        du = b0.new_empty((m, n, c, h, w))
    return attn.new_empty(attn.shape), du


def _select_setup(ctx, inputs, output):
    branches, attn, _ = inputs
    ctx.save_for_backward(attn, *branches)


def _select_backward(ctx, dv):
    attn, *branches = ctx.saved_tensors
    da, du = sk_select_backward(dv, branches, attn)
    return list(du.unbind(0)), da, None


sk_select.register_autograd(_select_backward, setup_context=_select_setup)


def pool(branches: Sequence[Tensor]) -> Tensor:
    return sk_pool(list(branches))


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return sk_select(list(branches), attn, ops.select_dtype(branches[0], attn))
