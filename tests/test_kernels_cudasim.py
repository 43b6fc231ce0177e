"""CUDA kernels without a GPU: numba's simulator (in a child process, since NUMBA_ENABLE_CUDASIM
must be set before numba is imported) and PTX compilation of every kernel (real type checking)."""

import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("numba")
pytestmark = pytest.mark.xdist_group("kernels_sim")
#: every element type of the CUDA kernels, 16-bit branches with a float32 attention, and the same
#: under autocast (V keeps the branches' bfloat16: the channels_last kernels then read pairs)
DTYPES = "float32,float16,bfloat16,bfloat16/float32,bfloat16/float32+amp"


def _on_one_cpu():
    """Keep the simulator on one CPU. It runs every CUDA thread as a Python thread, and these threads hand
    the GIL to each other at every barrier; spread over two cores beside another busy process (the other
    test worker), those hand-offs cost more than the work itself."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})


def test_cuda_kernels_in_simulator_match_torch():
    from skmobile.kernels import selfcheck

    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-m", "skmobile.kernels.selfcheck", "--backend", "cuda-sim",
                           "--dtype", DTYPES], env=env, capture_output=True, text=True, timeout=400,
                          preexec_fn=_on_one_cpu)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n_dtypes = len(DTYPES.split(","))
    assert len([ln for ln in lines if ln.startswith("ok ")]) == n_dtypes * 2 * len(selfcheck.CASES) + 1, proc.stdout
    for word in ("channels_last", "float16", "bfloat16 ", "bfloat16/float32", "bfloat16/float32+amp"):
        assert word in proc.stdout
    launches = lines[-1]  # every step also ran on bfloat16 pairs (selfcheck judges where, per case)
    for step in ("pool", "select", "attn_grad", "select_bwd", "fused_bwd"):
        assert f"'{step}/pairs'" in launches, launches


def test_cuda_kernels_compile_to_ptx(monkeypatch):
    from types import SimpleNamespace

    from numba import cuda, types
    from numba.cuda import dispatcher

    from skmobile.kernels import cuda as kc

    # the shared device function (tree_sum) compiles for the current device's compute capability:
    # give it one without a driver, the one the kernels are compiled for
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: SimpleNamespace(compute_capability=(7, 5)))

    def arr(dt, nd):
        return types.Array(dt, nd, "C")

    f32 = types.float32
    # branch dtype, attention dtype: bfloat16 reaches the kernels as int16 bits
    # and int32: two bfloat16 channels per unit, channels_last only (per-channel vectors stay int16)
    for dt, at in ((types.float32, f32), (types.float16, types.float16), (types.int16, f32),
                   (types.int16, types.int16), (types.int32, f32)):
        # NCHW: planes (N*C, L), per-plane vectors (N*C,); channels_last: (N, L, K), (N, C)
        for layout, nd in (("nchw", 2), ("nhwc", 3)):
            if dt == types.int32 and layout == "nchw":
                continue
            us = types.UniTuple(arr(dt, nd), 3)
            vec = arr(types.int16 if dt == types.int32 else dt, nd - 1)
            sigs = dict(pool=(us, vec), select=(us, arr(at, 3), arr(dt, nd)),
                        attn_grad=(arr(dt, nd), us, arr(at, 3)),
                        select_bwd=(arr(dt, nd), us, arr(at, 3), arr(at, 3), us),
                        fused_bwd=(arr(dt, nd), arr(at, 3), vec, us))
            for step, sig in sigs.items():
                ptx, _ = cuda.compile_ptx(kc.KERNELS[layout][step].py_func, sig, cc=(7, 5))
                assert ".entry" in ptx and "atom" not in ptx, (layout, step)  # no atomics anywhere
                assert "call" not in ptx, (layout, step)  # the reduction tree is inlined
                if step in ("fused_bwd", "select"):  # per-branch weights held in registers
                    assert ".local" not in ptx, (layout, step, dt)
                if layout == "nhwc":  # 64-bit integer division costs more than the element's bytes
                    assert "div.s64" not in ptx and "rem.s64" not in ptx, (step, dt)


def test_launch_geometry():
    from skmobile.kernels.cuda import THREADS, grid_block, lanes_for

    # NCHW: one row of lanes per plane (8, 16, 32 by plane size), THREADS per block (64 simulated)
    assert [lanes_for(n) for n in (1, 49, 64, 65, 196, 256, 257, 3136)] == [8, 8, 8, 16, 16, 16, 32, 32]
    assert grid_block("pool", "nchw", (4096, 3136)) == (4096 * 32 // THREADS, (32, THREADS // 32))
    assert grid_block("select", "nchw", (33, 49)) == (2, (8, 32))
    assert grid_block("select", "nchw", (9, 49), sim=True) == (2, (8, 8))
    # channels_last: 32 channel units per block row; reductions one block per (tile, sample),
    # element-wise steps 4 rows per thread with the sample in grid z (no index division)
    assert grid_block("attn_grad", "nhwc", (4, 49, 100)) == ((4, 4), (32, 16))
    assert grid_block("select", "nhwc", (4, 49, 100)) == ((4, 2, 4), (32, 8))
    assert grid_block("fused_bwd", "nhwc", (3, 3136, 64)) == ((2, 98, 3), (32, 8))
    assert grid_block("pool", "nhwc", (3, 49, 5), sim=True) == ((1, 3), (32, 2))


def test_fast_launcher_types_every_array_the_kernels_take():
    """The fast launcher must give a numba type to every tensor dtype ops.py hands the CUDA kernels
    (bfloat16 as int16 bits, bfloat16 pairs as int32); a missing one sends every later launch of
    the process through numba's slow dispatcher (this happened on a GPU with the int32 pairs)."""
    from numba.cuda import types

    from skmobile.kernels.cuda_launch import numba_type, spec_of

    for dtype, want in ((torch.float32, types.float32), (torch.float16, types.float16),
                        (torch.bfloat16, types.int16), (torch.int32, types.int32)):
        t = torch.zeros(2, 3, 4, dtype=dtype)
        view = t.view(torch.int16) if dtype == torch.bfloat16 else t  # what CudaBackend.array passes
        assert numba_type(spec_of(view)) == types.Array(want, 3, "C")
        assert numba_type(spec_of((view, view))) == types.UniTuple(types.Array(want, 3, "C"), 2)
