"""The paper's attention protocol on tiny models: centre enlargement, one unit per stage, the same
images paired across factors, averages per class and over models, the across-model test, the CLI."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats as st
from torch import nn

from skmobile import SKConv2d
from skmobile.report import attention as att


class Blocks(torch.utils.data.Dataset):
    """A bright square of random side on a 16x16 canvas; label = side // 4 (4 classes)."""

    def __init__(self, n=30, seed=0):
        rng = np.random.default_rng(seed)
        self.x = torch.zeros(n, 1, 16, 16)
        self.y = torch.zeros(n, dtype=torch.long)
        for i in range(n):
            k = int(rng.integers(2, 16))
            o = int(rng.integers(0, 16 - k + 1))
            self.x[i, :, o:o + k, o:o + k] = 1.0
            self.y[i] = min(k // 4, 3)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), SKConv2d(8, 8, paths="K3+K5", groups=4, min_attn=4),
                         SKConv2d(8, 8, paths="K3+K7", groups=4, min_attn=4),
                         SKConv2d(8, 8, stride=2, paths="K3+K7", groups=4, min_attn=4),
                         SKConv2d(8, 8, paths="K3+K5", groups=4, attention=False),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()


def test_enlarge_centre_crops_and_resizes_back():
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 2:6, 2:6] = 1.0  # the central half is bright
    assert att.enlarge_centre(x, 1.0) is x
    big = att.enlarge_centre(x, 2.0)
    assert big.shape == x.shape and torch.allclose(big, torch.ones_like(big))  # the centre now fills the image
    y = torch.randn(3, 2, 12, 12)
    want = F.interpolate(y[..., 2:10, 2:10], size=(12, 12), mode="bilinear", align_corners=False)  # 12/1.5 = 8
    torch.testing.assert_close(att.enlarge_centre(y, 1.5), want)
    with pytest.raises(ValueError):
        att.enlarge_centre(y, 0.5)


def test_one_unit_per_stage_is_the_last_at_each_resolution():
    units = att.stage_units(_model(), torch.zeros(1, 1, 16, 16))
    # 16 px: units 0 and 1 -> the last (1); 8 px: unit 2 (unit 3 has no attention)
    assert [(u["stage"], u["index"], u["map_size"]) for u in units] == [(1, 1, 16), (2, 2, 8)]
    assert [(u["larger"], u["smaller"]) for u in units] == [("3x3 d3", "3x3"), ("3x3 d3", "3x3")]
    assert [u["larger_extent"] for u in units] == [7, 7]


def _by_hand(model, x, factor, unit_index):
    """Channel-mean large-minus-small attention of one image, computed alone."""
    units = [m for m in model.modules() if isinstance(m, SKConv2d)]
    u = units[unit_index]
    u.capture_attention = True
    with torch.no_grad():
        model(att.enlarge_centre(x.unsqueeze(0), factor))
    w = u.attention_weights[0]
    u.capture_attention, u.attention_weights = False, None
    return float((w[1] - w[0]).mean())


def test_measure_pairs_the_same_images_across_factors():
    data, model = Blocks(), _model()
    a = att.measure_model(model, data, 4, factors=(1.0, 1.0, 2.0), batch_size=7)
    b = att.measure_model(model, data, 4, factors=(1.0, 1.0, 2.0), batch_size=30)
    assert len(a) == 2
    for ua, ub in zip(a, b):
        assert ua["per_channel"].shape == (3, 8) and ua["per_class"].shape == (3, 4) and ua["per_image"].shape == (3, 30)
        np.testing.assert_allclose(ua["per_image"], ub["per_image"], atol=1e-6)  # batching does not reorder
        np.testing.assert_array_equal(ua["per_image"][0], ua["per_image"][1])   # 1.0x twice: identical pairs
        assert not np.allclose(ua["per_image"][2], ua["per_image"][0])
        # per-class and per-channel averages agree with the per-image values
        for k in range(4):
            sel = data.y.numpy() == k
            np.testing.assert_allclose(ua["per_class"][2, k], ua["per_image"][2, sel].mean(), atol=1e-6)
        np.testing.assert_allclose(ua["per_channel"][2].mean(), ua["per_image"][2].mean(), atol=1e-6)
        assert ua["class_counts"].sum() == 30
    for i in (0, 11, 29):  # image i at 2.0x, alone, gives the value stored at position i
        assert a[0]["per_image"][2, i] == pytest.approx(_by_hand(model, data.x[i], 2.0, 1), abs=1e-5)
        assert a[1]["per_image"][0, i] == pytest.approx(_by_hand(model, data.x[i], 1.0, 2), abs=1e-5)
    assert all(not m.capture_attention for m in model.modules() if isinstance(m, SKConv2d))


