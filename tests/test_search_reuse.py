"""No paying twice: a trial of a configuration already trained (same seed, data, budget) reuses the
result and records ``reused_from``; anything that changes the measurement trains again."""

import optuna
from optuna.trial import TrialState
from test_search_support import FakeTrainer

from skmobile.search.objective import Objective
from skmobile.search.runner import SearchConfig, open_study
from skmobile.search.spaces import Candidate

K3K5 = Candidate("sknet50", {"sk": {"paths": "K3+K5", "groups": 32, "attention": True, "reduction": 16,
                                    "min_attn": 32}})
K3 = Candidate("sknet50", {"sk": {"paths": "K3", "groups": 32, "attention": False}})


class CountingTrainer(FakeTrainer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.runs = []

    def run(self, candidate, seed, on_epoch=None):
        self.runs.append((candidate.label(), seed))
        return super().run(candidate, seed, on_epoch)


def _study(objective="multi"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(directions=["minimize"] * (1 if objective == "error" else 2))


def _picker(plan):
    """pick() returning plan[trial.number] = (candidate, seed)."""
    def pick(trial):
        candidate, seed = plan[trial.number]
        trial.suggest_categorical("x", [K3K5.label(), K3.label()])  # params like a space's
        return candidate, seed, {"space": "test"}
    return pick


def _run(study, plan, trainer, objective="multi"):
    study.optimize(Objective(_picker(plan), trainer, objective), n_trials=len(plan), catch=(Exception,))
    return study.get_trials()


def test_identical_point_reuses_the_result_and_says_so():
    trainer = CountingTrainer(dataset="fake", budget="trial", epochs=None)
    trials = _run(_study(), [(K3K5, 0), (K3, 0), (K3K5, 0), (K3K5, 0)], trainer)
    assert trainer.runs == [(K3K5.label(), 0), (K3.label(), 0)]  # trained once each
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert "reused_from" not in trials[0].user_attrs and "reused_from" not in trials[1].user_attrs
    for t in trials[2:]:
        assert t.user_attrs["reused_from"] == 0
        assert t.values == trials[0].values
        for key in ("val_error", "test_error", "mflops", "params", "epochs", "dataset"):
            assert t.user_attrs[key] == trials[0].user_attrs[key], key
        assert t.user_attrs["worker"] == trials[0].user_attrs["worker"]  # its own, not copied over
        assert t.user_attrs["reuse_key"] == trials[0].user_attrs["reuse_key"]


def test_another_seed_or_budget_or_data_trains_again():
    trainer = CountingTrainer(dataset="fake", budget="trial", epochs=None)
    study = _study()
    _run(study, [(K3K5, 0), (K3K5, 1)], trainer)
    assert len(trainer.runs) == 2  # a new seed is a new measurement
    for changed in ({"epochs": 3}, {"budget": "default"}, {"dataset": "cifar10"}, {"train_limit": 64}):
        other = CountingTrainer(**{"dataset": "fake", "budget": "trial", "epochs": None, **changed})
        plan = {len(study.trials): (K3K5, 0)}
        _run_one(study, plan, other)
        assert other.runs == [(K3K5.label(), 0)], changed
    assert not any("reused_from" in t.user_attrs for t in study.get_trials())


def _run_one(study, plan, trainer):
    study.optimize(Objective(_picker(plan), trainer), n_trials=1, catch=(Exception,))


def test_failed_trial_is_not_reused(monkeypatch):
    monkeypatch.setenv("SKMOBILE_FAKE_FAIL", "K3+K5")
    trainer = CountingTrainer(dataset="fake", budget="trial", epochs=None)
    study = _study()
    _run(study, [(K3K5, 0)], trainer)
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL")
    _run_one(study, {1: (K3K5, 0)}, trainer)
    t = study.get_trials()
    assert [x.state for x in t] == [TrialState.FAIL, TrialState.COMPLETE]
    assert "reused_from" not in t[1].user_attrs and len(trainer.runs) == 2


def test_single_objective_study_reuses_its_value(tmp_path):
    trainer = CountingTrainer(dataset="fake", budget="trial", epochs=None)
    study = open_study(SearchConfig(storage=f"sqlite:///{tmp_path}/r.db", objective="error"))
    trials = _run(study, [(K3, 2), (K3, 2)], trainer, objective="error")
    assert len(trainer.runs) == 1
    assert trials[1].user_attrs["reused_from"] == 0 and trials[1].value == trials[0].value


def test_reused_trial_keeps_its_own_latency():
    """With the latency objective, only the training result is reused; latency is this trial's."""
    calls = []

    def latency(model, kwargs):
        calls.append(model)
        return {"latency_ms": 10.0 + len(calls), "latency_source": "measured"}

    trainer = CountingTrainer(dataset="fake", budget="trial", epochs=None)
    study = _study()
    study.optimize(Objective(_picker([(K3K5, 0), (K3K5, 0)]), trainer, "error,latency", latency=latency),
                   n_trials=2, catch=(Exception,))
    first, second = study.get_trials()
    assert len(trainer.runs) == 1 and second.user_attrs["reused_from"] == 0
    assert first.values == [first.user_attrs["val_error"], 11.0]
    assert second.values == [first.user_attrs["val_error"], 12.0] and second.user_attrs["latency_ms"] == 12.0
