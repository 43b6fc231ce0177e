"""CUDA kernels without a GPU: numba's simulator (in a child process, since NUMBA_ENABLE_CUDASIM
must be set before numba is imported) and PTX compilation of every kernel (real type checking)."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")
pytestmark = pytest.mark.xdist_group("kernels_sim")


def test_cuda_kernels_in_simulator_match_torch():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-m", "skmobile.kernels.selfcheck", "--backend", "cuda-sim",
                           "--dtype", "float32,float16"], env=env, capture_output=True, text=True, timeout=300)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len([ln for ln in lines if ln.startswith("ok ")]) == 2 * 2 * 3 + 1, proc.stdout
    assert "channels_last" in proc.stdout and "float16" in proc.stdout


def test_cuda_kernels_compile_to_ptx():
    from numba import cuda, types

    from skmobile.kernels import cuda as kc

    def arr(dt, nd):
        return types.Array(dt, nd, "C")

    f32 = types.float32
    for dt in (types.float32, types.float16):
        us = types.UniTuple(arr(dt, 3), 3)
        sigs = dict(pool=(us, arr(dt, 2)), select=(us, arr(f32, 3), arr(dt, 3)),
                    attn_grad=(arr(dt, 3), us, arr(f32, 3)),
                    select_bwd=(arr(dt, 3), us, arr(f32, 3), arr(f32, 3), arr(dt, 4)),
                    fused_bwd=(arr(dt, 3), arr(dt, 3), arr(dt, 2), arr(dt, 4)))
        for layout in ("nchw", "nhwc"):
            for step, sig in sigs.items():
                ptx, _ = cuda.compile_ptx(kc.KERNELS[layout][step].py_func, sig, cc=(7, 5))
                assert ".entry" in ptx and "atom" not in ptx, (layout, step)  # no atomics anywhere


def test_launch_geometry():
    from skmobile.kernels.cuda import reduction_threads

    assert [reduction_threads(n) for n in (1, 49, 196, 3136)] == [32, 64, 256, 256]
