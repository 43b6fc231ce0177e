"""The CUDA kernels on a real GPU (skipped without one): values, gradients, layouts, fp16, SKConv2d."""

import pytest
import torch

pytestmark = pytest.mark.gpu
if not torch.cuda.is_available():  # pragma: no cover - CPU-only CI
    pytest.skip("needs a CUDA device", allow_module_level=True)

import skmobile  # noqa: E402
from skmobile.kernels import ops, selfcheck  # noqa: E402


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 2e-2)])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", selfcheck.CASES + [(4, 2, 128, 56, 56), (3, 2, 1024, 7, 7), (1, 3, 58, 27, 29)])
def test_cuda_matches_torch(case, channels_last, dtype, tol):
    err = selfcheck.check_case(ops.CudaBackend(sim=False), "cuda", dtype, *case, channels_last=channels_last)
    assert err <= tol


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
