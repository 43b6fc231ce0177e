"""Where FLOPs and measured latency disagree, over a set of rows (table rows or search configurations).

Two rows disagree when their median latencies differ by more than ``gap_pct`` (relative to the row
with fewer MFLOPs) while FLOPs call them equal (MFLOPs within ``tie_pct``), or while FLOPs order
them the other way (the row with more MFLOPs runs faster). Kendall's tau-b between the MFLOPs and
the latency of all rows says how far the two rankings agree overall. Plain Python: no plotting or
statistics libraries.
"""

from __future__ import annotations

import math
from itertools import combinations

TIE_PCT = 3.0    # MFLOPs closer than this (percent) count as equal
GAP_PCT = 10.0   # latencies further apart than this (percent) count as different

def rule(rows: str = "rows", row: str = "row") -> str:
    """The rule, in the words the reports print above their findings."""
    return (f"A pair of {rows} disagrees when their median latencies differ by more than {GAP_PCT:g} % (relative "
            f"to the {row} with fewer MFLOPs) while their MFLOPs differ by less than {TIE_PCT:g} % (FLOPs call them "
            f"equal), or while the {row} with more MFLOPs runs faster (FLOPs order them the other way).")


def kendall_tau_b(xs: list[float], ys: list[float]) -> float | None:
    """Kendall's tau-b of two paired lists (ties in either list handled); None below 2 pairs or when
    one list is constant."""
    conc = disc = tie_x = tie_y = 0
    for i, j in combinations(range(len(xs)), 2):
        dx, dy = xs[i] - xs[j], ys[i] - ys[j]
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            tie_x += 1
        elif dy == 0:
            tie_y += 1
        elif (dx > 0) == (dy > 0):
            conc += 1
        else:
            disc += 1
    denom = math.sqrt((conc + disc + tie_x) * (conc + disc + tie_y))
    return None if denom == 0 else (conc - disc) / denom


def compare(items: list[tuple[str, float, float]], tie_pct: float = TIE_PCT, gap_pct: float = GAP_PCT) -> dict:
    """``items``: (label, MFLOPs, latency ms). Returns the disagreeing pairs (most different latency
    first), Kendall's tau-b and the thresholds, as JSON-able data."""
    items = [(label, float(f), float(ms)) for label, f, ms in items
             if f is not None and ms is not None and f > 0 and ms > 0]
    pairs = []
    for a, b in combinations(items, 2):
        lo, hi = (a, b) if (a[1], a[0]) <= (b[1], b[0]) else (b, a)  # lo: fewer MFLOPs
        d_flops = 100 * (hi[1] / lo[1] - 1)
        d_ms = 100 * (hi[2] / lo[2] - 1)
        if abs(d_ms) <= gap_pct:
            continue
        if d_flops < tie_pct:
            kind = "flops_equal"
        elif d_ms < 0:
            kind = "opposite_order"
        else:
            continue
        pairs.append({"more_flops": hi[0], "fewer_flops": lo[0], "mflops_pct": round(d_flops, 2),
                      "latency_pct": round(d_ms, 2), "kind": kind,
                      "mflops": [round(lo[1], 4), round(hi[1], 4)], "latency_ms": [round(lo[2], 4), round(hi[2], 4)]})
    pairs.sort(key=lambda p: (-abs(math.log1p(p["latency_pct"] / 100)), p["more_flops"], p["fewer_flops"]))
    tau = kendall_tau_b([i[1] for i in items], [i[2] for i in items])
    return {"rows": len(items), "pairs": pairs, "kendall_tau": None if tau is None else round(tau, 4),
            "tie_pct": tie_pct, "gap_pct": gap_pct}


_KIND_TEXT = {"flops_equal": "FLOPs call them equal", "opposite_order": "FLOPs order them the other way"}


def pair_text(p: dict) -> str:
    return (f"{p['more_flops']} vs {p['fewer_flops']}: MFLOPs {p['mflops_pct']:+.1f} %, latency "
            f"{p['latency_pct']:+.1f} % ({p['mflops'][1]:.1f} vs {p['mflops'][0]:.1f} MFLOPs, "
            f"{p['latency_ms'][1]:.2f} vs {p['latency_ms'][0]:.2f} ms; {_KIND_TEXT[p['kind']]})")


def sentence(result: dict, setting: str, shown: int = 8, rows_name: str = "rows") -> str:
    """One plain sentence: how far the rankings agree and which pairs disagree (at most ``shown``)."""
    n = result["rows"]
    if n < 2:
        return f"{setting}: fewer than 2 {rows_name} have both MFLOPs and a latency; nothing to compare."
    tau = result["kendall_tau"]
    head = (f"{setting}: over the {n} {rows_name}, the MFLOPs ranking and the latency ranking agree with "
            f"Kendall tau {'—' if tau is None else f'{tau:+.2f}'}")
    pairs = result["pairs"]
    if not pairs:
        return (head + f"; no pair disagrees (none has MFLOPs within {result['tie_pct']:g} % and latencies more than "
                f"{result['gap_pct']:g} % apart, and none with more MFLOPs runs more than {result['gap_pct']:g} % "
                "faster).")
    listed = "; ".join(pair_text(p) for p in pairs[:shown])
    more = f"; and {len(pairs) - shown} more pair(s), listed in the JSON" if len(pairs) > shown else ""
    return head + f"; they disagree on {len(pairs)} pair(s): {listed}{more}."
