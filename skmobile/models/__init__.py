"""Model families, each in one file, all registered in one factory (and in timm's where free)."""

from ._registry import (Family, ModelEntry, create_model, family_of, list_models, model_entry, model_families,
                        register_family, register_model)
from . import resnext  # noqa: F401  (registers the ResNeXt/SENet/SKNet family)
from . import shufflenetv2  # noqa: F401  (ShuffleNetV2 base/SE/SK, Table 4)
from . import mobilenet  # noqa: F401  (MobileNetV2/V1 base/SE/SK)
from .resnext import ResNeXt

__all__ = ["Family", "ModelEntry", "ResNeXt", "create_model", "family_of", "list_models", "model_entry",
           "model_families", "register_family", "register_model"]
