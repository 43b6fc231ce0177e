"""Squeeze-and-Excitation (Hu et al., CVPR 2018), the SENet baseline of SKNet's Tables 2, 4 and 5."""

from __future__ import annotations

from torch import nn


class SqueezeExcite(nn.Module):
    """GAP -> 1x1 (C -> d, bias) -> ReLU -> 1x1 (d -> C, bias) -> sigmoid gate.

    d = max(round(C / r), min_channels); with r = 16 and min 8 on ResNeXt widths this is the SENet
    paper's [16, 256], [32, 512], ... fc dims (SKNet paper Table 1) and timm's SEModule layout.
    """

    def __init__(self, channels: int, reduction: float = 16, min_channels: int = 8, gate=nn.Sigmoid):
        super().__init__()
        rd = max(int(round(channels / reduction)), int(min_channels))
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=True)
        self.gate = gate()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))
