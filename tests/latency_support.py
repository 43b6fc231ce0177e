"""Shared by the latency tests: a fake clock and a tiny model whose layers are of known kinds."""

from __future__ import annotations

from torch import nn


class FakeClock:
    """A clock that only moves when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, seconds):
        def fn():
            self.now += seconds
        return fn


class Tiny(nn.Module):
    """conv-bn-relu, a residual add, SE, pool, linear: layers and glue of known kinds."""

    def __init__(self):
        super().__init__()
        from skmobile.layers import ConvBnAct, SqueezeExcite

        self.a = ConvBnAct(3, 8, 3, stride=2)
        self.b = ConvBnAct(8, 8, 3, groups=8, dilation=2)
        self.c = ConvBnAct(8, 8, 3, groups=8, dilation=2)   # same config and shape as b: one table entry
        self.se = SqueezeExcite(8, 4, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.a(x)
        x = x + self.b(x)
        x = self.se(self.c(x))
        return self.fc(self.pool(x).flatten(1))
