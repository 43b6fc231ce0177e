"""``train_proxy``: build a model's proxy from its recipe and train it; the one path for
``skmobile train`` and every search trial, so both train the same network the same way."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .loop import FitConfig, FitResult, fit
from .proxy import Recipe, build_proxy_model, proxy_recipe


@dataclass
class ProxyRun:
    """A trained proxy: the network, the kwargs it was built with, its recipe and fit's result."""

    model: nn.Module
    model_kwargs: dict          # JSON-safe create_model kwargs (recipe, data set shape, overrides)
    recipe: Recipe
    result: FitResult
    complexity: object | None   # skmobile.profile.Complexity of the proxy at the data's image size
    lr: float
    shape: dict | None = None   # skmobile.train.proxy_shape.proxy_shape: params, MACs, stage maps


def _complexity(model: nn.Module, image_size: int):
    from ..profile import complexity

    try:
        return complexity(model, image_size, "paper")
    except Exception:  # noqa: BLE001 - a summary without MACs is still a result
        return None


def _shape(model: nn.Module, image_size: int) -> dict | None:
    from .proxy_shape import proxy_shape

    try:
        return proxy_shape(model, image_size)
    except Exception:  # noqa: BLE001 - a result without the proxy's shape is still a result
        return None


def train_proxy(model_name: str, loaders, *, budget: str = "default", seed: int = 0, epochs: int | None = None,
                lr: float | None = None, overrides: dict | None = None, device="cpu", out_dir=None,
                resume: bool = False, progress: bool = False, on_epoch=None, meta: dict | None = None) -> ProxyRun:
    """Train the proxy of ``model_name`` on ``loaders`` with the recipe for ``budget``.

    ``overrides`` are create_model kwargs on top of the recipe's (e.g. a search candidate's ``sk``);
    SK group counts the proxy's narrower units cannot hold are lowered by :func:`build_proxy_model`.
    ``epochs`` defaults to the recipe's; ``lr`` to the recipe's, scaled linearly with the loaders'
    batch size. Checkpoints go to ``out_dir`` (``resume`` continues them); ``meta`` is stored in them.
    """
    import torch

    recipe = proxy_recipe(model_name, budget)
    if lr is None:
        batch = getattr(loaders, "batch_size", None) or recipe.batch_size
        lr = recipe.lr if batch == recipe.batch_size else recipe.lr * batch / recipe.batch_size
    torch.manual_seed(seed)
    model = build_proxy_model(model_name, loaders, budget, **(overrides or {}))
    cx = _complexity(model, loaders.image_size)
    shape = _shape(model, loaders.image_size)
    result = fit(model, loaders, FitConfig(
        epochs=epochs or recipe.epochs, lr=lr, weight_decay=recipe.weight_decay,
        label_smoothing=recipe.label_smoothing, warmup_epochs=recipe.warmup_epochs, seed=seed, device=device, out_dir=out_dir, resume=resume,
        progress=progress, on_epoch=on_epoch, meta={"recipe": recipe.to_dict(), **(meta or {})},
        channels_last=True if recipe.channels_last else None))
    return ProxyRun(model, dict(model.skmobile_kwargs), recipe, result, cx, float(lr), shape)
