"""``skmobile models``, ``skmobile profile`` and ``skmobile reproduce``."""

from __future__ import annotations

import csv
import io
import json
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table as RichTable

from ..errors import SKMobileError, choose

console = Console()


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def models_cmd(
    fmt: str = typer.Option("table", "--format", help="table | json"),
    family: str = typer.Option(None, "--family", help="only this family (e.g. sknet, resnext)"),
) -> None:
    """List every registered model with its family and whether timm's registry has it too."""
    from ..models import list_models, model_entry

    choose("format", fmt, ["table", "json"])
    entries = [model_entry(n) for n in list_models(family)]
    if family and not entries:
        from ..models import model_families

        raise SKMobileError(f"unknown family {family!r}; allowed: {', '.join(model_families())}")
    if fmt == "json":
        typer.echo(json.dumps([{"name": e.name, "family": e.family, "description": e.description,
                                "in_timm_registry": e.in_timm} for e in entries], indent=1))
        return
    t = RichTable(title=f"skmobile models ({len(entries)})")
    for col in ("name", "family", "timm.create_model", "description"):
        t.add_column(col)
    for e in entries:
        t.add_row(e.name, e.family, "yes" if e.in_timm else "no (timm's own)", e.description)
    console.print(t)


def profile_cmd(
    model: str = typer.Argument(..., help="a registered model name (see `skmobile models`)"),
    input_size: int = typer.Option(224, "--input-size", help="square input side in pixels"),
    num_classes: int = typer.Option(1000, "--num-classes"),
    convention: str = typer.Option("paper", "--convention", help="paper | paper+bn | fvcore | torch"),
    bn_stats: bool = typer.Option(False, "--bn-stats", help="count BN running mean/var as parameters"),
    per_layer: bool = typer.Option(False, "--per-layer", help="add the per-layer breakdown"),
    fmt: str = typer.Option("table", "--format", help="table | json | csv"),
    sk: str = typer.Option(None, "--sk", help='SK spec as JSON, e.g. \'{"paths": "K3+K5+K7"}\''),
) -> None:
    """Parameters and multiply-adds (MACs) of MODEL under a named counting convention."""
    from ..profile import profile_model

    choose("format", fmt, [f.value for f in Format])
    kwargs = {}
    if sk:
        try:
            kwargs["sk"] = json.loads(sk)
        except json.JSONDecodeError as exc:
            raise SKMobileError(f"--sk is not valid JSON ({exc.msg}): {sk!r}") from None
    c = profile_model(model, input_size=input_size, num_classes=num_classes, convention=convention,
                      bn_stats=bn_stats, **kwargs)
    data = c.to_dict(per_layer=per_layer)
    if fmt == "json":
        typer.echo(json.dumps(data, indent=1))
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        if per_layer:
            w.writerow(["layer", "type", "params", "macs"])
            for layer in c.layers:
                w.writerow([layer.name, layer.kind, layer.params, layer.macs])
        else:
            w.writerow(["model", "params", "macs", "convention", "params_convention", "input_size"])
            w.writerow([c.model, c.params_counted, c.macs, c.convention, c.params_convention, c.input_size])
        typer.echo(buf.getvalue(), nl=False)
        return
    if per_layer:
        t = RichTable(title=f"{model}: per layer ({convention})")
        for col, just in (("layer", "left"), ("type", "left"), ("params", "right"), ("MACs", "right")):
            t.add_column(col, justify=just)
        for layer in c.layers:
            t.add_row(layer.name, layer.kind, f"{layer.params:,}", f"{layer.macs:,}")
        console.print(t)
    t = RichTable(title=f"{model} @ {input_size}px, {num_classes} classes")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    t.add_row(f"params ({c.params_convention})", f"{c.params_counted:,}  ({c.params_counted / 1e6:.3f} M)")
    t.add_row(f"MACs ({convention})", f"{c.macs:,}  ({c.macs / 1e9:.4f} G)")
    if c.skipped_ops:
        t.add_row("not counted", ", ".join(f"{k} x{v}" for k, v in sorted(c.skipped_ops.items())))
    console.print(t)


def reproduce_cmd(
    table: int = typer.Option(..., "--table", help="paper table number (2, 3, 4, 5, 6, 7)"),
    train: bool = typer.Option(False, "--train/--no-train",
                               help="also train proxies (Tables 4, 6, 7) for the accuracy column and conclusions"),
    seeds: int = typer.Option(3, "--seeds", help="seeds per row with --train"),
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL for --train (default sqlite:///runs/skmobile.db)"),
    study: str = typer.Option(None, "--study", help="study name for --train (default grid-tableN)"),
    dataset: str = typer.Option("fashion-mnist", "--dataset", help="proxy data set for --train"),
    data_dir: str = typer.Option(None, "--data-dir", help="data set directory for --train"),
    budget: str = typer.Option("trial", "--budget", help="proxy budget for --train: trial | default"),
    device: str = typer.Option("cpu", "--device", help="device for --train: cpu | cuda | cuda:N | auto"),
    out: Path = typer.Option(Path("reports"), "--out", help="output directory"),
) -> None:
    """Rebuild every row of a paper table, measure it, and write DIR/tableN.{md,csv,json}.

    With --train: run the table's grid (rows x seeds, resumable) into a study, then write the full
    report (accuracy column, conclusions, figures, HTML), as `skmobile report` does."""
    from ..reproduce import reproduce
    from ..tables import get_table

    get_table(table)  # validates the number before any work
    if train:
        _reproduce_train(table, seeds, storage, study, dataset, data_dir, budget, out, device)
        return
    with console.status(f"measuring Table {table}...") as status:
        rows, paths = reproduce(table, out, progress=lambda label: status.update(f"Table {table}: {label}"))
    n_measured = sum(1 for r in rows if r["measured"])
    console.print(f"Table {table}: {n_measured}/{len(rows)} rows measured -> " + ", ".join(str(p) for p in paths))


def _reproduce_train(table, seeds, storage, study, dataset, data_dir, budget, out, device="cpu") -> None:
    from ..report import REPORT_TABLES, load_records
    from ..search import run_search
    from ..search.runner import SearchConfig
    from .report import report_tables

    if table not in REPORT_TABLES:
        raise SKMobileError(f"--train is available for Tables {', '.join(map(str, REPORT_TABLES))}; "
                            f"Table {table} has no proxy grid (use --no-train)")
    cfg = SearchConfig(grid=f"table{table}", seeds=seeds, storage=storage, study=study, dataset=dataset,
                       data_dir=data_dir, budget=budget, device=device)
    summary = run_search(cfg, console)
    console.print(f"Table {table}: {summary['added']} trials run into {summary['storage']} (study {summary['study']})")
    command = (f"skmobile reproduce --table {table} --train --seeds {seeds}"
               + (f" --storage {storage}" if storage else "") + (f" --study {study}" if study else "")
               + (f" --dataset {dataset}" if dataset != "fashion-mnist" else "")
               + (f" --budget {budget}" if budget != "trial" else "")
               + (f" --device {device}" if device != "cpu" else "") + f" --out {out}")
    report_tables(load_records(cfg.storage_url, cfg.study_name), [table], out, command)


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
    app.command("profile")(profile_cmd)
    app.command("reproduce")(reproduce_cmd)
