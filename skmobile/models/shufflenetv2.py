"""ShuffleNetV2 (Ma et al., ECCV 2018) with SK or SE units: the SKNet paper's Table 4.

One config-driven class, :class:`ShuffleNetV2`; each registered name only assembles arguments.
The layout is torchvision's (= megvii's): conv1 3x3/2 + max-pool, three stages of
``[4, 8, 4]`` units, conv5 1x1, global pool, fc with bias. A unit splits its input (stride 1) or
feeds it to two branches (stride 2): the main branch is 1x1 -> DW 3x3 + BN (no ReLU) -> 1x1; the
stride-2 projection branch is DW 3x3/2 + BN -> 1x1. Outputs are concatenated and channel-shuffled.
Base 0.5x has 1,366,792 parameters, 1.0x 2,278,604 (1000 classes), exactly torchvision's.

``block`` picks the unit, as data:

* ``"base"``: the plain unit.
* ``"sk"`` (SKNet paper Sec. 4.3: "replace the 3x3 depthwise convolutions with SK convolutions"):
  the main-branch DW 3x3 + BN of the 13 stride-1 units becomes a depthwise SK conv (G = C, paths
  K3+K5, r = 16, L = 32 by default; ``sk=`` SKSpec/dict varies paths, r, L, attention). Each SK
  path has BN + ReLU, the paper's unit, where the DW conv it replaces has BN only. This gives
  +0.075M / +0.181M parameters at 0.5x / 1.0x (paper: +0.08M / +0.18M). ``sk_downsample=True``
  also converts the main-branch DW of the 3 stride-2 units (stride 2 in every SK path): +0.093M /
  +0.224M, an overshoot of the paper's deltas; ``sk_downsample="both"`` converts the stride-2
  units' projection-branch DW as well (+0.112M / +0.264M).
* ``"se"``: SE (r = 16, at least 16 channels) on every unit's main-branch output, plus SE (r = 16)
  after conv5: +0.161M / +0.201M (paper: +0.16M / +0.21M). The conv5 SE (132,160 parameters) is
  what the paper's deltas require; SE on the units alone (SENet style) adds only +0.008M at 0.5x.

The channel shuffle uses rank-4 tensors only, so exported graphs stay rank <= 4.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import SKMobileError, choose, positive
from ..layers import ConvBnAct, SKConv2d, SqueezeExcite
from ..specs import merge_sk
from ._input import input_upsample_layer
from ._registry import register_family, register_model
from .mobilenet import DW_SK_DEFAULT, init_weights

BLOCKS = ("base", "se", "sk")
register_family("shufflenetv2", depthwise_sk=True)
STEMS = ("imagenet", "small")
SK_DOWNSAMPLE = (False, True, "both")

#: Stage output channels [conv1, stage2, stage3, stage4, conv5] per width (ShuffleNetV2 paper Table 5).
WIDTHS = {
    0.5: (24, 48, 96, 192, 1024),
    1.0: (24, 116, 232, 464, 1024),
    1.5: (24, 176, 352, 704, 1024),
    2.0: (24, 244, 488, 976, 2048),
}
REPEATS = (4, 8, 4)


def channel_shuffle(x: Tensor, groups: int = 2) -> Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet). Reshapes keep every tensor rank <= 4."""
    n, c, h, w = x.shape
    x = x.reshape(n, groups, c // groups, h * w).transpose(1, 2)
    return x.reshape(n, c, h, w)


def _dw(channels: int, stride: int, sk, act_layer=nn.ReLU) -> nn.Module:
    """A depthwise 3x3 (+BN, no activation), or a depthwise SK conv (G = C) when ``sk`` is a spec."""
    if sk is None:
        return ConvBnAct(channels, channels, 3, stride, groups=channels, act_layer=None)
    return SKConv2d(channels, channels, stride, groups=channels, spec=sk, act_layer=act_layer)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 unit; ``sk`` (a spec) makes the main-branch DW an SK conv, ``se`` adds SE on the
    main-branch output, ``sk_proj`` makes the stride-2 projection-branch DW an SK conv."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, sk=None, se: bool = False,
                 se_reduction: float = 16, se_min: int = 16, sk_proj=None):
        super().__init__()
        if stride not in (1, 2):
            raise SKMobileError(f"ShuffleNetV2 unit stride {stride} is not allowed; allowed: 1, 2")
        if out_ch % 2:
            raise SKMobileError(f"ShuffleNetV2 unit output channels must be even; got {out_ch}")
        branch = out_ch // 2
        if stride == 1 and in_ch != out_ch:
            raise SKMobileError(f"a stride-1 ShuffleNetV2 unit needs in == out channels; got {in_ch}, {out_ch}")
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(_dw(in_ch, 2, sk_proj), ConvBnAct(in_ch, branch, 1))
        else:
            self.branch1 = None
        self.branch2 = nn.Sequential(
            ConvBnAct(in_ch if stride == 2 else branch, branch, 1),
            _dw(branch, stride, sk),
            ConvBnAct(branch, branch, 1),
        )
        self.se = SqueezeExcite(branch, se_reduction, se_min) if se else None

    def forward(self, x: Tensor) -> Tensor:
        if self.branch1 is None:
            c = x.shape[1] // 2
            x1, x2 = x[:, :c], x[:, c:]
        else:
            x1, x2 = self.branch1(x), x
        y = self.branch2(x2)
        if self.se is not None:
            y = self.se(y)
        return channel_shuffle(torch.cat((x1, y), 1), 2)


