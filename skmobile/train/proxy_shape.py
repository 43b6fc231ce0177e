"""What a proxy actually is: its own parameters, MACs, input side and stage map sizes.

Recorded in every trial (user attribute ``proxy``) and printed in every report row, so a reader sees
the network that was trained, not only the full-size model the row names. ``last_map_ok`` says
whether the last stage's map is at least the largest SK path's receptive field;
:func:`map_rule_problems` checks the map rule of :mod:`skmobile.train.proxy` unit by unit.
"""

from __future__ import annotations

from torch import nn


def stage_modules(model: nn.Module) -> list[nn.Module]:
    """The model's stages (``model.stages``, as ResNeXt and ShuffleNetV2 name them), else its blocks
    (``model.blocks``, MobileNet's; :func:`stage_maps` merges blocks of one resolution), else its SK units."""
    for name in ("stages", "blocks"):
        mods = getattr(model, name, None)
        if isinstance(mods, nn.Sequential) and len(mods):
            return list(mods)
    from ..layers import SKConv2d

    return [m for m in model.modules() if isinstance(m, SKConv2d)]


def _output_sides(model: nn.Module, pick, image_size: int, in_chans: int | None) -> list[int]:
    """The output map side of each module ``pick(model)`` lists, in that order, for one ``image_size``
    input (a copy of the model on the meta device runs it: no memory, no arithmetic)."""
    import copy

    import torch

    if not pick(model):
        return []
    seen: dict[int, int] = {}
    in_chans = in_chans or next(m for m in model.modules() if isinstance(m, nn.Conv2d)).in_channels
    meta = copy.deepcopy(model).to("meta")
    hooks = [m.register_forward_hook(lambda mod, args, out, i=i: seen.__setitem__(i, int(out.shape[-1])))
             for i, m in enumerate(pick(meta))]
    try:
        with torch.no_grad():
            meta.eval()(torch.empty(1, in_chans, image_size, image_size, device="meta"))
    finally:
        for h in hooks:
            h.remove()
    return [seen[i] for i in sorted(seen)]


def stage_maps(model: nn.Module, image_size: int, in_chans: int | None = None) -> list[int]:
    """The output map side of each stage for one ``image_size`` x ``image_size`` input; consecutive
    blocks of one resolution count as one stage (MobileNet)."""
    sides = _output_sides(model, stage_modules, image_size, in_chans)
    if isinstance(getattr(model, "stages", None), nn.Sequential):
        return sides
    return [s for i, s in enumerate(sides) if i == 0 or s != sides[i - 1]]


def sk_unit_maps(model: nn.Module, image_size: int, in_chans: int | None = None) -> list[dict]:
    """Per SK unit, in forward order: its name, output map side and widest path footprint (px)."""
    from ..layers import SKConv2d

    def units(m):
        return [u for u in m.modules() if isinstance(u, SKConv2d)]

    names = [n for n, u in model.named_modules() if isinstance(u, SKConv2d)]
    sides = _output_sides(model, units, image_size, in_chans)
    return [{"name": n, "map": side, "footprint": max(p.receptive_field for p in u.spec.paths)}
            for n, u, side in zip(names, units(model), sides)]


def map_rule_problems(model: nn.Module, image_size: int, in_chans: int | None = None, minimum: int = 0) -> list[str]:
    """The SK units whose output map is smaller than their widest path's footprint, or than ``minimum``
    (the recipe's rule: :data:`skmobile.train.proxy.WIDEST_PATH_PX`); empty when every tap of the
    centre position falls on the image."""
    return [f"{u['name']}: {u['map']} px map < {max(u['footprint'], minimum)} px"
            for u in sk_unit_maps(model, image_size, in_chans) if u["map"] < max(u["footprint"], minimum)]


def largest_receptive_field(model: nn.Module) -> int | None:
    """The largest receptive field of any SK path in ``model`` (None: no SK units)."""
    from ..layers import SKConv2d

    fields = [p.receptive_field for m in model.modules() if isinstance(m, SKConv2d) for p in m.spec.paths]
    return max(fields) if fields else None


def proxy_shape(model: nn.Module, image_size: int, in_chans: int | None = None) -> dict:
    """Parameters, MACs (paper convention), input side after ``input_upsample`` and stage maps of
    ``model`` fed ``image_size`` px images; JSON-safe."""
    from ..profile import complexity

    cx = complexity(model, image_size, "paper", in_chans=in_chans)
    maps = stage_maps(model, image_size, in_chans)
    up = getattr(getattr(model, "upsample", None), "scale_factor", None) or 1
    rf = largest_receptive_field(model)
    return {"params": int(cx.params), "macs": int(cx.macs), "input_size": int(image_size),
            "net_input": int(image_size * up), "stage_maps": maps, "largest_rf": rf,
            "last_map_ok": None if rf is None or not maps else maps[-1] >= rf}


def shape_text(proxy: dict | None) -> str:
    """One short cell: '5.42M P, 1022M MACs, 56/28/14/7 px' ('—' when nothing was recorded)."""
    if not proxy or proxy.get("params") is None:
        return "—"
    parts = [f"{proxy['params'] / 1e6:.3g}M P"]
    if proxy.get("macs") is not None:
        parts.append(f"{proxy['macs'] / 1e6:.4g}M MACs")
    if proxy.get("stage_maps"):
        parts.append("/".join(map(str, proxy["stage_maps"])) + " px")
    return ", ".join(parts)
