"""``--grid table4|table6|table7``: exactly the paper's rows, each ``--seeds N`` times.

Rows come from :mod:`skmobile.tables` (reference-only rows are skipped). Each (row, repeat) is
enqueued once as a trial with fixed parameters ``row`` and ``rep``; rerunning enqueues only the
pairs the study does not hold yet (complete, running or waiting), so a grid run can be resumed.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from skmobile.errors import SKMobileError

from .spaces import Candidate

GRIDS = ("table4", "table6", "table7")
_KEEP = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
GRID_DONE = "grid done: every (row, repeat) pair is taken"


def grid_rows(grid: str):
    from skmobile.tables import get_table

    if grid not in GRIDS:
        raise SKMobileError(f"unknown grid {grid!r}; allowed: {', '.join(GRIDS)}")
    table = get_table(int(grid[5:]))
    rows = [r for r in table.rows if not r.reference_only]
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise SKMobileError(f"{grid} has duplicate row labels; cannot enumerate it")
    return rows


def enqueue_grid(study, grid: str, seeds: int, budget: str = "trial") -> int:
    """Enqueue the (row, repeat) pairs the study does not hold for ``budget`` (a trial without a
    budget attribute counts as "trial"); returns how many trials this run must execute."""
    if seeds < 1:
        raise SKMobileError(f"--seeds must be >= 1; got {seeds}")
    held = {(t.params.get("row", t.system_attrs.get("fixed_params", {}).get("row")),
             t.params.get("rep", t.system_attrs.get("fixed_params", {}).get("rep")))
            for t in study.get_trials(deepcopy=False, states=_KEEP) if t.user_attrs.get("budget", "trial") == budget}
    for rep in range(seeds):
        for row in grid_rows(grid):
            if (row.label, rep) not in held:
                study.enqueue_trial({"row": row.label, "rep": rep}, user_attrs={"grid": grid, "budget": budget})
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def _enqueued(trial) -> bool:
    """Whether ``trial`` (running now) came from the queue of enqueued (row, repeat) pairs."""
    for frozen in trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.number == trial.number:
            return "fixed_params" in frozen.system_attrs
    return False


def grid_picker(grid: str, base_seed: int):
    """``pick`` for a grid: the enqueued row and repeat; seed = base seed + repeat."""
    rows = {r.label: r for r in grid_rows(grid)}

    def pick(trial):
        if not _enqueued(trial):
            # Not an enqueued pair: another worker took the last one. Sampling a row and repeat here
            # would add a trial outside the grid (a seed the grid never names), so stop this worker.
            trial.study.stop()
            trial.set_user_attr("rejected", GRID_DONE)
            raise optuna.TrialPruned(GRID_DONE)
        label = trial.suggest_categorical("row", list(rows))
        rep = trial.suggest_int("rep", 0, 999)
        row = rows[label]
        kwargs = {k: v for k, v in row.kwargs.items() if k != "num_classes"}
        extra = {"grid": grid, "row": label, "paper": row.paper, "params_convention": row.params_convention}
        return Candidate(row.model, kwargs), base_seed + rep, extra

    return pick
