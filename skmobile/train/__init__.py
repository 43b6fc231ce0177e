"""Training and evaluation: one ``fit`` loop, proxy recipes, ``train_proxy`` (the one path of
``skmobile train`` and every search trial), pickle-free checkpoints."""

from .checkpoint import load_checkpoint, load_model, read_checkpoint, save_checkpoint
from ..device import DEVICES, resolve_device
from .loop import FitConfig, FitResult, evaluate, fit
from .optim import default_weight_decay, is_light, lr_at
from .proxy import BUDGETS, FAMILY_PROXIES, Recipe, build_proxy_model, proxy_recipe, recipe_table
from .proxy_fit import ProxyRun, train_proxy

#: Every --budget of train, search and reproduce: the proxy budgets and the paper's full-size protocol.
TRAIN_BUDGETS = BUDGETS + ("paper",)

__all__ = ["BUDGETS", "DEVICES", "FAMILY_PROXIES", "FitConfig", "FitResult", "ProxyRun", "Recipe", "build_proxy_model",
           "default_weight_decay", "evaluate", "fit", "is_light", "load_checkpoint", "load_model", "lr_at",
           "proxy_recipe", "read_checkpoint", "recipe_table", "resolve_device", "save_checkpoint", "train_proxy",
           "TRAIN_BUDGETS"]
