"""Layers: SK convolution, SE, conv-BN-act (flat, one concept per file, as timm's layers/)."""

from .conv_bn_act import ConvBnAct
from .selective_kernel import SKAttention, SKConv2d, capture_attention, set_fusion
from .sk_fusion import Fusion, fusion_names, get_fusion, register_fusion
from .squeeze_excite import SqueezeExcite

__all__ = ["ConvBnAct", "SKAttention", "SKConv2d", "SqueezeExcite", "Fusion", "capture_attention",
           "set_fusion", "fusion_names", "get_fusion", "register_fusion"]
