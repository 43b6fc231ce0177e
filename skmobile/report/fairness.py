"""Is a comparison of two table rows a fair test of the paper's claim on the proxy that was trained?

Two confounds make a proxy comparison test something other than the paper's:

- **Cost.** The proxy's relative cost of the two rows (parameters and MACs counted on the body: the
  classifier head excluded, since the proxy's 10-class head is not the paper's 1000-class one) differs
  from the paper's relative cost of the same rows by more than :data:`COST_TOLERANCE_PP`. The paper's
  body is its printed total minus the full-size model's head.
- **Map rule.** The paths that distinguish the two rows (the SK paths one row has and the other lacks)
  do not fit the SK units' maps: a unit's output map smaller than a path's footprint
  (:func:`skmobile.train.proxy_shape.sk_unit_maps`) leaves that path's outer taps on padding around
  every position. When most of a row's SK units cannot hold its distinguishing paths, the comparison
  tests padding, not the receptive field.

A comparison with either confound is judged "not testable on this proxy" (:data:`NOT_TESTABLE`),
never "holds" or "does not hold". Proxies are rebuilt on the meta device from the row's model and
kwargs with the runs' budget (no weights, no arithmetic); the rebuilt network's parameter count is
checked against the one the runs recorded.
"""

from __future__ import annotations

from collections import Counter

from ..tables import Table

#: How far (percentage points) the proxy's relative body cost of two rows may be from the paper's.
COST_TOLERANCE_PP = 3.0
#: A row's distinguishing paths must fit the map in at least this share of its SK units.
MAP_RULE_SHARE = 0.5
NOT_TESTABLE = "not testable on this proxy"
IMAGE_SIZE = {"fashion-mnist-canvas": 56, "cifar10": 32, "cifar100": 32}
IN_CHANS = {"cifar10": 3, "cifar100": 3}

_CACHE: dict[tuple, dict] = {}


def _head(net) -> tuple[int, int]:
    """(parameters, MACs per image) of the final classifier (``net.fc``)."""
    fc = getattr(net, "fc", None)
    if fc is None:
        return 0, 0
    return sum(p.numel() for p in fc.parameters()), fc.in_features * fc.out_features


def _paths(net) -> list[tuple[str, int]]:
    """(name, footprint px) of every path of the first SK unit (all units of a row share the spec)."""
    from ..layers import SKConv2d

    unit = next((m for m in net.modules() if isinstance(m, SKConv2d)), None)
    return [] if unit is None else [(p.name, p.receptive_field) for p in unit.spec.paths]


def row_shape(model: str, kwargs: dict, budget: str, dataset: str | None) -> dict:
    """The row's proxy (body params/MACs, total params, SK unit maps, paths) and full-size head."""
    import json

    key = (model, json.dumps(kwargs, sort_keys=True, default=str), budget, dataset)
    if key not in _CACHE:
        import torch

        from ..models import create_model
        from ..profile import complexity
        from ..train import build_proxy_model
        from ..train.proxy import ProxyInput
        from ..train.proxy_shape import sk_unit_maps

        size, chans = IMAGE_SIZE.get(dataset or "", 28), IN_CHANS.get(dataset or "", 1)
        with torch.device("meta"):
            net = build_proxy_model(model, ProxyInput(size, 10, chans), budget, **kwargs)
            full = create_model(model, **kwargs)
            cx = complexity(net, size, "paper", in_chans=chans)
            hp, hm = _head(net)
            _CACHE[key] = {"params": cx.params - hp, "macs": cx.macs - hm, "total_params": cx.params,
                           "total_macs": cx.macs, "units": [u["map"] for u in sk_unit_maps(net, size, chans)],
                           "paths": _paths(net), "full_head": _head(full)}
    return _CACHE[key]


def _pct(a: float, b: float) -> float:
    return round(100 * (a / b - 1), 2)


