"""Complexity counting: conventions cross-checked against FlopCounterMode and fvcore, paper cells."""

import pytest
import torch
from torch import nn

import skmobile
from skmobile import SKConv2d, SKMobileError
from skmobile.profile import complexity, profile_model


def _tiny(name="sknet26", **kw):
    torch.manual_seed(0)
    return skmobile.create_model(name, stem="small", width_mult=0.25, num_classes=10, **kw)


def _torch_conv_linear_macs(model, size):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", ["sknet26", "resnext50_32x4d", "senet50"])
def test_conv_linear_macs_agree_with_torch_flop_counter(name):
    model = _tiny(name)
    c = complexity(model, 32, "paper")
    sk_select = sum(m.num_paths * m.out_channels * _out_hw(model, m, 32) for m in model.modules()
                    if isinstance(m, SKConv2d) and m.attn is not None)
    assert c.macs - sk_select == _torch_conv_linear_macs(model, 32)
    assert complexity(model, 32, "torch").macs == _torch_conv_linear_macs(model, 32)


def _out_hw(model, unit, size):
    shapes = []
    h = unit.register_forward_hook(lambda m, i, o: shapes.append(o.shape[-2] * o.shape[-1]))
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    h.remove()
    return shapes[0]


def test_paper_bn_adds_one_mac_per_bn_output_element():
    model = _tiny()
    bn_elems = []
    hooks = [m.register_forward_hook(lambda m, i, o: bn_elems.append(o.numel()))
             for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert complexity(model, 32, "paper+bn").macs - complexity(model, 32, "paper").macs == sum(bn_elems)


def test_fvcore_counts_convs_like_torch_and_lists_what_it_skipped():
    model = _tiny()
    c = complexity(model, 32, "fvcore")
    conv_linear = _torch_conv_linear_macs(model, 32)
    assert c.macs >= conv_linear  # fvcore also counts BN and pooling
    assert c.macs < conv_linear * 1.1
    assert any("softmax" in op for op in c.skipped_ops) and any("mul" in op for op in c.skipped_ops)


def test_per_layer_breakdown_sums_to_total():
    c = profile_model("sknet50")
    assert sum(layer.macs for layer in c.layers) == c.macs
    assert any(layer.kind == "SKConv2d" for layer in c.layers)


# The ten GFLOPs cells the SKNet authors computed themselves (Li et al., CVPR 2019, Tables 2, 3, 6, 7; their
# ResNeXt/SENet cells were copied from the SENet paper), under the paper convention.
PAPER_CELLS = [
    ("sknet50", {"sk": {"paths": "K3+K5", "attention": False}}, 4.46),
    ("sknet50", {}, 4.47),
    ("sknet50", {"sk": {"paths": "K3+K7"}}, 4.47),
    ("sknet50", {"sk": {"paths": "K3+K5+K7", "attention": False}}, 4.69),
    ("sknet50", {"sk": {"paths": "K3+K5+K7"}}, 4.70),
    ("sknet50", {"sk": {"paths": "K3+5x5g64"}}, 4.56),
    ("sknet50", {"sk": {"paths": "K3+7x7g128"}}, 4.55),
    ("resnext50_36x4d", {}, 4.70),
    ("resnext56_32x4d", {}, 4.67),
    ("sknet101", {}, 8.46),
]


@pytest.mark.parametrize("name,kw,gflops", PAPER_CELLS)
def test_authors_gflops_cells_round_to_the_paper(name, kw, gflops):
    assert round(profile_model(name, **kw).macs / 1e9, 2) == gflops


@pytest.mark.parametrize("name,gflops", [("resnext50_32x4d", 4.24), ("resnext101_32x4d", 7.99),
                                         ("senet50", 4.25), ("senet101", 8.00)])
def test_senet_copied_baselines_follow_paper_plus_bn(name, gflops):
    assert round(profile_model(name, convention="paper+bn").macs / 1e9, 2) == gflops


def test_bn_stats_option_adds_running_statistics():
    c = profile_model("sknet50", bn_stats=True)
    assert c.params_counted == c.params + c.bn_stats and c.bn_stats == 84_544


def test_bad_convention_and_meta_model_for_traced_counters():
    with pytest.raises(SKMobileError, match="allowed: paper"):
        profile_model("sknet26", convention="flops")
    with torch.device("meta"):
        model = skmobile.create_model("sknet26")
    with pytest.raises(SKMobileError, match="meta"):
        complexity(model, 224, "fvcore")
