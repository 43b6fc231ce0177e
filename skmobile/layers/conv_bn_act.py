"""Conv -> BatchNorm -> activation, with timm's ``conv``/``bn`` attribute names (weights load across)."""

from __future__ import annotations

from torch import nn


class ConvBnAct(nn.Module):
    """A bias-free conv, BN, then an optional activation; padding keeps the size at stride 1."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, dilation=1, groups=1,
                 act_layer=nn.ReLU, padding=None, conv_layer=nn.Conv2d):
        super().__init__()
        if padding is None:
            padding = dilation * (kernel_size - 1) // 2
        self.conv = conv_layer(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = act_layer(inplace=True) if act_layer is not None else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))