def test_combine_averages_over_models_and_tests_across_models():
    data = Blocks()
    per_model = [att.measure_model(_model(s), data, 4, batch_size=16) for s in range(3)]
    res = att.combine_models(per_model, att.FACTORS, ["a", "b", "c", "d"])
    assert res["models"] == 3 and len(res["stages"]) == 2 and res["holm_family"] == 4
    for s, stage in enumerate(res["stages"]):
        mean_curve = np.mean([pm[s]["per_channel"] for pm in per_model], axis=0)
        np.testing.assert_allclose(stage["per_channel_mean"], mean_curve, atol=1e-5)
        for j, change in zip((1, 2), stage["changes"]):
            per_model_change = [pm[s]["per_image"][j].mean() - pm[s]["per_image"][0].mean() for pm in per_model]
            np.testing.assert_allclose(change["per_model"], per_model_change, atol=1e-5)
            assert change["p"] == pytest.approx(st.ttest_1samp(per_model_change, 0).pvalue, rel=1e-3)
            assert change["p_holm"] >= change["p"]
            lo, hi = change["ci95"]
            assert lo < change["mean"] < hi
    one = att.combine_models(per_model[:1], att.FACTORS)
    assert all(e["verdict"].startswith("not tested (1 model") for st_ in one["stages"] for e in st_["changes"])
    other = [att.measure_model(nn.Sequential(nn.Conv2d(1, 8, 3, padding=1),
                                             SKConv2d(8, 8, paths="K3+K5", groups=4, min_attn=4)).eval(), data, 4)]
    with pytest.raises(ValueError, match="other SK stage units"):
        att.combine_models(per_model[:1] + other, att.FACTORS)


def _planted(effects):
    """Fake measurements: one stage unit, per model a per-image change of the given size."""
    rng = np.random.default_rng(0)
    out = []
    for e in effects:
        base = rng.normal(0, 0.01, 50)
        per_image = np.stack([base, base + e / 2, base + e])
        out.append([{"stage": 1, "index": 0, "name": "u", "larger": "3x3 d2", "smaller": "3x3", "channels": 2,
                     "larger_extent": 5, "map_size": 8, "per_channel": np.zeros((3, 2)), "per_class": np.zeros((3, 2)),
                     "class_counts": np.array([25, 25]), "per_image": per_image}])
    return out


def test_verdicts_count_models_not_images():
    rises = att.combine_models(_planted([0.05, 0.06, 0.04, 0.05]))
    assert [e["verdict"] for e in rises["stages"][0]["changes"]] == ["rises", "rises"]
    mixed = att.combine_models(_planted([0.05, -0.06, 0.04]))
    assert [e["verdict"] for e in mixed["stages"][0]["changes"]] == ["no change detected"] * 2
    falls = att.combine_models(_planted([-0.05, -0.06, -0.04]))
    assert falls["stages"][0]["changes"][1]["verdict"] == "falls"
    assert falls["stages"][0]["changes"][1]["images_rising"] == [0.0, 0.0, 0.0]


def test_quality_note_only_near_chance():
    assert att.quality_note(14.42, 10) == ""
    assert "near chance" in att.quality_note(89.5, 10) and "90 %" in att.quality_note(89.5, 10)
    assert att.quality_note(None, 10) == ""


