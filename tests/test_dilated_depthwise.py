"""The dense form of the dilated depthwise SK paths: same outputs, gradients, parameters and export."""

import pytest
import torch

from skmobile.errors import SKMobileError
from skmobile.layers import SKConv2d
from skmobile.layers import dilated_depthwise as dd


def _pair(dtype, **kw):
    torch.manual_seed(0)
    a = SKConv2d(8, 8, paths="K3+K5+K7", groups=8, **kw).to(dtype)
    b = SKConv2d(8, 8, paths="K3+K5+K7", groups=8, **kw).to(dtype)
    b.load_state_dict(a.state_dict())
    dd.set_dilated_form(a, "dilated")
    dd.set_dilated_form(b, "dense")
    return a, b


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("stride,channels_last", [(1, False), (2, False), (1, True)])
def test_dense_form_equals_the_dilated_conv(dtype, tol, stride, channels_last):
    a, b = _pair(dtype, stride=stride)
    x = torch.randn(2, 8, 11, 9, dtype=dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ya, yb = a(x), b(x)
    torch.testing.assert_close(yb, ya, rtol=tol, atol=tol)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=tol, atol=tol, msg=name)


def test_only_dilated_depthwise_paths_get_the_module_and_parameters_are_unchanged():
    dw = SKConv2d(8, 8, paths="K3+K5+K7", groups=8)
    kinds = [type(p.conv) for p in dw.paths]
    assert kinds == [torch.nn.Conv2d, dd.DilatedDepthwiseConv2d, dd.DilatedDepthwiseConv2d]
    assert dw.paths[2].conv.weight.shape == (8, 1, 3, 3) and dw.paths[2].conv.dilation == (3, 3)
    grouped = SKConv2d(8, 8, paths="K3+K5", groups=4)  # grouped dilated convs stay plain
    assert all(type(p.conv) is torch.nn.Conv2d for p in grouped.paths)
    # same parameter count and state dict as plain convs: M(9 C + 2 C) + C d + 2 d + d M C, d = 32
    c, m, d = 8, 3, 32
    assert sum(p.numel() for p in dw.parameters()) == m * (9 * c + 2 * c) + c * d + 2 * d + d * m * c
    dense = dw.paths[1].conv.dense_weight()
    assert dense.shape == (8, 1, 5, 5) and torch.equal(dense[:, :, ::2, ::2], dw.paths[1].conv.weight)
    assert dense.count_nonzero() == dw.paths[1].conv.weight.count_nonzero()


def test_rule_picks_the_form_per_device_dtype_layout(monkeypatch):
    conv = SKConv2d(8, 8, paths="K3+K5", groups=8).paths[1].conv
    x = torch.randn(1, 8, 6, 6)
    xcl = x.contiguous(memory_format=torch.channels_last)
    assert not conv.use_dense(x) and not conv.use_dense(xcl)  # CPU keeps the dilated conv
    monkeypatch.setattr(dd, "DENSE_RULES", {("cpu", torch.bfloat16, "nhwc")})
    assert not conv.use_dense(xcl) and not conv.use_dense(x.bfloat16())
    assert conv.use_dense(xcl.bfloat16())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the compute dtype under autocast counts
        assert conv.use_dense(xcl) and not conv.use_dense(x)
    conv.form = "dilated"
    assert not conv.use_dense(xcl.bfloat16())


def test_traced_graphs_keep_the_dilated_conv():
    conv = SKConv2d(8, 8, paths="K3+K5", groups=8).paths[1].conv
    conv.form = "dense"
    graph = str(torch.jit.trace(conv, torch.randn(1, 8, 6, 6)).inlined_graph)
    assert "aten::_convolution" in graph and "zeros" not in graph and "slice" not in graph


def test_bad_form_is_one_line_error():
    with pytest.raises(SKMobileError, match="dilated form 'fast'"):
        dd.set_dilated_form(SKConv2d(8, 8, paths="K3+K5", groups=8), "fast")
