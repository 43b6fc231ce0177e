"""ShuffleNetV2 and MobileNetV2/V1 with SK and SE: exact layouts, the paper's Table 4 deltas, proxies."""

import pytest
import timm
import torch
import torchvision
from torch import nn

from skmobile.errors import SKMobileError
from skmobile.layers import SKConv2d, SqueezeExcite
from skmobile.models import create_model, list_models
from skmobile.models.shufflenetv2 import channel_shuffle
from skmobile.paper import paper_rows
from skmobile.profile import complexity
from skmobile.specs import SKSpec


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def shapes(model: nn.Module) -> list:
    return [tuple(p.shape) for p in model.parameters()]


TV = {
    "shufflenetv2_x0_5": lambda: torchvision.models.shufflenet_v2_x0_5(),
    "shufflenetv2_x1_0": lambda: torchvision.models.shufflenet_v2_x1_0(),
    "shufflenetv2_x1_5": lambda: torchvision.models.shufflenet_v2_x1_5(),
    "shufflenetv2_x2_0": lambda: torchvision.models.shufflenet_v2_x2_0(),
    "mobilenetv2_100": lambda: torchvision.models.mobilenet_v2(),
    "mobilenetv2_050": lambda: torchvision.models.mobilenet_v2(width_mult=0.5),
    "mobilenetv2_140": lambda: torchvision.models.mobilenet_v2(width_mult=1.4),
}


@pytest.mark.parametrize("name", sorted(TV))
def test_base_layout_is_torchvisions(name):
    ours, theirs = create_model(name), TV[name]()
    assert n_params(ours) == n_params(theirs)
    assert shapes(ours) == shapes(theirs)  # same tensors in the same order: weights map one to one


def test_exact_param_counts():
    assert n_params(create_model("shufflenetv2_x0_5")) == 1_366_792
    assert n_params(create_model("shufflenetv2_x1_0")) == 2_278_604
    assert n_params(create_model("mobilenetv2_100")) == 3_504_872
    assert n_params(create_model("mobilenetv1_100")) == 4_231_976  # MobileNetV1 paper: 4.2M
    assert n_params(create_model("mobilenetv2_100_sk")) == 4_532_360


def _paper_deltas():
    rows = [r for r in paper_rows(4) if not r.get("reference_only")]
    base = {r["width"]: r["params_m"] for r in rows if r["variant"] == "base"}
    return [(r["width"], r["variant"], round(r["params_m"] - base[r["width"]], 4))
            for r in rows if r["variant"] != "base"]


EXACT_DELTA = {(0.5, "sk"): 75_304, (1.0, "sk"): 180_806, (0.5, "se"): 160_928, (1.0, "se"): 201_320}


@pytest.mark.parametrize("width,variant,paper_delta", _paper_deltas())
def test_sk_se_param_deltas_match_the_paper(width, variant, paper_delta):
    tag = {0.5: "x0_5", 1.0: "x1_0"}[width]
    delta = n_params(create_model(f"shufflenetv2_{tag}_{variant}")) - n_params(create_model(f"shufflenetv2_{tag}"))
    assert delta == EXACT_DELTA[(width, variant)]
    assert abs(delta / 1e6 - paper_delta) <= 0.02


def test_sk_placement_and_downsample_switch():
    base = n_params(create_model("shufflenetv2_x0_5"))
    for mode, units, delta in ((False, 13, 75_304), (True, 16, 93_472), ("both", 19, 111_640)):
        m = create_model("shufflenetv2_x0_5_sk", sk_downsample=mode)
        sk = [u for u in m.modules() if isinstance(u, SKConv2d)]
        assert len(sk) == units and n_params(m) - base == delta
        assert all(u.spec.groups == u.in_channels == u.out_channels for u in sk)  # depthwise: G = C
        assert sum(u.stride == 2 for u in sk) == units - 13 and m.config["sk_downsample"] == mode
    with pytest.raises(SKMobileError):
        create_model("shufflenetv2_x0_5_sk", sk_downsample="yes")


def test_se_placement():
    m = create_model("shufflenetv2_x0_5_se")
    se = [u for u in m.modules() if isinstance(u, SqueezeExcite)]
    assert len(se) == 17  # 16 units + conv5
    assert m.head_se.fc1.out_channels == 64  # 1024 / 16
    assert all(u.fc1.out_channels >= 16 for u in se)


def test_table4_macs_paper_convention():
    b = complexity(create_model("shufflenetv2_x0_5"), 224)
    sk = complexity(create_model("shufflenetv2_x0_5_sk"), 224)
    assert b.macs == 40_476_448  # torchvision ShuffleNetV2 0.5x, conv + fc
    assert sk.macs - b.macs == 1_567_392  # second DW path + attention FCs + 2 per SK output element


def test_channel_shuffle_is_torchvisions_and_rank4():
    from torchvision.models.shufflenetv2 import channel_shuffle as tv_shuffle

    x = torch.randn(2, 12, 3, 5)
    assert torch.equal(channel_shuffle(x, 2), tv_shuffle(x, 2))


