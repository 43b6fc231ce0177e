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
        raise _bad_keyword(entry, exc) from None
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
    from ..specs import scale_sk_groups

    asked = scale_sk_groups(as_sk_spec(sk), getattr(model, "sk_group_scale", 1.0))  # a group-scaled proxy
    for key in sk:
        want = getattr(asked, key)
        used = sorted({str(getattr(u.spec, key)) for u in units if getattr(u.spec, key) != want})
        if used:
            raise SKMobileError(f"SK field {key}={sk[key]!r} does not apply to {name!r}: its SK units use "
                                f"{key} = {', '.join(used[:4])}{', ...' if len(used) > 4 else ''}; "
                                f"allowed: sk= without {key}")


def _bad_keyword(entry: ModelEntry, exc: TypeError) -> Exception:
    """The one-line error for a keyword ``entry`` does not take (unknown, or one its entrypoint sets
    itself, as ``attn`` of ``sknet50``), naming what it accepts; ``exc`` itself for any other TypeError."""
    unknown = re.search(r"unexpected keyword argument '(\w+)'", str(exc))
    fixed = re.search(r"multiple values for (?:keyword )?argument '(\w+)'", str(exc))
    if unknown is None and fixed is None:
        return exc
    allowed = ", ".join(_keyword_arguments(entry))
    if unknown is not None:
        return SKMobileError(f"model {entry.name!r} takes no argument {unknown.group(1)!r}; allowed: {allowed}")
    return SKMobileError(f"model {entry.name!r} sets {fixed.group(1)!r} itself (another value makes another "
                         f"model: `skmobile models` lists them); allowed: {allowed}")


def _keyword_arguments(entry: ModelEntry) -> list[str]:
    """The keyword arguments ``entry`` accepts: those of the class it builds (its default model, built on
    the meta device) less those its entrypoint passes itself."""
    import inspect

    import torch

    with torch.device("meta"):
        cls = type(entry.fn())
    params = [p.name for p in inspect.signature(cls.__init__).parameters.values()
              if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    fixed = _set_by_entrypoint(entry.fn, params)
    return [p for p in params if p not in fixed]


def _set_by_entrypoint(fn: Callable, params: list[str]) -> set[str]:
    """The class arguments ``fn`` passes itself in the call that forwards ``**kwargs`` (those it does not
    take as its own parameters); empty where its source cannot be read."""
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    node = tree.body[0]
    if not isinstance(node, ast.FunctionDef):
        return set()
    own = {a.arg for a in node.args.args + node.args.kwonlyargs}
    for call in ast.walk(node):
        if isinstance(call, ast.Call) and any(k.arg is None for k in call.keywords):
            named = {k.arg for k in call.keywords if k.arg is not None}
            return (named | set(params[:len(call.args)])) - own
    return set()
