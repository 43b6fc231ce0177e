"""Low-overhead launches of the numba-cuda kernels on torch tensors.

numba's dispatcher types every argument on every call and wraps each tensor in a DeviceNDArray
through ``__cuda_array_interface__``, a host cost per launch that can exceed the kernels' own time
(``tools/cuda_probe.py`` measures it; reports/kernels-h100.md has the figures). This launcher compiles
each kernel once per argument signature with numba (every array C-contiguous), then passes the
tensors in numba's array ABI (meminfo, parent, size, itemsize, data pointer, shape, byte strides)
straight to ``cuda.core.launch`` on torch's current stream.
"""

from __future__ import annotations

import torch

_NB_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.float64: "float64",
              torch.int16: "int16", torch.int32: "int32",  # int32: two bfloat16 channels (cuda_dtypes.py)
              torch.bfloat16: "int16"}  # bfloat16 as its bits (cuda_dtypes.py)


def spec_of(arg) -> tuple:
    """Hashable signature of one argument: ("a", dtype, ndim) or ("t", dtype, ndim, length)."""
    if isinstance(arg, tuple):
        t = arg[0]
        return ("t", t.dtype, t.dim(), len(arg))
    return ("a", arg.dtype, arg.dim())


def numba_type(spec):
    from numba.cuda import types

    arr = types.Array(getattr(types, _NB_DTYPES[spec[1]]), spec[2], "C")
    return types.UniTuple(arr, spec[3]) if spec[0] == "t" else arr


def abi_args(arg, out: list) -> None:
    """Append ``arg`` (a C-contiguous tensor, or a tuple of them) in numba's kernel-argument ABI."""
    if isinstance(arg, tuple):
        for t in arg:
            abi_args(t, out)
        return
    if not arg.is_contiguous():
        raise ValueError("fast launch needs C-contiguous tensors")
    isz = arg.element_size()
    out += (0, 0, arg.numel(), isz, arg.data_ptr(), *arg.shape, *(s * isz for s in arg.stride()))


class Launcher:
    """Compiled kernels by (dispatcher, signature), cached cuda.core streams and launch configs."""

    def __init__(self):
        from cuda.core import LaunchConfig, Stream, launch

        self._launch, self._config_cls, self._stream_cls = launch, LaunchConfig, Stream
        self._kernels: dict = {}
        self._streams: dict = {}
        self._configs: dict = {}

    def kernel(self, dispatcher, specs: tuple):
        key = (dispatcher, specs)
        k = self._kernels.get(key)
        if k is None:
            compiled = dispatcher.compile(tuple(numba_type(s) for s in specs))
            k = self._kernels[key] = compiled._codelibrary.get_cufunc().kernel
        return k

    def stream(self, handle: int):
        s = self._streams.get(handle)
        if s is None:
            s = self._streams[handle] = self._stream_cls.from_handle(handle)
        return s

    def config(self, grid, block):
        key = (grid, block)
        c = self._configs.get(key)
        if c is None:
            c = self._configs[key] = self._config_cls(grid=grid, block=block)
        return c

    def __call__(self, dispatcher, grid, block, stream_handle: int, args) -> None:
        kern = self.kernel(dispatcher, tuple(spec_of(a) for a in args))
        flat: list = []
        for a in args:
            abi_args(a, flat)
        self._launch(self.stream(stream_handle), self.config(grid, block), kern, *flat)