def test_sk_hyperparameters_reach_every_unit():
    spec = {"paths": "K3+K5+K7", "reduction": 8, "min_attn": 16, "attention": True}
    for name in ("shufflenetv2_x0_5_sk", "mobilenetv2_050_sk", "mobilenetv1_050_sk"):
        m = create_model(name, sk=spec)
        units = [u for u in m.modules() if isinstance(u, SKConv2d)]
        assert units and all(u.num_paths == 3 and u.spec.reduction == 8 and u.spec.min_attn == 16 for u in units)
        assert all(u.attn.fc_reduce.out_channels == max(u.out_channels // 8, 16) for u in units)
        assert m.config["sk"]["paths"] == "K3+K5+K7"
    for name in ("shufflenetv2_x0_5_sk", "mobilenetv2_050_sk", "mobilenetv1_050_sk"):  # partial: merged
        units = [u for u in create_model(name, sk={"reduction": 8}).modules() if isinstance(u, SKConv2d)]
        assert all(u.spec.kernels == "K3+K5" and u.spec.reduction == 8 and u.spec.min_attn == 32 for u in units)
    m = create_model("shufflenetv2_x0_5_sk", sk=SKSpec(attention=False))
    assert all(u.attn is None for u in m.modules() if isinstance(u, SKConv2d))
    assert n_params(m) < n_params(create_model("shufflenetv2_x0_5_sk"))


def test_mobilenet_sk_replaces_every_depthwise():
    v2 = create_model("mobilenetv2_100_sk")
    units = [u for u in v2.modules() if isinstance(u, SKConv2d)]
    assert len(units) == 17
    assert not any(isinstance(c, nn.Conv2d) and c.groups > 1 and c.kernel_size == (3, 3)
                   for name, c in v2.named_modules() if ".paths." not in name)
    assert all(isinstance(p.act, nn.ReLU6) for u in units for p in u.paths)  # V2 keeps ReLU6
    v1 = create_model("mobilenetv1_100_sk")
    units = [u for u in v1.modules() if isinstance(u, SKConv2d)]
    assert len(units) == 13 and all(type(p.act) is nn.ReLU for u in units for p in u.paths)


PROXIES = ["shufflenetv2_x0_5", "shufflenetv2_x0_5_se", "shufflenetv2_x1_0_sk", "mobilenetv2_100_se",
           "mobilenetv2_050_sk", "mobilenetv1_050", "mobilenetv1_100_sk"]


@pytest.mark.parametrize("name", PROXIES)
def test_small_stem_proxy_forward_backward(name):
    m = create_model(name, stem="small", width_mult=0.5, num_classes=10, in_chans=1, drop_rate=0.1)
    assert m.config["stem"] == "small"
    x = torch.randn(2, 1, 28, 28)
    out = m(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    m.eval()
    assert m(torch.randn(1, 1, 32, 32)).shape == (1, 10)


def test_width_mult_shrinks_and_stem_small_keeps_resolution():
    full, half = create_model("shufflenetv2_x1_0"), create_model("shufflenetv2_x1_0", width_mult=0.5)
    assert n_params(half) < n_params(full) / 2
    m = create_model("shufflenetv2_x0_5", stem="small").eval()
    assert m.forward_features(torch.randn(1, 3, 32, 32)).shape[-1] == 4  # 32 / 8 (no conv1 stride, no pool)
    m = create_model("mobilenetv2_050", stem="small").eval()
    assert m.forward_features(torch.randn(1, 3, 32, 32)).shape[-1] == 2  # 32 / 16


def test_registered_in_skmobile_and_timm():
    names = set(list_models())
    for w in ("x0_5", "x1_0", "x1_5", "x2_0"):
        assert {f"shufflenetv2_{w}", f"shufflenetv2_{w}_se", f"shufflenetv2_{w}_sk"} <= names
    for w in ("100", "050", "075", "140"):
        assert {f"mobilenetv2_{w}", f"mobilenetv2_{w}_se", f"mobilenetv2_{w}_sk"} <= names
    for w in ("100", "050"):
        assert {f"mobilenetv1_{w}", f"mobilenetv1_{w}_se", f"mobilenetv1_{w}_sk"} <= names
    m = timm.create_model("shufflenetv2_x1_0_sk", num_classes=7)
    assert m.fc.out_features == 7 and any(isinstance(u, SKConv2d) for u in m.modules())
    assert timm.create_model("mobilenetv2_100_sk", pretrained=False).fc.out_features == 1000
    # timm's own names are left alone
    assert type(timm.create_model("mobilenetv2_100")).__module__.startswith("timm.")


def test_bad_arguments_are_one_line_errors():
    for kwargs in ({"stem": "huge"}, {"width_mult": 0}, {"block": "cbam"}):
        with pytest.raises(SKMobileError):
            create_model("shufflenetv2_x0_5", **kwargs)
        with pytest.raises(SKMobileError):
            create_model("mobilenetv2_100", **kwargs)
    from skmobile.models.shufflenetv2 import ShuffleNetV2

    with pytest.raises(SKMobileError):
        ShuffleNetV2(width=0.75)


def test_shufflenet_stem_stride_halves_the_maps_not_the_params():
    one = create_model("shufflenetv2_x0_5_sk", stem="small", num_classes=10, in_chans=1).eval()
    two = create_model("shufflenetv2_x0_5_sk", stem="small", stem_stride=2, num_classes=10, in_chans=1).eval()
    x = torch.randn(1, 1, 28, 28)
    assert one.forward_features(x).shape[-1] == 4 and two.forward_features(x).shape[-1] == 2  # 28/7, 14/7
    assert n_params(one) == n_params(two) and two.config["stem_stride"] == 2
    assert complexity(two, 28).macs < complexity(one, 28).macs / 3
    with pytest.raises(SKMobileError, match="stem_stride"):
        create_model("shufflenetv2_x0_5", stem="small", stem_stride=3)
