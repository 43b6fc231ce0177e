"""Run a search: open (or continue) the study, pick the sampler, optimise, show it live.

Multi-objective (val error, full-size MFLOPs) with a seeded TPESampler by default;
``objective="error"`` is single-objective with median pruning on intermediate validation error.
``workers > 1`` starts that many processes of this same command on one machine (journal file
storage); on several machines, start the command on each against one PostgreSQL URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState
from rich.console import Console

from skmobile.errors import SKMobileError, choose
from skmobile.train.device import resolve_device

from .grid import GRIDS, enqueue_grid, grid_picker
from .live import LiveView, trial_line
from .objective import OBJECTIVES, Objective, TrialFailed, space_picker
from .trainer import trainer_from_env
from .spaces import SPACES, get_space
from .storage import DEFAULT_JOURNAL, open_storage, parse_storage, sweep_stale

DEFAULT_TRIALS = 6


@dataclass
class SearchConfig:
    space: str = "ablation"
    trials: int | None = None          # trials this command adds (grid: at most this many)
    storage: str | None = None          # None = runs/skmobile.db (runs/skmobile.journal with workers)
    study: str | None = None
    workers: int = 1
    objective: str = "multi"
    max_mflops: float | None = None
    max_params: float | None = None
    grid: str | None = None
    seeds: int = 1
    dataset: str = "fashion-mnist"
    data_dir: str | None = None
    budget: str = "trial"
    seed: int = 0
    train_limit: int | None = None
    epochs: int | None = None
    device: str = "cpu"                 # cpu | cuda | cuda:N | auto (CUDA when present)
    live: bool = True
    worker_index: int = 0               # set for the processes ``workers > 1`` starts
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        choose("space", self.space, SPACES)
        choose("objective", self.objective, OBJECTIVES)
        if self.grid is not None:
            choose("grid", self.grid, GRIDS)
        choose("budget", self.budget, ("trial", "default"))
        resolve_device(self.device)  # CUDA asked for where there is none: one line, before any study is opened
        for name in ("trials", "workers", "seeds", "train_limit", "epochs"):
            v = getattr(self, name)
            if v is not None and v < (0 if name == "trials" else 1):
                raise SKMobileError(f"--{name.replace('_', '-')} must be >= {0 if name == 'trials' else 1}; got {v}")
        for name in ("max_mflops", "max_params"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise SKMobileError(f"--{name.replace('_', '-')} must be > 0; got {v}")
        if self.workers > 1 and self.storage is not None and parse_storage(self.storage).kind == "sqlite":
            raise SKMobileError("SQLite is for one process; with --workers use a journal file "
                                f"(--storage journal:{DEFAULT_JOURNAL}) or postgresql://...")

    @property
    def storage_url(self) -> str | None:
        if self.storage is None and self.workers > 1:
            return f"journal:{DEFAULT_JOURNAL}"
        return self.storage

    @property
    def study_name(self) -> str:
        if self.study:
            return self.study
        if self.grid:
            return f"grid-{self.grid}"
        return self.space if self.objective == "multi" else f"{self.space}-{self.objective}"


def make_sampler(cfg: SearchConfig, existing: int = 0) -> optuna.samplers.BaseSampler:
    """Seeded TPE (multivariate, grouped for the conditional spaces).

    The seed is ``--seed`` + the study's trial count + 1000 x the local worker index: a sequential
    run is reproducible, a continued study does not replay its first random proposals, and local
    workers differ. Workers on several machines should get distinct ``--seed`` values.
    """
    return optuna.samplers.TPESampler(seed=cfg.seed + existing + 1000 * cfg.worker_index, multivariate=True,
                                      group=True, constant_liar=True)


def open_study(cfg: SearchConfig) -> optuna.Study:
    """Create the study or continue the one of the same name (its directions must match)."""
    directions = ["minimize"] if cfg.objective == "error" else ["minimize", "minimize"]
    storage = open_storage(cfg.storage_url)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0) if cfg.objective == "error"
              else optuna.pruners.NopPruner())
    try:
        study = optuna.create_study(storage=storage, study_name=cfg.study_name, sampler=make_sampler(cfg),
                                    pruner=pruner, directions=directions, load_if_exists=True)
    except Exception as exc:  # noqa: BLE001 - storage errors surface as one line
        raise SKMobileError(f"cannot open study {cfg.study_name!r}: {str(exc).splitlines()[0][:300]}") from None
    if len(study.directions) != len(directions):
        raise SKMobileError(f"study {cfg.study_name!r} has {len(study.directions)} objective(s), --objective "
                            f"{cfg.objective} needs {len(directions)}; use another --study name")
    study.sampler = make_sampler(cfg, len(study.get_trials(deepcopy=False)))
    if "space" not in study.user_attrs:
        for key, value in (("space", cfg.grid or cfg.space), ("objective", cfg.objective),
                           ("objective_names", ["val_error"] if cfg.objective == "error" else ["val_error", "mflops"]),
                           ("dataset", cfg.dataset), ("budget", cfg.budget)):
            study.set_user_attr(key, value)
        if len(directions) == 2:
            study.set_metric_names(["val_error", "mflops"])
        else:
            study.set_metric_names(["val_error"])
    return study


def _finished(study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)))


def run_search(cfg: SearchConfig, console: Console | None = None) -> dict:
    """Run ``cfg``; returns a summary (study, storage, counts, wall seconds)."""
    cfg.validate()
    console = console or Console(stderr=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    device = resolve_device(cfg.device)
    trainer = trainer_from_env(dataset=cfg.dataset, data_dir=cfg.data_dir, budget=cfg.budget,
                               train_limit=cfg.train_limit, epochs=cfg.epochs, device=device)
    trainer.prepare(check_data=True)
    study = open_study(cfg)
    stale = sweep_stale(study)
    if stale and cfg.worker_index == 0:
        console.print(f"failed stale trial(s) {stale} of dead workers; they are retried")
    if cfg.grid:
        waiting = enqueue_grid(study, cfg.grid, cfg.seeds) if cfg.worker_index == 0 else 0
        n_trials = waiting if cfg.trials is None else min(waiting, cfg.trials)
        if cfg.worker_index:
            n_trials = cfg.trials or 0
        pick = grid_picker(cfg.grid, cfg.seed)
    else:
        n_trials = DEFAULT_TRIALS if cfg.trials is None else cfg.trials
        pick = space_picker(get_space(cfg.space), cfg.seed)
    start = time.time()
    baseline = _finished(study)
    storage_shown = parse_storage(cfg.storage_url).redacted()
    if cfg.workers > 1 and cfg.worker_index == 0:
        _run_workers(cfg, study, n_trials, console, storage_shown, baseline)
    else:
        _run_here(cfg, study, pick, trainer, n_trials, console, storage_shown, baseline, device)
    sweep_stale(study)
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    return {"study": cfg.study_name, "storage": storage_shown, "counts": counts, "added": _finished(study) - baseline,
            "wall_s": round(time.time() - start, 1)}


def _run_here(cfg, study, pick, trainer, n_trials, console, storage_shown, baseline, device="cpu") -> None:
    view = LiveView(cfg.study_name, storage_shown, n_trials, 1, cfg.objective == "multi", baseline)
    objective = Objective(pick, trainer, cfg.objective, cfg.max_mflops, cfg.max_params, on_progress=view.progress,
                          device=device)
    view.update(study.get_trials(deepcopy=False))

    def after_trial(study, trial):
        view.update(study.get_trials(deepcopy=False))
        console.print(trial_line(trial), highlight=False, soft_wrap=True)

    def before(trial):  # show the new trial as running at once
        view.update(study.get_trials(deepcopy=False))
        return objective(trial)

    if n_trials == 0:
        return
    live = _live(console, view) if cfg.live else None
    try:
        if live:
            live.start()
        study.optimize(before, n_trials=n_trials, catch=(Exception,), callbacks=[after_trial])
    finally:
        if live:
            view.update(study.get_trials(deepcopy=False))
            live.stop()


def _live(console, view):
    from rich.live import Live

    if not console.is_terminal:
        return None
    return Live(view, console=console, refresh_per_second=1, transient=False, redirect_stdout=True)


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def worker_argv(cfg: SearchConfig, index: int, trials: int) -> list[str]:
    """The command line of local worker ``index`` (same study and storage, one process)."""
    argv = [sys.executable, "-m", "skmobile", "search", "--space", cfg.space, "--trials", str(trials),
            "--storage", cfg.storage_url, "--study", cfg.study_name, "--workers", "1", "--objective", cfg.objective,
            "--seeds", str(cfg.seeds), "--dataset", cfg.dataset, "--budget", cfg.budget, "--seed", str(cfg.seed),
            "--device", cfg.device,
            "--worker-index", str(index), "--no-live"]
    for flag, value in (("--max-mflops", cfg.max_mflops), ("--max-params", cfg.max_params), ("--grid", cfg.grid),
                        ("--data-dir", cfg.data_dir), ("--train-limit", cfg.train_limit), ("--epochs", cfg.epochs)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _run_workers(cfg, study, n_trials, console, storage_shown, baseline) -> None:
    shares = [s for s in _split(n_trials, cfg.workers) if s > 0]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, len(shares)))))
    procs = [subprocess.Popen(worker_argv(cfg, i + 1, k), env=env, stdout=subprocess.DEVNULL)
             for i, k in enumerate(shares)]
    console.print(f"started {len(procs)} worker process(es) on {storage_shown}: pids "
                  f"{', '.join(str(p.pid) for p in procs)}")
    view = LiveView(cfg.study_name, storage_shown, n_trials, len(procs), cfg.objective == "multi", baseline)
    live = _live(console, view) if cfg.live else None
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    try:
        if live:
            live.start()
        while True:
            trials = study.get_trials(deepcopy=False)
            view.update(trials)
            for t in trials:
                if t.state.is_finished() and t.number not in seen:
                    seen.add(t.number)
                    console.print(trial_line(t), highlight=False, soft_wrap=True)
            if all(p.poll() is not None for p in procs):
                break
            time.sleep(2)
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()
        raise
    finally:
        if live:
            view.update(study.get_trials(deepcopy=False))
            live.stop()
    bad = [p.returncode for p in procs if p.returncode]
    if bad:
        raise SKMobileError(f"{len(bad)} worker process(es) exited with codes {bad}; the study keeps their trials")


__all__ = ["SearchConfig", "run_search", "open_study", "make_sampler", "worker_argv", "TrialFailed"]
