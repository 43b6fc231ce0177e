"""The "auto" fusion: numba or torch per device, dtype, layout and size, from a table of rules.

``RULES[(device type, dtype, layout)]`` is the smallest branch size (elements of one U_m) from
which the numba kernels run; a missing key means torch. Each rule comes from a benchmark command
whose figures are in reports/kernels.md (CPU) and reports/kernels-h100.md (GPU); ``MEASURED``
says which rules a command confirmed and which are first guesses waiting for a GPU run.
Below a rule's size the numba path's fixed host cost per step (autograd Functions, kernel
launches) outweighs its saved memory traffic, so small inputs (batch 1 inference above all) keep
torch's few small ops. Under ``torch.compile`` auto uses the torch fusion, which inductor fuses
with its neighbours (the numba custom ops are opaque to it).
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
MEASURED = {("cpu", _F32, "nchw"), ("cpu", _F32, "nhwc"), ("cuda", _F32, "nchw")}


def min_elements(device_type: str, dtype: torch.dtype, layout: str) -> int | None:
    """The rule for these inputs, or None (torch)."""
    return RULES.get((device_type, dtype, layout))


def use_numba(branches: Sequence[Tensor]) -> bool:
    if torch.compiler.is_compiling():
        return False
    b0 = branches[0]
    threshold = min_elements(b0.device.type, b0.dtype, layout_of(b0))
    return threshold is not None and b0.numel() >= threshold


def pool(branches: Sequence[Tensor]) -> Tensor:
    return autograd.pool(branches) if use_numba(branches) else torch_pool(branches)


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return autograd.select(branches, attn) if use_numba(branches) else torch_select(branches, attn)
