"""A dilated depthwise conv that may run as the equal dense conv: the SK paths K5 and K7 of the
light families (a 3x3 depthwise conv with dilation 2 or 3; Li et al., CVPR 2019, Sec. 3.1).

A kxk conv with dilation d equals a dense (d(k-1)+1)^2 conv whose weight holds the kxk taps on a
grid of stride d and zeros elsewhere. Built each step from the kxk parameter, that weight keeps
the parameter count, the state dict and the gradients (autograd flows through the scatter) of the
dilated conv. Some convolution libraries run one form much faster than the other (the dilated
depthwise conv is slow in 16-bit channels_last on cuDNN), so ``DENSE_RULES`` says per device,
dtype and layout which form runs; figures in reports/kernels-h100.md. Traced, scripted and
exported graphs (ONNX) always keep the dilated conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import choose

_BF16 = torch.bfloat16
#: (device type, compute dtype, layout) where the dense form runs; everything else stays dilated.
#: The rule follows tools/dilated_probe.py's GPU comparison of the two forms (reports/kernels-h100.md):
#: the dense form wins only in bf16 channels_last.
DENSE_RULES = {("cuda", _BF16, "nhwc")}
FORMS = ("rule", "dense", "dilated")


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype a conv on ``x`` computes in (the autocast dtype inside an autocast region)."""
    dev = x.device.type
    if dev in ("cuda", "cpu") and torch.is_autocast_enabled(dev):
        return torch.get_autocast_dtype(dev)
    return x.dtype


def _exporting() -> bool:
    return (torch.jit.is_tracing() or torch.jit.is_scripting()
            or getattr(torch.compiler, "is_exporting", lambda: False)())


class DilatedDepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d`` (depthwise, dilated, zero padding of d(k-1)/2) whose forward may run the dense
    equivalent; ``form`` is "rule" (``DENSE_RULES``), "dense" or "dilated"."""

    form = "rule"

    def use_dense(self, x: Tensor) -> bool:
        if self.form == "dilated" or _exporting():
            return False
        if self.form == "dense":
            return True
        layout = "nhwc" if (not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)) else "nchw"
        return (x.device.type, compute_dtype(x), layout) in DENSE_RULES

    def dense_weight(self) -> Tensor:
        """The dense kernel: the taps of ``weight`` every ``dilation`` pixels, zeros between."""
        w = self.weight
        dh, dw = self.dilation
        kh, kw = w.shape[-2:]
        dense = w.new_zeros(w.shape[0], w.shape[1], dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        dense[:, :, ::dh, ::dw] = w
        return dense

    def forward(self, x: Tensor) -> Tensor:
        if self.use_dense(x):
            return F.conv2d(x, self.dense_weight(), self.bias, self.stride, self.padding, 1, self.groups)
        return super().forward(x)


def fits(in_channels: int, out_channels: int, groups: int, dilation: int) -> bool:
    """Whether an SK path conv is one this module can run densely (depthwise and dilated)."""
    return dilation > 1 and groups == in_channels == out_channels


def set_dilated_form(model: nn.Module, form: str) -> nn.Module:
    """Run every dilated depthwise SK conv in ``model`` as ``form`` (rule, dense, dilated)."""
    choose("dilated form", form, FORMS)
    for m in model.modules():
        if isinstance(m, DilatedDepthwiseConv2d):
            m.form = form
    return model
