"""``skmobile search``: the Optuna search over SK spaces (and the paper's grids)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table as RichTable

from ..errors import SKMobileError, choose
from ._args import check_at_least

console = Console()


def search_cmd(
    space: str = typer.Option(None, "--space", help="ablation (default) | lightweight | mobile | full"),
    trials: int = typer.Option(None, "--trials", help="trials this command adds to the study (default 6; "
                                                      "grid: all missing rows)"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL: sqlite:///runs/skmobile.db (default), "
                                                       "journal:FILE, postgresql://USER:PASS@HOST/DB"),
    study: str = typer.Option(None, "--study", help="study name (default: the space, or grid-tableN, plus one suffix "
                              "per non-default objective, budget, data set, --train-limit, --epochs: e.g. "
                              "ablation-error, ablation-limit256-epochs1)"),
    workers: int = typer.Option(1, "--workers", help="worker processes on this machine (journal file storage)"),
    objective: str = typer.Option("multi", "--objective", help="multi (error + MFLOPs) | error (with pruning) | "
                                                              "error,latency (error + full-size latency)"),
    max_mflops: float = typer.Option(None, "--max-mflops", help="constraint: full-size MFLOPs at most this"),
    max_params: float = typer.Option(None, "--max-params", help="constraint: full-size parameters at most this"),
    latency: str = typer.Option(None, "--latency", help="measure | predict: full-size latency in every trial "
                                "(default measure with error,latency or --max-latency-ms)"),
    max_latency_ms: float = typer.Option(None, "--max-latency-ms", help="constraint: full-size latency at most this"),
    latency_runtime: str = typer.Option("onnxruntime", "--latency-runtime", help="torch | onnxruntime (CPU, batch 1)"),
    latency_threads: int = typer.Option(1, "--latency-threads", help="threads for the latency"),
    latency_table: str = typer.Option(None, "--latency-table", help="predict: table from `bench latency --build-table`"),
    latency_cache: str = typer.Option(None, "--latency-cache", help="measure: SQLite cache of measured latencies"),
    grid: str = typer.Option(None, "--grid", help="table4 | table6 | table7: exactly the paper's rows"),
    seeds: int = typer.Option(1, "--seeds", help="grid: repeats of each row (seeds SEED..SEED+N-1)"),
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="proxy training data set"),
    data_dir: str = typer.Option(None, "--data-dir", help="data set folder (default: the installed one)"),
    budget: str = typer.Option("trial", "--budget", help="recipe budget: trial | table | default (proxies), paper "
                               "(full-size models on --dataset folder, ImageNet layout; with --workers N and "
                               "--device cuda, worker i trains on cuda:i-1)"),
    seed: int = typer.Option(0, "--seed", help="sampler and training seed"),
    train_limit: int = typer.Option(None, "--train-limit", help="training images per trial (default: the recipe's)"),
    epochs: int = typer.Option(None, "--epochs", help="epochs per trial (default: the recipe's)"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N | auto (CUDA when present)"),
    list_spaces: bool = typer.Option(False, "--list-spaces", help="print the spaces with their sizes and exit"),
    live: bool = typer.Option(True, "--live/--no-live", help="the live view (on a terminal)"),
    fmt: str = typer.Option("text", "--format", help="text | json (the final summary)"),
    worker_index: int = typer.Option(0, "--worker-index", hidden=True),
) -> None:
    """Search SK architectures with Optuna; every trial's FLOPs, params and accuracy go to the study."""
    _early_checks(study, space, storage, workers)
    from skmobile.search.runner import SearchConfig, run_search

    choose("format", fmt, ["text", "json"])
    if list_spaces:
        _print_spaces(fmt)
        return
    if grid is not None and space is not None:
        raise SKMobileError(f"--space {space} with --grid {grid}: a grid runs exactly the paper's rows; "
                            "allowed: one of --space or --grid")
    check_at_least("--trials", trials, 1, "a run that adds no trial would only create or change the study")
    cfg = SearchConfig(space=space or "ablation", trials=trials, storage=storage, study=study, workers=workers,
                       objective=objective, max_mflops=max_mflops, max_params=max_params, grid=grid, seeds=seeds,
                       dataset=dataset, data_dir=data_dir, budget=budget, seed=seed, train_limit=train_limit,
                       epochs=epochs, device=device, live=live and fmt == "text", worker_index=worker_index, latency=latency,
                       max_latency_ms=max_latency_ms, latency_runtime=latency_runtime, latency_threads=latency_threads,
                       latency_table=latency_table, latency_cache=latency_cache)
    summary = run_search(cfg, console if fmt == "text" else Console(stderr=True))
    if fmt == "json":
        typer.echo(json.dumps(summary, indent=1))
    elif worker_index == 0:
        _print_summary(summary)


def _early_checks(study: str | None, space: str | None, storage: str | None, workers: int) -> None:
    """An empty --study and a storage path that is no regular file: one line, before torch and optuna load."""
    from skmobile.search.storage import DEFAULT_JOURNAL, vet_storage

    if study is not None and not study.strip():
        raise SKMobileError(f"--study {study!r} is empty; allowed: a name, e.g. --study {space or 'ablation'}")
    vet_storage(storage or (f"journal:{DEFAULT_JOURNAL}" if workers > 1 else None))


def _print_summary(summary: dict) -> None:
    c = summary["counts"]
    console.print(f"study {summary['study']} in {summary['storage']}: {c['complete']} complete, {c['fail']} failed, "
                  f"{c['pruned']} pruned, {c['running']} running ({summary['added']} finished in this run, "
                  f"{summary['wall_s']} s)", highlight=False, soft_wrap=True)
    if "latency" in summary:
        lat = summary["latency"]
        console.print(f"latency ({lat['latency_runtime']}, {lat['latency_threads']} thread(s), "
                      f"{lat['latency_machine']}): {lat['trials']} trial(s), {lat['measured']} measured, "
                      f"{lat['cache_hits']} cache hit(s), {lat['predicted']} predicted ({lat['store']})",
                      highlight=False, soft_wrap=True)


def _print_spaces(fmt: str) -> None:
    from skmobile.search.spaces import SPACES, describe

    if fmt == "json":
        typer.echo(json.dumps({s.name: {"description": s.description, "size": s.size,
                                        "params": {c.name: list(c.choices) for c in s.params}}
                               for s in SPACES.values()}, indent=1))
        return
    for s in SPACES.values():
        t = RichTable(title=f"{s.name}: {s.description} ({s.size} configurations)", title_justify="left")
        for col in ("parameter", "choices", "meaning"):
            t.add_column(col)
        for row in describe(s):
            t.add_row(*row)
        console.print(t)


def register(app: typer.Typer) -> None:
    app.command("search")(search_cmd)
