"""Proxy recipes: the small-input form and training budgets of every family (README, "Proxy training").

Accuracy columns are measured on a real installable data set (Fashion-MNIST by default) with a
proxy model: the family's own layout with a small-input stem (3x3, no max-pool), shrunk with
width/depth multipliers. Complexity columns always describe the full 224 px, 1000-class model; every
trial records the proxy's own parameters, MACs and stage maps (:mod:`skmobile.train.proxy_shape`).

Map rule (the "table" budget of every family with paper-grid rows): every SK unit's output map is
at least 7 px, the footprint of the widest path an SK spec can name (K7 = 3x3 at dilation 3 and
Table 6's 7x7; K5 = 3x3 at dilation 2 spans 5 px), so every tap of the centre position falls on the
image, not on padding, as in the full model. The cheapest way to keep it is the full model's own
stage maps at 224 px: a 3x3/1 "small" stem fed images repeated k x k per pixel up to
``min_input`` (``input_upsample=k``; the 56 px ``fashion-mnist-canvas`` needs less):

- ResNeXt/SENet/SKNet: stages 56/28/14/7 px from 56 px (28 px images repeated 2x2);
- ShuffleNetV2: stages 28/14/7 px from 56 px (2x2), the full model's maps after its stem and max-pool;
- MobileNetV2/V1: blocks at 112/56/28/14/7 px from 112 px (4x4), the full model's maps after its stem.

:func:`skmobile.train.proxy_shape.map_rule_problems` checks it on a built proxy (tests/test_proxy_shape.py
checks every table-budget proxy).

The ResNeXt/SENet/SKNet proxy of the "table" budget also keeps each row's structure:

- Width 0.75 with the cardinality and every SK group count scaled by the same factor
  (``scale_groups``): each group keeps the full model's channels (4/8/16/32 per stage), so Table 6's
  5x5 G=64 and 7x7 G=128 rows become G=48 and G=96 and stay complexity-matched with the 3x3 G=32
  rows (G=24). Why 0.75: with the group width fixed, grouped convs shrink linearly with the width
  while the 1x1 convs shrink quadratically, so the large-kernel rows' extra cost grows as the width
  falls (``tools/proxy_match.py`` prints it per width; the paper's rows differ by 28.1 vs 27.5M).
  0.75 is the narrowest quarter-step width within 3% in parameters and MACs, with margin
  (tests/test_proxy_shape.py checks the built proxies).
- Depth 0.25 (blocks 1/1/2/1), SK paths, dilations and attention as the row gives them (L scaled
  with the width, so the attention width d keeps the full model's ratio to C).

The light families keep their widths (ShuffleNetV2 1.0, MobileNet 0.5 of the named width): their SK
units are depthwise (G = C), so every row already has the full model's channels per group.

These proxies are GPU workloads (the SKNet one about 1 GMAC per image), so only the "table" budget
uses them. The "trial" budget (searches, `make demo`, fast enough for 2 CPU cores) and the "default"
budget (``skmobile train`` for a quick run) train faster forms on 28 px images:

- ResNeXt/SENet/SKNet at quarter width, depth 0.25, with the cardinality, every SK group count and L
  scaled with the width as in the table budget (``scale_groups``; 4 channels per group in stage 1, as
  in the full model), and a stride-2 stem: stages at 14/7/4/2 px. Table 6's large-kernel rows stay
  within 6% of the 3x3 rows in parameters and MACs (``tools/proxy_match.py --budget trial --widths
  0.25``); the narrower width costs that margin over the table budget's 3%. The map rule holds in
  stages 1 and 2 only (2 of the 5 SK units): keeping it in stage 3 too takes a stride-1 stem
  (28/14/7/4 px) at about 4.4x the training cost (``tools/trial_cost.py``), beyond 2 CPU cores. Reports
  judge the comparisons whose distinguishing paths break it as not testable on this proxy.
- ShuffleNetV2 with a 3x3/1 stem (trial: 14/7/4 px; default: stride-2 stem, 7/4/2 px); the trial
  budget warms the learning rate up over half its epoch (:data:`LIGHT_TRIAL_WARMUP`).
- MobileNet with a 3x3/1 stem (28/14/7/4/2 px).

Every trial records its proxy's stage maps and every report row prints them.

Budgets: ``"default"`` (one full proxy run, ``skmobile train``), ``"trial"`` (one search trial:
10,000 images, one epoch) and ``"table"`` (the paper grids: all 55,000 training images, 8 epochs,
the full test set). The table budget's size is a first choice, not yet a measurement: it must give
each row a seed SD <= :data:`TABLE_SD_TARGET_PP`; `skmobile reproduce --table 7 --train --budget table
--seeds 5 --device cuda` measures it and prints every row's SD against the target. Weight decay:
1e-4 for ResNeXt/SENet/SKNet, 4e-5 for ShuffleNet/MobileNet (Li et al., CVPR 2019, Sec. 4).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..errors import SKMobileError, choose
from .optim import WD_LARGE, WD_LIGHT

BUDGETS = ("default", "trial", "table")
#: The seed standard deviation (percentage points of test error) the "table" budget must reach per row.
TABLE_SD_TARGET_PP = 0.25
#: The "table" budget's first choice (all training images, 8 epochs): to be confirmed by measurement.
TABLE_BUDGET = {"epochs": 8, "train_limit": None}


@dataclass(frozen=True)
class FamilyProxy:
    """How one family shrinks for small inputs, and its budgets."""

    family: str
    model_kwargs: dict
    weight_decay: float
    lr: float
    batch_size: int
    default: dict          # epochs, train_limit; optionally batch_size, lr, channels_last, model_kwargs,
    trial: dict            # and min_input (the input side the stages need; smaller images are repeated)
    table: dict = field(default_factory=lambda: dict(TABLE_BUDGET))
    note: str = ""

    def budget(self, name: str) -> dict:
        return {"default": self.default, "trial": self.trial, "table": self.table}[name]


#: ShuffleNetV2's trial warm-up (epochs): with fit's default (a tenth of the one epoch) plain ShuffleNetV2
#: at lr 0.1 per 64 images lands anywhere from 19% to 43% error by seed; a half-epoch ramp converges.
LIGHT_TRIAL_WARMUP = 0.5
#: The structure-keeping ResNeXt-family proxy of the table budget (see the module docstring).
RESNEXT_PROXY = {"stem": "small", "stem_stride": 1, "width_mult": 0.75, "depth_mult": 0.25, "scale_groups": True}
#: The quick form of the "trial" and "default" budgets: quarter width with cardinality, SK groups and L scaled
#: (4 channels per group in stage 1, as in the full model), stride-2 stem.
RESNEXT_QUICK = {"stem_stride": 2, "width_mult": 0.25, "scale_groups": True}
#: The widest footprint (px) any SK path can name: K7 (3x3, dilation 3) and 7x7. The map rule's minimum.
WIDEST_PATH_PX = 7
#: The input side the "table" budget feeds each family (28 px images are repeated up to it): the full
#: model's stage maps at 224 px, whose last is 7 px (see the module docstring).
TABLE_MIN_INPUT = {"resnext": 56, "shufflenetv2": 56, "mobilenetv2": 112, "mobilenetv1": 112}


def _mobilenet_proxy(family: str) -> FamilyProxy:
    """MobileNetV1 and V2 share one proxy recipe."""
    return FamilyProxy(
        family, {"stem": "small", "width_mult": 0.5}, WD_LIGHT, 0.1, 64,
        default={"epochs": 3, "train_limit": None}, trial={"epochs": 1, "train_limit": 10000},
        table={**TABLE_BUDGET, "min_input": TABLE_MIN_INPUT[family]},
        note="stride-1 stem, half width; table: input repeated to 112 px, blocks at 112, 56, 28, 14, 7 px (the "
             "full model's); trial and default: 28 px input, 28, 14, 7, 4, 2 px")


FAMILY_PROXIES = {
    "shufflenetv2": FamilyProxy(
        "shufflenetv2", {"stem": "small", "width_mult": 1.0}, WD_LIGHT, 0.1, 64,
        default={"epochs": 4, "train_limit": None, "batch_size": 128, "lr": 0.2, "channels_last": True,
                 "model_kwargs": {"stem_stride": 2}},
        trial={"epochs": 1, "train_limit": 10000, "warmup_epochs": LIGHT_TRIAL_WARMUP},
        table={**TABLE_BUDGET, "min_input": TABLE_MIN_INPUT["shufflenetv2"]},
        note="torchvision layout, 3x3/1 stem without max-pool; table: input repeated to 56 px, stages at 28, "
             "14, 7 px (the full model's); trial: 28 px input, 14, 7, 4 px; default: 3x3/2 stem, 7, 4, 2 px"),
    "mobilenetv2": _mobilenet_proxy("mobilenetv2"),
    "mobilenetv1": _mobilenet_proxy("mobilenetv1"),
    "resnext": FamilyProxy(
        "resnext", dict(RESNEXT_PROXY), WD_LARGE, 0.1, 64,
        default={"epochs": 3, "train_limit": None, "model_kwargs": dict(RESNEXT_QUICK)},
        trial={"epochs": 1, "train_limit": 10000, "model_kwargs": dict(RESNEXT_QUICK)},
        table={**TABLE_BUDGET, "min_input": TABLE_MIN_INPUT["resnext"]},
        note="table: width 0.75 with cardinality and SK groups scaled (the full model's channels per "
             "group), depth 0.25, 3x3/1 stem, input repeated to 56 px: stages at 56, 28, 14, 7 px; trial and "
             "default: quarter width with cardinality and SK groups scaled, 3x3/2 stem (14, 7, 4, 2 px)"),
    "resnext-cifar": FamilyProxy(
        "resnext-cifar", {"stem": "small", "stem_stride": 2, "width_mult": 0.25, "depth_mult": 0.34}, WD_LARGE,
        0.1, 64, default={"epochs": 3, "train_limit": None}, trial={"epochs": 1, "train_limit": 10000},
        note="ResNeXt-29 with one block per stage, quarter width, 3x3/2 stem"),
}
for _alias, _base in (("senet", "resnext"), ("sknet", "resnext"), ("senet-cifar", "resnext-cifar"),
                      ("sknet-cifar", "resnext-cifar")):
    FAMILY_PROXIES[_alias] = dataclasses.replace(FAMILY_PROXIES[_base], family=_alias)


@dataclass(frozen=True)
class Recipe:
    """What to build and how long to train it. ``model_kwargs`` are create_model kwargs; the data set
    adds ``num_classes``/``in_chans`` in :func:`build_proxy_model`."""

    model: str
    family: str
    budget: str
    model_kwargs: dict = field(default_factory=dict)
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = WD_LARGE
    train_limit: int | None = None
    label_smoothing: float = 0.1
    warmup_epochs: float | None = None  # linear LR warm-up (None: fit's default, min(1, epochs / 10))
    channels_last: bool = False  # train in channels_last on CPU too (CUDA always does)
    min_input: int = 0           # images smaller than this are repeated up to it (input_upsample)
    note: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def proxy_recipe(model_name: str, budget: str = "default") -> Recipe:
    """The proxy recipe of a registered model for ``budget`` ("default", "trial" or "table")."""
    from ..models import model_entry

    choose("budget", budget, BUDGETS)
    family = model_entry(model_name).family
    proxy = FAMILY_PROXIES.get(family)
    if proxy is None:
        raise SKMobileError(f"no proxy recipe for family {family!r} (model {model_name!r}); "
                            f"allowed families: {', '.join(sorted(FAMILY_PROXIES))}")
    b = proxy.budget(budget)
    return Recipe(model=model_name, family=family, budget=budget,
                  model_kwargs={**proxy.model_kwargs, **b.get("model_kwargs", {})},
                  epochs=b["epochs"], batch_size=b.get("batch_size", proxy.batch_size), lr=b.get("lr", proxy.lr),
                  weight_decay=proxy.weight_decay, train_limit=b["train_limit"],
                  channels_last=b.get("channels_last", False), min_input=b.get("min_input", 0),
                  warmup_epochs=b.get("warmup_epochs"), note=proxy.note)


def input_upsample(min_input: int, image_size: int | None) -> int:
    """How many times to repeat each pixel so an ``image_size`` image reaches ``min_input`` (1: none)."""
    if not min_input or not image_size or image_size >= min_input:
        return 1
    return math.ceil(min_input / image_size)


def encode_kwargs(kwargs: dict) -> dict:
    """JSON-safe model kwargs (an SKSpec becomes its dict)."""
    out = {}
    for k, v in kwargs.items():
        if hasattr(v, "to_dict"):
            v = v.to_dict()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


@dataclass(frozen=True)
class ProxyInput:
    """The images a proxy is built for, as :func:`build_proxy_model` reads a data set's loaders
    (Fashion-MNIST's by default): for building one without loading the data."""

    image_size: int = 28
    num_classes: int = 10
    in_chans: int = 1


def build_proxy_model(model_name: str, loaders=None, budget: str = "default", **overrides):
    """The proxy model of ``model_name``: recipe kwargs, then the data set's ``num_classes`` and
    ``in_chans`` (and ``input_upsample`` when its images are smaller than the recipe's
    ``min_input``), then ``overrides`` (e.g. an ``sk`` spec from the search). On a proxy that keeps
    the cardinality, SK group counts its narrower units cannot hold are lowered to the largest that
    fit (:func:`skmobile.models.sk_groups.fit_sk_groups`); a group-scaled proxy scales them instead."""
    from ..models import create_model
    from ..models.sk_groups import fit_sk_groups

    recipe = proxy_recipe(model_name, budget)
    kwargs = dict(recipe.model_kwargs)
    if loaders is not None:
        kwargs.update(num_classes=loaders.num_classes, in_chans=loaders.in_chans)
        up = input_upsample(recipe.min_input, loaders.image_size)
        if up > 1:
            kwargs["input_upsample"] = up
    kwargs.update(overrides)
    kwargs = fit_sk_groups(model_name, kwargs)
    model = create_model(model_name, **kwargs)
    model.skmobile_kwargs = encode_kwargs(kwargs)
    return model


def recipe_table() -> list[dict]:
    """One row per family: proxy form and budgets (for docs and ``skmobile train --list-recipes``)."""
    return [{"family": f, **p.model_kwargs, "lr": p.lr, "batch_size": p.batch_size, "weight_decay": p.weight_decay,
             "default": p.default, "trial": p.trial, "table": p.table, "note": p.note} for f, p in sorted(FAMILY_PROXIES.items())]
