"""The "auto" fusion: numba or torch per device and problem size, from measured benchmark results.

The thresholds are what ``skmobile bench kernels`` measured (reports/kernels.md,
reports/kernels-h100.md). On CPU (2-core Intel Xeon, numba in torch's OpenMP pool) the numba path
won forward+backward on every shape with at least 2**18 elements per branch (1.3-7.7x: all
batch-32 shapes, and SKNet-50 stage 1 / MobileNetV2 96@56 at batch 1); below that torch's few
small ops mostly win (0.77-0.96x; SKNet-50's 256@28 and 512@14 at batch 1 gave 1.1-1.2x), since
the numba path's fixed cost per step (two autograd Functions, four kernel calls) dominates there.
On an H100 the fusion alone (``bench kernels``) costs about 1.2 ms of host time per
forward+backward with the numba path and 0.8-1.0 ms with torch's ops, so alone it
wins only where device time dominates (SKNet-50 at batch 256: 2.62x eager at stage 1, 1.83x at
stage 2, 1.06x at stage 3). Inside a network that host time overlaps the convolutions' device time:
SKNet-50 training (``bench model``) ran 0.717x/0.720x of ResNeXt-50's images/s at batch 128/256
with numba in every unit, 0.699x with numba only from 2**24 elements, 0.660x with torch; at batch
64 numba everywhere was slower (0.620x vs 0.644x). Hence numba from 2**22 elements per branch:
every SK unit at batch >= 128 (stage 4 there has 6.4M); at batch 64 this mixes numba (stages 1-3)
and torch (stage 4), a mix not measured yet.
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor

from skmobile.layers.sk_fusion import torch_pool, torch_select

from . import autograd

CPU_MIN_ELEMENTS = 1 << 18
CUDA_MIN_ELEMENTS: int | None = 1 << 22


def use_numba(branches: Sequence[Tensor]) -> bool:
    b0 = branches[0]
    threshold = {"cpu": CPU_MIN_ELEMENTS, "cuda": CUDA_MIN_ELEMENTS}.get(b0.device.type)
    return threshold is not None and b0.numel() >= threshold


def pool(branches: Sequence[Tensor]) -> Tensor:
    return autograd.pool(branches) if use_numba(branches) else torch_pool(branches)


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return autograd.select(branches, attn) if use_numba(branches) else torch_select(branches, attn)