def _paper_body(table: Table, label: str, shape: dict) -> tuple[float, float] | None:
    """(params, MACs) of the paper's row without the full-size head, or None when the paper gives none."""
    row = next(r for r in table.rows if r.label == label)
    p, f = row.paper.get("params_m"), row.paper.get(table.flops_key)
    if p is None or f is None:
        return None
    scale = 1e9 if table.flops_key == "gflops" else 1e6
    hp, hm = shape["full_head"]
    return p * 1e6 - hp, f * scale - hm


def _mean(values: list[tuple[float, float]]) -> tuple[float, float]:
    return sum(v[0] for v in values) / len(values), sum(v[1] for v in values) / len(values)


def cost(table: Table, a: list[str], b: list[str], shapes: dict[str, dict]) -> dict:
    """Relative cost of ``a`` over ``b`` (each a row or a block of rows, averaged), proxy vs paper, in %."""
    pa = _mean([(shapes[x]["params"], shapes[x]["macs"]) for x in a])
    pb = _mean([(shapes[x]["params"], shapes[x]["macs"]) for x in b])
    ta = _mean([(shapes[x]["total_params"], shapes[x]["total_macs"]) for x in a])
    tb = _mean([(shapes[x]["total_params"], shapes[x]["total_macs"]) for x in b])
    out = {"proxy_params_pct": _pct(pa[0], pb[0]), "proxy_macs_pct": _pct(pa[1], pb[1]),
           "proxy_total_params_pct": _pct(ta[0], tb[0]), "proxy_total_macs_pct": _pct(ta[1], tb[1]),
           "paper_params_pct": None, "paper_macs_pct": None, "tolerance_pp": COST_TOLERANCE_PP}
    qa = [_paper_body(table, x, shapes[x]) for x in a]
    qb = [_paper_body(table, x, shapes[x]) for x in b]
    if None not in qa and None not in qb:
        ma, mb = _mean(qa), _mean(qb)
        out["paper_params_pct"], out["paper_macs_pct"] = _pct(ma[0], mb[0]), _pct(ma[1], mb[1])
        head = lambda x: shapes[x]["full_head"]  # noqa: E731 - the paper's totals put the head back
        ta = _mean([(q[0] + head(x)[0], q[1] + head(x)[1]) for x, q in zip(a, qa)])
        tb = _mean([(q[0] + head(x)[0], q[1] + head(x)[1]) for x, q in zip(b, qb)])
        out["paper_total_params_pct"], out["paper_total_macs_pct"] = _pct(ta[0], tb[0]), _pct(ta[1], tb[1])
    return out


def cost_confound(c: dict) -> str | None:
    """One line naming the cost confound of :func:`cost`'s result, or None."""
    if c["paper_params_pct"] is None:
        return None
    off = [(what, c[f"proxy_{k}_pct"], c[f"paper_{k}_pct"]) for what, k in (("params", "params"), ("MACs", "macs"))
           if abs(c[f"proxy_{k}_pct"] - c[f"paper_{k}_pct"]) > c["tolerance_pp"]]
    if not off:
        return None
    return "; ".join(f"body {what} {px:+.1f}% in the proxy vs {pp:+.1f}% in the paper" for what, px, pp in off) + \
        f" (beyond ±{c['tolerance_pp']:g} pp)"


def map_rule(a: dict, b: dict) -> dict:
    """Where the paths that distinguish row shapes ``a`` and ``b`` fit: per row with such paths, the widest
    one's footprint and how many of its SK units' maps hold it."""
    ca, cb = Counter(a["paths"]), Counter(b["paths"])
    out = []
    for shape, mine in ((a, ca - cb), (b, cb - ca)):
        if not mine or not shape["units"]:
            continue
        widest = max(fp for _, fp in mine)
        ok = sum(m >= widest for m in shape["units"])
        out.append({"paths": sorted(name for name, _ in mine), "footprint": widest, "units_ok": ok,
                    "units": len(shape["units"]), "maps": sorted(set(shape["units"]), reverse=True)})
    return {"rows": out}


