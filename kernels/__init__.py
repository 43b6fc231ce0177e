"""Numba SK fusion kernels (CPU and CUDA), their autograd glue and benchmarks.

Importing this package registers two fusion backends for SKConv2d:
"numba" (always the kernels, torch for unsupported inputs) and "auto" (numba or torch per device
and size, from measured results; see :mod:`skmobile.kernels.auto`).
"""

from skmobile.layers.sk_fusion import register_fusion

from . import auto
from .autograd import pool, select

register_fusion("numba", pool, select)
register_fusion("auto", auto.pool, auto.select)

__all__ = ["pool", "select", "auto"]
