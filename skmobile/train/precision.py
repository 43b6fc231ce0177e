"""How a training step runs on each device: the one place for the CUDA defaults (bf16 autocast and
channels_last on CUDA, plain float32 NCHW elsewhere), used by the training loop and ``skmobile bench train``."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass


@dataclass(frozen=True)
class StepFormat:
    """``amp``: the autocast dtype's name ("bf16", or "none"); ``channels_last``: model and inputs in NHWC."""

    amp: str = "none"
    channels_last: bool = False


def step_format(device_type: str, amp: bool | None = None, channels_last: bool | None = None) -> StepFormat:
    """The defaults for ``device_type`` ("cuda" or "cpu"), with ``amp``/``channels_last`` overriding when
    given: on CUDA bf16 autocast (where the GPU supports bf16; else float32) and channels_last; on the CPU
    neither (they slow small CPU models down)."""
    cuda = device_type == "cuda"
    use_amp = cuda if amp is None else bool(amp)
    if use_amp and cuda:
        import torch

        use_amp = torch.cuda.is_bf16_supported()
    return StepFormat("bf16" if use_amp and cuda else "none", cuda if channels_last is None else bool(channels_last))


def autocast(device_type: str, fmt: StepFormat):
    """The autocast context of ``fmt`` (a no-op without amp)."""
    if fmt.amp == "bf16" and device_type == "cuda":
        import torch

        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


__all__ = ["StepFormat", "autocast", "step_format"]
