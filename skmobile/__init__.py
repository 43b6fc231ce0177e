"""skmobile: Selective Kernel convolution for lightweight and mobile networks.

Layers (SKConv2d), model families registered in one factory (and timm's), exact complexity
profiling under named conventions, Numba fusion kernels, an Optuna search and paper-table reports.
"""

import warnings as _warnings

_warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")

from .errors import SKMobileError  # noqa: E402
from .layers import SKConv2d, SqueezeExcite, capture_attention, set_fusion  # noqa: E402
from .models import create_model, list_models  # noqa: E402
from .specs import PathSpec, SKSpec  # noqa: E402

__version__ = "0.1.0"
__all__ = ["SKConv2d", "SKMobileError", "SKSpec", "PathSpec", "SqueezeExcite", "capture_attention",
           "create_model", "list_models", "set_fusion", "__version__"]
