"""The ResNeXt family and everything built on it: ResNeXt, SENet (SE-ResNeXt) and SKNet.

One config-driven class, :class:`ResNeXt`; each registered name only assembles arguments.
The bottleneck's grouped 3x3 is either a plain conv (ResNeXt, SENet) or an :class:`SKConv2d`
(SKNet, Li et al. CVPR 2019 Table 1: SK[M=2, G=32, r=16] on every bottleneck, stride in the SK unit).
A Table 6/7 row is ``sknet50`` with another ``sk`` spec.

Stems: "imagenet" (7x7/2 + max-pool, 224 px), "cifar" (3x3, no pool: ResNeXt-29 of Table 5),
"small" (3x3/1, no pool: the proxy form for 28-64 px images). ``width_mult``/``depth_mult`` shrink
the network for proxy training; ``stem_stride=2`` makes the 3x3 stem of "cifar"/"small" stride 2.
``scale_groups=True`` makes ``width_mult`` scale the cardinality and every SK group count too, so each
group keeps the full model's channels (4/8/16/32 per group in SKNet-50's stages) and Table 6's
G=64/128 rows stay complexity-matched; ``input_upsample=k`` repeats each input pixel k x k (nearest)
before the stem, so a 28 px image reaches the stages at 56 px (skmobile.train.proxy says why).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from ..errors import SKMobileError, choose, positive
from ..layers import ConvBnAct, SKConv2d, SqueezeExcite
from ..specs import SKSpec, as_sk_spec, merge_sk, scale_sk_groups
from ._input import input_upsample_layer
from ._registry import register_model

STEMS = ("imagenet", "cifar", "small")
ATTNS = (None, "se", "sk")


class Bottleneck(nn.Module):
    """1x1 -> grouped 3x3 (or SK) with the stride -> 1x1 -> [SE] -> + shortcut -> ReLU."""

    def __init__(self, in_ch, width, out_ch, stride, cardinality, attn=None, sk: SKSpec | None = None,
                 se_reduction=16):
        super().__init__()
        self.conv1 = ConvBnAct(in_ch, width, 1)
        if attn == "sk":
            self.conv2 = SKConv2d(width, width, stride, spec=sk)
        else:
            self.conv2 = ConvBnAct(width, width, 3, stride, groups=cardinality)
        self.conv3 = ConvBnAct(width, out_ch, 1, act_layer=None)
        self.se = SqueezeExcite(out_ch, se_reduction) if attn == "se" else None
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = ConvBnAct(in_ch, out_ch, 1, stride, act_layer=None)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.conv3(self.conv2(self.conv1(x)))
        if self.se is not None:
            out = self.se(out)
        return self.act(out + shortcut)


class ResNeXt(nn.Module):
    """ResNeXt-style network; ``attn`` None | "se" | "sk" picks ResNeXt, SENet or SKNet blocks.

    Stage i has ``layers[i]`` bottlenecks with output ``planes[i] * expansion`` channels and
    grouped width ``cardinality * base_width * planes[i] / 64`` (Xie et al., CVPR 2017).
    """

    def __init__(self, layers=(3, 4, 6, 3), cardinality=32, base_width=4, attn=None, sk=None,
                 se_reduction=16, stem="imagenet", planes=(64, 128, 256, 512), expansion=4,
                 stem_channels=64, num_classes=1000, in_chans=3, width_mult=1.0, depth_mult=1.0,
                 drop_rate=0.0, zero_init_last=True, stem_stride=1, scale_groups=False, input_upsample=1):
        super().__init__()
        if attn not in ATTNS:
            raise SKMobileError(f"unknown block attention {attn!r}; allowed: none, se, sk")
        choose("stem", stem, STEMS)
        positive(width_mult=width_mult, depth_mult=depth_mult)
        upsample = input_upsample_layer(input_upsample)
        sk = as_sk_spec(sk) if attn == "sk" else None  # create_model refuses an sk= this model cannot use
        self.sk_spec = sk  # as given (the full-size model's); the units get ``unit_sk``
        self.sk_group_scale = float(width_mult) if scale_groups else 1.0
        unit_sk = scale_sk_groups(sk, self.sk_group_scale) if sk is not None else None
        full_widths = [max(1, int(math.floor(p * base_width / 64))) * cardinality for p in planes]
        if scale_groups:
            scaled = cardinality * width_mult
            if abs(scaled - round(scaled)) > 1e-9 or round(scaled) < 1:
                raise SKMobileError(f"cardinality {cardinality} x width_mult {width_mult} = {scaled:g} is not a whole "
                                    "number; allowed with scale_groups: a width_mult that scales it to one")
            group_width = [w // cardinality for w in full_widths]
            cardinality = int(round(scaled))
            full_widths = [g * cardinality for g in group_width]
        layers = [max(1, int(round(n * depth_mult))) for n in layers]
        planes = [max(8, int(round(p * width_mult))) for p in planes]
        stem_channels = max(8, int(round(stem_channels * width_mult)))
        if stem == "imagenet":
            self.stem = nn.Sequential(ConvBnAct(in_chans, stem_channels, 7, 2, padding=3),
                                      nn.MaxPool2d(3, 2, 1))
        else:
            if stem_stride not in (1, 2):
                raise SKMobileError(f"stem_stride {stem_stride} is not allowed; allowed: 1, 2")
            self.stem = ConvBnAct(in_chans, stem_channels, 3, stem_stride)
        self.upsample = upsample
        stages, in_ch = [], stem_channels
        for i, (n, p) in enumerate(zip(layers, planes)):
            if scale_groups:
                width = full_widths[i]
            else:
                width = max(1, int(math.floor(p * base_width / 64))) * cardinality
            out_ch = p * expansion
            blocks = []
            for j in range(n):
                stride = 2 if (j == 0 and i > 0) else 1
                blocks.append(Bottleneck(in_ch, width, out_ch, stride, cardinality, attn, unit_sk, se_reduction))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = in_ch
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc = nn.Linear(in_ch, num_classes)
        self.config = dict(layers=layers, cardinality=cardinality, base_width=base_width, attn=attn,
                           stem=stem, stem_stride=stem_stride, planes=planes, num_classes=num_classes,
                           sk=sk.to_dict() if sk is not None else None,
                           unit_sk=unit_sk.to_dict() if unit_sk is not None else None,
                           scale_groups=bool(scale_groups), input_upsample=int(input_upsample))
        _init_weights(self, zero_init_last)

    def forward_features(self, x: Tensor) -> Tensor:
        if self.upsample is not None:
            x = self.upsample(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: Tensor) -> Tensor:
        return self.fc(self.drop(self.pool(x).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(model: nn.Module, zero_init_last: bool) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_last:
        for m in model.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.conv3.bn.weight)


def _sk(sk, **defaults):
    """The block's SK spec: the entrypoint's defaults, with the keys a user's dict names overridden
    (a complete SKSpec replaces them)."""
    return merge_sk(SKSpec(**defaults), sk)


# --- ImageNet ResNeXt / SENet / SKNet (Tables 2, 3, 6, 7) -------------------------------------

@register_model("resnext")
def resnext50_32x4d(**kw):
    """ResNeXt-50 (32x4d), the SKNet paper's main baseline (Tables 2, 3, 7)."""
    return ResNeXt((3, 4, 6, 3), 32, 4, **kw)