def test_markdown_has_provenance_and_no_false_chance_sentence(tmp_path):
    res = att.combine_models(_planted([0.05, 0.06, 0.04]), classes=["x", "y"])
    res.update(dataset="fashion-mnist-canvas", n_images=50, checkpoints=[
        {"path": f"runs/m{i}", "sha256": f"{i}" * 64, "model": "sknet50", "dataset": "fashion-mnist-canvas",
         "seed": i, "epochs": 3, "test_error": 14.42 if i else 89.9, "num_classes": 10,
         "command": f"skmobile train sknet50 --seed {i}", "command_recorded": i != 2} for i in range(3)])
    paths = att.write(res, tmp_path, "skmobile analyze attention runs/m0 runs/m1 runs/m2")
    assert sorted(p.name for p in paths) == ["attention.json", "attention.md", "attention.png", "attention.svg"]
    md = (tmp_path / "attention.md").read_text()
    assert md.count("near chance") == 1 and "Model 1: near chance" in md
    assert "`skmobile train sknet50 --seed 1`" in md and "(reconstructed from state.json)" in md
    assert "| 1 | `u` | 3x3 d2 - 3x3 | 8 | 2 | 1.5x vs 1x |" in md and "rises" in md
    assert json.loads((tmp_path / "attention.json").read_text())["models"] == 3
    assert "footprint" not in md  # an 8 px map holds the 5 px path
    assert "Verdicts over 1 stages x 2 enlargements (3 models): rises 2." in md


def test_padding_note_names_maps_smaller_than_the_larger_path():
    stages = [{"stage": 1, "map_size": 14, "larger": "3x3 d2", "larger_extent": 5},
              {"stage": 4, "map_size": 2, "larger": "3x3 d2", "larger_extent": 5},
              {"stage": 5, "map_size": 5, "larger": "3x3 d2", "larger_extent": 5}]
    note = att.padding_note(stages)
    assert "stage 4 (2 px map, 3x3 d2 spans 5 px)" in note and "stage 1" not in note and "stage 5" not in note
    assert att.padding_note(stages[:1]) == "" and att.padding_note([{"stage": 1, "map_size": 2}]) == ""


# --- the CLI on untrained tiny sknet50 proxy checkpoints ------------------------------------------------

def _checkpoints(tmp_path, fmnist_dir, seeds):
    from skmobile.data import make_loaders
    from skmobile.train import build_proxy_model
    from skmobile.train.checkpoint import save_checkpoint

    loaders = make_loaders("fashion-mnist", fmnist_dir, val_size=0, batch_size=8)
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_proxy_model("sknet50", loaders, "trial")
        d = tmp_path / f"ck{seed}"
        save_checkpoint(d, model, None, {"model": "sknet50", "model_kwargs": model.skmobile_kwargs,
                                         "dataset": "fashion-mnist", "seed": seed, "epochs": 0, "epochs_done": 0,
                                         "batch_size": 8, "lr": 0.1, "test_error": 90.0,
                                         "meta": {"command": f"skmobile train sknet50 --seed {seed}"}})
        out.append(d)
    return out


def test_cli_attention_over_three_checkpoints(tmp_path, cli):
    from test_data import write_fmnist

    fm = write_fmnist(tmp_path / "fm")
    cks = _checkpoints(tmp_path, fm, (0, 1, 2))
    rep = tmp_path / "rep"
    code, out, err = cli(["analyze", "attention", *map(str, cks), "--data-dir", str(fm), "--limit", "12",
                           "--out", str(rep)])
    assert code in (0, None), err
    res = json.loads((rep / "attention.json").read_text())
    assert res["models"] == 3 and res["n_images"] == 12 and res["factors"] == [1.0, 1.5, 2.0]
    assert [c["seed"] for c in res["checkpoints"]] == [0, 1, 2] and all(c["sha256"] for c in res["checkpoints"])
    assert res["checkpoints"][0]["command"] == "skmobile train sknet50 --seed 0"
    fits = [st for st in res["stages"] if st["map_size"] >= st["larger_extent"]]  # the others: not testable
    assert len(res["stages"]) >= 2 and res["holm_family"] == 2 * len(fits)
    assert all(e["verdict"].startswith("not testable on this proxy") for st in res["stages"] if st not in fits
               for e in st["changes"])
    md = (rep / "attention.md").read_text()
    assert md.count("near chance") == 3  # untrained: 90 % error on 10 classes is chance, and says so

    code, _, err = cli(["analyze", "attention", str(cks[0]), str(cks[0]), "--data-dir", str(fm),
                         "--out", str(rep)])
    assert code == 2 and "same weights" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(["analyze", "attention", str(cks[0]), "--factors", "1.5,2", "--out", str(rep)])
    assert code == 2 and "must hold 1.0" in err
    code, _, err = cli(["analyze", "attention", str(tmp_path / "nowhere"), "--out", str(rep)])
    assert code == 2 and "no checkpoint" in err
