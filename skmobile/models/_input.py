"""The proxy's input repeat: each pixel of a small image repeated k x k before the stem, so a 28 px
image reaches the stages at the map sizes the proxy recipe needs (skmobile.train.proxy says why)."""

from __future__ import annotations

from torch import nn

from ..errors import SKMobileError

INPUT_UPSAMPLES = (1, 2, 3, 4)


def input_upsample_layer(factor) -> nn.Module | None:
    """Nearest-neighbour upsampling by ``factor`` (1: None, no layer); other values are one-line errors."""
    if isinstance(factor, bool) or factor not in INPUT_UPSAMPLES:
        raise SKMobileError(f"input_upsample {factor!r} is not allowed; allowed: "
                            + ", ".join(map(str, INPUT_UPSAMPLES)))
    return nn.Upsample(scale_factor=int(factor), mode="nearest") if factor > 1 else None
