"""The one-screen summary attention.md opens with (its re-rendering from a committed attention.json is
:func:`skmobile.report.attention.rerender`)."""

from __future__ import annotations

from .resolving import MAX_SEEDS, one_sample_detectable


def _models_needed(mean: float | None, sd: float | None, level: float) -> str:
    """Models a one-sample test at ``level`` needs to detect ``mean`` with power 0.8 at this SD."""
    if mean is None or sd is None or sd <= 0 or mean == 0:
        return "—"
    for n in range(3, MAX_SEEDS + 1):
        if one_sample_detectable(sd, n, level) <= abs(mean):
            return str(n)
    return f"more than {MAX_SEEDS:,}"


def _form(kw: dict | None) -> str:
    """The proxy form a checkpoint recorded (its create_model kwargs), or says it was not recorded."""
    if not kw:
        return "proxy form not recorded in the checkpoints"
    groups = " with cardinality, SK groups and L scaled" if kw.get("scale_groups") else ", cardinality kept"
    return (f"width x{kw.get('width_mult', 1):g}{groups}, depth x{kw.get('depth_mult', 1):g}, "
            f"3x3/{kw.get('stem_stride', 1)} stem")


def _trained(result: dict) -> str:
    from ..train.proxy import proxy_recipe

    cks = result.get("checkpoints") or []
    model = next((c["model"] for c in cks if c.get("model")), "sknet50")
    epochs = sorted({c["epochs"] for c in cks if c.get("epochs") is not None})
    commands = sorted({c["command"] for c in cks if c.get("command")})
    trial = bool(commands) and all("--budget trial" in c for c in commands)
    images = f"{proxy_recipe(model, 'trial').train_limit:,} training images, " if trial else ""
    maps = "/".join(str(st["map_size"]) for st in result["stages"])
    return (f"Trained: {result['models']} `{model}` {'trial-budget ' if trial else ''}proxies on "
            f"**{result['dataset']}** ({images}{', '.join(map(str, epochs)) or '—'} epoch(s), "
            f"{_form(next(iter(cks), {}).get('model_kwargs'))}, "
            f"measured stage maps {maps} px; commands in the Models table); tested on {result['n_images']:,} test "
            f"images at {', '.join(f'{f:g}x' for f in result['factors'])}.")


def _stage_line(st: dict, result: dict) -> str:
    level = result["alpha"] / max(1, result["holm_family"])
    parts = []
    for e in st["changes"]:
        rising = sum(v > 0 for v in e["per_model"])
        det = "—" if e.get("detectable") is None else f"{e['detectable']:.4f}"
        parts.append(f"{e['factor']:g}x: mean {e['mean']:+.4f}, rising in {rising} of {len(e['per_model'])} models, "
                     f"{e['verdict']}; smallest detectable change {det} (power 0.8, alpha {level:.3g}); "
                     f"models needed for this mean: {_models_needed(e['mean'], e['sd'], level)}")
    return (f"Stage {st['stage']} (`{st['name']}`, {st['map_size']} px map, {st['larger']} - {st['smaller']}): "
            + "; ".join(parts) + ".")


def summary_lines(result: dict) -> list[str]:
    stages = result["stages"]
    fair = [st for st in stages if all(e.get("map_fits", True) for e in st["changes"])]
    unfair = [st for st in stages if st not in fair]
    lines = [_trained(result)]
    lines.append("Tested fairly: stages " + ", ".join(str(st["stage"]) for st in fair) + " (their maps hold the "
                 "larger path's span)." if fair else "Tested fairly: no stage (every map is smaller than the larger "
                 "path's span).")
    lines += [_stage_line(st, result) for st in stages]
    if unfair:
        lines.append("Not testable on this proxy: stages " + ", ".join(
            f"{st['stage']} ({st['map_size']} px map, {st['larger']} spans {st.get('larger_extent')} px)" for st in unfair)
            + ": the larger path reads mostly padding there, so its attention follows the map size.")
        lines.append("What it would take: for stages " + ", ".join(str(st["stage"]) for st in unfair) + ", the "
                     "table budget's input (images repeated to 56 px: stages at 56/28/14/7 px, the full model's "
                     "maps); for the fair stages, the models per line above.")
    return lines
