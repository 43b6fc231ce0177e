"""Read training results from an Optuna study (search grid or direct fit) and write them to one.

Every complete trial becomes a :class:`Record`, read from the user attributes the search writes
(:mod:`skmobile.search.objective`). Errors are in percent. Studies are opened only through
:func:`skmobile.search.storage.open_storage`, so every storage the search writes (SQLite, journal
file, PostgreSQL) can be reported.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from ..errors import SKMobileError
from ..search.storage import DEFAULT_STORAGE


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
    proxy_params: float | None = None   # the trained proxy itself (user attr "proxy")
    proxy_macs: float | None = None     # the proxy's MACs at its data's image size, paper convention
    proxy_maps: tuple | None = None     # the proxy's stage map sides (px), e.g. (56, 28, 14, 7)
    meta: dict | None = None            # git_commit, versions, hardware, device, threads, date (YYYY-MM-DD)

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
    proxy = a.get("proxy") if isinstance(a.get("proxy"), dict) else {}
    maps = proxy.get("stage_maps")
    return Record(study_name, trial.number, label, _table_number(a.get("grid")), _int(a.get("seed")),
                  _float(a.get("test_error")), _float(a.get("val_error")), a.get("dataset"), a.get("budget"),
                  _int(a.get("epochs")), a.get("params"), a.get("macs"), a.get("model"), _spec_text(a.get("spec")),
                  _float(proxy.get("params")), _float(proxy.get("macs")), tuple(int(m) for m in maps) if maps else None,
                  _meta(a, trial))


def _meta(attrs: dict, trial) -> dict:
    """Provenance of one trial (None where the trial did not record it)."""
    done = getattr(trial, "datetime_complete", None)
    return {"git_commit": attrs.get("git_commit"), "versions": attrs.get("versions"),
            "hardware": attrs.get("hardware"), "device": attrs.get("device"), "threads": attrs.get("threads"),
            "date": done.date().isoformat() if done is not None else None}


def load_records(storage: str | None = None, study: str | None = None) -> list[Record]:
    """Complete trials of ``study`` (or of every study in ``storage``, default
    :data:`DEFAULT_STORAGE`), in a stable order. A storage file that does not exist is an error."""
    from optuna.trial import TrialState

    from ..search.storage import open_storage, open_study, storage_error, study_names

    url = storage or DEFAULT_STORAGE
    if study:
        names = [study]
    else:
        try:
            names = study_names(open_storage(url, create=False))
        except SKMobileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any storage failure becomes one line
            raise SKMobileError(f"cannot read studies in {url}: {storage_error(exc)}") from None
    records = []
    for name in names:
        study = open_study(url, name)
        note = budget_overrides(study.user_attrs)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            r = records_from_trial(name, t)
            records.append(replace(r, budget=f"{r.budget} ({note})") if note and r.budget else r)
    return sorted(records, key=lambda r: (r.study, r.number))


def budget_overrides(study_attrs: dict) -> str:
    """``train-limit N, epochs E`` for a study run with budget overrides (see :mod:`skmobile.search.identity`),
    else "". A record's budget carries it, so a report never pools such runs with the recipe's."""
    ident = study_attrs.get("identity") if isinstance(study_attrs.get("identity"), dict) else {}
    parts = [f"{flag} {ident[key]}" for key, flag in (("train_limit", "train-limit"), ("epochs", "epochs"))
             if ident.get(key) is not None]
    return ", ".join(parts)
