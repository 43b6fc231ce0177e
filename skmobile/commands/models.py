"""``skmobile models``: every registered model, read from the model index (no model is built)."""

from __future__ import annotations

import json

import typer

from ..errors import choose


def models_cmd(
    fmt: str = typer.Option("table", "--format", help="table | json"),
    family: str = typer.Option(None, "--family", help="only this family (e.g. sknet, resnext)"),
) -> None:
    """List every registered model with its family and whether timm's registry has it too."""
    from ..model_index import index_entries

    choose("format", fmt, ["table", "json"])
    entries = index_entries(family)
    if fmt == "json":
        typer.echo(json.dumps([{"name": e.name, "family": e.family, "description": e.description,
                                "in_timm_registry": e.in_timm} for e in entries], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"skmobile models ({len(entries)})")
    for col in ("name", "family", "timm.create_model", "description"):
        t.add_column(col)
    for e in entries:
        t.add_row(e.name, e.family, "yes" if e.in_timm else "no (timm's own)", e.description)
    Console().print(t)


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
