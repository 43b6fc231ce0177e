"""The model registry: skmobile's own factory, mirrored into timm's where the name is free.

Entrypoints are tiny functions that only assemble arguments (variants are data). Registering a name
timm already owns (e.g. ``resnext50_32x4d``) keeps it in skmobile's factory but never touches timm's,
so importing skmobile changes no timm model.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from typing import Callable

from ..errors import SKMobileError
from ..specs import as_sk_spec, check_int

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
    """Build a registered model. ``fusion`` (torch|numba|auto) reaches every SKConv2d in it.

    ``sk=`` must apply: a model without SK units, or an SK field its units do not take (e.g. G on
    the depthwise SK units of ShuffleNet/MobileNet, whose groups are their channels), is an error.
    """
    entry = model_entry(name)
    for key in ("num_classes", "in_chans"):
        if key in kwargs:
            kwargs[key] = check_int(f"{name}: {key}", kwargs[key])
    try:
        model = entry.fn(**kwargs)
    except TypeError as exc:
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
        if bad is None:
            raise
        raise SKMobileError(f"model {name!r} takes no argument {bad.group(1)!r}; allowed: "
                            f"{', '.join(_keyword_arguments(entry))}") from None
    if kwargs.get("sk") is not None:
        _check_sk_applies(name, model, kwargs["sk"])
    if fusion is not None:
        from ..layers import set_fusion

        set_fusion(model, fusion)
    model.skmobile_name = name
    return model


def _check_sk_applies(name: str, model, sk) -> None:
    """Raise unless ``model`` has SK units and every field named in an ``sk`` dict reached all of them."""
    from ..layers import SKConv2d

    units = [m for m in model.modules() if isinstance(m, SKConv2d)]
    if not units:
        sk_models = [n for n in list_models(_REGISTRY[name].family) if n.endswith("_sk") or n.startswith("sknet")]
        hint = f"an SK model of its family ({', '.join(sk_models[:4])})" if sk_models else "an SK model"
        raise SKMobileError(f"model {name!r} has no SK units, so sk={sk!r} cannot apply; allowed: sk= on {hint}")
    if not isinstance(sk, dict):
        return
    asked = as_sk_spec(sk)
    for key in sk:
        want = getattr(asked, key)
        used = sorted({str(getattr(u.spec, key)) for u in units if getattr(u.spec, key) != want})
        if used:
            raise SKMobileError(f"SK field {key}={sk[key]!r} does not apply to {name!r}: its SK units use "
                                f"{key} = {', '.join(used[:4])}{', ...' if len(used) > 4 else ''}; "
                                f"allowed: sk= without {key}")


def _keyword_arguments(entry: ModelEntry) -> list[str]:
    """The keyword arguments of the class ``entry`` builds (its default model, built on the meta device)."""
    import inspect

    import torch

    with torch.device("meta"):
        cls = type(entry.fn())
    params = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in params if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
