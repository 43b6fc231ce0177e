"""Run a search: open (or continue) the study, pick the sampler, optimise, show it live.

Multi-objective (val error, full-size MFLOPs) with a seeded TPESampler by default;
``objective="error"`` is single-objective with median pruning on intermediate validation error.
``objective="error,latency"`` minimises (val error, full-size latency in ms); ``latency`` ("measure" |
"predict", see :mod:`.trial_latency`) adds the latency to every trial without making it
an objective, ``max_latency_ms`` makes it a constraint.
``workers > 1`` starts that many processes of this same command on one machine (journal file
storage); on several machines, start the command on each against one PostgreSQL URL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState
from rich.console import Console

from skmobile.errors import Interrupted, SKMobileError, choose
from skmobile.device import resolve_device

from .grid import GRIDS, enqueue_grid, grid_picker
from .live import LiveView, epoch_line, trial_line
from .objective import OBJECTIVES, SECOND_OBJECTIVE, Objective, TrialFailed, space_picker
from .trainer import trainer_from_env
from .spaces import SPACES, get_space
from . import identity
from .storage import DEFAULT_JOURNAL, existing_study, parse_storage, sweep_stale, vet_storage
from .storage import open_study as storage_open_study

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
    latency: str | None = None          # measure | predict (default measure when latency is used)
    max_latency_ms: float | None = None
    latency_runtime: str = "onnxruntime"
    latency_threads: int = 1
    latency_table: str | None = None    # predict: the --build-table file (default: the cache folder's)
    latency_cache: str | None = None    # measure: the SQLite cache (default: ~/.cache/skmobile/latency.sqlite)

    def validate(self) -> None:
        if self.study is not None and not self.study.strip():
            raise SKMobileError(f"--study {self.study!r} is empty; allowed: a name, e.g. --study {self.space}")
        choose("space", self.space, SPACES)
        choose("objective", self.objective, OBJECTIVES)
        if self.grid is not None:
            choose("grid", self.grid, GRIDS)
        from skmobile.train import TRAIN_BUDGETS as BUDGETS

        choose("budget", self.budget, BUDGETS)
        resolve_device(self.device)  # CUDA asked for where there is none: one line, before any study is opened
        for name in ("trials", "workers", "seeds", "train_limit", "epochs"):
            v = getattr(self, name)
            if v is not None and v < (0 if name == "trials" else 1):
                raise SKMobileError(f"--{name.replace('_', '-')} must be >= {0 if name == 'trials' else 1}; got {v}")
        if self.latency is not None:
            choose("latency mode", self.latency, ("measure", "predict"))
        if self.latency_threads < 1:
            raise SKMobileError(f"--latency-threads must be >= 1; got {self.latency_threads}")
        for name in ("max_mflops", "max_params", "max_latency_ms"):
            v = getattr(self, name)
            if v is not None and not v > 0:
                raise SKMobileError(f"--{name.replace('_', '-')} must be > 0; got {v}")
        if self.workers > 1 and self.storage is not None and parse_storage(self.storage).kind == "sqlite":
            raise SKMobileError("SQLite is for one process; with --workers use a journal file "
                                f"(--storage journal:{DEFAULT_JOURNAL}) or postgresql://...")
        vet_storage(self.storage_url)  # a device, FIFO or folder as storage: one line, before any work

    @property
    def latency_mode(self) -> str | None:
        """How trials get their latency: None when no option asks for it."""
        if self.latency is not None:
            return self.latency
        return "measure" if self.objective == "error,latency" or self.max_latency_ms is not None else None

    def latency_provider(self):
        if self.latency_mode is None:
            return None
        from skmobile.latency.measure import Setting
        from .trial_latency import TrialLatency

        return TrialLatency(self.latency_mode, Setting(self.latency_runtime, "cpu", self.latency_threads),
                            cache_path=self.latency_cache, table_path=self.latency_table)

    @property
    def storage_url(self) -> str | None:
        if self.storage is None and self.workers > 1:
            return f"journal:{DEFAULT_JOURNAL}"
        return self.storage

    @property
    def study_name(self) -> str:
        """``--study``, else the space (``grid-tableN`` for a grid) with a suffix for each setting that
        makes it another experiment: a non-default objective, budget, data set, --train-limit, --epochs."""
        if self.study is not None:
            return self.study
        if self.grid:  # one study per budget: a grid's (row, repeat) pairs are per budget
            name = f"grid-{self.grid}" + ("" if self.budget == "trial" else f"-{self.budget}")
        else:
            name = self.space if self.objective == "multi" else f"{self.space}-{self.objective.replace(',', '-')}"
            name += "" if self.budget == "trial" else f"-{self.budget}"
        name += "" if self.dataset == "fashion-mnist" else f"-{self.dataset}"
        name += "" if self.train_limit is None else f"-limit{self.train_limit}"
        return name + ("" if self.epochs is None else f"-epochs{self.epochs}")


def make_sampler(cfg: SearchConfig, existing: int = 0) -> optuna.samplers.BaseSampler:
    """Seeded TPE (multivariate, grouped for the conditional spaces).

    The seed is ``--seed`` + the study's trial count + 1000 x the local worker index: a sequential
    run is reproducible, a continued study does not replay its first random proposals, and local
    workers differ. Workers on several machines should get distinct ``--seed`` values.
    """
    return optuna.samplers.TPESampler(seed=cfg.seed + existing + 1000 * cfg.worker_index, multivariate=True,
                                      group=True, constant_liar=True)


def objective_names(cfg: SearchConfig) -> list[str]:
    return ["val_error"] if cfg.objective == "error" else ["val_error", SECOND_OBJECTIVE[cfg.objective]]


def _identity(cfg: SearchConfig) -> dict:
    names = objective_names(cfg)
    return identity.identity(cfg, names, ["minimize"] * len(names))


def check_study(cfg: SearchConfig) -> None:
    """Refuse, before any work, a run whose study already exists as another experiment."""
    held = existing_study(cfg.storage_url, cfg.study_name)
    if held is not None:
        identity.checker(cfg.study_name, _identity(cfg))(*held)


def open_study(cfg: SearchConfig) -> optuna.Study:
    """Create the study or continue the one of the same name; one of another experiment (objectives,
    directions, space, budget, data set, proxy: see :mod:`.identity`) is refused with nothing stored."""
    names = objective_names(cfg)
    want = _identity(cfg)
    directions = want["directions"]
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0) if cfg.objective == "error"
              else optuna.pruners.NopPruner())
    study = storage_open_study(cfg.storage_url, cfg.study_name, create=True, directions=directions,
                               sampler=make_sampler(cfg), pruner=pruner,
                               check=identity.checker(cfg.study_name, want))
    study.sampler = make_sampler(cfg, len(study.get_trials(deepcopy=False)))
    if "space" not in study.user_attrs:
        for key, value in (("space", cfg.grid or cfg.space), ("objective", cfg.objective),
                           ("objective_names", names), ("dataset", cfg.dataset), ("budget", cfg.budget)):
            study.set_user_attr(key, value)
        with warnings.catch_warnings():  # metric names are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    identity.record(study, want)
    return study


def _finished(study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)))


def _paper_trainer():
    """The trainer class of ``--budget paper`` trials (full-size models on an ImageNet-layout folder)."""
    from .paper_trainer import PaperTrainer

    return PaperTrainer


def run_search(cfg: SearchConfig, console: Console | None = None) -> dict:
    """Run ``cfg``; returns a summary (study, storage, counts, wall seconds)."""
    with warnings.catch_warnings():  # constant_liar, metric names, constraints: marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _search(cfg, console)


def _search(cfg: SearchConfig, console: Console | None) -> dict:
    cfg.validate()
    check_study(cfg)  # another experiment under this name: refused before any data or latency work
    console = console or Console(stderr=False)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    device = resolve_device(cfg.device)
    if cfg.budget == "paper":  # one full-size trial per GPU: local worker i trains on cuda:i-1
        from skmobile.train.distributed import pin_device

        device = pin_device(device, cfg.worker_index)
    trainer = trainer_from_env(default=_paper_trainer() if cfg.budget == "paper" else None, dataset=cfg.dataset,
                               data_dir=cfg.data_dir, budget=cfg.budget, train_limit=cfg.train_limit,
                               epochs=cfg.epochs, device=device)
    trainer.prepare(check_data=True)
    latency = cfg.latency_provider()   # a missing predictor table fails here, before any trial
    study = open_study(cfg)
    stale = sweep_stale(study)
    if stale and cfg.worker_index == 0:
        console.print(f"failed stale trial(s) {stale} of dead workers; they are retried")
    if cfg.grid:
        waiting = enqueue_grid(study, cfg.grid, cfg.seeds, cfg.budget) if cfg.worker_index == 0 else 0
        n_trials = waiting if cfg.trials is None else min(waiting, cfg.trials)
        if cfg.worker_index:
            n_trials = cfg.trials or 0
        pick = grid_picker(cfg.grid, cfg.seed)
    else:
        n_trials = DEFAULT_TRIALS if cfg.trials is None else cfg.trials
        pick = space_picker(get_space(cfg.space), cfg.seed)
    start = time.time()
    baseline = _finished(study)
    before = {t.number for t in study.get_trials(deepcopy=False)}
    storage_shown = parse_storage(cfg.storage_url).redacted()
    if cfg.workers > 1 and cfg.worker_index == 0:
        _run_workers(cfg, study, n_trials, console, storage_shown, baseline)
    else:
        _run_here(cfg, study, pick, trainer, n_trials, console, storage_shown, baseline, latency, device)
    sweep_stale(study)
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    summary = {"study": cfg.study_name, "storage": storage_shown, "counts": counts, "added": _finished(study) - baseline,
               "wall_s": round(time.time() - start, 1)}
    if latency is not None:
        summary["latency"] = latency_summary(latency, [t for t in trials if t.number not in before])
    return summary


def latency_summary(latency, trials) -> dict:
    """How this run's trials got their latency (from their user attributes: workers' trials count too)."""
    attrs = [t.user_attrs for t in trials if "latency_ms" in t.user_attrs]
    return {**latency.summary(), "trials": len(attrs),
            "measured": sum(a.get("latency_source") == "measured" and not a.get("latency_cached") for a in attrs),
            "cache_hits": sum(bool(a.get("latency_cached")) for a in attrs),
            "predicted": sum(a.get("latency_source") == "predicted" for a in attrs)}


def _run_here(cfg, study, pick, trainer, n_trials, console, storage_shown, baseline, latency=None,
              device="cpu") -> None:
    view = LiveView(cfg.study_name, storage_shown, n_trials, 1, cfg.objective != "error", baseline,
                    second=SECOND_OBJECTIVE.get(cfg.objective, "mflops"))
    live = _live(console, view) if cfg.live and n_trials else None
    plain = live is None  # no live view (a log file, CI, --no-live): one plain line per epoch and trial

    def on_progress(number, epoch, metrics):
        view.progress(number, epoch, metrics)
        if plain:
            console.print(epoch_line(number, epoch, metrics), highlight=False, soft_wrap=True)

    objective = Objective(pick, trainer, cfg.objective, cfg.max_mflops, cfg.max_params, on_progress=on_progress,
                          latency=latency, max_latency_ms=cfg.max_latency_ms, device=device)
    view.update(study.get_trials(deepcopy=False))
    running: list[int] = []

    def after_trial(study, trial):
        view.update(study.get_trials(deepcopy=False))
        console.print(trial_line(trial), highlight=False, soft_wrap=True)

    def before(trial):  # show the new trial as running at once
        running[:] = [trial.number]
        view.update(study.get_trials(deepcopy=False))
        if plain:
            console.print(f"trial {trial.number} started", highlight=False, soft_wrap=True)
        try:
            return objective(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("fail_reason", "interrupted")
            raise

    if n_trials == 0:
        return
    try:
        if live:
            live.start()
        with _quiet_interrupt():
            study.optimize(before, n_trials=n_trials, catch=(Exception,), callbacks=[after_trial])
    except KeyboardInterrupt:
        raise Interrupted(_interrupted(study, running)) from None
    finally:
        if live:
            view.update(study.get_trials(deepcopy=False))
            live.stop()


def _interrupted(study, running: list[int]) -> str:
    """Fail the trial Ctrl-C stopped (Optuna does unless the interrupt hit its own bookkeeping)."""
    if not running:
        return "no trial was running; rerun to continue"
    number = running[0]
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is not None and trial.state == TrialState.RUNNING:
        study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", "interrupted")  # noqa: SLF001
        study.tell(number, state=TrialState.FAIL)
    return f"trial {number} marked failed; rerun to continue"


@contextlib.contextmanager
def _quiet_interrupt():
    """Drop Optuna's warnings about a trial that Ctrl-C stopped (a traceback and a "failed" line):
    the runner reports the interrupt in one line."""
    logger = logging.getLogger("optuna")
    seen = []

    def keep(record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt) \
                or "KeyboardInterrupt" in record.getMessage():
            seen.append(record)
        return not seen

    handlers = list(logger.handlers)  # records of optuna's child loggers reach these, not its filters
    for handler in handlers:
        handler.addFilter(keep)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(keep)


def _live(console, view):
    from rich.live import Live

    if not console.is_terminal:
        return None
    return Live(view, console=console, refresh_per_second=1, transient=False, redirect_stdout=True)


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def worker_argv(cfg: SearchConfig, index: int, trials: int) -> list[str]:
    """The command line of local worker ``index`` (same study and storage, one process)."""
    space = [] if cfg.grid else ["--space", cfg.space]  # a grid names its rows; --space with --grid is refused
    argv = [sys.executable, "-m", "skmobile", "search", *space, "--trials", str(trials),
            "--storage", cfg.storage_url, "--study", cfg.study_name, "--workers", "1", "--objective", cfg.objective,
            "--seeds", str(cfg.seeds), "--dataset", cfg.dataset, "--budget", cfg.budget, "--seed", str(cfg.seed),
            "--device", cfg.device, "--worker-index", str(index), "--no-live", "--latency-runtime", cfg.latency_runtime,
            "--latency-threads", str(cfg.latency_threads)]
    for flag, value in (("--max-mflops", cfg.max_mflops), ("--max-params", cfg.max_params), ("--grid", cfg.grid),
                        ("--data-dir", cfg.data_dir), ("--train-limit", cfg.train_limit), ("--epochs", cfg.epochs),
                        ("--latency", cfg.latency), ("--max-latency-ms", cfg.max_latency_ms),
                        ("--latency-table", cfg.latency_table), ("--latency-cache", cfg.latency_cache)):
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
    view = LiveView(cfg.study_name, storage_shown, n_trials, len(procs), cfg.objective != "error", baseline,
                    second=SECOND_OBJECTIVE.get(cfg.objective, "mflops"))
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
        raise Interrupted(f"stopped {len(procs)} worker process(es); the trials they were running are marked "
                          "failed (now, or by the next run's stale-trial sweep); rerun to continue") from None
    finally:
        if live:
            view.update(study.get_trials(deepcopy=False))
            live.stop()
    bad = [p.returncode for p in procs if p.returncode]
    if bad:
        raise SKMobileError(f"{len(bad)} worker process(es) exited with codes {bad}; the study keeps their trials")


__all__ = ["SearchConfig", "run_search", "open_study", "make_sampler", "worker_argv", "TrialFailed"]
