"""What a trial trains with: the :class:`Trainer` protocol and its default, :class:`ProxyTrainer`.

:class:`ProxyTrainer` trains a candidate's proxy with :func:`skmobile.train.train_proxy`, the same
path as ``skmobile train``. Anything implementing :class:`Trainer` can stand in for it (the tests
use a fake one); ``SKMOBILE_SEARCH_TRAINER=module:Class`` selects another class from the command
line, e.g. for a custom training loop.
"""

from __future__ import annotations

import importlib
import os
from typing import Callable, Protocol, runtime_checkable

from skmobile.data import make_loaders
from skmobile.errors import SKMobileError
from skmobile.train import proxy_recipe, train_proxy

from .outcome import TrainOutcome
from .spaces import Candidate


@runtime_checkable
class Trainer(Protocol):
    """Trains one candidate for the objective; built with the search's data set/budget keywords."""

    def prepare(self, check_data: bool = False) -> None:
        """Fail early (one line) when the trainer cannot run, e.g. the data set is missing."""

    def run(self, candidate: Candidate, seed: int, on_epoch: Callable[[int, dict], None] | None = None) -> TrainOutcome:
        """Train ``candidate`` with ``seed``; ``on_epoch(epoch, metrics)`` after each epoch."""


class ProxyTrainer:
    """:class:`Trainer` for the proxy of a candidate with the recipe for ``budget`` on ``dataset``."""

    #: Held-out images for a "trial"-budget run: validation (what the search optimises) and test (a
    #: fixed subset, the same for every trial). Training images and epochs come from the recipe.
    TRIAL_BUDGET = {"val_size": 2000, "test_limit": 5000}
    #: The "table" budget holds out 5,000 validation images and tests on the whole test split.
    TABLE_BUDGET = {"val_size": 5000, "test_limit": None}

    def __init__(self, dataset: str = "fashion-mnist", data_dir: str | None = None, budget: str = "trial",
                 train_limit: int | None = None, epochs: int | None = None, device: str = "cpu",
                 val_size: int | None = None, test_limit: int | None = None):
        self.dataset, self.data_dir, self.budget = dataset, data_dir, budget
        self.train_limit, self.epochs, self.device = train_limit, epochs, device
        small = {"trial": self.TRIAL_BUDGET, "table": self.TABLE_BUDGET}.get(budget, {})
        if self.train_limit is None:
            self.train_limit = small.get("train_limit")
        self.val_size = val_size if val_size is not None else small.get("val_size", 5000)
        self.test_limit = test_limit if test_limit is not None else small.get("test_limit")
        self._loaders: dict = {}

    def prepare(self, check_data: bool = False) -> None:
        """Fail early (one line) when (``check_data``) the data set is missing or corrupt."""
        if check_data:
            make_loaders(self.dataset, self.data_dir, batch_size=64, train_limit=64)

    def loaders(self, batch_size: int, seed: int, train_limit):
        key = (batch_size, seed, train_limit)
        if key not in self._loaders:
            loaders = make_loaders(self.dataset, self.data_dir, batch_size=batch_size,
                                                seed=seed, train_limit=train_limit, val_size=self.val_size)
            self._loaders[key] = _limit_test(loaders, self.test_limit)
        return self._loaders[key]

    def run(self, candidate: Candidate, seed: int, on_epoch=None) -> TrainOutcome:
        recipe = proxy_recipe(candidate.model, budget=self.budget)
        train_limit = self.train_limit if self.train_limit is not None else recipe.train_limit
        loaders = self.loaders(recipe.batch_size, seed, train_limit)
        run = train_proxy(candidate.model, loaders, budget=self.budget, seed=seed, epochs=self.epochs,
                          overrides=candidate.kwargs, device=self.device, on_epoch=on_epoch)
        result, cx = run.result, run.complexity
        return TrainOutcome(
            val_error=float(result.val_error),
            test_error=None if result.test_error is None else float(result.test_error),
            epochs=int(result.epochs), images_per_s=float(result.images_per_s or 0.0),
            seconds=float(result.seconds), status=str(result.status),
            proxy={"model": candidate.model, "kwargs": run.model_kwargs, "params": cx.params if cx else None,
                   "macs": cx.macs if cx else None, "input_size": loaders.image_size,
                   **{k: v for k, v in (run.shape or {}).items() if k in ("net_input", "stage_maps", "largest_rf",
                                                                        "last_map_ok")}},
            protocol={"dataset": loaders.name, "budget": self.budget, "device": self.device,
                      "train_images": train_limit, "val_images": self.val_size,
                      "test_images": len(loaders.test.dataset) if loaders.test is not None else None,
                      "batch_size": recipe.batch_size, "lr": run.lr,
                      "weight_decay": recipe.weight_decay, "recipe_model_kwargs": dict(recipe.model_kwargs)},
        )


def _limit_test(loaders, limit: int | None):
    """``loaders`` with the test set cut to its first ``limit`` images (the same for every trial)."""
    ds = None if loaders.test is None else loaders.test.dataset
    if not limit or ds is None or len(ds) <= limit:
        return loaders
    import dataclasses

    import torch
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler, Subset

    idx = torch.arange(limit)
    sub = ds.subset(idx, augment=getattr(ds, "augment", None)) if hasattr(ds, "subset") else Subset(ds, idx.tolist())
    batch = getattr(loaders.test.sampler, "batch_size", None) or loaders.test.batch_size or 256
    if getattr(loaders.test, "batch_size", None) is None:  # batch-level fetching (skmobile.data)
        test = DataLoader(sub, batch_size=None, sampler=BatchSampler(SequentialSampler(sub), batch, drop_last=False))
    else:
        test = DataLoader(sub, batch_size=batch, shuffle=False)
    return dataclasses.replace(loaders, test=test)


def trainer_from_env(default=None, **kwargs):
    """The trainer class named by SKMOBILE_SEARCH_TRAINER (module:Class), else ``default`` (ProxyTrainer)."""
    target = os.environ.get("SKMOBILE_SEARCH_TRAINER")
    if not target:
        return (default or ProxyTrainer)(**kwargs)
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise SKMobileError(f"SKMOBILE_SEARCH_TRAINER={target!r} cannot be loaded: {exc}") from None
    trainer = cls(**kwargs)
    if not isinstance(trainer, Trainer):
        raise SKMobileError(f"SKMOBILE_SEARCH_TRAINER={target!r} is not a Trainer; allowed: a class with "
                            "prepare(check_data) and run(candidate, seed, on_epoch)")
    return trainer
