"""What the "table" budget trains for each row of a paper grid, built but not trained.

Every report of Tables 4, 6 and 7 prints, per row, the table budget's proxy (:mod:`skmobile.train.proxy`:
the structure-keeping SKNet proxy, the light families at their full stage maps) fed 28 px Fashion-MNIST
images: its parameters, MACs, stage maps, whether it keeps the map rule, and its cost over the row it
is matched to (``TableRow.baseline``). Table 6's rows are complexity-matched in the paper (27.5-28.1M);
its proxies must stay within :data:`MATCH_TOLERANCE_PCT` of the 3x3 rows, which this section shows
whichever budget filled the accuracy column. The networks are built on the meta device (no memory,
no weights), so the section costs seconds.
"""

from __future__ import annotations

from ..tables import Table
from ..train.proxy import ProxyInput

#: The section's heading in the markdown and HTML reports.
TITLE = "What the table budget trains per row"
#: How far a complexity-matched row's proxy may be from its reference row (parameters and MACs, %).
MATCH_TOLERANCE_PCT = 3.0


_CACHE: dict[tuple, dict] = {}


def row_proxy(model: str, kwargs: dict, data: ProxyInput = ProxyInput(), budget: str = "table") -> dict:
    """{params, macs, stage_maps, net_input, map_rule: [problems]} of ``model``'s ``budget`` proxy."""
    import json

    key = (model, json.dumps(kwargs, sort_keys=True), data, budget)
    if key not in _CACHE:
        import torch

        from ..train import build_proxy_model
        from ..train.proxy import WIDEST_PATH_PX
        from ..train.proxy_shape import map_rule_problems, proxy_shape

        with torch.device("meta"):
            net = build_proxy_model(model, data, budget, **kwargs)
            shape = proxy_shape(net, data.image_size, data.in_chans)
            problems = map_rule_problems(net, data.image_size, data.in_chans, minimum=WIDEST_PATH_PX)
        _CACHE[key] = {"params": shape["params"], "macs": shape["macs"], "stage_maps": shape["stage_maps"],
                       "net_input": shape["net_input"], "map_rule": problems}
    return dict(_CACHE[key])


def attach(table: Table, rows: list[dict], budget: str = "table") -> None:
    """Add ``table_proxy`` (the ``budget`` proxy, the table budget's unless told, and its cost over the
    row's baseline in %) to every measured row of ``rows``, in place."""
    by_label = {}
    for row, record in zip(table.rows, rows):
        if row.reference_only:
            continue
        record["table_proxy"] = row_proxy(row.model, dict(row.kwargs), budget=budget)
        by_label[row.label] = record["table_proxy"]
    for row, record in zip(table.rows, rows):
        base = by_label.get(row.baseline) if row.baseline and row.baseline != row.label else None
        if base is None or "table_proxy" not in record:
            continue
        mine = record["table_proxy"]
        mine["vs"] = row.baseline
        for k in ("params", "macs"):
            mine[f"{k}_pct"] = round(100 * (mine[k] / base[k] - 1), 2)


def cells(table: Table, rows: list[dict]) -> tuple[str, list[str], list[list[str]]]:
    """(intro sentence, header, rows) of the "What the table budget trains" section; no rows when
    ``rows`` carry no ``table_proxy``."""
    from ..train.proxy_shape import shape_text

    shown = [r for r in rows if r.get("table_proxy")]
    compared = any(r["table_proxy"].get("vs") for r in shown)  # Table 7 has no base rows: no such columns
    body = []
    for r in shown:
        px = r["table_proxy"]
        rule = "kept" if not px["map_rule"] else f"broken ({len(px['map_rule'])} SK units)"
        cells_ = [r["label"], shape_text(px), f"{px['net_input']} px", rule]
        if compared:
            cells_ += [px.get("vs") or "—", "—" if px.get("params_pct") is None else
                       f"{px['params_pct']:+.2f}% / {px['macs_pct']:+.2f}%"]
        if compared and table.complexity_matched:
            cells_.append("—" if px.get("params_pct") is None else
                          "yes" if max(abs(px["params_pct"]), abs(px["macs_pct"])) <= MATCH_TOLERANCE_PCT else "no")
        body.append(cells_)
    head = ["Row", "table-budget proxy: #P, MACs, stage maps", "net input", "map rule (SK maps >= 7 px)"]
    if compared:
        head += ["compared with", "Δ#P / ΔMACs"]
    if compared and table.complexity_matched:
        head.append(f"matched within {MATCH_TOLERANCE_PCT:g}%")
    intro = ("What `--budget table` trains for each row, built here without training (28 px Fashion-MNIST "
             "images, repeated up to the net input): parameters, MACs per image and stage maps of the proxy, "
             "whether every SK unit's map is at least 7 px (the widest path's footprint), and, where the "
             "table has base rows, its cost over the row it is compared with. The accuracy column above comes "
             "from the budget its runs used (proxy net column).")
    return intro, head, body
