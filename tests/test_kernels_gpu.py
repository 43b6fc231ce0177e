"""The CUDA kernels on a real GPU (skipped without one): values, gradients, layouts, dtypes, SKConv2d."""

import pytest
import torch

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():  # pragma: no cover - CPU-only CI
    pytest.skip("needs a CUDA device", allow_module_level=True)

import skmobile  # noqa: E402
from skmobile.kernels import ops, selfcheck  # noqa: E402

F32, F16, BF16 = torch.float32, torch.float16, torch.bfloat16
#: (branch dtype, attention dtype): each kernel dtype, and 16-bit branches with a float32 attention
#: as autocast gives them
DTYPES = [(F32, F32), (F16, F16), (BF16, BF16), (F16, F32), (BF16, F32)]


CASES = selfcheck.CASES + [(4, 2, 128, 56, 56), (3, 2, 1024, 7, 7), (1, 3, 58, 27, 29)]
#: every dtype pair on the M = 2 cases (each new M compiles every kernel again); fp32 on all
PAIRS = [(c, d, a) for d, a in DTYPES for c in CASES if d == F32 or c[1] == 2]


@pytest.mark.parametrize("case,dtype,attn_dtype", PAIRS, ids=lambda v: str(v).replace("torch.", ""))
@pytest.mark.parametrize("channels_last", [False, True])
def test_cuda_matches_torch(case, channels_last, dtype, attn_dtype):
    err = selfcheck.check_case(ops.CudaBackend(sim=False), "cuda", dtype, *case, channels_last=channels_last,
                               attn_dtype=attn_dtype)
    assert err <= selfcheck.TOLERANCES[dtype]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_cuda_autocast_bf16_channels_last_reads_pairs(case):
    """Under autocast V keeps the bfloat16 branches' dtype: every channels_last step reads int32
    pairs where the channel count is even, and matches torch."""
    before = ops.CALLS.copy()
    err = selfcheck.check_case(ops.CudaBackend(sim=False), "cuda", BF16, *case, channels_last=True,
                               attn_dtype=F32, amp=True)
    assert err <= selfcheck.TOLERANCES[BF16]
    delta = ops.CALLS - before
    even = case[2] % 2 == 0
    assert delta["fused_bwd"] > 0
    for step in ("pool", "select", "attn_grad", "select_bwd", "fused_bwd"):
        assert delta[f"{step}/pairs"] == (delta[step] if even else 0), step


def test_skconv2d_cuda_numba_matches_torch_and_is_deterministic():
    torch.manual_seed(0)
    ref = skmobile.SKConv2d(64, 64, paths="K3+K5", groups=32, fusion="torch").cuda()
    new = skmobile.SKConv2d(64, 64, paths="K3+K5", groups=32, fusion="numba").cuda()
    new.load_state_dict(ref.state_dict())
    x = torch.randn(4, 64, 15, 13, device="cuda")
    y1, y2 = ref(x), new(x)
    torch.testing.assert_close(y2, y1, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(y1)
    grads = []
    for _ in range(2):
        new.zero_grad()
        new(x).backward(g)
        grads.append([p.grad.clone() for p in new.parameters()])
    ref(x).backward(g)
    for a, b in zip(grads[0], grads[1]):
        assert torch.equal(a, b)  # no order-dependent atomics
    for (name, p1), p2 in zip(ref.named_parameters(), grads[0]):
        torch.testing.assert_close(p2, p1.grad, rtol=0, atol=1e-4 * max(1.0, p1.grad.abs().max().item()), msg=name)


@pytest.mark.parametrize("amp", [BF16, F16])
@pytest.mark.parametrize("paths,groups", [("K3+K5", 32), ("K3+K5", 64)])  # grouped; depthwise (dilated K5)
def test_skconv2d_under_autocast_channels_last_takes_the_kernels(amp, paths, groups):
    """Autocast gives 16-bit branches and a float32 attention: the numba path must run (no fallback
    warning, kernels launched), with V in the branches' dtype and values/gradients close to torch's."""
    import warnings

    torch.manual_seed(0)
    ref = skmobile.SKConv2d(64, 64, paths=paths, groups=groups, fusion="torch").cuda()
    new = skmobile.SKConv2d(64, 64, paths=paths, groups=groups, fusion="numba").cuda()
    new.load_state_dict(ref.state_dict())
    ref, new = ref.to(memory_format=torch.channels_last), new.to(memory_format=torch.channels_last)
    x = torch.randn(4, 64, 28, 28, device="cuda").contiguous(memory_format=torch.channels_last)
    ops.CALLS.clear()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="skmobile.kernels")  # a fallback would warn
        with torch.autocast("cuda", dtype=amp):
            y_new = new(x)
            y_ref = ref(x)
        (y_new.float().square().mean()).backward()
    (y_ref.float().square().mean()).backward()
    assert ops.CALLS["select"] == 1 and ops.CALLS["fused_bwd"] == 1
    if amp == BF16:  # 64 channels: the channels_last kernels read bfloat16 pairs
        assert ops.CALLS["select/pairs"] == 1 and ops.CALLS["fused_bwd/pairs"] == 1
    assert y_new.dtype == amp and y_new.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y_new.float(), y_ref.float(), rtol=2e-2, atol=2e-2)
    for (name, p1), p2 in zip(ref.named_parameters(), new.parameters()):
        scale = max(1.0, p1.grad.abs().max().item())
        torch.testing.assert_close(p2.grad, p1.grad, rtol=0, atol=3e-2 * scale, msg=name)
