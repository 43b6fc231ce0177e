"""Read training results from an Optuna study (search grid or direct fit) and write them to one.

Every complete trial becomes a :class:`Record`. Attribute names follow the search's user_attrs; a
few aliases are accepted so that studies from older versions still read. Errors are in percent.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import SKMobileError

DEFAULT_STORAGE = "sqlite:///runs/skmobile.db"

_ALIASES = {
    "label": ("row", "row_label", "label", "table_row"),
    "table": ("table", "grid", "grid_table"),
    "seed": ("seed",),
    "test_error": ("test_error", "test_err", "top1_err", "test_top1_err"),
    "val_error": ("val_error", "val_err"),
    "dataset": ("dataset", "data_set"),
    "budget": ("budget", "proxy_budget"),
    "epochs": ("epochs",),
    "params": ("params", "full_params"),
    "macs": ("macs", "full_macs", "macs_paper"),
    "model": ("model", "model_name"),
    "spec": ("spec",),
}


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


def _get(attrs: dict, key: str):
    for name in _ALIASES[key]:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _percent(value, attrs: dict, prefix: str) -> float | None:
    """Errors as percent: a fraction is recognised by the unit attr or by the accuracy beside it."""
    if value is None:
        return None
    value = float(value)
    unit = attrs.get("error_unit")
    if unit in ("fraction", "frac"):
        return 100 * value
    if unit in ("percent", "%"):
        return value
    if value > 1.0:  # no proxy reaches 1% error: a value above 1 is already percent
        return value
    acc = attrs.get(f"{prefix}_accuracy")
    if acc is not None and abs(float(acc) + 100 * value - 100.0) < 1e-6:
        return value  # percent beside a percent accuracy
    return 100 * value


def _int(v):
    return None if v is None else int(v)


def _spec_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True)


def records_from_trial(study_name: str, trial) -> Record:
    a = dict(trial.user_attrs)
    table = _get(a, "table")
    if isinstance(table, str):
        table = int(table.replace("table", "")) if table.replace("table", "").isdigit() else None
    return Record(study_name, trial.number, _get(a, "label"), table, _int(_get(a, "seed")),
                  _percent(_get(a, "test_error"), a, "test"), _percent(_get(a, "val_error"), a, "val"),
                  _get(a, "dataset"), _get(a, "budget"), _int(_get(a, "epochs")),
                  _get(a, "params"), _get(a, "macs"), _get(a, "model"), _spec_text(_get(a, "spec")))


def load_records(storage: str, study: str | None = None) -> list[Record]:
    """Complete trials of ``study`` (or of every study in ``storage``), in a stable order."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = [study] if study else sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    except Exception as exc:  # noqa: BLE001 - any storage failure becomes one line
        raise SKMobileError(f"cannot open storage {storage!r}: {exc}") from None
    records = []
    for name in names:
        try:
            s = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            raise SKMobileError(f"no study {name!r} in {storage}") from None
        for t in s.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            records.append(records_from_trial(name, t))
    return sorted(records, key=lambda r: (r.study, r.number))


def add_result(storage: str, study: str, attrs: dict, value: float) -> None:
    """Append one finished run (user_attrs ``attrs``, objective = test error %) to ``study``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = optuna.create_study(study_name=study, storage=storage, load_if_exists=True, direction="minimize")
    s.add_trial(optuna.trial.create_trial(value=float(value), user_attrs=attrs, state=optuna.trial.TrialState.COMPLETE))
