"""Attention vs object scale on a tiny SK model with tiny synthetic scaled data."""

import json

import numpy as np
import torch
from torch import nn

from skmobile import SKConv2d
from skmobile.report import attention as att


class ScaledSquares(torch.utils.data.Dataset):
    """A bright square of side scale * 16 on a 16x16 canvas; ``scales`` per sample."""

    def __init__(self, n=48, seed=0):
        rng = np.random.default_rng(seed)
        self.scales = rng.uniform(0.3, 1.0, n)
        self.x = torch.zeros(n, 1, 16, 16)
        for i, s in enumerate(self.scales):
            k = max(1, int(round(s * 16)))
            o = (16 - k) // 2
            self.x[i, :, o:o + k, o:o + k] = 1.0
        self.y = torch.zeros(n, dtype=torch.long)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), SKConv2d(8, 8, paths="K3+K5", groups=4, min_attn=4),
                         SKConv2d(8, 8, stride=2, paths="K3+K7", groups=4, min_attn=4),
                         SKConv2d(8, 8, paths="K3+K5", groups=4, attention=False),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def test_attention_differences_per_unit_and_bins(tmp_path):
    data = ScaledSquares()
    model = _model()
    meta, scales = att.attention_differences(model, torch.utils.data.Subset(data, range(40)), batch_size=16)
    assert [m["larger"] for m in meta] == ["3x3 d2", "3x3 d3"]  # the attention-free unit is skipped
    assert all(m["values"].shape == (40,) and np.all(np.abs(m["values"]) <= 1) for m in meta)
    assert np.allclose(scales, data.scales[:40])
    assert all(u.attention_weights is None and not u.capture_attention
               for u in model.modules() if isinstance(u, SKConv2d))
    res = att.analyze(meta, scales, bins=4, lo=0.3, hi=1.0)
    assert len(res["units"]) == 2 and res["bins"] == [0.3, 0.475, 0.65, 0.825, 1.0]
    assert sum(b["n"] for b in res["units"][0]["bins"]) == 40
    paths = att.write(res, tmp_path, "tiny", "test")
    assert sorted(p.name for p in paths) == ["attention.json", "attention.md", "attention.png", "attention.svg"]
    first = (tmp_path / "attention.json").read_bytes()
    md = (tmp_path / "attention.md").read_text()
    assert md.count("\n| 0 |") + md.count("\n| 1 |") == 2 and "3x3 d2 - 3x3" in md
    att.write(att.analyze(*att.attention_differences(model, torch.utils.data.Subset(data, range(40)), batch_size=16),
                          bins=4, lo=0.3, hi=1.0), tmp_path, "tiny", "test")
    assert (tmp_path / "attention.json").read_bytes() == first
    assert json.loads(first)["n_samples"] == 40


def test_trend_verdicts_on_planted_differences():
    rng = np.random.default_rng(1)
    s = rng.uniform(0.3, 1.0, 300)
    meta = [{"index": i, "name": f"u{i}", "larger": "3x3 d2", "smaller": "3x3", "channels": 8, "stride": 1,
             "values": v} for i, v in enumerate((0.4 * s + rng.normal(0, 0.02, 300),
                                                 -0.4 * s + rng.normal(0, 0.02, 300),
                                                 rng.normal(0, 0.02, 300)))]
    res = att.analyze(meta, s, bins=5)
    assert [u["trend"] for u in res["units"]] == ["rises with scale", "falls with scale", "no significant trend"]
    assert res["units_rising"] == 1 and res["units_falling"] == 1
    b = res["units"][0]["bins"]
    assert b[0]["mean"] < b[-1]["mean"]


def test_scales_follow_a_subset_and_missing_scales_is_clear():
    data = ScaledSquares(n=10)
    sub = torch.utils.data.Subset(data, [3, 1])
    assert np.allclose(att.dataset_scales(sub), data.scales[[3, 1]])
    try:
        att.dataset_scales(torch.utils.data.TensorDataset(torch.zeros(2, 1)))
    except ValueError as exc:
        assert "fashion-mnist-scale" in str(exc)
    else:
        raise AssertionError("expected ValueError")
