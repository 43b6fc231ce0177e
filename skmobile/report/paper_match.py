"""Which searched configurations are rows of the paper's Tables 4, 6 and 7.

A configuration is a registered model and its ``create_model`` kwargs. Two configurations are the
same network when their canonical keys are equal: the SK spec with every default filled in (paths
written canonically, so Table 6's ``3x3d2`` is Table 7's ``K5``), without the fields that change
nothing (G of a depthwise SK unit, whose groups are its channels; r and L without attention) and
without ``num_classes`` (the full-size model always has 1000). Missing SK fields are the paper's
SK[2, 32, 16], L = 32, which the models of Tables 4, 6 and 7 default to.
"""

from __future__ import annotations

import functools
import json

from ..errors import SKMobileError
from ..specs import as_sk_spec

PAPER_TABLES = (4, 6, 7)


def _has_sk(model: str) -> bool:
    return model.startswith("sknet") or model.endswith("_sk")


def depthwise_sk(model: str) -> bool:
    """SK units whose groups are their channels (ShuffleNet, MobileNet), as the registry says."""
    from ..models import family_of

    try:
        return family_of(model).depthwise_sk
    except SKMobileError:
        return not model.startswith("sknet")


def config_key(model: str, kwargs: dict | None) -> str:
    """A JSON text naming the network ``create_model(model, **kwargs)`` builds, defaults resolved."""
    kw = {k: v for k, v in (kwargs or {}).items() if k != "num_classes"}
    sk = kw.pop("sk", None)
    spec = None
    if _has_sk(model):
        try:
            spec = as_sk_spec(sk).to_dict()
        except SKMobileError:
            spec = {"unreadable": json.dumps(sk, sort_keys=True, default=str)}
        else:
            if depthwise_sk(model):
                spec.pop("groups")
            if not spec["attention"]:
                for name in ("reduction", "min_attn", "attn_channels"):
                    spec.pop(name)
            if "reduction" in spec:
                spec["reduction"] = float(spec["reduction"])
    if not kw.get("sk_downsample"):
        kw.pop("sk_downsample", None)
    return json.dumps([model, spec, kw], sort_keys=True)


@functools.lru_cache(maxsize=1)
def _index() -> dict[str, tuple[dict, ...]]:
    from ..tables import get_table

    index: dict[str, list[dict]] = {}
    for number in PAPER_TABLES:
        table = get_table(number)
        for row in table.rows:
            if row.reference_only:
                continue
            entry = {"table": number, "label": row.label, "paper": dict(row.paper), "flops_key": table.flops_key}
            index.setdefault(config_key(row.model, row.kwargs), []).append(entry)
    return {k: tuple(v) for k, v in index.items()}


def paper_rows_for(model: str, kwargs: dict | None) -> list[dict]:
    """The paper rows (table, label, paper cells) this configuration reproduces; [] when none."""
    return [dict(e, paper=dict(e["paper"])) for e in _index().get(config_key(model, kwargs), ())]


def paper_rows_in_space(space) -> list[dict]:
    """Every paper row a search space can produce (with the row's configuration key)."""
    seen, out = set(), []
    for params in space.configurations():
        cand = space.candidate(params)
        key = config_key(cand.model, cand.kwargs)
        if key in seen:
            continue
        seen.add(key)
        for e in _index().get(key, ()):
            out.append(dict(e, key=key))
    return sorted(out, key=lambda e: (e["table"], e["label"]))


def short_name(entry: dict) -> str:
    """``T7 K3+K5 with SK`` for a paper-row entry."""
    return f"T{entry['table']} {entry['label']}"
