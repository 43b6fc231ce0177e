"""The two backward steps every layout builds from its one dot-product pass (``cpu.py``, ``cuda.py``)."""

from __future__ import annotations


def backward_steps(dots, compile=lambda f: f):
    """(attn_grad, select_bwd) of one layout, both one pass of its ``dots(dv, us, a, da, du)``:
    attn_grad gives da = sum_L dv * u_m (``a`` and ``du`` are None, so numba compiles the du branch
    away); select_bwd also writes du[m] = a_m * dv. ``compile`` wraps each (``cuda.jit`` for kernels)."""

    def attn_grad(dv, us, da):
        dots(dv, us, None, da, None)

    def select_bwd(dv, us, a, da, du):
        dots(dv, us, a, da, du)

    return compile(attn_grad), compile(select_bwd)
