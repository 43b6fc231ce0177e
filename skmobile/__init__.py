"""skmobile: Selective Kernel convolution for lightweight and mobile networks.

Layers (SKConv2d), model families registered in one factory (and timm's), exact complexity
profiling under named conventions, Numba fusion kernels, an Optuna search and paper-table reports.

``import skmobile`` is cheap: the public names below load their modules (and torch) on first use
(PEP 562), so the command line starts without torch. The models enter timm's registry when
``skmobile.models`` is imported (``skmobile.create_model``/``list_models`` do that).
"""

import importlib as _importlib

from .errors import SKMobileError

__version__ = "0.1.0"

_LAZY = {"SKConv2d": ".layers", "SqueezeExcite": ".layers", "capture_attention": ".layers",
         "set_fusion": ".layers", "create_model": ".models", "list_models": ".models",
         "PathSpec": ".specs", "SKSpec": ".specs"}

__all__ = ["SKConv2d", "SKMobileError", "SKSpec", "PathSpec", "SqueezeExcite", "capture_attention",
           "create_model", "list_models", "set_fusion", "__version__"]


#: Subpackages reachable as attributes (``skmobile.models.model_entry``) without importing them first.
_SUBPACKAGES = ("data", "export", "kernels", "layers", "models", "paper", "profile", "report", "search", "specs",
                "tables", "train")


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _importlib.import_module(f".{name}", __name__)
    if name not in _LAZY:
        raise AttributeError(f"module 'skmobile' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))