@register_model("resnext")
def resnext101_32x4d(**kw):
    """ResNeXt-101 (32x4d) (Table 2)."""
    return ResNeXt((3, 4, 23, 3), 32, 4, **kw)


@register_model("resnext")
def resnext50_36x4d(**kw):
    """ResNeXt-50 (36x4d): cardinality raised to match SKNet-50's complexity (Table 3)."""
    return ResNeXt((3, 4, 6, 3), 36, 4, **kw)


@register_model("resnext")
def resnext56_32x4d(**kw):
    """"ResNeXt-56, deeper" of Table 3: [3, 4, 8, 3] units (the paper's text says ResNeXt-53)."""
    return ResNeXt((3, 4, 8, 3), 32, 4, **kw)


@register_model("senet")
def senet50(**kw):
    """SENet-50 = SE-ResNeXt-50 (32x4d), SE r=16 before the residual add (Table 2)."""
    return ResNeXt((3, 4, 6, 3), 32, 4, attn="se", **kw)


@register_model("senet")
def senet101(**kw):
    """SENet-101 = SE-ResNeXt-101 (32x4d), SE r=16 (Table 2)."""
    return ResNeXt((3, 4, 23, 3), 32, 4, attn="se", **kw)


@register_model("sknet")
def sknet26(sk=None, **kw):
    """SKNet-26: {2, 2, 2, 2} units with SK[2, 32, 16] (paper Sec. 4.1)."""
    return ResNeXt((2, 2, 2, 2), 32, 4, attn="sk", sk=_sk(sk), **kw)


@register_model("sknet")
def sknet50(sk=None, **kw):
    """SKNet-50: ResNeXt-50 with SK[2, 32, 16], L=32 in every bottleneck (Table 1)."""
    return ResNeXt((3, 4, 6, 3), 32, 4, attn="sk", sk=_sk(sk), **kw)


@register_model("sknet")
def sknet101(sk=None, **kw):
    """SKNet-101: {3, 4, 23, 3} units with SK[2, 32, 16], L=32 (Table 2)."""
    return ResNeXt((3, 4, 23, 3), 32, 4, attn="sk", sk=_sk(sk), **kw)


# --- CIFAR ResNeXt-29 family (Table 5): 3x3 stem, 3 stages of 3 blocks, outputs 256/512/1024 --

_CIFAR = dict(layers=(3, 3, 3), stem="cifar", planes=(64, 128, 256), num_classes=10)


def _cifar(**kw):
    args = dict(_CIFAR)
    args.update(kw)
    return ResNeXt(**args)


@register_model("resnext-cifar")
def resnext29_16x32d(**kw):
    """ResNeXt-29, 16x32d for CIFAR (Table 5)."""
    return _cifar(cardinality=16, base_width=32, **kw)


@register_model("resnext-cifar")
def resnext29_8x64d(**kw):
    """ResNeXt-29, 8x64d for CIFAR (Table 5; Xie et al.)."""
    return _cifar(cardinality=8, base_width=64, **kw)


@register_model("resnext-cifar")
def resnext29_16x64d(**kw):
    """ResNeXt-29, 16x64d for CIFAR (Table 5; Xie et al.)."""
    return _cifar(cardinality=16, base_width=64, **kw)


@register_model("senet-cifar")
def senet29(**kw):
    """SENet-29: SE (r=16) on ResNeXt-29 16x32d, as the SKNet paper states (Table 5)."""
    return _cifar(cardinality=16, base_width=32, attn="se", **kw)


@register_model("senet-cifar")
def senet29_8x64d(**kw):
    """SE (r=16) on ResNeXt-29 8x64d: the configuration whose count (34.95M) fits Table 5's 35.0M."""
    return _cifar(cardinality=8, base_width=64, attn="se", **kw)


@register_model("sknet-cifar")
def sknet29(sk=None, **kw):
    """SKNet-29: SK[2, G=16, 16] on ResNeXt-29 16x32d (Table 5)."""
    return _cifar(cardinality=16, base_width=32, attn="sk", sk=_sk(sk, groups=16), **kw)
