"""What the markdown and the HTML page of a search-study report share: cost column heads and cells,
the configurations shown, the protocol line and the notes."""

from __future__ import annotations

BEST_SHOWN = 15

COST_HEADS = {"mflops": "MFLOPs (full size)", "params_m": "params (M, full size)",
              "latency_ms": "latency (ms, full size, batch 1)"}

NO_LATENCY = ("No trial records a latency (user attribute `latency_ms`; `skmobile search --latency measure` adds it): "
              "no latency columns, latency front or FLOPs-vs-latency comparison.")



def fmt(v, nd=2) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def cost_head(costs: list[str]) -> list[str]:
    return [COST_HEADS.get(k, k) for k in costs]


def best(data: dict) -> list[dict]:
    shown = data["configs"][:BEST_SHOWN]
    extra = [c for c in data["configs"][BEST_SHOWN:] if c.get("front_mflops") or c["paper_rows"]]
    return shown + extra


def best_cost_head(costs: list[str]) -> list[str]:
    """The best-configurations table's cost columns: the latency with its runtime and threads beside it."""
    out = []
    for k in costs:
        out += [COST_HEADS.get(k, k)] + (["latency runtime", "latency threads"] if k == "latency_ms" else [])
    return out


def best_cost_cells(c: dict, costs: list[str]) -> list[str]:
    out = []
    for k in costs:
        out.append(fmt(c.get(k), 1 if k == "mflops" else 3))
        if k == "latency_ms":
            out += [c.get("latency_runtime") or "—", c.get("latency_threads") or "—"]
    return out


def protocol(data: dict) -> str:
    ds = ", ".join(data["trial_datasets"]) or data.get("dataset") or "?"
    return f"data set {ds}, budget {data.get('budget') or '?'}"


def flops_latency_lines(data: dict) -> list[str]:
    """[the rule, one sentence per latency setting]; [] when no configuration has a latency."""
    from .disagreement import rule, sentence

    if not data.get("flops_vs_latency"):
        return []
    return [rule("configurations", "configuration")] + \
        [sentence(g, g["setting"], rows_name="configurations") for g in data["flops_vs_latency"]]



def importance_caveat(res: dict) -> str | None:
    """A warning for importances computed from few trials (None when there are enough or none)."""
    from .importance import FEW_TRIALS

    if "importances" in res and res["trials"] < FEW_TRIALS:
        return (f"from {res['trials']} trials only: fANOVA's random forest is unstable below about "
                f"{FEW_TRIALS}; read the ranking as a hint, not a measurement")
    return None
