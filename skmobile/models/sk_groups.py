"""SK group counts against a model's channels: whether a spec fits, and the largest groups that do.

The search samples G = 16/32/64 and Table 6's 5x5g64 / 7x7g128 paths for full-size SKNet-50; a
narrow proxy that keeps the cardinality (a quarter-width model built with ``scale_groups=False``) has SK
units too thin for some of them; the group-scaled proxies of every budget scale them instead. :func:`fit_sk_groups` lowers
each group count to the largest divisor of every SK unit's channels, so the search and
``skmobile train`` build the same proxy. Depthwise families (the registry's ``depthwise_sk``) set
G = C themselves and are never changed.
"""

from __future__ import annotations

import functools
import json
import math

from ..specs import SKSpec, merge_sk
from ._registry import create_model, model_entry


def sk_channels(model: str, kwargs: dict | None = None) -> tuple[int, ...]:
    """Channel counts of every SK unit of ``model`` built with ``kwargs`` (on the meta device)."""
    other = {k: v for k, v in (kwargs or {}).items() if k != "sk"}
    return _sk_channels(model, json.dumps(other, sort_keys=True, default=str))


@functools.lru_cache(maxsize=None)
def _sk_channels(model: str, kwargs_json: str) -> tuple[int, ...]:
    import torch

    from ..layers import SKConv2d

    kwargs = json.loads(kwargs_json)
    kwargs.pop("scale_groups", None)
    kwargs["sk"] = SKSpec(paths="K3", groups=1, attention=False)  # any G fits: only the widths matter
    with torch.device("meta"):
        net = create_model(model, **kwargs)
    units = [m for m in net.modules() if isinstance(m, SKConv2d)]
    return tuple(sorted({c for u in units for c in (u.in_channels, u.out_channels)}))


@functools.lru_cache(maxsize=None)
def default_sk_spec(model: str) -> SKSpec | None:
    """The SK spec ``model`` builds without ``sk=`` (None: it has no SK units)."""
    import torch

    with torch.device("meta"):
        return getattr(create_model(model), "sk_spec", None)


def sk_spec_of(model: str, kwargs: dict | None = None) -> SKSpec | None:
    """The spec ``model`` builds with ``kwargs``: its defaults, overridden by ``kwargs["sk"]``."""
    default = default_sk_spec(model)
    if default is None:
        return None
    return merge_sk(default, (kwargs or {}).get("sk"))


def groups_problem(model: str, kwargs: dict | None = None) -> str | None:
    """Why the SK group counts of ``model`` built with ``kwargs`` do not divide its SK channels, or None.
    With ``scale_groups`` (the counts scale with the width) the build itself is the check."""
    spec = sk_spec_of(model, kwargs)
    if spec is None or model_entry(model).depthwise_sk:
        return None
    if (kwargs or {}).get("scale_groups"):
        return _build_problem(model, kwargs)
    channels = sk_channels(model, kwargs)
    for path in spec.paths:
        g = path.groups or spec.groups
        bad = [c for c in channels if c % g]
        if bad:
            return f"path {path.name}: groups {g} do not divide SK channels {bad}"
    return None


def _build_problem(model: str, kwargs: dict) -> str | None:
    import torch

    from ..errors import SKMobileError

    try:
        with torch.device("meta"):
            create_model(model, **kwargs)
    except SKMobileError as exc:
        return str(exc)
    return None


def fit_sk_groups(model: str, kwargs: dict) -> dict:
    """``kwargs`` with every SK group count lowered to the largest divisor of all SK channels, when
    the spec does not fit as given (else ``kwargs`` unchanged). A group-scaled proxy
    (``scale_groups``) is never changed: its counts scale with its channels, so they fit whenever the
    full-size spec fits the full-size model."""
    if kwargs.get("scale_groups") or groups_problem(model, kwargs) is None:
        return kwargs
    spec = sk_spec_of(model, kwargs)
    common = functools.reduce(math.gcd, sk_channels(model, kwargs), 0) or 1
    paths = tuple(p.__class__(p.kernel, p.dilation, None if p.groups is None else math.gcd(p.groups, common))
                  for p in spec.paths)
    return {**kwargs, "sk": spec.replace(paths=paths, groups=math.gcd(int(spec.groups), common)).to_dict()}


__all__ = ["default_sk_spec", "fit_sk_groups", "groups_problem", "sk_channels", "sk_spec_of"]
