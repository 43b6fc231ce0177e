"""Cut a model into the layers the latency table times alone.

A layer is the outermost module of the kinds in :func:`_layer_types` (an SK or SE unit is one layer),
plus the tensor "glue" a model runs outside them (residual adds, channel split/concat/shuffle,
flatten), recorded with ``TorchFunctionMode`` and replayed alone. A layer's key is its module's
one-line ``repr`` and its input shape(s), so equal layers in two models share one table entry.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from .measure import Arch, build, input_shape

#: tensor functions outside layers that cost nothing to record (shape queries and the like)
_SKIP = {"__get__", "dim", "size", "numel", "randn", "__len__", "__format__", "__repr__", "tolist", "item"}


def _layer_types() -> tuple:
    from torch import nn

    from ..layers import ConvBnAct, SKConv2d, SqueezeExcite

    pools = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)
    acts = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU)
    return (SKConv2d, SqueezeExcite, ConvBnAct, nn.Conv2d, nn.BatchNorm2d, nn.Linear) + pools + acts


@dataclass
class Unit:
    """One layer or glue op of a model, as timed alone."""

    kind: str
    key: str                        # table key: kind, full configuration, input shape(s)
    shapes: list[tuple[int, ...]]   # input shapes, in call order
    make: Callable = field(repr=False, default=None)   # -> an nn.Module taking ``len(shapes)`` tensors


class _Slot:
    """A tensor argument's place in a recorded call (``repr``: T and its shape)."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def __repr__(self) -> str:
        return f"T{list(self.shape)}"


def _walk(value, leaf):
    """``value`` with ``leaf`` applied to everything that is not a list or tuple."""
    if isinstance(value, (list, tuple)):
        return type(value)(_walk(v, leaf) for v in value)
    return leaf(value)


class _Replay:
    """Build a module that replays one recorded tensor function on fresh inputs."""

    def __init__(self, func, args, kwargs):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self):
        from torch import nn

        replay = self

        class Glue(nn.Module):
            def forward(self, *tensors):
                it = iter(tensors)
                args = _walk(replay.args, lambda v: next(it) if isinstance(v, _Slot) else v)
                return replay.func(*args, **replay.kwargs)

        return Glue()


def _glue_unit(func, args, kwargs) -> Unit | None:
    """The unit replaying ``func(*args, **kwargs)``; None where a tensor is passed by keyword
    (never in these models)."""
    import torch

    name = getattr(func, "__name__", str(func))
    if any(isinstance(v, torch.Tensor) for v in kwargs.values()):
        return None
    shapes: list = []

    def slot(v):   # a tensor argument -> its place, its shape noted
        if isinstance(v, torch.Tensor):
            shapes.append(tuple(v.shape))
            return _Slot(v.shape)
        return v

    targs = _walk(list(args), slot)
    call = ", ".join([repr(a) for a in targs] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return Unit(f"glue:{name}", f"{name}({call})", shapes, make=_Replay(func, targs, dict(kwargs)))


def collect_units(model, shape: tuple[int, ...]) -> list[Unit]:
    """The layers and glue ops one forward pass of ``model`` runs at input ``shape``, in order."""
    import torch
    from torch.overrides import TorchFunctionMode

    units: list[Unit] = []
    depth = [0]

    def pre(module, inputs):
        if depth[0] == 0:
            shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
            desc = " ".join(repr(module).split())
            units.append(Unit(type(module).__name__, f"{desc} @ {shapes}", shapes,
                              make=lambda m=module: copy.deepcopy(m)))
        depth[0] += 1

    def post(*_):
        depth[0] -= 1

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if depth[0] == 0 and getattr(func, "__name__", "") not in _SKIP and isinstance(out, torch.Tensor):
                unit = _glue_unit(func, args, kwargs)
                if unit is not None:
                    units.append(unit)
            return out

    types = _layer_types()
    handles = []
    for m in model.modules():
        if isinstance(m, types):
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        with torch.inference_mode(), Recorder():
            model.eval()(torch.randn(*shape))
    finally:
        for h in handles:
            h.remove()
    return units


def units_of(arch: Arch, batch: int = 1) -> list[Unit]:
    model = build(arch)
    return collect_units(model, input_shape(arch, model, batch))


def light_models() -> list[str]:
    """Every registered light model: the ShuffleNetV2 and MobileNetV2/V1 families, base, _se and _sk."""
    from ..models import list_models, model_entry

    return [n for n in list_models() if model_entry(n).family in ("shufflenetv2", "mobilenetv2", "mobilenetv1")]