def map_confound(rule: dict) -> str | None:
    bad = [r for r in rule["rows"] if r["units_ok"] < MAP_RULE_SHARE * r["units"]]
    if not bad:
        return None
    r = bad[0]
    return (f"{'+'.join(r['paths'])} ({r['footprint']} px) fits the map in {r['units_ok']} of {r['units']} SK units "
            f"(maps {'/'.join(map(str, r['maps']))} px): it reads mostly padding")


def judge(table: Table, a: list[str], b: list[str], shapes: dict[str, dict]) -> dict:
    """{"cost", "map_rule", "confound"} of the comparison of rows (or blocks) ``a`` and ``b``."""
    c = cost(table, a, b, shapes)
    rules = [map_rule(shapes[x], shapes[y]) for x in a for y in b]
    confound = cost_confound(c) or next((m for m in map(map_confound, rules) if m), None)
    mismatch = [x for x in a + b if shapes[x].get("recorded_params") not in (None, shapes[x]["total_params"])]
    if mismatch:
        x = mismatch[0]
        confound = (f"the proxy rebuilt for {x} ({shapes[x]['total_params']:,} params) is not the one trained "
                    f"({int(shapes[x]['recorded_params']):,})")
    return {"cost": c, "map_rule": rules[0] if len(rules) == 1 else {"rows": [r for m in rules for r in m["rows"]]},
            "confound": confound}


#: Earlier forms of a budget's proxy, tried when the current recipe does not rebuild the network a run
#: recorded (same parameter count): the quick ResNeXt form used to keep the cardinality at quarter width.
FORMER_FORMS = ({"scale_groups": False},)


def shapes_for(table: Table, rows: list[dict], budget: str | None, dataset: str | None) -> dict[str, dict]:
    """label -> :func:`row_shape` (with the recorded proxy params) for every trained row of ``rows``: the
    current recipe's proxy, or a :data:`FORMER_FORMS` one when that is the network the runs recorded."""
    out = {}
    for row, rec in zip(table.rows, rows):
        if row.reference_only or not row.model or not budget:
            continue
        kwargs = {k: v for k, v in row.kwargs.items() if k != "num_classes"}
        recorded = ((rec.get("measured") or {}).get("proxy") or {}).get("params")
        shape = dict(row_shape(row.model, kwargs, budget, dataset))
        for form in FORMER_FORMS if recorded not in (None, shape["total_params"]) else ():
            former = dict(row_shape(row.model, {**kwargs, **form}, budget, dataset))
            if former["total_params"] == recorded:
                shape = {**former, "former_form": form}
                break
        shape["recorded_params"] = recorded
        out[row.label] = shape
    return out


def cost_text(c: dict) -> str:
    """'body #P +2.8% / MACs +0.5% (paper +4.2% / +0.1%; total +2.7% / +0.5%)'."""
    paper = ("paper —" if c["paper_params_pct"] is None else
             f"paper {c['paper_params_pct']:+.1f}% / {c['paper_macs_pct']:+.1f}%")
    total = ("" if c.get("paper_total_params_pct") is None else
             f"; paper {c['paper_total_params_pct']:+.1f}% / {c['paper_total_macs_pct']:+.1f}%")
    return (f"proxy body #P {c['proxy_params_pct']:+.1f}% / MACs {c['proxy_macs_pct']:+.1f}% ({paper}); counted with "
            f"the classifier head: proxy {c['proxy_total_params_pct']:+.1f}% / {c['proxy_total_macs_pct']:+.1f}%{total}")


def map_text(rule: dict) -> str:
    if not rule["rows"]:
        return "map rule: no distinguishing SK path"
    worst = min(rule["rows"], key=lambda r: r["units_ok"] / r["units"])
    return (f"map rule: {'+'.join(worst['paths'])} ({worst['footprint']} px) fits {worst['units_ok']} of "
            f"{worst['units']} SK units")
