"""Factor importances per objective with Optuna's fANOVA evaluator.

The evaluator runs on an in-memory copy of the study whose parameters are the searched factors
(:mod:`skmobile.report.factors`), categorical, with "n/a" where a factor does not apply. Raw sampler
parameters of conditional spaces are absent from many trials, and Optuna's evaluators only take
parameters every trial has; the factors are defined for every trial.
"""

from __future__ import annotations

import math
import warnings

MIN_TRIALS = 4
#: Below this many trials the importances get a caveat in the report (fANOVA fits a random forest).
FEW_TRIALS = 30


def importances(trials: list[dict], names: list[str], objectives: list[str], seed: int = 0) -> dict:
    """{objective: {"importances": {factor: share}} or {"reason": why not}} for each objective.

    ``trials``: dicts with "factors" and one finite value per objective name.
    """
    out = {}
    for obj in objectives:
        usable = [t for t in trials if t.get(obj) is not None and math.isfinite(t[obj])]
        reason = _why_not(usable, names, obj)
        if reason:
            out[obj] = {"reason": reason, "trials": len(usable)}
            continue
        try:
            out[obj] = {"importances": _fanova(usable, names, obj, seed), "trials": len(usable)}
        except Exception as exc:  # noqa: BLE001 - the evaluator's failures become the stated reason
            out[obj] = {"reason": f"fANOVA failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}",
                        "trials": len(usable)}
    return out


def _why_not(usable: list[dict], names: list[str], obj: str) -> str | None:
    if len(usable) < MIN_TRIALS:
        return f"{len(usable)} complete trial(s) with {obj}; fANOVA needs at least {MIN_TRIALS}"
    if not names:
        return "no searched factor varies across the complete trials"
    if len({round(t[obj], 9) for t in usable}) < 2:
        return f"{obj} is the same in every trial: nothing to attribute"
    return None


def _fanova(usable: list[dict], names: list[str], obj: str, seed: int) -> dict[str, float]:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    choices = {n: sorted({str(t["factors"][n]) for t in usable}) for n in names}
    dists = {n: CategoricalDistribution(choices[n]) for n in names}
    study = optuna.create_study(direction="minimize")
    study.add_trials([optuna.trial.create_trial(params={n: str(t["factors"][n]) for n in names},
                                                distributions=dists, value=float(t[obj])) for t in usable])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        imp = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed))
    return {k: round(float(v), 4) for k, v in imp.items()}
