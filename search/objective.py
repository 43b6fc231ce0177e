"""One trial: sample -> spec -> full-size and proxy complexity -> proxy training -> errors.

Every number goes into the trial's user attributes (params, MACs, MFLOPs, errors, accuracy, data
set, epochs, seed, wall time, images/s, library versions), so the study database is the record.
Errors and accuracies are in percent (``error_unit``), as ``fit`` reports them.
A trial that raises or produces NaN is marked failed with ``fail_reason``; an impossible candidate
(which the spaces never produce) and one above a ``--max-*`` limit are pruned with ``rejected``
before any training; the search goes on either way.
A configuration already trained in the study with the same seed, data and budget is not trained
again: the trial copies that result and records ``reused_from`` (see :mod:`.reuse`).
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass
from typing import Callable

import optuna
import torch

from skmobile.measure.machine import versions
from skmobile.provenance import git_commit, hardware

from . import reuse
from .spaces import Candidate, Space, check
from .storage import WORKER_ATTR, worker_id

OBJECTIVES = ("multi", "error", "error,latency")
#: the second objective of each two-objective search, as stored in the study and shown
SECOND_OBJECTIVE = {"multi": "mflops", "error,latency": "latency_ms"}
#: the libraries whose versions every trial records
VERSIONED = ("python", "torch", "optuna", "numpy", "skmobile")


class TrialFailed(RuntimeError):
    """A trial that ran but produced no usable result (NaN loss, missing value)."""


def full_complexity(candidate: Candidate) -> dict:
    """Params and MACs of the full-size model: 224 px, 1000 classes, paper convention."""
    return dict(_full_complexity(candidate.model, json.dumps(candidate.kwargs, sort_keys=True)))


@functools.lru_cache(maxsize=256)
def _full_complexity(model: str, kwargs_json: str) -> tuple:
    from skmobile.profile import profile_model

    kwargs = {k: v for k, v in json.loads(kwargs_json).items() if k != "num_classes"}
    cx = profile_model(model, input_size=224, num_classes=1000, convention="paper", **kwargs)
    return (("params", cx.params), ("macs", cx.macs), ("mflops", cx.macs / 1e6))


@dataclass
class Objective:
    """Callable for ``study.optimize``. ``pick(trial) -> (candidate, seed, extra attrs)``."""

    pick: Callable
    trainer: object
    objective: str = "multi"
    max_mflops: float | None = None
    max_params: float | None = None
    on_progress: Callable | None = None     # (trial number, epoch, metrics) for the live view
    device: str | None = None               # the device trials train on, recorded in every trial
    latency: Callable | None = None         # (model, kwargs) -> latency attrs (.trial_latency)
    max_latency_ms: float | None = None

    def __call__(self, trial: optuna.Trial):
        start = time.time()
        trial.set_user_attr(WORKER_ATTR, worker_id())
        if self.device is not None:
            trial.set_user_attr("device", self.device)
        retried = retried_trial_number(trial)
        if retried is not None:  # a retry copies the dead trial's attributes: mark, clear its failure
            trial.set_user_attr("retry_of", retried)
            trial.set_user_attr("fail_reason", None)
        candidate, seed, extra = self.pick(trial)
        for key, value in {**extra, "model": candidate.model, "label": candidate.label(),
                           "spec": candidate.kwargs, "seed": seed}.items():
            trial.set_user_attr(key, value)
        reason = check(candidate)
        if reason:  # never expected from a space: prune with the reason rather than crash
            trial.set_user_attr("rejected", reason)
            raise optuna.TrialPruned(reason)
        full = full_complexity(candidate)
        for key, value in full.items():
            trial.set_user_attr(key, value)
        if self.max_mflops is not None:
            trial.set_constraint("mflops", full["mflops"] - self.max_mflops)
        if self.max_params is not None:
            trial.set_constraint("params", full["params"] - self.max_params)
        latency = self._latency(trial, candidate)
        over = self._over_limit(full, latency)
        if over:  # a constraint is a limit: nothing above it trains
            trial.set_user_attr("rejected", over)
            trial.set_user_attr("wall_s", round(time.time() - start, 2))
            raise optuna.TrialPruned(over)
        known = self._reuse(trial, candidate, seed, start)
        if known is not None:
            return self._values(known, full, latency)
        try:
            outcome = self.trainer.run(candidate, seed, on_epoch=self._on_epoch(trial))
        except optuna.TrialPruned:
            trial.set_user_attr("wall_s", round(time.time() - start, 2))
            raise
        except Exception as exc:
            self._fail(trial, start, f"{type(exc).__name__}: {exc}")
            raise
        self._record(trial, outcome, start)
        if outcome.status != "ok" or not math.isfinite(outcome.val_error):
            self._fail(trial, start, f"training produced {outcome.status} (val_error={outcome.val_error})")
            raise TrialFailed(f"trial {trial.number}: training produced NaN")
        return self._values(outcome.val_error, full, latency)

    def _over_limit(self, full: dict, latency: float | None) -> str | None:
        """Why the candidate breaks a --max-* limit (None when it keeps them all)."""
        for flag, value, limit in (("--max-mflops", full["mflops"], self.max_mflops),
                                   ("--max-params", full["params"], self.max_params),
                                   ("--max-latency-ms", latency, self.max_latency_ms)):
            if limit is not None and value is not None and value > limit:
                return f"{value:.6g} above {flag} {limit:g}: not trained"
        return None

    def _values(self, val_error: float, full: dict, latency: float | None):
        if self.objective == "error":
            return val_error
        if self.objective == "error,latency":
            return val_error, latency
        return val_error, full["mflops"]

    def _reuse(self, trial: optuna.Trial, candidate: Candidate, seed: int, start: float) -> float | None:
        """The validation error of a COMPLETE trial of the same point (see :mod:`.reuse`), whose result
        attributes this trial copies (keeping its own, e.g. latency) with ``reused_from``; None when
        there is none (the trial trains)."""
        key = reuse.reuse_key(candidate, seed, self.trainer)
        if key is None:
            return None
        trial.set_user_attr("reuse_key", key)
        source = reuse.find_source(trial.study, key, trial.number)
        error = None if source is None else source.user_attrs.get("val_error")
        if error is None or not math.isfinite(error):
            return None
        own = set(trial.user_attrs)
        for k, v in reuse.result_attrs(source).items():
            if k not in own:
                trial.set_user_attr(k, v)
        trial.set_user_attr("reused_from", source.number)
        trial.set_user_attr("wall_s", round(time.time() - start, 2))
        return float(error)

    def _latency(self, trial: optuna.Trial, candidate: Candidate) -> float | None:
        """Full-size latency (measured once per architecture, or predicted) into the user attributes."""
        if self.latency is None:
            return None
        attrs = self.latency(candidate.model, candidate.kwargs)
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if self.max_latency_ms is not None:
            trial.set_constraint("latency_ms", attrs["latency_ms"] - self.max_latency_ms)
        return attrs["latency_ms"]

    def _on_epoch(self, trial: optuna.Trial):
        def on_epoch(epoch: int, metrics: dict) -> None:
            if self.on_progress is not None:
                self.on_progress(trial.number, epoch, metrics)
            err = metrics.get("val_error")
            if self.objective != "error" or err is None or not math.isfinite(err):
                return
            trial.report(float(err), int(epoch))
            if trial.should_prune():
                trial.set_user_attr("pruned_at_epoch", int(epoch))
                raise optuna.TrialPruned(f"val_error {err:.4f} at epoch {epoch}")
        return on_epoch

    @staticmethod
    def _record(trial: optuna.Trial, out, start: float) -> None:
        attrs = {
            "val_error": out.val_error, "val_accuracy": 100.0 - out.val_error if math.isfinite(out.val_error) else None,
            "test_error": out.test_error, "error_unit": "percent",
            "test_accuracy": None if out.test_error is None else 100.0 - out.test_error,
            "epochs": out.epochs, "images_per_s": round(out.images_per_s, 1), "train_s": round(out.seconds, 2),
            "wall_s": round(time.time() - start, 2), "proxy": out.proxy, "versions": versions(*VERSIONED),
            "threads": torch.get_num_threads(),  # CPU results differ slightly with the thread count
            "git_commit": git_commit(), "hardware": hardware(getattr(out, "device", None) or "cpu"),
            **out.protocol,
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)

    @staticmethod
    def _fail(trial: optuna.Trial, start: float, reason: str) -> None:
        trial.set_user_attr("fail_reason", reason[:500])
        trial.set_user_attr("wall_s", round(time.time() - start, 2))


def retried_trial_number(trial: optuna.Trial) -> int | None:
    """The number of the stale trial that ``trial`` retries (None for a fresh trial)."""
    from optuna.storages import RetryFailedTrialCallback

    for frozen in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if frozen.number == trial.number:
            return RetryFailedTrialCallback.retried_trial_number(frozen)
    return None


def space_picker(space: Space, seed: int) -> Callable:
    """``pick`` for a search space: the trial's sampled parameters; the same training seed."""

    def pick(trial):
        params = space.sample(trial)
        return space.candidate(params), seed, {"space": space.name}

    return pick
