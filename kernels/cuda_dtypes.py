"""Element loads and stores of the CUDA kernels for float32, float16 and bfloat16 arrays.

``ld(x)`` widens one element to float32; ``cv(x, arr)`` narrows a float32 to ``arr``'s element
type. bfloat16 tensors reach the kernels as int16 views (numba-cuda has no bfloat16 array type
that holds across versions): a bfloat16 is the top half of a float32, so ``ld`` shifts the bits up
and ``cv`` rounds to nearest even and keeps the top half. On the GPU both are numba intrinsics
(inlined LLVM; no device functions, so ``compile_ptx`` still works without a driver); under
``NUMBA_ENABLE_CUDASIM=1`` they are the same arithmetic in numpy.
"""

from __future__ import annotations

import os

import numpy as np


def _round_to_bf16_bits(bits: int) -> int:
    """float32 bits -> bfloat16 bits, round to nearest even (NaNs with payload only in the low half
    are not kept NaN; torch's NaNs are)."""
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    def ld(x):
        if isinstance(x, (np.int16, np.uint16)):
            bits = np.uint32(x.view(np.uint16)) << np.uint32(16)
            return np.array([bits], np.uint32).view(np.float32)[0]
        return np.float32(x)

    def cv(x, arr):
        if arr.dtype in (np.int16, np.uint16):
            bits = int(np.array([x], np.float32).view(np.uint32)[0])
            return np.array([_round_to_bf16_bits(bits)], np.uint16).view(arr.dtype)[0]
        return arr.dtype.type(x)

else:
    from llvmlite import ir
    from numba.cuda import types
    from numba.cuda.extending import intrinsic
    from numba.cuda.typing import signature

    _I32 = ir.IntType(32)

    def _is_bf16_bits(t) -> bool:
        return isinstance(t, types.Integer) and t.bitwidth == 16

    @intrinsic
    def ld(typingctx, x):
        if _is_bf16_bits(x):
            def codegen(context, builder, sig, args):
                wide = builder.shl(builder.zext(args[0], _I32), ir.Constant(_I32, 16))
                return builder.bitcast(wide, ir.FloatType())
            return signature(types.float32, x), codegen
        if isinstance(x, types.Float):
            def codegen(context, builder, sig, args):
                return context.cast(builder, args[0], x, types.float32)
            return signature(types.float32, x), codegen
        return None

    @intrinsic
    def cv(typingctx, x, arr):
        dt = getattr(arr, "dtype", None)
        if _is_bf16_bits(dt) and isinstance(x, types.Float):
            def codegen(context, builder, sig, args):
                bits = builder.bitcast(context.cast(builder, args[0], x, types.float32), _I32)
                odd = builder.and_(builder.lshr(bits, ir.Constant(_I32, 16)), ir.Constant(_I32, 1))
                rounded = builder.add(builder.add(bits, ir.Constant(_I32, 0x7FFF)), odd)
                return builder.trunc(builder.lshr(rounded, ir.Constant(_I32, 16)), ir.IntType(16))
            return signature(dt, x, arr), codegen
        if isinstance(dt, types.Float) and isinstance(x, types.Float):
            def codegen(context, builder, sig, args):
                return context.cast(builder, args[0], x, dt)
            return signature(dt, x, arr), codegen
        return None
