"""Element loads and stores of the CUDA kernels for float32, float16 and bfloat16 arrays.

``ld(x)`` widens one element to float32; ``cv(x, arr)`` narrows a float32 to ``arr``'s element
type. bfloat16 tensors reach the kernels as int16 views (numba-cuda has no bfloat16 array type
that holds across versions): a bfloat16 is the top half of a float32, so ``ld`` shifts the bits up
and ``cv`` rounds to nearest even and keeps the top half.

The channels_last kernels read *units* of channels: one element, or, for bfloat16 rows of an even
channel count, an int32 holding two neighbouring channels (half the load instructions, 4-byte
accesses). ``width(arr)`` is a unit's channel count (2 for int32 arrays, else 1), ``lo(x)`` and
``hi(x)`` its first and last channel as float32 (the same value for 1-channel units), and
``pk(x0, x1, arr)`` stores two float32 as one unit of ``arr`` (``x1`` is ignored for 1-channel
units). On the GPU all are numba intrinsics (inlined LLVM; no device functions, so ``compile_ptx``
still works without a driver); under ``NUMBA_ENABLE_CUDASIM=1`` they are the same arithmetic in numpy.
"""

from __future__ import annotations

import os

import numpy as np


def _round_to_bf16_bits(bits: int) -> int:
    """float32 bits -> bfloat16 bits, round to nearest even (NaNs with payload only in the low half
    are not kept NaN; torch's NaNs are)."""
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    def _bits_to_f32(bits: int):
        return np.array([bits & 0xFFFFFFFF], np.uint32).view(np.float32)[0]

    def _f32_bits(x) -> int:
        return int(np.array([x], np.float32).view(np.uint32)[0])

    def ld(x):
        if isinstance(x, (np.int16, np.uint16)):
            return _bits_to_f32(int(x.view(np.uint16)) << 16)
        return np.float32(x)

    def cv(x, arr):
        if arr.dtype in (np.int16, np.uint16):
            return np.array([_round_to_bf16_bits(_f32_bits(x))], np.uint16).view(arr.dtype)[0]
        return arr.dtype.type(x)

    def width(arr):
        return 2 if arr.dtype == np.int32 else 1

    def lo(x):
        if isinstance(x, np.int32):
            return _bits_to_f32((int(x.view(np.uint32)) & 0xFFFF) << 16)
        return ld(x)

    def hi(x):
        if isinstance(x, np.int32):
            return _bits_to_f32(int(x.view(np.uint32)) & 0xFFFF0000)
        return ld(x)

    def pk(x0, x1, arr):
        if arr.dtype == np.int32:
            bits = _round_to_bf16_bits(_f32_bits(x0)) | (_round_to_bf16_bits(_f32_bits(x1)) << 16)
            return np.array([bits], np.uint32).view(np.int32)[0]
        return cv(x0, arr)

else:
    from llvmlite import ir
    from numba.cuda import types
    from numba.cuda.extending import intrinsic
    from numba.cuda.typing import signature

    _I32 = ir.IntType(32)

    def _is_bits(t, bitwidth: int) -> bool:
        return isinstance(t, types.Integer) and t.bitwidth == bitwidth

    def _widen_bf16(builder, bits16):
        return builder.bitcast(builder.shl(builder.zext(bits16, _I32), ir.Constant(_I32, 16)), ir.FloatType())

    def _bf16_bits(context, builder, x, xtype):
        """float -> bfloat16 bits (round to nearest even) in the low 16 bits of an i32."""
        bits = builder.bitcast(context.cast(builder, x, xtype, types.float32), _I32)
        odd = builder.and_(builder.lshr(bits, ir.Constant(_I32, 16)), ir.Constant(_I32, 1))
        rounded = builder.add(builder.add(bits, ir.Constant(_I32, 0x7FFF)), odd)
        return builder.lshr(rounded, ir.Constant(_I32, 16))

    def _ld_typer(typingctx, x):
        if _is_bits(x, 16):
            def codegen(context, builder, sig, args):
                return _widen_bf16(builder, args[0])
            return signature(types.float32, x), codegen
        if isinstance(x, types.Float):
            def codegen(context, builder, sig, args):
                return context.cast(builder, args[0], x, types.float32)
            return signature(types.float32, x), codegen
        return None

    ld = intrinsic(_ld_typer)

    def _narrow(x, dt):
        """codegen(..., value) storing float ``x`` as one element of dtype ``dt`` (or None)."""
        if _is_bits(dt, 16) and isinstance(x, types.Float):
            return lambda context, builder, value: builder.trunc(_bf16_bits(context, builder, value, x),
                                                                 ir.IntType(16))
        if isinstance(dt, types.Float) and isinstance(x, types.Float):
            return lambda context, builder, value: context.cast(builder, value, x, dt)
        return None

    @intrinsic
    def cv(typingctx, x, arr):
        dt = getattr(arr, "dtype", None)
        narrow = _narrow(x, dt)
        if narrow is None:
            return None

        def codegen(context, builder, sig, args):
            return narrow(context, builder, args[0])
        return signature(dt, x, arr), codegen

    @intrinsic
    def width(typingctx, arr):
        dt = getattr(arr, "dtype", None)
        if dt is None:
            return None
        n = 2 if _is_bits(dt, 32) else 1

        def codegen(context, builder, sig, args):
            return ir.Constant(ir.IntType(64), n)
        return signature(types.int64, arr), codegen

    def _half(high: bool):
        def typer(typingctx, x):
            if _is_bits(x, 32):
                def codegen(context, builder, sig, args):
                    if high:
                        bits = builder.and_(args[0], ir.Constant(_I32, -0x10000))
                    else:
                        bits = builder.shl(args[0], ir.Constant(_I32, 16))
                    return builder.bitcast(bits, ir.FloatType())
                return signature(types.float32, x), codegen
            return _ld_typer(typingctx, x)
        return typer

    lo = intrinsic(_half(False))
    hi = intrinsic(_half(True))

    @intrinsic
    def pk(typingctx, x0, x1, arr):
        dt = getattr(arr, "dtype", None)
        if _is_bits(dt, 32) and isinstance(x0, types.Float) and isinstance(x1, types.Float):
            def codegen(context, builder, sig, args):
                low = _bf16_bits(context, builder, args[0], x0)
                high = builder.shl(_bf16_bits(context, builder, args[1], x1), ir.Constant(_I32, 16))
                return builder.or_(low, high)
            return signature(dt, x0, x1, arr), codegen
        narrow = _narrow(x0, dt)
        if narrow is None:
            return None

        def codegen(context, builder, sig, args):
            return narrow(context, builder, args[0])
        return signature(dt, x0, x1, arr), codegen
