"""The "auto" fusion: numba or torch per device, dtype, layout and size, from a table of rules.

``RULES[(device type, dtype, layout)]`` is the smallest branch size (elements of one U_m) from
which the numba kernels run; a missing key means torch. Each rule comes from a benchmark command
whose figures are in reports/kernels.md (CPU) and reports/kernels-h100.md (GPU); ``MEASURED``
says which rules a command confirmed and which are first guesses waiting for a GPU run.
Below a rule's size the numba path's fixed host cost per step (autograd Functions, kernel
launches) outweighs the memory traffic it saves, so small inputs (batch 1 inference above all)
keep torch's few small ops. Under ``torch.compile`` the same rules pick between the numba custom
ops (kernels/custom_ops.py) and the torch fusion that inductor fuses with its neighbours, on CUDA
only; compiled CPU code keeps torch, since no compiled CPU run backs a rule.

Two conditions besides the size, both from the GPU runs in reports/kernels-h100.md: a batch of at
least ``MIN_BATCH`` (at batch 1 the host cost dominates), and in channels_last on CUDA rows of a
multiple of ``ROW_ALIGN_BYTES`` (16-bit rows off 32-byte boundaries, as ShuffleNetV2's SK channel
counts give, lose to torch).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from skmobile.layers.sk_fusion import torch_pool, torch_select

from . import autograd
from .ops import layout_of

_F32, _F16, _BF16 = torch.float32, torch.float16, torch.bfloat16

#: (device type, branch dtype, layout) -> numba from this many elements per branch.
RULES: dict[tuple[str, torch.dtype, str], int] = {
    ("cpu", _F32, "nchw"): 1 << 18,
    ("cpu", _F32, "nhwc"): 1 << 18,
    ("cuda", _F32, "nchw"): 1 << 22,
    ("cuda", _F32, "nhwc"): 1 << 22,
    ("cuda", _BF16, "nchw"): 1 << 22,
    ("cuda", _BF16, "nhwc"): 1 << 22,
    ("cuda", _F16, "nchw"): 1 << 22,
    ("cuda", _F16, "nhwc"): 1 << 22,
}
#: Rules a benchmark confirmed (reports/kernels*.md); the others are guesses until a GPU run.
MEASURED = {("cpu", _F32, "nchw"), ("cpu", _F32, "nhwc"), ("cuda", _F32, "nchw"), ("cuda", _BF16, "nhwc")}
#: Below this batch size auto always runs torch (batch-1 inference: the fusion's host cost dominates).
MIN_BATCH = 2
#: channels_last on CUDA: numba only when a pixel's channels span a multiple of this many bytes.
ROW_ALIGN_BYTES = 32
_SMALLEST = min(RULES.values())


def min_elements(device_type: str, dtype: torch.dtype, layout: str) -> int | None:
    """The rule for these inputs, or None (torch)."""
    return RULES.get((device_type, dtype, layout))


def use_numba(branches: Sequence[Tensor]) -> bool:
    b0 = branches[0]
    if b0.shape[0] < MIN_BATCH or b0.numel() < _SMALLEST:
        return False  # the cheap checks first: this runs twice per SK unit per step
    return decide(b0.device.type, b0.dtype, layout_of(b0), tuple(b0.shape),
                  torch.compiler.is_compiling())


def decide(device_type: str, dtype: torch.dtype, layout: str, shape: tuple, compiling: bool) -> bool:
    """Whether branches of NCHW ``shape`` (dtype, layout, device type) take the numba kernels."""
    n, c = shape[0], shape[1]
    numel = n * c * shape[2] * shape[3]
    if n < MIN_BATCH or (compiling and device_type != "cuda"):
        return False  # batch 1; compiled CPU code (not measured: inductor's fusion)
    threshold = min_elements(device_type, dtype, layout)
    if threshold is None or numel < threshold:
        return False
    if layout == "nhwc" and device_type == "cuda":
        return row_aligned(c, dtype.itemsize)
    return True


def row_aligned(channels: int, itemsize: int) -> bool:
    """Whether a channels_last pixel row of ``channels`` elements spans whole ``ROW_ALIGN_BYTES``."""
    return (channels * itemsize) % ROW_ALIGN_BYTES == 0


def pool(branches: Sequence[Tensor]) -> Tensor:
    return autograd.pool(branches) if use_numba(branches) else torch_pool(branches)


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return autograd.select(branches, attn) if use_numba(branches) else torch_select(branches, attn)
