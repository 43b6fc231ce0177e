"""The "auto" fusion: numba or torch per device, dtype, layout and size, from a table of rules.

``RULES[(device type, dtype, layout)]`` is the smallest branch size (elements of one U_m) from
which the numba kernels run; a missing key means torch. Each rule comes from a benchmark command
whose figures are in reports/kernels.md (CPU) and reports/kernels-h100.md (GPU); ``MEASURED``
says which rules a command confirmed and which are first guesses waiting for a GPU run.
Below a rule's size the numba path's fixed host cost per step (autograd Functions, kernel
launches) outweighs its saved memory traffic, so small inputs (batch 1 inference above all) keep
torch's few small ops. Under ``torch.compile`` auto uses the torch fusion, which inductor fuses
with its neighbours (the numba custom ops are opaque to it).

Rules measured on an NVIDIA H200 (reports/kernels-h100.md, `bash tools/gpu_check.sh`): the numba
path beat torch's in whole-network training for sknet50 (fp32 NCHW and bf16 channels_last) and
mobilenetv2_100_sk (bf16 channels_last), lost for shufflenetv2_x1_0_sk in bf16 channels_last, whose
SK channel counts (58, 116, 232) leave 16-bit channels_last rows off 32-byte boundaries; and lost
at batch 1 inference (numba 0.31x vs torch 0.42x of the base). Hence two conditions besides the
size: a batch of at least ``MIN_BATCH``, and in channels_last on CUDA rows of a multiple of
``ROW_ALIGN_BYTES``.
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
    if b0.shape[0] < MIN_BATCH or b0.numel() < _SMALLEST or torch.compiler.is_compiling():
        return False  # the cheap checks first: this runs twice per SK unit per step
    layout = layout_of(b0)
    threshold = min_elements(b0.device.type, b0.dtype, layout)
    if threshold is None or b0.numel() < threshold:
        return False
    if layout == "nhwc" and b0.is_cuda:
        return row_aligned(b0.shape[1], b0.element_size())
    return True


def row_aligned(channels: int, itemsize: int) -> bool:
    """Whether a channels_last pixel row of ``channels`` elements spans whole ``ROW_ALIGN_BYTES``."""
    return (channels * itemsize) % ROW_ALIGN_BYTES == 0


def pool(branches: Sequence[Tensor]) -> Tensor:
    return autograd.pool(branches) if use_numba(branches) else torch_pool(branches)


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return autograd.select(branches, attn) if use_numba(branches) else torch_select(branches, attn)
