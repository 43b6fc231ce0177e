"""The ResNeXt/SENet/SKNet family: exact counts, timm registry, proxy forms, fusion reaching SK units."""

import pytest
import timm
import torch

import skmobile
from skmobile import SKConv2d, SKMobileError
from skmobile.profile import count_params


def _params_on_meta(name, **kw):
    with torch.device("meta"):
        return count_params(skmobile.create_model(name, **kw))[0]


@pytest.mark.parametrize("name,expected", [
    ("sknet50", 27_479_784), ("resnext50_32x4d", 25_028_904), ("sknet101", 48_736_040),
    ("resnext101_32x4d", 44_177_704), ("senet50", 27_559_896),
])
def test_exact_parameter_counts(name, expected):
    assert _params_on_meta(name) == expected


def test_sknet50_has_the_authors_count_which_timm_skresnext50_also_has():
    with torch.device("meta"):
        ref = timm.create_model("skresnext50_32x4d")
    assert _params_on_meta("sknet50") == sum(p.numel() for p in ref.parameters())


def test_three_path_sknet_and_table6_variants():
    assert _params_on_meta("sknet50", sk={"paths": "K3+K5+K7"}) == 29_249_512
    assert _params_on_meta("sknet50", sk={"paths": "K3+5x5g64"}) == 28_029_928
    assert _params_on_meta("sknet50", sk={"paths": "K3+K5", "attention": False}) == 26_458_664


def test_timm_registry_gets_free_names_and_keeps_its_own():
    assert type(timm.create_model("sknet26", num_classes=5)).__module__ == "skmobile.models.resnext"
    assert type(timm.create_model("resnext50_32x4d")).__module__.startswith("timm.")
    assert type(skmobile.create_model("resnext50_32x4d")).__module__ == "skmobile.models.resnext"
    with pytest.raises(SKMobileError, match="pretrained"):
        timm.create_model("sknet26", pretrained=True)


def test_unknown_model_is_a_one_line_error_naming_close_matches():
    with pytest.raises(SKMobileError, match="sknet50") as info:
        skmobile.create_model("sknet05")
    assert "\n" not in str(info.value)


def test_fusion_kwarg_reaches_every_sk_unit():
    model = skmobile.create_model("sknet26", fusion="torch", stem="small", width_mult=0.25, num_classes=3)
    units = [m for m in model.modules() if isinstance(m, SKConv2d)]
    assert len(units) == 8 and all(u.fusion == "torch" for u in units)
    with pytest.raises(SKMobileError, match="fusion"):
        skmobile.create_model("sknet26", fusion="cuda-magic")


def test_small_input_proxy_trains_a_step():
    torch.manual_seed(0)
    model = skmobile.create_model("sknet50", stem="small", width_mult=0.125, depth_mult=0.34,
                                  in_chans=1, num_classes=10)
    assert model.config["layers"] == [1, 1, 2, 1]
    x, y = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and model(x).shape == (4, 10)


@pytest.mark.parametrize("name,paper_m", [("resnext29_8x64d", 34.4), ("resnext29_16x64d", 68.1),
                                          ("resnext29_16x32d", 25.2), ("senet29_8x64d", 35.0)])
def test_cifar_family_counts_are_within_half_a_percent_of_table5(name, paper_m):
    measured = _params_on_meta(name, num_classes=10) / 1e6
    assert abs(measured - paper_m) / paper_m < 0.005


def test_partial_sk_dict_overrides_only_the_keys_it_names():
    """Issue 14: a partial ``sk=`` keeps the model's other SK defaults (sknet29's G=16, r, L); a
    complete SKSpec replaces them."""
    from skmobile.specs import SKSpec

    m = skmobile.create_model("sknet29", sk={"paths": "K3+K7"})
    units = [u for u in m.modules() if isinstance(u, SKConv2d)]
    assert units and all(u.spec.kernels == "K3+K7" and u.spec.groups == 16 for u in units)
    assert m.sk_spec == skmobile.create_model("sknet29").sk_spec.replace(paths="K3+K7")
    assert skmobile.create_model("sknet29", sk={"reduction": 8}).sk_spec.groups == 16
    assert skmobile.create_model("sknet29", sk=SKSpec(paths="K3+K7")).sk_spec.groups == 32  # replaced in full
    assert skmobile.create_model("sknet50", sk={"groups": 16}).sk_spec.kernels == "K3+K5"
    with pytest.raises(SKMobileError, match="unknown SK spec field"):
        skmobile.create_model("sknet29", sk={"group": 8})


def test_registry_says_which_families_have_depthwise_sk():
    from skmobile.models import family_of, list_models, model_families

    families = model_families()
    assert {"sknet", "sknet-cifar", "shufflenetv2", "mobilenetv2", "mobilenetv1"} <= set(families)
    assert families == sorted({skmobile.models.model_entry(n).family for n in list_models()})
    assert not family_of("sknet50").depthwise_sk and not family_of("sknet29").depthwise_sk
    for name in ("shufflenetv2_x0_5_sk", "mobilenetv2_050_sk", "mobilenetv1_050_sk"):
        assert family_of(name).depthwise_sk
    with pytest.raises(SKMobileError, match="unknown model"):
        family_of("nosuch")


@pytest.mark.parametrize("name, kwargs, says", [
    ("sknet50", {"attn": "se"}, "model 'sknet50' sets 'attn' itself"),
    ("sknet50", {"layers": (1, 1, 1, 1)}, "model 'sknet50' sets 'layers' itself"),
    ("shufflenetv2_x1_0_sk", {"block": "se"}, "model 'shufflenetv2_x1_0_sk' sets 'block' itself"),
    ("mobilenetv2_050", {"atn": "se"}, "model 'mobilenetv2_050' takes no argument 'atn'"),
])
def test_a_bad_keyword_is_one_line_naming_it_and_what_the_model_accepts(name, kwargs, says):
    with pytest.raises(SKMobileError) as exc:
        skmobile.create_model(name, **kwargs)
    text = str(exc.value)
    assert text.startswith(says) and "\n" not in text
    allowed = text.split("allowed: ", 1)[1].split(", ")
    assert "num_classes" in allowed and list(kwargs)[0] not in allowed
    with torch.device("meta"):  # what the message allows is taken
        skmobile.create_model(name, num_classes=10, drop_rate=0.1)
