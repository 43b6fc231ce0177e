"""Read training results from an Optuna study (search grid or direct fit) and write them to one.

Every complete trial becomes a :class:`Record`, read from the user attributes the search writes
(:mod:`skmobile.search.objective`). Errors are in percent. Studies are opened only through
:func:`skmobile.search.storage.open_storage`, so every storage the search writes (SQLite, journal
file, PostgreSQL) can be reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import SKMobileError
from ..search.storage import DEFAULT_STORAGE, open_storage


@dataclass(frozen=True)
class Record:
    """One finished training run of one configuration and seed."""
    study: str
    number: int
    label: str | None
    table: int | None
    seed: int | None
    test_error: float | None  # percent
    val_error: float | None   # percent
    dataset: str | None
    budget: str | None
    epochs: int | None
    params: float | None      # full-size model
    macs: float | None        # full-size model, paper convention
    model: str | None
    spec: str | None          # JSON text

    def to_dict(self) -> dict:
        return asdict(self)


def _float(v) -> float | None:
    return None if v is None else float(v)


def _int(v):
    return None if v is None else int(v)


def _spec_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def _table_number(grid) -> int | None:
    """``"table6"`` (the grid a trial belongs to) -> 6."""
    if isinstance(grid, str) and grid.startswith("table") and grid[5:].isdigit():
        return int(grid[5:])
    return None


def records_from_trial(study_name: str, trial) -> Record:
    a = dict(trial.user_attrs)
    label = a.get("row") if a.get("row") is not None else a.get("label")  # a grid row, else the candidate
    return Record(study_name, trial.number, label, _table_number(a.get("grid")), _int(a.get("seed")),
                  _float(a.get("test_error")), _float(a.get("val_error")), a.get("dataset"), a.get("budget"),
                  _int(a.get("epochs")), a.get("params"), a.get("macs"), a.get("model"), _spec_text(a.get("spec")))


def load_records(storage: str | None = None, study: str | None = None) -> list[Record]:
    """Complete trials of ``study`` (or of every study in ``storage``, default
    :data:`DEFAULT_STORAGE`), in a stable order. A storage file that does not exist is an error."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    opened = open_storage(storage or DEFAULT_STORAGE, create=False)
    try:
        names = [study] if study else sorted(s.study_name for s in optuna.get_all_study_summaries(opened))
    except Exception as exc:  # noqa: BLE001 - any storage failure becomes one line
        raise SKMobileError(f"cannot read studies in {storage or DEFAULT_STORAGE}: "
                            f"{str(exc).splitlines()[0][:300]}") from None
    records = []
    for name in names:
        try:
            s = optuna.load_study(study_name=name, storage=opened)
        except KeyError:
            raise SKMobileError(f"no study {name!r} in {storage or DEFAULT_STORAGE}") from None
        for t in s.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            records.append(records_from_trial(name, t))
    return sorted(records, key=lambda r: (r.study, r.number))


def add_result(storage: str | None, study: str, attrs: dict, value: float) -> None:
    """Append one finished run (user_attrs ``attrs``, errors in percent; objective = test error %)
    to ``study``, creating it if needed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(study_name=study, storage=open_storage(storage), load_if_exists=True,
                            direction="minimize")
    s.add_trial(optuna.trial.create_trial(value=float(value), user_attrs=attrs, state=optuna.trial.TrialState.COMPLETE))
