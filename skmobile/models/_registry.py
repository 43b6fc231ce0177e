"""The model registry: skmobile's own factory, mirrored into timm's where the name is free.

Entrypoints are tiny functions that only assemble arguments (variants are data). Registering a name
timm already owns (e.g. ``resnext50_32x4d``) keeps it in skmobile's factory but never touches timm's,
so importing skmobile changes no timm model.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from typing import Callable

from ..errors import SKMobileError

_TIMM_ARGS = ("pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


@dataclass(frozen=True)
class Family:
    """A model family; ``depthwise_sk``: its SK units are depthwise (G = the unit's channels), so an
    SK spec's G is ignored and never has to divide anything."""

    name: str
    depthwise_sk: bool = False


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    fn: Callable
    description: str
    in_timm: bool  # registered in timm's registry under the same name

    @property
    def depthwise_sk(self) -> bool:
        return _FAMILIES[self.family].depthwise_sk


_REGISTRY: dict[str, ModelEntry] = {}
_FAMILIES: dict[str, Family] = {}


def register_family(name: str, *, depthwise_sk: bool = False) -> Family:
    """Declare a family and what the search must know about it (before its models register)."""
    _FAMILIES[name] = Family(name, depthwise_sk)
    return _FAMILIES[name]


def _timm_owns(name: str) -> bool:
    try:
        import timm
    except ImportError:  # pragma: no cover
        return True
    return timm.is_model(name)


def register_model(family: str):
    """Decorator: register ``fn`` (named after the model) in skmobile and, if the name is free, in timm."""

    _FAMILIES.setdefault(family, Family(family))

    def deco(fn: Callable) -> Callable:
        name = fn.__name__
        doc = (fn.__doc__ or "").strip().splitlines()
        in_timm = not _timm_owns(name)
        _REGISTRY[name] = ModelEntry(name, family, fn, doc[0] if doc else "", in_timm)
        if in_timm:
            from timm.models import register_model as timm_register

            @functools.wraps(fn)
            def timm_entry(**kwargs):
                if kwargs.get("pretrained"):
                    raise SKMobileError(f"skmobile model {name!r} has no pretrained weights; use pretrained=False")
                for key in _TIMM_ARGS:
                    kwargs.pop(key, None)
                return create_model(name, **kwargs)

            timm_register(timm_entry)
        return fn

    return deco


def list_models(family: str | None = None) -> list[str]:
    return sorted(n for n, e in _REGISTRY.items() if family is None or e.family == family)


def model_families() -> list[str]:
    """Every family with at least one registered model, sorted."""
    return sorted({e.family for e in _REGISTRY.values()})


def family_of(name: str) -> Family:
    """The :class:`Family` of registered model ``name`` (unknown name: SKMobileError)."""
    return _FAMILIES[model_entry(name).family]


def model_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = ", ".join(close) if close else ", ".join(list_models()[:8]) + ", ..."
        raise SKMobileError(
            f"unknown model {name!r}; allowed: {hint} (`skmobile models` lists all {len(_REGISTRY)})"
        )
    return _REGISTRY[name]


def create_model(name: str, *, fusion: str | None = None, **kwargs):
    """Build a registered model. ``fusion`` (torch|numba|auto) reaches every SKConv2d in it."""
    model = model_entry(name).fn(**kwargs)
    if fusion is not None:
        from ..layers import set_fusion

        set_fusion(model, fusion)
    model.skmobile_name = name
    return model
