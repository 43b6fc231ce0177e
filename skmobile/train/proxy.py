"""Proxy recipes: the small-input form and training budget of every family (README, "Proxy training").

Accuracy columns are measured on a real installable data set (Fashion-MNIST by default) with a
proxy model: the family's own layout with a small-input stem (3x3, no max-pool, for 28-32 px),
shrunk with width/depth multipliers so that 2 shared CPU cores train it in minutes. Complexity
columns always describe the full 224 px, 1000-class model; the report names the proxy.

Budgets: ``"default"`` (one full proxy run, a few minutes, ``skmobile train``) and ``"trial"`` (one
search trial or paper-grid run: 10,000 images, one epoch). Weight decay: 1e-4 for
ResNeXt/SENet/SKNet, 4e-5 for ShuffleNet/MobileNet (Li et al., CVPR 2019, Sec. 4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import SKMobileError, choose
from .optim import WD_LARGE, WD_LIGHT

BUDGETS = ("default", "trial")


@dataclass(frozen=True)
class FamilyProxy:
    """How one family shrinks for 28-32 px inputs, and its budgets."""

    family: str
    model_kwargs: dict
    weight_decay: float
    lr: float
    batch_size: int
    default: dict          # epochs, train_limit; optionally batch_size, lr, channels_last, model_kwargs
    trial: dict
    note: str = ""


#: Budgets: a default run takes minutes on 2 CPU cores (the README gives measured times). ShuffleNetV2's
#: default budget uses a stride-2 stem and channels_last, which train fastest on CPU; search trials keep
#: the stride-1 stem (Table 4's protocol).
FAMILY_PROXIES = {
    "shufflenetv2": FamilyProxy(
        "shufflenetv2", {"stem": "small", "width_mult": 1.0}, WD_LIGHT, 0.1, 64,
        default={"epochs": 4, "train_limit": None, "batch_size": 128, "lr": 0.2, "channels_last": True,
                 "model_kwargs": {"stem_stride": 2}},
        trial={"epochs": 1, "train_limit": 10000},
        note="torchvision layout, 3x3 stem without max-pool: 28 -> 14 -> 7 -> 4 (trial); the default "
             "budget's stem has stride 2: 28 -> 7 -> 4 -> 2"),
    "mobilenetv2": FamilyProxy(
        "mobilenetv2", {"stem": "small", "width_mult": 0.5}, WD_LIGHT, 0.1, 64,
        default={"epochs": 3, "train_limit": None}, trial={"epochs": 1, "train_limit": 10000},
        note="stride-1 stem, half width"),
    "mobilenetv1": FamilyProxy(
        "mobilenetv1", {"stem": "small", "width_mult": 0.5}, WD_LIGHT, 0.1, 64,
        default={"epochs": 3, "train_limit": None}, trial={"epochs": 1, "train_limit": 10000},
        note="stride-1 stem, half width"),
    "resnext": FamilyProxy(
        "resnext", {"stem": "small", "stem_stride": 2, "width_mult": 0.25, "depth_mult": 0.25}, WD_LARGE, 0.1, 64,
        default={"epochs": 3, "train_limit": None}, trial={"epochs": 1, "train_limit": 10000},
        note="3x3/2 stem (stages at 14, 7, 4, 2 px), quarter width and depth, cardinality kept"),
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
    channels_last: bool = False  # train in channels_last on CPU too (CUDA always does)
    note: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def proxy_recipe(model_name: str, budget: str = "default") -> Recipe:
    """The proxy recipe of a registered model for ``budget`` ("default" or "trial")."""
    from ..models import model_entry

    choose("budget", budget, BUDGETS)
    family = model_entry(model_name).family
    proxy = FAMILY_PROXIES.get(family)
    if proxy is None:
        raise SKMobileError(f"no proxy recipe for family {family!r} (model {model_name!r}); "
                            f"allowed families: {', '.join(sorted(FAMILY_PROXIES))}")
    b = proxy.default if budget == "default" else proxy.trial
    return Recipe(model=model_name, family=family, budget=budget,
                  model_kwargs={**proxy.model_kwargs, **b.get("model_kwargs", {})},
                  epochs=b["epochs"], batch_size=b.get("batch_size", proxy.batch_size), lr=b.get("lr", proxy.lr),
                  weight_decay=proxy.weight_decay, train_limit=b["train_limit"],
                  channels_last=b.get("channels_last", False), note=proxy.note)


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


def build_proxy_model(model_name: str, loaders=None, budget: str = "default", **overrides):
    """The proxy model of ``model_name``: recipe kwargs, then the data set's ``num_classes`` and
    ``in_chans``, then ``overrides`` (e.g. an ``sk`` spec from the search). SK group counts the
    proxy's narrower units cannot hold are lowered to the largest that fit
    (:func:`skmobile.models.sk_groups.fit_sk_groups`: Table 6's G=64/128 paths on a 32-wide proxy)."""
    from ..models import create_model
    from ..models.sk_groups import fit_sk_groups

    kwargs = dict(proxy_recipe(model_name, budget).model_kwargs)
    if loaders is not None:
        kwargs.update(num_classes=loaders.num_classes, in_chans=loaders.in_chans)
    kwargs.update(overrides)
    kwargs = fit_sk_groups(model_name, kwargs)
    model = create_model(model_name, **kwargs)
    model.skmobile_kwargs = encode_kwargs(kwargs)
    return model


def recipe_table() -> list[dict]:
    """One row per family: proxy form and budgets (for docs and ``skmobile train --list-recipes``)."""
    return [{"family": f, **p.model_kwargs, "lr": p.lr, "batch_size": p.batch_size, "weight_decay": p.weight_decay,
             "default": p.default, "trial": p.trial, "note": p.note} for f, p in sorted(FAMILY_PROXIES.items())]
