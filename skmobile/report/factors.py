"""The searched factors of a configuration, the same for every space, and their per-level effects.

Factors are read from the built configuration (model + SK spec), not from the sampler's raw
parameters, so they mean the same in every space: model, block (base/SE/SK), M (paths), kernel set,
dilation (the largest path dilation), G (groups; "C" for depthwise SK), attention, r and L. A factor
that does not apply to a configuration (r without attention, SK fields on a base block) is "n/a".
"""

from __future__ import annotations

from ..errors import SKMobileError
from ..specs import as_sk_spec
from .stats import rnd

NA = "n/a"
FACTORS = ("model", "block", "M", "kernels", "dilation", "G", "attention", "r", "L", "sk_downsample")


def _block(model: str) -> str:
    if model.startswith("sknet"):
        return "sk"
    for suffix in ("sk", "se"):
        if model.endswith("_" + suffix):
            return suffix
    return "base"


def _base_model(model: str) -> str:
    for suffix in ("_sk", "_se"):
        if model.endswith(suffix):
            return model[: -len(suffix)]
    return model


def _num(v):
    f = float(v)
    return int(f) if f.is_integer() else f


def factors(model: str, kwargs: dict | None) -> dict:
    """{factor: level} for one configuration; levels are str/int/float, never None."""
    kwargs = kwargs or {}
    block = _block(model)
    out = {f: NA for f in FACTORS}
    out["model"], out["block"] = _base_model(model), block
    if block != "sk":
        out["M"] = 1
        return out
    try:
        spec = as_sk_spec(kwargs.get("sk"))
    except SKMobileError:
        return out
    out["M"] = spec.m
    out["kernels"] = spec.kernels
    out["dilation"] = max(p.dilation for p in spec.paths)
    from .paper_match import depthwise_sk

    out["G"] = "C" if depthwise_sk(model) else int(spec.groups)
    out["attention"] = "SK" if spec.attention else "sum"
    if spec.attention:
        out["r"], out["L"] = _num(spec.reduction), int(spec.min_attn)
    if not model.startswith("sknet"):
        out["sk_downsample"] = bool(kwargs.get("sk_downsample", False)) if model.startswith("shufflenet") else NA
    return out


def varying(rows: list[dict]) -> list[str]:
    """Factors with at least two levels among ``rows`` (each row has a "factors" dict)."""
    return [f for f in FACTORS if len({str(r["factors"][f]) for r in rows}) > 1]


def _sort_key(level):
    return (0, level, "") if isinstance(level, (int, float)) and not isinstance(level, bool) else (1, 0, str(level))


def effects(trials: list[dict], names: list[str], costs: list[str]) -> dict[str, list[dict]]:
    """Per factor and level: trials, configurations, mean/min error and mean of each cost.

    ``trials`` are dicts with "factors", "error", "config" and the cost keys.
    """
    table: dict[str, list[dict]] = {}
    for name in names:
        levels: dict = {}
        for t in trials:
            levels.setdefault(t["factors"][name], []).append(t)
        rows = []
        for level in sorted(levels, key=_sort_key):
            ts = levels[level]
            errs = [t["error"] for t in ts]
            row = {"level": level, "trials": len(ts), "configs": len({t["config"] for t in ts}),
                   "mean_error": rnd(sum(errs) / len(errs)), "min_error": rnd(min(errs))}
            for cost in costs:
                vals = [t[cost] for t in ts if t.get(cost) is not None]
                row[f"mean_{cost}"] = rnd(sum(vals) / len(vals), 3) if vals else None
            rows.append(row)
        table[name] = rows
    return table
