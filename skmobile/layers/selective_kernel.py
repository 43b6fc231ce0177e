"""Selective Kernel convolution, exactly the unit of Li et al., "Selective Kernel Networks", CVPR 2019.

Split: M paths on the full input; path i is a KxK conv with dilation d_i, ``groups`` G, stride s,
no bias, then BN and ReLU (Sec. 3.1; the authors' Caffe prototxt). Fuse: U = sum_i U_i,
s = GAP(U), z = ReLU(BN(W s)) with W: C -> d, d = max(C / r, L) (Eq. 4). Select: one 1x1 d -> M*C
without bias, softmax over M, V = sum_i a_i * U_i (Eq. 5-6). ``attention=False`` returns U, the
paper's naive-sum baseline (Table 7 rows without SK).

Attribute names (``paths.i.conv``, ``paths.i.bn``, ``attn.fc_reduce``, ``attn.bn``,
``attn.fc_select``) and the (M, C) logit layout match timm's SelectiveKernel, so weights load across.
Parameters: M(k^2 Cin Cout / G + 2 Cout) + C d + 2 d + d M C.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..errors import SKMobileError
from ..specs import SKSpec, as_sk_spec, check_channels, check_int
from . import dilated_depthwise
from .conv_bn_act import ConvBnAct
from .sk_fusion import DEFAULT_FUSION, get_fusion


class SKAttention(nn.Module):
    """Fuse + select logits: s (N, C) -> softmax weights a (N, M, C)."""

    def __init__(self, channels: int, num_paths: int, attn_channels: int):
        super().__init__()
        self.num_paths = num_paths
        self.fc_reduce = nn.Conv2d(channels, attn_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(attn_channels)
        self.act = nn.ReLU(inplace=True)
        self.fc_select = nn.Conv2d(attn_channels, channels * num_paths, 1, bias=False)

    def forward(self, s: Tensor) -> Tensor:
        n, c = s.shape
        z = self.act(self.bn(self.fc_reduce(s.reshape(n, c, 1, 1))))
        logits = self.fc_select(z).reshape(n, self.num_paths, c)
        return logits.softmax(dim=1)


class SKConv2d(nn.Module):
    """SK convolution; ``paths`` accepts "K3+K5", ["K3", "K7"], [(3, 1), (5, 1, 64)], ...

    Args:
        in_channels, out_channels: channel counts (G and each path's groups must divide both).
        stride: 1 or 2, applied in every path.
        paths, groups, reduction, min_attn, attn_channels, attention: the SK spec (see SKSpec);
            or pass ``spec=SKSpec(...)`` instead.
        fusion: "default" ("auto" on CUDA inputs, torch on others), "torch", or "numba"/"auto"
            from skmobile.kernels.
        act_layer: activation after each path's BN (ReLU per the paper; ReLU6 for MobileNetV2).
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, stride: int = 1, paths=None,
                 groups: int | None = None, reduction: float | None = None, min_attn: int | None = None,
                 attn_channels: int | None = None, attention: bool | None = None, *, spec=None,
                 fusion: str = DEFAULT_FUSION, act_layer=nn.ReLU):
        super().__init__()
        spec = as_sk_spec(spec)
        overrides = {k: v for k, v in dict(paths=paths, groups=groups, reduction=reduction,
                                           min_attn=min_attn, attn_channels=attn_channels,
                                           attention=attention).items() if v is not None}
        spec = spec.replace(**overrides) if overrides else spec
        in_channels = check_int("SK input channels", in_channels)
        out_channels = in_channels if out_channels is None else check_int("SK output channels", out_channels)
        if isinstance(stride, bool) or stride not in (1, 2):
            raise SKMobileError(f"SK stride {stride} is not allowed; allowed: 1, 2")
        for p in spec.paths:
            g = p.groups or spec.groups
            check_channels("input", in_channels, g)
            check_channels("output", out_channels, g)
        self.spec = spec
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.paths = nn.ModuleList(self._path(p, spec, stride, act_layer) for p in spec.paths)
        self.attn = SKAttention(out_channels, spec.m, spec.attn_width(out_channels)) if spec.attention else None
        self.fusion = fusion
        self.capture_attention = False
        self.attention_weights: Tensor | None = None

    def _path(self, p, spec: SKSpec, stride: int, act_layer) -> ConvBnAct:
        """One path's conv + BN + act; a dilated depthwise conv may run as its dense equivalent
        (same parameters; see dilated_depthwise.py)."""
        groups = p.groups or spec.groups
        dense_ok = dilated_depthwise.fits(self.in_channels, self.out_channels, groups, p.dilation)
        conv = dilated_depthwise.DilatedDepthwiseConv2d if dense_ok else nn.Conv2d
        return ConvBnAct(self.in_channels, self.out_channels, p.kernel, stride, p.dilation, groups,
                         act_layer=act_layer, conv_layer=conv)

    @property
    def fusion(self) -> str:
        return self._fusion.name

    @fusion.setter
    def fusion(self, name: str) -> None:
        self._fusion = get_fusion(name)

    @property
    def num_paths(self) -> int:
        return len(self.paths)

    def forward(self, x: Tensor) -> Tensor:
        branches = [path(x) for path in self.paths]
        if self.attn is None:
            out = branches[0]
            for b in branches[1:]:
                out = out + b
            return out
        attn = self.attn(self._fusion.pool(branches))
        if self.capture_attention:
            self.attention_weights = attn.detach()
        return self._fusion.select(branches, attn)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"{self.in_channels}, {self.out_channels}, stride={self.stride}, paths={s.kernels}, "
                f"G={s.groups}, r={s.reduction}, L={s.min_attn}, attention={s.attention}, fusion={self.fusion}")


def set_fusion(model: nn.Module, fusion: str) -> nn.Module:
    """Switch every SKConv2d in ``model`` to the fusion backend ``fusion``."""
    get_fusion(fusion)
    for m in model.modules():
        if isinstance(m, SKConv2d):
            m.fusion = fusion
    return model


def capture_attention(model: nn.Module, on: bool = True) -> list[SKConv2d]:
    """Turn attention capture on/off in every SK unit; returns the units in forward order."""
    units = [m for m in model.modules() if isinstance(m, SKConv2d)]
    for m in units:
        m.capture_attention = on
        if not on:
            m.attention_weights = None
    return units
