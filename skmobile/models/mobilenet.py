"""MobileNetV2 (Sandler et al., CVPR 2018) and MobileNetV1 (Howard et al., 2017) with SK or SE.

One config-driven class per family; each registered name only assembles arguments. The SKNet paper
reports no MobileNet numbers; its rule for compact networks (Sec. 4.3) is applied as stated:

* ``block="sk"``: every 3x3 depthwise conv (+BN+act) becomes a depthwise SK conv (G = C, paths
  K3+K5, r = 16, L = 32 by default; ``sk=`` SKSpec/dict varies them), with the family's activation
  in each path (ReLU6 for V2, ReLU for V1). MobileNetV2 1.0x: 3,504,872 -> 4,532,360 parameters.
* ``block="se"``: the same SE construction as ShuffleNetV2 + SE (Table 4): SE (r = 16, at least
  16 channels) on every block's residual-branch output, before the add (SENet's placement), plus SE
  (r = 16) after the last 1x1 conv of MobileNetV2 (``se_head``; V1 has no such conv).

MobileNetV2 base is torchvision's layout (1.0x: 3,504,872 parameters at 1000 classes, exactly).
MobileNetV1 is the paper's 28-layer network (conv 3x3/2 + 13 depthwise-separable blocks), BN+ReLU.
``stem="small"`` makes the first conv stride 1 (28-32 px proxy inputs); ``width_mult`` multiplies
the named width and ``input_upsample=k`` repeats each input pixel k x k before the stem (proxy models:
with k = 4 a 28 px image reaches the blocks at the full model's 112/56/28/14/7 px).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ..errors import choose, positive
from ..layers import ConvBnAct, SKConv2d, SqueezeExcite
from ..specs import SKSpec, merge_sk
from ._input import input_upsample_layer
from ._registry import register_family, register_model

BLOCKS = ("base", "se", "sk")
#: The depthwise SK conv's defaults: K3+K5, r = 16, L = 32; a partial ``sk=`` dict overrides only the
#: keys it names. G is always the unit's channels (depthwise), whatever the spec says.
DW_SK_DEFAULT = SKSpec()
register_family("mobilenetv2", depthwise_sk=True)
register_family("mobilenetv1", depthwise_sk=True)
STEMS = ("imagenet", "small")

#: MobileNetV2 inverted-residual settings: expansion t, channels c, repeats n, first stride s.
V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1))
#: MobileNetV1 depthwise-separable blocks: output channels, stride.
V1_SETTINGS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
               (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round to a multiple of ``divisor``, never more than 10% below ``v`` (MobileNet's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def init_weights(model: nn.Module) -> None:
    """He init with the true fan-out of grouped convs, k*k*C_out/G (timm's MobileNet/EfficientNet
    rule; torch's "fan_out" mode uses k*k*C_out, which shrinks depthwise outputs by 1/C), BN 1/0,
    fc N(0, 0.01)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _check(block: str, stem: str, width: float, width_mult: float) -> None:
    choose("MobileNet block", block, BLOCKS)
    choose("stem", stem, STEMS)
    positive(width=width, width_mult=width_mult)


def _dw(channels: int, stride: int, sk, act_layer) -> nn.Module:
    """Depthwise 3x3 + BN + act, or a depthwise SK conv (G = C) with ``act_layer`` in each path."""
    if sk is None:
        return ConvBnAct(channels, channels, 3, stride, groups=channels, act_layer=act_layer)
    return SKConv2d(channels, channels, stride, groups=channels, spec=sk, act_layer=act_layer)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand] -> DW 3x3 (or SK) -> 1x1 project (linear) -> [SE] -> [+ x]."""

    def __init__(self, in_ch, out_ch, stride, expand, sk=None, se=False, se_reduction=16, se_min=16):
        super().__init__()
        hidden = int(round(in_ch * expand))
        self.use_res = stride == 1 and in_ch == out_ch
        layers = [] if expand == 1 else [ConvBnAct(in_ch, hidden, 1, act_layer=nn.ReLU6)]
        layers += [_dw(hidden, stride, sk, nn.ReLU6), ConvBnAct(hidden, out_ch, 1, act_layer=None)]
        self.conv = nn.Sequential(*layers)
        self.se = SqueezeExcite(out_ch, se_reduction, se_min) if se else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        if self.se is not None:
            out = self.se(out)
        return x + out if self.use_res else out


class DepthwiseSeparable(nn.Module):
    """MobileNetV1 block: DW 3x3 + BN + ReLU (or SK) -> 1x1 + BN + ReLU -> [SE]."""

    def __init__(self, in_ch, out_ch, stride, sk=None, se=False, se_reduction=16, se_min=16):
        super().__init__()
        self.conv = nn.Sequential(_dw(in_ch, stride, sk, nn.ReLU), ConvBnAct(in_ch, out_ch, 1))
        self.se = SqueezeExcite(out_ch, se_reduction, se_min) if se else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return self.se(out) if self.se is not None else out


class _MobileNet(nn.Module):
    """Shared head and API: stem -> blocks -> [last conv, SE] -> pool -> dropout -> fc."""

    def forward_features(self, x: Tensor) -> Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        x = self.blocks(self.stem(x))
        if self.head is not None:
            x = self.head(x)
        return self.head_se(x) if self.head_se is not None else x

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(self.pool(x).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def _finish(self, features: int, num_classes: int, drop_rate: float) -> None:
        self.num_features = features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(features, num_classes)
        init_weights(self)


class MobileNetV2(_MobileNet):
    """MobileNetV2 at ``width`` (torchvision's channel rounding) with ``block`` "base" | "se" | "sk".

    The effective width is ``width * width_mult``; the last conv has
    ``make_divisible(1280 * max(1, width) * width_mult)`` channels (torchvision at width_mult 1).
    """

    def __init__(self, width: float = 1.0, block: str = "base", sk=None, se_reduction: float = 16,
                 se_min: int = 16, se_head: bool = True, stem: str = "imagenet", num_classes: int = 1000,
                 in_chans: int = 3, width_mult: float = 1.0, drop_rate: float = 0.2, settings=V2_SETTINGS,
                 input_upsample: int = 1):
        super().__init__()
        _check(block, stem, width, width_mult)
        self.upsample = input_upsample_layer(input_upsample)
        w = width * width_mult
        sk_spec = merge_sk(DW_SK_DEFAULT, sk) if block == "sk" else None
        self.sk_spec = sk_spec
        in_ch = make_divisible(32 * w)
        self.stem = ConvBnAct(in_chans, in_ch, 3, 2 if stem == "imagenet" else 1, act_layer=nn.ReLU6)
        blocks = []
        for t, c, n, s in settings:
            out_ch = make_divisible(c * w)
            for i in range(n):
                blocks.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t, sk_spec, block == "se",
                                               se_reduction, se_min))
                in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        last = make_divisible(1280 * max(1.0, width) * width_mult)
        self.head = ConvBnAct(in_ch, last, 1, act_layer=nn.ReLU6)
        self.head_se = SqueezeExcite(last, se_reduction, se_min) if (block == "se" and se_head) else None
        self.config = dict(family="mobilenetv2", width=width, block=block,
                           sk=sk_spec.to_dict() if sk_spec else None, se_reduction=se_reduction,
                           se_min=se_min, se_head=se_head, stem=stem, num_classes=num_classes,
                           in_chans=in_chans, width_mult=width_mult, input_upsample=int(input_upsample))
        self._finish(last, num_classes, drop_rate)


class MobileNetV1(_MobileNet):
    """MobileNetV1 at ``width`` (channels ``make_divisible(c * width * width_mult)``)."""

    def __init__(self, width: float = 1.0, block: str = "base", sk=None, se_reduction: float = 16,
                 se_min: int = 16, stem: str = "imagenet", num_classes: int = 1000, in_chans: int = 3,
                 width_mult: float = 1.0, drop_rate: float = 0.0, settings=V1_SETTINGS, input_upsample: int = 1):
        super().__init__()
        _check(block, stem, width, width_mult)
        self.upsample = input_upsample_layer(input_upsample)
        w = width * width_mult
        sk_spec = merge_sk(DW_SK_DEFAULT, sk) if block == "sk" else None
        self.sk_spec = sk_spec
        in_ch = make_divisible(32 * w)
        self.stem = ConvBnAct(in_chans, in_ch, 3, 2 if stem == "imagenet" else 1)
        blocks = []
        for c, s in settings:
            out_ch = make_divisible(c * w)
            blocks.append(DepthwiseSeparable(in_ch, out_ch, s, sk_spec, block == "se", se_reduction, se_min))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.head = None
        self.head_se = None
        self.config = dict(family="mobilenetv1", width=width, block=block,
                           sk=sk_spec.to_dict() if sk_spec else None, se_reduction=se_reduction,
                           se_min=se_min, stem=stem, num_classes=num_classes, in_chans=in_chans,
                           width_mult=width_mult, input_upsample=int(input_upsample))
        self._finish(in_ch, num_classes, drop_rate)


# --- MobileNetV2: 1.0x, 0.5x, 0.75x, 1.4x (timm owns the base names: skmobile's factory only) --

@register_model("mobilenetv2")
def mobilenetv2_100(**kw):
    """MobileNetV2 1.0x, torchvision's layout (3,504,872 parameters)."""
    return MobileNetV2(1.0, **kw)


@register_model("mobilenetv2")
def mobilenetv2_100_se(**kw):
    """MobileNetV2 1.0x + SE (r=16) on each block's output and after the last conv."""
    return MobileNetV2(1.0, block="se", **kw)


@register_model("mobilenetv2")
def mobilenetv2_100_sk(**kw):
    """MobileNetV2 1.0x with every 3x3 depthwise conv a depthwise SK conv (K3+K5, r=16, L=32)."""
    return MobileNetV2(1.0, block="sk", **kw)


@register_model("mobilenetv2")
def mobilenetv2_050(**kw):
    """MobileNetV2 0.5x, torchvision's channel rounding."""
    return MobileNetV2(0.5, **kw)


@register_model("mobilenetv2")
def mobilenetv2_050_se(**kw):
    """MobileNetV2 0.5x + SE (r=16) on each block's output and after the last conv."""
    return MobileNetV2(0.5, block="se", **kw)


@register_model("mobilenetv2")
def mobilenetv2_050_sk(**kw):
    """MobileNetV2 0.5x with depthwise SK convs (K3+K5, r=16, L=32)."""
    return MobileNetV2(0.5, block="sk", **kw)


@register_model("mobilenetv2")
def mobilenetv2_075(**kw):
    """MobileNetV2 0.75x, torchvision's channel rounding."""
    return MobileNetV2(0.75, **kw)


@register_model("mobilenetv2")
def mobilenetv2_075_se(**kw):
    """MobileNetV2 0.75x + SE (r=16) on each block's output and after the last conv."""
    return MobileNetV2(0.75, block="se", **kw)


@register_model("mobilenetv2")
def mobilenetv2_075_sk(**kw):
    """MobileNetV2 0.75x with depthwise SK convs (K3+K5, r=16, L=32)."""
    return MobileNetV2(0.75, block="sk", **kw)


@register_model("mobilenetv2")
def mobilenetv2_140(**kw):
    """MobileNetV2 1.4x, torchvision's channel rounding (last conv 1792)."""
    return MobileNetV2(1.4, **kw)


@register_model("mobilenetv2")
def mobilenetv2_140_se(**kw):
    """MobileNetV2 1.4x + SE (r=16) on each block's output and after the last conv."""
    return MobileNetV2(1.4, block="se", **kw)


@register_model("mobilenetv2")
def mobilenetv2_140_sk(**kw):
    """MobileNetV2 1.4x with depthwise SK convs (K3+K5, r=16, L=32)."""
    return MobileNetV2(1.4, block="sk", **kw)


# --- MobileNetV1: 1.0x, 0.5x -------------------------------------------------------------------

@register_model("mobilenetv1")
def mobilenetv1_100(**kw):
    """MobileNetV1 1.0x (conv + 13 depthwise-separable blocks, BN + ReLU)."""
    return MobileNetV1(1.0, **kw)


@register_model("mobilenetv1")
def mobilenetv1_100_se(**kw):
    """MobileNetV1 1.0x + SE (r=16) on each block's output."""
    return MobileNetV1(1.0, block="se", **kw)


@register_model("mobilenetv1")
def mobilenetv1_100_sk(**kw):
    """MobileNetV1 1.0x with every 3x3 depthwise conv a depthwise SK conv (K3+K5, r=16, L=32)."""
    return MobileNetV1(1.0, block="sk", **kw)


@register_model("mobilenetv1")
def mobilenetv1_050(**kw):
    """MobileNetV1 0.5x."""
    return MobileNetV1(0.5, **kw)


@register_model("mobilenetv1")
def mobilenetv1_050_se(**kw):
    """MobileNetV1 0.5x + SE (r=16) on each block's output."""
    return MobileNetV1(0.5, block="se", **kw)


@register_model("mobilenetv1")
def mobilenetv1_050_sk(**kw):
    """MobileNetV1 0.5x with depthwise SK convs (K3+K5, r=16, L=32)."""
    return MobileNetV1(0.5, block="sk", **kw)
