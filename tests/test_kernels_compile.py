"""torch.compile with the numba fusion: custom ops, no graph breaks, same values and gradients (CPU).

``aot_eager`` runs dynamo, the ops' fake implementations and AOTAutograd (what inductor also needs)
without inductor's C++ compile, which takes minutes on 2 cores."""

import pytest
import torch

pytest.importorskip("numba")
pytestmark = pytest.mark.xdist_group("kernels_cpu")


def _units(fusion, channels_last):
    import skmobile

    torch.manual_seed(0)
    new = skmobile.SKConv2d(16, 16, paths="K3+K5", groups=4, fusion=fusion)
    ref = skmobile.SKConv2d(16, 16, paths="K3+K5", groups=4, fusion="torch")
    ref.load_state_dict(new.state_dict())
    x = torch.randn(2, 16, 8, 8)
    if channels_last:
        cl = torch.channels_last
        new, ref, x = new.to(memory_format=cl), ref.to(memory_format=cl), x.contiguous(memory_format=cl)
    return new, ref, x


@pytest.mark.parametrize("channels_last", [False, True])
def test_compiled_numba_fusion_runs_the_custom_ops_in_one_graph(channels_last):
    from skmobile.kernels import ops

    torch._dynamo.reset()
    new, ref, x = _units("numba", channels_last)
    explained = torch._dynamo.explain(new)(x)
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    ops.CALLS.clear()
    y = torch.compile(new, fullgraph=True, backend="aot_eager")(x)
    y.square().mean().backward()
    assert dict(ops.CALLS) == {"pool": 1, "select": 1, "select_bwd": 1}  # the kernels ran inside the graph
    y_ref = ref(x)
    y_ref.square().mean().backward()
    assert y.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(y, y_ref)
    for (name, p), q in zip(ref.named_parameters(), new.parameters()):
        torch.testing.assert_close(q.grad, p.grad, msg=name)


def test_compiled_auto_fusion_on_cpu_leaves_the_fusion_to_inductor():
    """On the CPU no compiled run was measured: auto leaves the fusion to inductor there, even above
    the CPU size rule (on CUDA the same rules pick the custom ops: tests/test_auto_rules.py)."""
    from skmobile.kernels import auto, ops

    torch._dynamo.reset()
    new, ref, x = _units("auto", False)
    x = torch.randn(2, 16, 128, 128)
    assert x.numel() >= auto.RULES[("cpu", torch.float32, "nchw")] and auto.use_numba([x, x])
    ops.CALLS.clear()
    y = torch.compile(new, fullgraph=True, backend="aot_eager")(x)
    assert not ops.CALLS
    torch.testing.assert_close(y, ref(x))


def test_custom_ops_pass_torch_library_checks():
    from skmobile.kernels import custom_ops

    g = torch.Generator().manual_seed(0)
    branches = [torch.randn(2, 3, 4, 5, generator=g, requires_grad=True) for _ in range(2)]
    attn = torch.rand(2, 2, 3, generator=g).softmax(1).requires_grad_()
    torch.library.opcheck(custom_ops.sk_pool, ([b.detach().requires_grad_() for b in branches],))
    torch.library.opcheck(custom_ops.sk_select, (branches, attn, torch.float32))
