"""Train a paper table's grid (every row x seeds) into an Optuna study, for the report to read.

Runs through the search machinery (``skmobile.search``: the grid, its objective and the proxy
trainer), so grid trials carry exactly the user_attrs of search trials.
"""

from __future__ import annotations

from typing import Callable

from ..errors import SKMobileError


def default_study(number: int) -> str:
    return f"grid-table{number}"


def run_grid(number: int, seeds: int, storage: str, study: str, *, dataset: str = "fashion-mnist",
             budget: str = "trial", data_dir: str | None = None, base_seed: int = 0,
             progress: Callable[[str], None] | None = None) -> int:
    """Run the missing (row, seed) trials of Table ``number``; returns how many were run."""
    if seeds < 1:
        raise SKMobileError(f"--seeds must be >= 1; got {seeds}")
    import optuna

    from ..search import grid as grid_mod
    from ..search import objective as obj_mod
    from ..search import proxy as proxy_mod

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
