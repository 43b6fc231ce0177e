"""Train a paper table's grid (every row x seeds) into an Optuna study, for the report to read.

Uses the search machinery (``skmobile.search``: the grid, its objective and the proxy trainer) when
it is installed, so trials carry the search's user_attrs; otherwise trains each row directly with
``skmobile.train.fit`` and records the same attributes with :func:`add_result`.
"""

from __future__ import annotations

import importlib
import math
from typing import Callable

from ..errors import SKMobileError
from ..tables import get_table
from .study import add_result


def default_study(number: int) -> str:
    return f"grid-table{number}"


def _search_api():
    try:
        grid = importlib.import_module("skmobile.search.grid")
        objective = importlib.import_module("skmobile.search.objective")
        proxy = importlib.import_module("skmobile.search.proxy")
    except ImportError:
        return None
    return grid, objective, proxy


def run_grid(number: int, seeds: int, storage: str, study: str, *, dataset: str = "fashion-mnist",
             budget: str = "trial", data_dir: str | None = None, base_seed: int = 0,
             progress: Callable[[str], None] | None = None) -> int:
    """Run the missing (row, seed) trials of Table ``number``; returns how many were run."""
    if seeds < 1:
        raise SKMobileError(f"--seeds must be >= 1; got {seeds}")
    api = _search_api()
    if api is not None:
        return _run_with_search(api, number, seeds, storage, study, dataset, budget, data_dir, base_seed, progress)
    return _run_direct(number, seeds, storage, study, dataset, budget, data_dir, base_seed, progress)


def _run_with_search(api, number, seeds, storage, study, dataset, budget, data_dir, base_seed, progress) -> int:
    import optuna

    grid_mod, obj_mod, proxy_mod = api
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(study_name=study, storage=storage, load_if_exists=True,
                            directions=["minimize", "minimize"])
    grid = f"table{number}"
    waiting = grid_mod.enqueue_grid(s, grid, seeds)
    trainer = proxy_mod.trainer_from_env(dataset=dataset, data_dir=data_dir, budget=budget)
    if hasattr(trainer, "prepare"):
        trainer.prepare()
    on_progress = (lambda n, epoch, m: progress(f"trial {n}: epoch {epoch}")) if progress else None
    objective = obj_mod.Objective(grid_mod.grid_picker(grid, base_seed), trainer, on_progress=on_progress)
    s.optimize(objective, n_trials=waiting, catch=(Exception,))
    return waiting


def _train_api():
    try:
        train = importlib.import_module("skmobile.train")
        data = importlib.import_module("skmobile.data")
        return train.fit, train.proxy_recipe, train.build_proxy_model, data.make_loaders
    except (ImportError, AttributeError) as exc:
        raise SKMobileError(f"training is not available in this install ({exc})") from None


def _run_direct(number, seeds, storage, study, dataset, budget, data_dir, base_seed, progress) -> int:
    """Fallback without the search package: fit each row per seed, one trial per run."""
    import torch

    from ..profile import profile_model
    from .study import load_records

    fit, proxy_recipe, build_proxy_model, make_loaders = _train_api()
    try:
        done = {(r.label, r.seed) for r in load_records(storage, study)}
    except SKMobileError:
        done = set()
    table, ran = get_table(number), 0
    for rep in range(seeds):
        seed = base_seed + rep
        for row in (r for r in table.rows if not r.reference_only):
            if (row.label, seed) in done:
                continue
            if progress:
                progress(f"Table {number}: {row.label}, seed {seed}")
            recipe = proxy_recipe(row.model, budget=budget)
            loaders = make_loaders(dataset, data_dir, batch_size=recipe.batch_size, seed=seed,
                                   train_limit=recipe.train_limit)
            kwargs = {k: v for k, v in row.kwargs.items() if k != "num_classes"}
            torch.manual_seed(seed)
            model = build_proxy_model(row.model, loaders, **{**dict(recipe.model_kwargs or {}), **kwargs})
            res = fit(model, loaders, epochs=recipe.epochs, lr=recipe.lr, seed=seed, progress=False)
            if res.test_error is None or not math.isfinite(res.test_error):
                continue
            full = profile_model(row.model, input_size=224, num_classes=1000, convention="paper", **kwargs)
            add_result(storage, study, {
                "grid": f"table{number}", "row": row.label, "model": row.model, "spec": kwargs, "seed": seed,
                "test_error": float(res.test_error), "test_accuracy": 1.0 - float(res.test_error),
                "val_error": float(res.val_error), "dataset": loaders.name, "budget": budget,
                "epochs": int(res.epochs), "params": full.params, "macs": full.macs,
                "seconds": round(float(res.seconds), 2)}, float(res.val_error))
            ran += 1
    return ran
