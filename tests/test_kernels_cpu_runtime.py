"""CPU kernel runtime: the output-buffer pool, the OpenMP thread pool, and forked children."""

import numba
import pytest
import torch

K = pytest.importorskip("skmobile.kernels")
from skmobile.kernels import buffers  # noqa: E402
from skmobile.layers.sk_fusion import torch_pool, torch_select  # noqa: E402

pytestmark = pytest.mark.xdist_group("kernels_cpu")


def test_buffer_is_lent_again_only_after_its_tensor_is_gone():
    pool = buffers.BufferPool(limit_bytes=1 << 20, min_bytes=0)
    a = pool.empty((4, 8), torch.float32)
    b = pool.empty((4, 8), torch.float32)
    assert a.shape == (4, 8) and a.dtype == torch.float32 and a.is_contiguous()
    assert a.data_ptr() % 64 == 0 and b.data_ptr() % 64 == 0
    assert a.data_ptr() != b.data_ptr()  # a is alive: b must not share its memory
    ptr = a.data_ptr()
    del a
    c = pool.empty((4, 8), torch.float32)
    assert c.data_ptr() == ptr
    assert pool.stats()["hits"] == 1 and pool.stats()["misses"] == 2


def test_a_view_keeps_the_buffer_busy():
    pool = buffers.BufferPool(limit_bytes=1 << 20, min_bytes=0)
    a = pool.empty((2, 4, 8), torch.float64)
    part = a[1].permute(1, 0)
    ptr = a.data_ptr()
    del a
    assert pool.empty((2, 4, 8), torch.float64).data_ptr() != ptr  # part still uses it
    del part
    assert pool.empty((2, 4, 8), torch.float64).data_ptr() == ptr


def test_limit_and_eviction_of_idle_buffers():
    pool = buffers.BufferPool(limit_bytes=256, min_bytes=0)
    big = pool.empty((100,), torch.float32)  # 400 B > limit: a plain tensor, nothing held
    assert pool.stats()["held_bytes"] == 0 and big.numel() == 100
    a = pool.empty((32,), torch.float32)  # 128 B
    assert pool.stats()["held_bytes"] == 128
    b = pool.empty((48,), torch.float32)  # 192 B: no room while a lives
    assert pool.stats()["held_bytes"] == 128
    del a, b
    pool.empty((48,), torch.float32)  # the idle 128 B buffer is dropped to make room
    assert pool.stats()["held_bytes"] == 192
    assert pool.release() == 192 and pool.stats()["buffers"] == 0


def test_buffer_limit_from_the_environment(monkeypatch):
    monkeypatch.setenv("SKMOBILE_CPU_BUFFER_MB", "3")
    assert buffers.BufferPool().limit == 3 << 20
    monkeypatch.setenv("SKMOBILE_CPU_BUFFER_MB", "0")
    assert buffers.BufferPool().limit == 0
    monkeypatch.setenv("SKMOBILE_CPU_BUFFER_MB", "lots")
    with pytest.warns(RuntimeWarning, match="SKMOBILE_CPU_BUFFER_MB='lots'"):
        assert buffers.BufferPool().limit > 0


def test_small_requests_bypass_the_pool():
    pool = buffers.BufferPool(limit_bytes=1 << 20, min_bytes=1024)
    pool.empty((8,), torch.float32)
    assert pool.stats()["misses"] == 0 and pool.stats()["held_bytes"] == 0


@pytest.mark.parametrize("channels_last", [False, True])
def test_pooled_outputs_do_not_alias_across_steps(monkeypatch, channels_last):
    """Outputs and gradients of step 1 stay intact while step 2 runs; step 3 reuses step 1's memory."""
    pool = buffers.BufferPool(limit_bytes=1 << 24, min_bytes=0)
    monkeypatch.setattr(buffers, "POOL", pool)
    mf = torch.channels_last if channels_last else torch.contiguous_format

    def step(seed):
        g = torch.Generator().manual_seed(seed)
        bs = [torch.randn(2, 6, 5, 7, generator=g).contiguous(memory_format=mf).requires_grad_()
              for _ in range(2)]
        wt = torch.randn(1, 2, 6, generator=g)
        dv = torch.randn(2, 6, 5, 7, generator=g).contiguous(memory_format=mf)
        v = K.select(bs, (K.pool(bs).unsqueeze(1) * wt).softmax(1))
        grads = torch.autograd.grad(v, bs, dv)
        ref_v = torch_select(bs, (torch_pool(bs).unsqueeze(1) * wt).softmax(1))
        ref_g = torch.autograd.grad(ref_v, bs, dv)
        return v, grads, ref_v.detach(), ref_g

    v1, g1, r1, rg1 = step(1)
    v2, g2, r2, rg2 = step(2)
    for got, want in [(v1, r1), (v2, r2), *zip(g1, rg1), *zip(g2, rg2)]:
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert v1.data_ptr() != v2.data_ptr()
    ptr = v1.data_ptr()
    hits = pool.stats()["hits"]
    del v1, g1
    v3, *_ = step(3)
    assert pool.stats()["hits"] > hits and v3.data_ptr() == ptr


def test_cpu_kernels_run_in_torchs_openmp_pool(monkeypatch):
    if not torch.backends.openmp.is_available():
        pytest.skip("torch without OpenMP")
    import os

    if "NUMBA_THREADING_LAYER" in os.environ or "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        pytest.skip("threading layer chosen by the environment")
    try:
        import numba.np.ufunc.omppool  # noqa: F401
    except ImportError:
        pytest.skip("numba's OpenMP layer cannot load here (no libgomp)")
    bs = [torch.randn(2, 3, 4, 4) for _ in range(2)]
    K.pool(bs)
    assert numba.threading_layer() == "omp"


def _pool_in_forked_child(bs, queue):
    from skmobile.kernels import warn

    before = dict(warn.FALLBACKS)  # counted on every call (the warning is said once per process, and a
    s = K.pool(bs)                 # forked child inherits its parent's record of what was said)
    queue.put((s.tolist(), [reason for reason, n in warn.FALLBACKS.items() if n > before.get(reason, 0)]))


def test_forked_child_falls_back_to_torch_instead_of_being_killed():
    """numba SIGTERMs a child forked after an OpenMP parallel region; the fusion must not go there."""
    import multiprocessing as mp

    bs = [torch.randn(2, 3, 8, 8) for _ in range(2)]
    K.pool(bs)  # the parent runs a kernel first
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_pool_in_forked_child, args=(bs, queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    values, fallbacks = queue.get(timeout=5)
    torch.testing.assert_close(torch.tensor(values), torch_pool(bs))
    if numba.threading_layer() == "omp":
        assert any("fork" in reason for reason in fallbacks)
