"""No paying twice for a known point: a trial whose configuration was already trained reuses the result.

Two trials are the same point when they train the same network (model and kwargs), with the same
seed, on the same data under the same budget (the trainer's data set, data folder, budget, training
images, epochs, validation and test sizes). Each trial stores that identity as ``reuse_key``; a new
trial whose key equals a COMPLETE trial's copies its result attributes and objective values instead of
training, and records ``reused_from`` (the source trial's number). The sampler is left alone: TPE
may propose a known point again, which then costs a lookup, not a training run.
"""

from __future__ import annotations

import json

#: Trainer attributes that change what a training run measures.
TRAINER_FIELDS = ("dataset", "data_dir", "budget", "train_limit", "epochs", "val_size", "test_limit")
#: Attributes that belong to the trial that ran, not to its result.
_OWN = {"worker", "retry_of", "fail_reason", "wall_s", "reused_from", "reuse_key", "pruned_at_epoch", "rejected"}


def trainer_setup(trainer) -> dict | None:
    """What the trainer trains on, or None when it does not say (then nothing is reused)."""
    source = getattr(trainer, "kwargs", None)
    setup = {}
    for name in TRAINER_FIELDS:
        if hasattr(trainer, name):
            setup[name] = getattr(trainer, name)
        elif isinstance(source, dict):
            setup[name] = source.get(name)
        else:
            return None
    return setup


def reuse_key(candidate, seed: int, trainer) -> str | None:
    setup = trainer_setup(trainer)
    if setup is None:
        return None
    return json.dumps({"model": candidate.model, "kwargs": candidate.kwargs, "seed": seed, "trainer": setup},
                      sort_keys=True, default=str)


def find_source(study, key: str, number: int):
    """The earliest COMPLETE trial of ``study`` (other than ``number``) with this ``reuse_key``."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.number != number and t.user_attrs.get("reuse_key") == key:
            return t
    return None


def result_attrs(source) -> dict:
    """The source trial's result attributes (errors, protocol, versions ...), not its run's own."""
    return {k: v for k, v in source.user_attrs.items() if k not in _OWN}