def _round_ch(c: float, divisor: int = 4) -> int:
    return max(divisor, int(c + divisor / 2) // divisor * divisor)


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 at ``width`` (0.5, 1.0, 1.5, 2.0) with ``block`` "base" | "se" | "sk".

    Args:
        width: the ShuffleNetV2 width (selects the channel table).
        block: unit variant (see the module docstring).
        sk: SKSpec or dict for the SK units (G is always the unit's channels: depthwise).
        sk_downsample: False (paper fit), True (also the stride-2 units' main branch) or "both"
            (also their projection branch).
        se_reduction, se_min, se_head: SE ratio, minimum SE width, SE after conv5.
        stem: "imagenet" (conv1 3x3/2 + max-pool) or "small" (3x3/1, no pool: 28-32 px proxy).
        stem_stride: stride of the stem conv (default 2 for "imagenet", 1 for "small"; the proxy
            recipe uses a 3x3/2 "small" stem, as ResNeXt's does).
        width_mult: extra multiplier on every channel count (proxy models; 1.0 = the table).
        input_upsample: repeat each input pixel k x k (nearest) before the stem (proxy models: a 28 px
            image reaches the stages at the full model's 28/14/7 px with k = 2 and a 3x3/1 stem).
    """

    def __init__(self, width: float = 1.0, block: str = "base", sk=None, sk_downsample=False,
                 se_reduction: float = 16, se_min: int = 16, se_head: bool = True, stem: str = "imagenet",
                 stem_stride: int | None = None, num_classes: int = 1000, in_chans: int = 3, width_mult: float = 1.0,
                 drop_rate: float = 0.0, repeats=REPEATS, channels=None, input_upsample: int = 1):
        super().__init__()
        self.upsample = input_upsample_layer(input_upsample)
        choose("ShuffleNetV2 block", block, BLOCKS)
        choose("stem", stem, STEMS)
        if sk_downsample not in SK_DOWNSAMPLE:
            raise SKMobileError(f"sk_downsample={sk_downsample!r} is not allowed; allowed: False, True, 'both'")
        if channels is None:
            if float(width) not in WIDTHS:
                raise SKMobileError(f"unknown ShuffleNetV2 width {width}; allowed: "
                                    f"{', '.join(str(w) for w in WIDTHS)}")
            channels = WIDTHS[float(width)]
        positive(width_mult=width_mult)
        if len(channels) != len(repeats) + 2:
            raise SKMobileError(f"channels needs {len(repeats) + 2} entries for {len(repeats)} stages")
        if width_mult != 1.0:
            channels = tuple(_round_ch(c * width_mult) for c in channels)
        sk_spec = merge_sk(DW_SK_DEFAULT, sk) if block == "sk" else None
        self.sk_spec = sk_spec

        stem_ch = channels[0]
        stride = (2 if stem == "imagenet" else 1) if stem_stride is None else int(stem_stride)
        if stride not in (1, 2):
            raise SKMobileError(f"stem_stride must be 1 or 2; got {stem_stride!r}")
        layers = [ConvBnAct(in_chans, stem_ch, 3, stride)]
        if stem == "imagenet":
            layers.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*layers)

        stages, in_ch = [], stem_ch
        for n, out_ch in zip(repeats, channels[1:-1]):
            units = []
            for j in range(n):
                s = 2 if j == 0 else 1
                unit_sk = sk_spec if (s == 1 or sk_downsample) else None
                proj_sk = sk_spec if (s == 2 and sk_downsample == "both") else None
                units.append(ShuffleUnit(in_ch, out_ch, s, sk=unit_sk, se=block == "se",
                                         se_reduction=se_reduction, se_min=se_min, sk_proj=proj_sk))
                in_ch = out_ch
            stages.append(nn.Sequential(*units))
        self.stages = nn.Sequential(*stages)
        self.conv5 = ConvBnAct(in_ch, channels[-1], 1)
        self.head_se = SqueezeExcite(channels[-1], se_reduction, se_min) if (block == "se" and se_head) else None
        self.num_features = channels[-1]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(channels[-1], num_classes)
        self.config = dict(width=width, block=block, sk=sk_spec.to_dict() if sk_spec else None,
                           sk_downsample=sk_downsample, se_reduction=se_reduction, se_min=se_min,
                           se_head=se_head, stem=stem, stem_stride=stride, channels=list(channels), repeats=list(repeats),
                           num_classes=num_classes, in_chans=in_chans, width_mult=width_mult,
                           input_upsample=int(input_upsample))
        init_weights(self)

    def forward_features(self, x: Tensor) -> Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        x = self.conv5(self.stages(self.stem(x)))
        return self.head_se(x) if self.head_se is not None else x

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(self.pool(x).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


# --- registered names: 0.5x / 1.0x are Table 4's rows; 1.5x / 2.0x complete the family ---------

@register_model("shufflenetv2")
def shufflenetv2_x0_5(**kw):
    """ShuffleNetV2 0.5x, torchvision's layout (Table 4 base row)."""
    return ShuffleNetV2(0.5, **kw)


@register_model("shufflenetv2")
def shufflenetv2_x0_5_se(**kw):
    """ShuffleNetV2 0.5x + SE (r=16) on each unit's branch and after conv5 (Table 4)."""
    return ShuffleNetV2(0.5, block="se", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x0_5_sk(**kw):
    """ShuffleNetV2 0.5x + depthwise SK (K3+K5, r=16, L=32) in the stride-1 units (Table 4)."""
    return ShuffleNetV2(0.5, block="sk", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_0(**kw):
    """ShuffleNetV2 1.0x, torchvision's layout (Table 4 base row)."""
    return ShuffleNetV2(1.0, **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_0_se(**kw):
    """ShuffleNetV2 1.0x + SE (r=16) on each unit's branch and after conv5 (Table 4)."""
    return ShuffleNetV2(1.0, block="se", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_0_sk(**kw):
    """ShuffleNetV2 1.0x + depthwise SK (K3+K5, r=16, L=32) in the stride-1 units (Table 4)."""
    return ShuffleNetV2(1.0, block="sk", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_5(**kw):
    """ShuffleNetV2 1.5x, torchvision's layout."""
    return ShuffleNetV2(1.5, **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_5_se(**kw):
    """ShuffleNetV2 1.5x + SE (r=16) on each unit's branch and after conv5."""
    return ShuffleNetV2(1.5, block="se", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x1_5_sk(**kw):
    """ShuffleNetV2 1.5x + depthwise SK (K3+K5, r=16, L=32) in the stride-1 units."""
    return ShuffleNetV2(1.5, block="sk", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x2_0(**kw):
    """ShuffleNetV2 2.0x, torchvision's layout."""
    return ShuffleNetV2(2.0, **kw)


@register_model("shufflenetv2")
def shufflenetv2_x2_0_se(**kw):
    """ShuffleNetV2 2.0x + SE (r=16) on each unit's branch and after conv5."""
    return ShuffleNetV2(2.0, block="se", **kw)


@register_model("shufflenetv2")
def shufflenetv2_x2_0_sk(**kw):
    """ShuffleNetV2 2.0x + depthwise SK (K3+K5, r=16, L=32) in the stride-1 units."""
    return ShuffleNetV2(2.0, block="sk", **kw)
