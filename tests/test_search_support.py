"""A fake proxy trainer for the search tests (no data, no training): selected through
SKMOBILE_SEARCH_TRAINER=test_search_support:FakeTrainer with tests/ on PYTHONPATH."""

import hashlib
import os
import time

from skmobile.search.trainer import TrainOutcome


class FakeTrainer:
    """Deterministic error from the candidate; SKMOBILE_FAKE_SLEEP seconds per trial;
    SKMOBILE_FAKE_FAIL=text makes candidates whose label contains text raise, "nan:text" give NaN."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def prepare(self, check_data=False):
        pass

    def run(self, candidate, seed, on_epoch=None):
        label = candidate.label()
        fail = os.environ.get("SKMOBILE_FAKE_FAIL", "")
        if fail.startswith("nan:") and fail[4:] in label:
            return TrainOutcome(float("nan"), None, 1, 0.0, 0.0, status="nan")
        if fail and not fail.startswith("nan:") and fail in label:
            raise RuntimeError(f"fake failure for {label}")
        time.sleep(float(os.environ.get("SKMOBILE_FAKE_SLEEP", "0")))
        err = int(hashlib.sha1(f"{label}/{seed}".encode()).hexdigest()[:6], 16) / 0xFFFFFF * 50
        if on_epoch:
            on_epoch(1, {"val_error": err})
        return TrainOutcome(err, err + 1.0, 1, 1000.0, 0.01, proxy={"model": candidate.model},
                            protocol={"dataset": "fake"})


def add_result(storage, study, attrs, value):
    """Append one finished run (user_attrs ``attrs``, errors in percent; objective = test error %) to
    ``study``, creating it if needed: how the report tests fill a study without training."""
    import optuna

    from skmobile.search.storage import open_study

    s = open_study(storage, study, create=True, directions=["minimize"])
    s.add_trial(optuna.trial.create_trial(value=float(value), user_attrs=attrs, state=optuna.trial.TrialState.COMPLETE))
