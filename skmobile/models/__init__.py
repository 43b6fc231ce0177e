"""Model families, each in one file, all registered in one factory (and in timm's where free)."""

from ._registry import ModelEntry, create_model, list_models, model_entry, register_model
from . import resnext  # noqa: F401  (registers the ResNeXt/SENet/SKNet family)
from .resnext import ResNeXt

__all__ = ["ModelEntry", "ResNeXt", "create_model", "list_models", "model_entry", "register_model"]
