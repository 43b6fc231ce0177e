"""skmobile: Selective Kernel convolution for lightweight and mobile networks.

Layers (SKConv2d), model families registered in one factory (and timm's), exact complexity
profiling under named conventions, Numba fusion kernels, an Optuna search and paper-table reports.
"""

from .errors import SKMobileError
from .layers import SKConv2d, SqueezeExcite, capture_attention, set_fusion
from .models import create_model, list_models
from .specs import PathSpec, SKSpec

__version__ = "0.1.0"
__all__ = ["SKConv2d", "SKMobileError", "SKSpec", "PathSpec", "SqueezeExcite", "capture_attention",
           "create_model", "list_models", "set_fusion", "__version__"]
