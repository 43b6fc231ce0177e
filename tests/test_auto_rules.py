"""The auto fusion's measured rules (kernels/auto.py): batch 1 and misaligned channels_last rows
keep torch; large enough batches take numba where a rule says so."""

import pytest
import torch

from skmobile.kernels import auto


def _branches(n, c, h, channels_last=False):
    t = torch.zeros(n, c, h, h)
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
    return [t, t.clone()]


def test_batch_one_keeps_torch_even_above_the_size_rule():
    cpu_rule = auto.RULES[("cpu", torch.float32, "nchw")]
    big = _branches(1, 64, 128)            # 1 x 64 x 128 x 128 elements, far above the CPU rule
    assert big[0].numel() >= cpu_rule
    assert not auto.use_numba(big)
    assert auto.use_numba(_branches(2, 64, 128))   # the same layer at batch 2 takes numba


def test_small_branches_keep_torch():
    assert not auto.use_numba(_branches(4, 8, 8))


@pytest.mark.parametrize("channels, itemsize, aligned", [
    (58, 2, False), (116, 2, False), (232, 2, False),       # shufflenetv2_x1_0_sk's SK units in bf16
    (96, 2, True), (144, 2, True), (960, 2, True),         # mobilenetv2_100_sk's
    (128, 2, True), (1024, 2, True), (58, 4, False), (8, 4, True),
])
def test_channels_last_row_alignment(channels, itemsize, aligned):
    assert auto.row_aligned(channels, itemsize) is aligned


def test_batch_one_dispatch_returns_torch_results():
    branches = [torch.randn(1, 64, 128, 128) for _ in range(2)]
    attn = torch.softmax(torch.randn(1, 2, 64), dim=1)
    ref = branches[0] * attn[:, 0, :, None, None] + branches[1] * attn[:, 1, :, None, None]
    torch.testing.assert_close(auto.select(branches, attn), ref)


def test_default_fusion_runs_torch_on_cpu_without_loading_the_kernels():
    import subprocess
    import sys

    code = ("import sys, torch, skmobile\n"
            "sk = skmobile.SKConv2d(16, 16, paths='K3+K5', groups=4)\n"
            "assert sk.fusion == 'default', sk.fusion\n"
            "sk(torch.randn(2, 16, 64, 64)).sum().backward()\n"
            "print('kernels loaded' if 'skmobile.kernels' in sys.modules else 'kernels not loaded')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "kernels not loaded"


def test_default_fusion_matches_torch_on_cpu():
    import skmobile

    torch.manual_seed(0)
    a = skmobile.SKConv2d(16, 16, paths="K3+K5", groups=4).eval()
    b = skmobile.SKConv2d(16, 16, paths="K3+K5", groups=4, fusion="torch").eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 16, 12, 12)
    torch.testing.assert_close(a(x), b(x))


@pytest.mark.parametrize("device, dtype, layout, shape, compiling, want", [
    ("cuda", torch.bfloat16, "nhwc", (128, 128, 56, 56), True, True),    # compiled: the custom ops (measured)
    ("cuda", torch.bfloat16, "nhwc", (128, 128, 56, 56), False, True),
    ("cuda", torch.bfloat16, "nhwc", (256, 58, 28, 28), True, False),    # misaligned rows: torch
    ("cuda", torch.float32, "nchw", (1, 1024, 224, 224), False, False),  # batch 1: torch
    ("cpu", torch.float32, "nchw", (32, 128, 56, 56), False, True),
    ("cpu", torch.float32, "nchw", (32, 128, 56, 56), True, False),      # compiled CPU: not measured
    ("cpu", torch.bfloat16, "nchw", (32, 128, 56, 56), False, False),    # no CPU rule for bf16
])
def test_decide_per_device_dtype_layout_size_and_compile(device, dtype, layout, shape, compiling, want):
    assert auto.decide(device, dtype, layout, shape, compiling) is want
