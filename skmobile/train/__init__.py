"""Training and evaluation: one ``fit`` for the CLI, the search and the table runner; proxy recipes;
pickle-free checkpoints."""

from .checkpoint import load_checkpoint, load_model, read_checkpoint, save_checkpoint
from .loop import FitResult, evaluate, fit
from .optim import default_weight_decay, is_light, lr_at
from .proxy import BUDGETS, FAMILY_PROXIES, Recipe, build_proxy_model, proxy_recipe, recipe_table

__all__ = ["BUDGETS", "FAMILY_PROXIES", "FitResult", "Recipe", "build_proxy_model", "default_weight_decay",
           "evaluate", "fit", "is_light", "load_checkpoint", "load_model", "lr_at", "proxy_recipe",
           "read_checkpoint", "recipe_table", "save_checkpoint"]
