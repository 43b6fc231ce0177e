"""Exact complexity: parameters and multiply-adds (MACs) under named conventions.

The SKNet paper's "FLOPs" are multiply-adds (it follows ShuffleNet). Conventions:

* ``paper``    conv + linear MACs, plus M multiply-adds per output element of every SK unit with
               attention (the weighted sum V = sum_m a_m U_m). Reproduces every GFLOPs cell the SKNet
               authors computed (e.g. SKNet-50 4.47, 3-path 4.70, SKNet-101 8.46).
* ``paper+bn`` ``paper`` plus one MAC per BatchNorm output element: the convention of the ResNeXt and
               SENet figures the paper copied from the SENet paper (4.24, 7.99, 4.25, 8.00).
* ``fvcore``   fvcore's FlopCountAnalysis total. It counts MACs (calling them flops), also counts
               norms and adaptive pooling, and skips elementwise ops: those are listed as skipped.
* ``torch``    torch.utils.flop_counter.FlopCounterMode total / 2 (it reports 2 x MACs); conv and
               matmul only.

Parameters: learnable ones (BN gamma/beta included); ``bn_stats=True`` adds BN running mean/var,
the convention some ablation rows of the paper follow.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn

from .errors import SKMobileError, choose
from .layers import SKConv2d

CONVENTIONS = ("paper", "paper+bn", "fvcore", "torch")
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@dataclass
class LayerCost:
    name: str
    kind: str
    params: int
    macs: int


@dataclass
class Complexity:
    model: str
    convention: str
    input_size: int
    params: int                 # learnable parameters
    bn_stats: int               # BN running mean + var elements
    macs: int                   # multiply-adds for one image under ``convention``
    params_convention: str = "learnable"
    layers: list[LayerCost] = field(default_factory=list)
    skipped_ops: dict[str, int] = field(default_factory=dict)  # op -> count the counter skipped

    @property
    def params_counted(self) -> int:
        return self.params + (self.bn_stats if self.params_convention == "learnable+bn_stats" else 0)

    def to_dict(self, per_layer: bool = False) -> dict:
        out = {
            "model": self.model,
            "params": self.params_counted,
            "params_learnable": self.params,
            "bn_stats": self.bn_stats,
            "params_convention": self.params_convention,
            "macs": self.macs,
            "gmacs": round(self.macs / 1e9, 4),
            "convention": self.convention,
            "input_size": self.input_size,
            "skipped_ops": dict(self.skipped_ops),
        }
        if per_layer:
            out["layers"] = [vars(layer) for layer in self.layers]
        return out


def count_params(model: nn.Module) -> tuple[int, int]:
    """(learnable parameters, BN running-statistics elements)."""
    learnable = sum(p.numel() for p in model.parameters())
    stats = sum(m.running_mean.numel() + m.running_var.numel()
                for m in model.modules() if isinstance(m, _BN) and m.running_mean is not None)
    return learnable, stats


def _input_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    raise SKMobileError("cannot profile a model without a Conv2d (input channels unknown)")


def _hook_count(model: nn.Module, x: torch.Tensor, with_bn: bool) -> tuple[int, list[LayerCost]]:
    """Forward hooks: conv, linear, SK weighted sum, and (with_bn) BN elements."""
    costs: dict[str, LayerCost] = {}
    handles = []

    def add(name, module, macs):
        entry = costs.setdefault(name, LayerCost(name, type(module).__name__,
                                                 sum(p.numel() for p in module.parameters(recurse=False)), 0))
        entry.macs += int(macs)

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            def hook(m, inp, out, name=name):
                kh, kw = m.kernel_size
                add(name, m, out.numel() * (m.in_channels // m.groups) * kh * kw)
        elif isinstance(module, nn.Linear):
            def hook(m, inp, out, name=name):
                add(name, m, out.numel() * m.in_features)
        elif isinstance(module, SKConv2d):
            def hook(m, inp, out, name=name):
                if m.attn is not None:  # the weighted sum: M multiply-adds per output element
                    add(name, m, m.num_paths * out.numel())
        elif with_bn and isinstance(module, _BN):
            def hook(m, inp, out, name=name):
                add(name, m, out.numel())
        else:
            continue
        handles.append(module.register_forward_hook(hook))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    layers = list(costs.values())
    return sum(c.macs for c in layers), layers


def _fvcore_count(model: nn.Module, x: torch.Tensor) -> tuple[int, list[LayerCost], dict[str, int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import logging

        from fvcore.nn import FlopCountAnalysis

        logging.getLogger("fvcore").setLevel(logging.ERROR)
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(analysis.total())
        by_module = analysis.by_module()
        skipped = dict(Counter(analysis.unsupported_ops()))
    modules = dict(model.named_modules())
    layers = [LayerCost(n, type(modules[n]).__name__, sum(p.numel() for p in modules[n].parameters(recurse=False)),
                        int(v))
              for n, v in by_module.items() if n and n in modules and not list(modules[n].children()) and v]
    return total, layers, skipped


def _torch_count(model: nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops()) // 2


def complexity(model: nn.Module, input_size: int = 224, convention: str = "paper", *,
               bn_stats: bool = False, in_chans: int | None = None, name: str | None = None) -> Complexity:
    """Parameters and MACs of ``model`` for one ``input_size`` x ``input_size`` image."""
    choose("convention", convention, CONVENTIONS)
    if input_size < 1:
        raise SKMobileError(f"input size {input_size} must be >= 1")
    in_chans = in_chans or _input_channels(model)
    device = next(model.parameters()).device
    if device.type == "meta" and convention not in ("paper", "paper+bn"):
        raise SKMobileError(f"convention {convention!r} needs a real model, not one on the meta device")
    x = torch.randn(1, in_chans, input_size, input_size, device=device)
    was_training = model.training
    model.eval()
    skipped: dict[str, int] = {}
    try:
        with torch.no_grad():
            if convention in ("paper", "paper+bn"):
                macs, layers = _hook_count(model, x, with_bn=convention == "paper+bn")
                skipped = _skipped_by_hooks(model, convention)
            elif convention == "fvcore":
                macs, layers, skipped = _fvcore_count(model, x)
            else:
                macs, layers = _torch_count(model, x), []
                skipped = _skipped_by_hooks(model, "paper")
    finally:
        model.train(was_training)
    learnable, stats = count_params(model)
    return Complexity(
        model=name or getattr(model, "skmobile_name", type(model).__name__), convention=convention,
        input_size=input_size, params=learnable, bn_stats=stats, macs=macs,
        params_convention="learnable+bn_stats" if bn_stats else "learnable", layers=layers,
        skipped_ops=skipped,
    )


def _skipped_by_hooks(model: nn.Module, convention: str) -> dict[str, int]:
    """Leaf module types the counter leaves out (type -> number of modules). Functional ops
    (residual adds, the SK branch sum and pooling, softmax) are never counted by these conventions."""
    skipped: Counter = Counter()
    for m in model.modules():
        if list(m.children()):
            continue
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            continue
        if isinstance(m, _BN) and convention == "paper+bn":
            continue
        if isinstance(m, (nn.Identity, nn.Dropout)):
            continue
        skipped[type(m).__name__] += 1
    return dict(skipped)


def profile_model(name: str, input_size: int = 224, num_classes: int = 1000, convention: str = "paper",
                  bn_stats: bool = False, **model_kwargs) -> Complexity:
    """Build a registered model and profile it.

    The hook conventions only need shapes, so the model is built on the meta device (no memory,
    no weight init): SKNet-101 profiles in a fraction of a second.
    """
    from .models import create_model

    choose("convention", convention, CONVENTIONS)
    device = torch.device("meta") if convention in ("paper", "paper+bn") else torch.device("cpu")
    with device:
        model = create_model(name, num_classes=num_classes, **model_kwargs)
    return complexity(model, input_size, convention, bn_stats=bn_stats, name=name)
