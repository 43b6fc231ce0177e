"""``skmobile reproduce --table N``: a paper table rebuilt row by row and measured (optionally trained)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import SKMobileError
from ._args import LATENCY_CACHE, LATENCY_RUNTIMES, LATENCY_THREADS, check_at_least, check_out_dir
from ._text import counted

console = Console()


def reproduce_cmd(
    table: int = typer.Option(..., "--table", help="paper table number (2, 3, 4, 5, 6, 7)"),
    train: bool = typer.Option(False, "--train/--no-train",
                               help="also train proxies (Tables 4, 6, 7) for the accuracy column and conclusions"),
    seeds: int = typer.Option(3, "--seeds", help="seeds per row with --train"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL for --train (default sqlite:///runs/skmobile.db)"),
    study: str = typer.Option(None, "--study", help="study name for --train (default grid-tableN)"),
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="proxy data set for --train"),
    data_dir: str = typer.Option(None, "--data-dir", help="data set directory for --train"),
    budget: str = typer.Option("trial", "--budget", help="budget for --train: trial | table | default (proxies), "
                               "paper (full-size models on --dataset folder, ImageNet layout; one process per "
                               "trial)"),
    device: str = typer.Option("cpu", "--device", help="device for --train: cpu | cuda | cuda:N | auto"),
    threads: int = typer.Option(None, "--threads", help="with --train: torch CPU threads per trial (default: torch's); "
                                "a seed's error moves by about 0.5 pp with it, so committed reports name it"),
    out: Path = typer.Option(None, "--out", help="output directory (default: a new runs/reports-DATE-TIME)"),
    force: bool = typer.Option(False, "--force", help="replace files in --out even when they record measurements "
                                                      "the new ones would drop (e.g. accuracy columns)"),
    latency: bool = typer.Option(False, "--latency", help="with --train: add each row's full-size batch-1 CPU latency "
                                 "(measured, or from the latency cache)"),
    latency_runtimes: str = LATENCY_RUNTIMES,
    latency_threads: int = LATENCY_THREADS,
    latency_cache: str = LATENCY_CACHE,
) -> None:
    """Rebuild every row of a paper table, measure it, and write DIR/tableN.{md,csv,json}.

    With --train: run the table's grid (rows x seeds, resumable) into a study, then write the full
    report (accuracy column, conclusions, figures, HTML), as `skmobile report` does."""
    from ..outputs import final_paths, fresh_dir, staged
    from ..report import write_complexity_report
    from ..tables import get_table
    from .report import latency_request

    get_table(table)  # validates the number before any work
    request = latency_request(latency, latency_runtimes, latency_threads, latency_cache)
    if request is not None and not train:
        raise SKMobileError("--latency adds columns to the reports with proxy accuracy: use it with --train, or "
                            "`skmobile report --rerender DIR --table N --latency` on a committed report")
    if threads is not None and not train:
        raise SKMobileError("--threads sets the threads proxies train with: use it with --train")
    check_at_least("--threads", threads, 1)
    out = out or fresh_dir("reports")
    check_out_dir(out)
    if train:
        check_at_least("--seeds", seeds, 1)
        _reproduce_train(table, seeds, storage, study, dataset, data_dir, budget, out, force, device, request, threads)
        return
    with staged(out, force) as stage, console.status(f"measuring Table {table}...") as status:
        rows, paths = write_complexity_report(table, stage,
                                              progress=lambda label: status.update(f"Table {table}: {label}"))
    paths = final_paths(paths, stage, out)
    n_measured = sum(1 for r in rows if r["measured"])
    console.print(f"Table {table}: {n_measured}/{len(rows)} rows measured -> " + ", ".join(str(p) for p in paths))


def _reproduce_train(table, seeds, storage, study, dataset, data_dir, budget, out, force, device="cpu",
                     latency=None, threads=None) -> None:
    from ..outputs import staged
    from ..provenance import command_line
    from ..report import REPORT_TABLES
    from ..search import run_search
    from ..search.runner import SearchConfig
    from .report import report_tables

    if table not in REPORT_TABLES:
        raise SKMobileError(f"--train is available for Tables {', '.join(map(str, REPORT_TABLES))}; "
                            f"Table {table} has no proxy grid (use --no-train)")
    if threads is not None:  # the trials run in this process (no --workers here)
        import torch

        torch.set_num_threads(threads)
    cfg = SearchConfig(grid=f"table{table}", seeds=seeds, storage=storage, study=study, dataset=dataset,
                       data_dir=data_dir, budget=budget, device=device)
    summary = run_search(cfg, console)
    console.print(f"Table {table}: {counted(summary['added'], 'trial')} run into {summary['storage']} "
                  f"(study {summary['study']})")
    command = command_line()
    records = _table_runs(cfg, table, study)
    with staged(out, force) as stage:
        lines = report_tables(records, [table], stage, command, shown=out, latency=latency)
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    from ..report.budgets import budget_resolution, resolution_lines
    from ..tables import get_table

    for line in resolution_lines(budget_resolution(get_table(table), records)):
        console.print(line, highlight=False, soft_wrap=True)


def _table_runs(cfg, table: int, study: str | None):
    """This table's grid runs: the named study, else every grid-tableN study (one per budget) in the storage."""
    from ..report import load_records

    if study:
        return load_records(cfg.storage_url, study)
    return [r for r in load_records(cfg.storage_url) if r.table == table and r.study.startswith(f"grid-table{table}")]


def register(app: typer.Typer) -> None:
    app.command("reproduce")(reproduce_cmd)
