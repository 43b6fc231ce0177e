"""Optimiser, weight decay and learning-rate schedule of the proxy trainer.

SGD with momentum 0.9 (Nesterov) and a cosine schedule after a linear warm-up. Weight decay follows
the SKNet paper (Li et al., CVPR 2019, Sec. 4): 1e-4 for the large ResNeXt/SENet/SKNet models and 4e-5
for the light ShuffleNet/MobileNet ones; never on BatchNorm parameters or biases.
"""

from __future__ import annotations

import math

import torch
from torch import nn

WD_LARGE, WD_LIGHT = 1e-4, 4e-5
LIGHT_FAMILIES = ("shufflenet", "mobilenet")


def model_family(model: nn.Module) -> str | None:
    name = getattr(model, "skmobile_name", None)
    if name is None:
        return None
    from ..models import model_entry

    try:
        return model_entry(name).family
    except Exception:  # noqa: BLE001 - an unregistered name just has no family
        return None


def is_light(model: nn.Module) -> bool:
    """ShuffleNet/MobileNet families are light; unnamed models are light below 5M parameters."""
    family = model_family(model)
    name = getattr(model, "skmobile_name", "") or ""
    if family is not None or name:
        return any(f in (family or "") or name.startswith(f) for f in LIGHT_FAMILIES)
    return sum(p.numel() for p in model.parameters()) < 5_000_000


def default_weight_decay(model: nn.Module) -> float:
    return WD_LIGHT if is_light(model) else WD_LARGE


def default_lr(batch_size: int) -> float:
    """0.1 per 128 images (linear scaling)."""
    return 0.1 * batch_size / 128


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay on conv/linear weights only: no decay on BN parameters or biases (1-D tensors)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, momentum: float = 0.9,
                   nesterov: bool = True) -> torch.optim.SGD:
    return torch.optim.SGD(param_groups(model, weight_decay), lr=lr, momentum=momentum, nesterov=nesterov)


def lr_at(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up to ``base_lr`` over ``warmup_steps``, then cosine to 0 at ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * t))


def timing_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """The trainer's optimizer at a fixed learning rate, for timing its SGD steps (``bench train``)."""
    return make_optimizer(model, 0.01, default_weight_decay(model))
