"""What a study is: one experiment, recorded when it is created and checked by every run.

A study's ``identity`` user attribute holds its objectives and directions, its space or grid, the
budget with every override (``--train-limit``, ``--epochs``), the data set, the proxy recipe's
fingerprint and, for a latency objective, how latency is obtained. A run whose command differs in
any of them is refused before its first trial, in one line naming both sides, with nothing stored.
The skmobile version that created the study is recorded too, for the reader (not compared).

A study made before this record existed is read from what it holds (its directions and the
``space``/``objective_names``/``dataset``/``budget`` attributes; no override assumed) and gets the
record on its first compatible run.
"""

from __future__ import annotations

import hashlib
import json

from skmobile.errors import SKMobileError

ATTR = "identity"
#: Compared fields, each with the option that sets it (named in a refusal).
FIELDS = {"objectives": "--objective", "directions": "--objective", "space": "--space/--grid",
          "budget": "--budget", "train_limit": "--train-limit", "epochs": "--epochs", "dataset": "--dataset",
          "proxy": "the proxy recipe (skmobile version)", "latency": "--latency/--latency-runtime/--latency-threads"}
#: Recorded, not compared.
INFO = ("skmobile",)


def proxy_fingerprint(budget: str) -> str:
    """A short hash of every family's proxy form and training recipe under ``budget``."""
    from skmobile.train.proxy import FAMILY_PROXIES

    if budget == "paper":  # the full-size models' recipe (skmobile.train.paper)
        from skmobile.train.paper import PAPER_FAMILIES, PaperRecipe

        text = json.dumps({"families": PAPER_FAMILIES, "recipe": PaperRecipe("", "").to_dict()}, sort_keys=True)
        return f"{budget}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"

    def recipe(p):
        try:
            return p.budget(budget)
        except (KeyError, ValueError):  # a budget this family's proxy does not define
            return None

    recipes = {name: {"model_kwargs": p.model_kwargs, "budget": recipe(p), "batch_size": p.batch_size,
                      "lr": p.lr, "weight_decay": p.weight_decay}
               for name, p in sorted(FAMILY_PROXIES.items())}
    text = json.dumps(recipes, sort_keys=True, default=str)
    return f"{budget}:{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def identity(cfg, objective_names: list[str], directions: list[str]) -> dict:
    """The identity of the study that the search ``cfg`` (a SearchConfig) adds to."""
    import skmobile

    latency = None
    if cfg.objective == "error,latency":
        latency = f"{cfg.latency_mode} {cfg.latency_runtime} cpu {cfg.latency_threads} thread(s)"
    return {"objectives": list(objective_names), "directions": list(directions), "space": cfg.grid or cfg.space,
            "budget": cfg.budget, "train_limit": cfg.train_limit, "epochs": cfg.epochs, "dataset": cfg.dataset,
            "proxy": proxy_fingerprint(cfg.budget), "latency": latency,
            "skmobile": getattr(skmobile, "__version__", "unknown")}


def stored(attrs: dict, directions: list[str]) -> dict:
    """The identity a study holds; for an older study, what its attributes say (unknown fields left out)."""
    if isinstance(attrs.get(ATTR), dict):
        return {**attrs[ATTR], "directions": list(directions)}
    old = {"directions": list(directions), "train_limit": None, "epochs": None}
    for key, name in (("objectives", "objective_names"), ("space", "space"), ("dataset", "dataset"),
                      ("budget", "budget")):
        if name in attrs:
            old[key] = attrs[name]
    return old


def _shown(value, key: str = "") -> str:
    if value is None:
        return "the recipe's default" if key in ("train_limit", "epochs") else "none"
    if isinstance(value, list):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


def mismatches(have: dict, want: dict) -> list[str]:
    """One phrase per compared field the two identities disagree on (fields one side lacks are skipped)."""
    out = []
    for key, flag in FIELDS.items():
        if key in have and key in want and have[key] != want[key]:
            out.append(f"{key} {_shown(have[key], key)} (this run: {_shown(want[key], key)}, {flag})")
    return out


def checker(name: str, want: dict):
    """``check(user_attrs, directions)`` for :func:`skmobile.search.storage.open_study`: refuses a study
    whose identity differs from ``want``."""
    def check(attrs: dict, directions: list[str]) -> None:
        diff = mismatches(stored(attrs, directions), want)
        if diff:
            raise SKMobileError(f"study {name!r} is another experiment: it holds {'; '.join(diff)}; nothing "
                                "stored: start a new study with --study NEW, or rerun with the study's settings")
    return check


def record(study, want: dict) -> None:
    """Write ``want`` into a study that has no identity yet (a new study, or an older compatible one)."""
    if not isinstance(study.user_attrs.get(ATTR), dict):
        study.set_user_attr(ATTR, want)
