"""SKConv2d is the paper's unit: layout, parameter formula, timm weight compatibility, bad specs."""

import pytest
import torch
from timm.layers import SelectiveKernel

from skmobile import SKConv2d, SKMobileError, SKSpec, capture_attention
from skmobile.specs import parse_paths


def _randomize_bn(module):
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("kernels,groups,stride", [([3, 5], 8, 1), ([3, 5, 7], 4, 2), ([3, 5], 16, 1)])
def test_matches_timm_selective_kernel_with_copied_weights(kernels, groups, stride):
    torch.manual_seed(0)
    c = 32
    ref = SelectiveKernel(c, c, kernel_size=kernels, stride=stride, groups=groups, split_input=False,
                          rd_channels=12)
    _randomize_bn(ref)
    paths = [(3, (k - 1) // 2) for k in kernels]
    ours = SKConv2d(c, c, stride, paths=paths, groups=groups, attn_channels=12)
    missing = ours.load_state_dict(ref.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    x = torch.randn(3, c, 9, 11)
    ref.eval(), ours.eval()
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)
    ref.train(), ours.train()
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("paths,cin,cout,g,r,L", [("K3+K5", 64, 64, 32, 16, 32), ("K3+K5+K7", 128, 128, 32, 16, 32),
                                                 ("K3+5x5g16", 64, 64, 8, 4, 8), ("K3+K5", 96, 96, 96, 16, 32)])
def test_parameter_formula(paths, cin, cout, g, r, L):
    """Params = sum_i (k_i^2 Cin Cout / G_i + 2 Cout) + C d + 2 d + d M C (Li et al., CVPR 2019, Sec. 3.1)."""
    layer = SKConv2d(cin, cout, paths=paths, groups=g, reduction=r, min_attn=L)
    spec = layer.spec
    d = max(cout // r, L)
    expected = sum(p.kernel ** 2 * cin * cout // (p.groups or g) + 2 * cout for p in spec.paths)
    expected += cout * d + 2 * d + d * spec.m * cout
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_attention_off_is_the_plain_sum_and_has_no_attention_params():
    torch.manual_seed(0)
    layer = SKConv2d(16, 16, paths="K3+K7", groups=4, attention=False).eval()
    x = torch.randn(2, 16, 7, 7)
    expected = layer.paths[0](x) + layer.paths[1](x)
    torch.testing.assert_close(layer(x), expected)
    assert layer.attn is None


def test_single_path_and_dilation_keep_size_and_stride_halves_it():
    for paths in ("K3", "K7", "K3+K5+K7"):
        layer = SKConv2d(8, 8, 2, paths=paths, groups=8, attention=len(parse_paths(paths)) > 1).eval()
        assert layer(torch.randn(1, 8, 9, 9)).shape == (1, 8, 5, 5)


def test_attention_capture_is_softmax_over_paths_and_off_by_default():
    layer = SKConv2d(16, 16, paths="K3+K5+K7", groups=4).eval()
    x = torch.randn(2, 16, 6, 6)
    layer(x)
    assert layer.attention_weights is None
    units = capture_attention(layer)
    assert units == [layer]
    layer(x)
    a = layer.attention_weights
    assert a.shape == (2, 3, 16)
    torch.testing.assert_close(a.sum(1), torch.ones(2, 16))
    capture_attention(layer, False)
    assert layer.attention_weights is None


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(paths=[]), "M >= 1"),
    (dict(paths="K3+K9"), "K9"),
    (dict(paths="K3+K5", groups=3), "G=3"),
    (dict(paths="K3+K5", reduction=0), "r=0"),
    (dict(paths="K3+K5", min_attn=0), "L=0"),
    (dict(paths="K3+K5", stride=3), "stride 3"),
    (dict(paths=[(4, 1)]), "odd"),
])
def test_impossible_specs_raise_one_line_value_errors(kwargs, fragment):
    with pytest.raises(ValueError) as info:
        SKConv2d(40, 40, **kwargs)
    assert isinstance(info.value, SKMobileError)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_spec_round_trips_through_json_dict():
    spec = SKSpec(paths=["K3", (5, 1, 64)], groups=32, reduction=8, min_attn=16, attention=False)
    again = SKSpec.from_dict(spec.to_dict())
    assert again == spec and again.kernels == "K3+5x5g64"
    with pytest.raises(SKMobileError, match="bogus"):
        SKSpec.from_dict({"bogus": 1})
