"""CPU numba fusion kernels against the torch reference: values, gradients, gradcheck, SKConv2d."""

import warnings

import pytest
import torch

import skmobile
from skmobile.layers.sk_fusion import get_fusion, torch_pool, torch_select

K = pytest.importorskip("skmobile.kernels")
from skmobile.kernels import autograd, ops  # noqa: E402

# One xdist worker compiles the numba kernels once (cold compiles dominate this file's time).
pytestmark = pytest.mark.xdist_group("kernels_cpu")

CASES = [  # (N, M, C, H, W), channels_last: M = 1, 2, 3, odd H and W, batch 1
    ((2, 2, 5, 7, 9), False),
    ((2, 2, 5, 7, 9), True),
    ((1, 1, 3, 5, 5), False),
    ((3, 3, 4, 3, 1), False),
    ((1, 2, 70, 6, 5), True),  # more than one channel block in channels_last
]


def _inputs(n, m, c, h, w, dtype=torch.float32, channels_last=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    bs = [torch.randn(n, c, h, w, generator=g, dtype=dtype).contiguous(memory_format=mf).requires_grad_()
          for _ in range(m)]
    wt = torch.randn(1, m, c, generator=g, dtype=dtype).requires_grad_()
    dv = torch.randn(n, c, h, w, generator=g, dtype=dtype).contiguous(memory_format=mf)
    return bs, wt, dv


def _fusion(pool, select, bs, wt):
    s = pool(bs)
    return s, select(bs, (s.unsqueeze(1) * wt).softmax(1))


@pytest.mark.parametrize("shape,channels_last", CASES)
def test_values_and_grads_match_torch(shape, channels_last):
    bs, wt, dv = _inputs(*shape, channels_last=channels_last)
    ops.CALLS.clear()
    s1, v1 = _fusion(torch_pool, torch_select, bs, wt)
    s2, v2 = _fusion(K.pool, K.select, bs, wt)
    torch.testing.assert_close(s2, s1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-5)
    g1 = torch.autograd.grad(v1, bs + [wt], dv)
    g2 = torch.autograd.grad(v2, bs + [wt], dv)
    for a, b in zip(g2, g1):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert ops.CALLS["fused_bwd"] == 1 and ops.CALLS["select_bwd"] == 0  # the linked backward ran
    if channels_last:
        assert v2.is_contiguous(memory_format=torch.channels_last)
        assert g2[0].is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("channels_last", [False, True])
def test_select_alone_and_pool_alone(channels_last):
    bs, _, dv = _inputs(2, 3, 6, 5, 3, channels_last=channels_last, seed=1)
    bs = bs[:2] if channels_last else bs  # M = 3 channels_last would be one more cold compile
    a = torch.rand(2, len(bs), 6, requires_grad=True)
    g1 = torch.autograd.grad(torch_select(bs, a), bs + [a], dv)
    g2 = torch.autograd.grad(K.select(bs, a), bs + [a], dv)
    for x, y in zip(g2, g1):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)
    ds = torch.randn(2, 6)
    p1 = torch.autograd.grad(torch_pool(bs), bs, ds)
    p2 = torch.autograd.grad(K.pool(bs), bs, ds)
    for x, y in zip(p2, p1):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


def test_mixed_layouts_and_non_contiguous():
    bs, wt, dv = _inputs(2, 2, 4, 5, 5, seed=2)
    other = bs[1].detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    strided = torch.randn(2, 4, 10, 5)[:, :, ::2].requires_grad_()
    for branches in ([bs[0], other], [strided, bs[0]]):
        s1, v1 = _fusion(torch_pool, torch_select, branches, wt)
        s2, v2 = _fusion(K.pool, K.select, branches, wt)
        torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-5)
        for x, y in zip(torch.autograd.grad(v2, branches + [wt], dv), torch.autograd.grad(v1, branches + [wt], dv)):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5)


def test_gradcheck_float64():
    bs, wt, _ = _inputs(2, 2, 3, 3, 5, dtype=torch.float64, seed=3)
    assert torch.autograd.gradcheck(lambda *b: _fusion(K.pool, K.select, list(b[:-1]), b[-1]), bs + [wt])
    a = torch.rand(2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *b: K.select(list(b[:-1]), b[-1]), bs + [a])


def test_no_grad_path_and_unsupported_dtype_falls_back():
    bs, wt, _ = _inputs(1, 2, 4, 3, 3, seed=4)
    with torch.no_grad():
        s1, v1 = _fusion(torch_pool, torch_select, bs, wt)
        s2, v2 = _fusion(K.pool, K.select, bs, wt)
    torch.testing.assert_close(v2, v1, rtol=1e-5, atol=1e-6)
    half = [b.detach().bfloat16() for b in bs]
    a = torch.rand(1, 2, 4).bfloat16()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        out = K.select(half, a)
    assert torch.equal(out, torch_select(half, a))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("groups", [4, None])
def test_skconv2d_numba_matches_torch(groups, dtype):
    """Whole SK unit (train mode), forward and every parameter gradient, G = 4 and G = C."""
    torch.manual_seed(0)
    c = 32
    ref = skmobile.SKConv2d(c, c, paths="K3+K5", groups=groups or c, fusion="torch").to(dtype)
    new = skmobile.SKConv2d(c, c, paths="K3+K5", groups=groups or c, fusion="numba").to(dtype)
    new.load_state_dict(ref.state_dict())
    x = torch.randn(2, c, 9, 7, dtype=dtype)
    y1, y2 = ref(x), new(x)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(y2, y1, rtol=tol, atol=tol)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    for (name, p1), (_, p2) in zip(ref.named_parameters(), new.named_parameters()):
        # fp32: rounding differences pass through the attention BN over 2 samples, so compare
        # relative to each gradient's scale; fp64 shows the math is the same.
        scale = p1.grad.abs().max().item()
        torch.testing.assert_close(p2.grad, p1.grad, rtol=0, atol=10 * tol * max(scale, 1.0), msg=name)
    assert new.fusion == "numba" and get_fusion("numba").name == "numba"


def test_set_fusion_auto_on_a_model():
    torch.manual_seed(0)
    unit = torch.nn.Sequential(skmobile.SKConv2d(8, 8, paths="K3+K5+K7", groups=8))
    x = torch.randn(2, 8, 5, 5)
    unit.eval()
    y1 = unit(x)
    skmobile.set_fusion(unit, "auto")
    torch.testing.assert_close(unit(x), y1, rtol=1e-5, atol=1e-5)
    assert autograd.choose_backend([x, x]) is not None


class _FreshWrapperNode:
    """A graph node whose ``next_functions`` builds fresh wrapper objects on every access, as
    torch's C++ autograd nodes do; the chain ends at the node that carries ``sk_link``."""

    def __init__(self, depth: int, link, end: int):
        self.depth, self.link, self.end = depth, link, end
        if depth == end:
            self.sk_link = link

    @property
    def next_functions(self):
        return () if self.depth >= self.end else ((_FreshWrapperNode(self.depth + 1, self.link, self.end), 0),)


@pytest.mark.parametrize("depth", [1, 3, 7, 20])
def test_graph_walk_finds_pool_behind_fresh_wrappers(depth):
    # Regression: the walk kept only id()s of visited wrappers; a freed wrapper's id was reused by
    # the next one, which was skipped, so select never linked to pool (seen on an H100 machine).
    link = object()
    assert autograd._graph_reaches(_FreshWrapperNode(0, link, depth), link)
    assert not autograd._graph_reaches(_FreshWrapperNode(0, object(), depth), link)
