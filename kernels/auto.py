"""The "auto" fusion: numba or torch per device and problem size, from measured benchmark results.

The thresholds are what ``skmobile bench kernels`` measured (reports/kernels.md): on CPU the numba
path won forward+backward on every shape with at least 2**18 elements per branch (all batch-32
shapes, and SKNet-50 stage 1 / MobileNetV2 96@56 at batch 1); below that torch's few small ops beat
numba's dispatch (about 30 us per kernel call, four calls per step), so "auto" keeps torch. No GPU has run these kernels yet, so on CUDA "auto"
keeps the torch fusion until a measurement says otherwise (``CUDA_MIN_ELEMENTS = None``).
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor

from skmobile.layers.sk_fusion import torch_pool, torch_select

from . import autograd

CPU_MIN_ELEMENTS = 1 << 18
CUDA_MIN_ELEMENTS: int | None = None


def use_numba(branches: Sequence[Tensor]) -> bool:
    b0 = branches[0]
    threshold = {"cpu": CPU_MIN_ELEMENTS, "cuda": CUDA_MIN_ELEMENTS}.get(b0.device.type)
    return threshold is not None and b0.numel() >= threshold


def pool(branches: Sequence[Tensor]) -> Tensor:
    return autograd.pool(branches) if use_numba(branches) else torch_pool(branches)


def select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    return autograd.select(branches, attn) if use_numba(branches) else torch_select(branches, attn)
