"""``skmobile profile MODEL``: parameters and MACs under a named counting convention."""

from __future__ import annotations

import csv
import io
import json

import typer
from rich.console import Console
from rich.table import Table as RichTable

from ..errors import SKMobileError, choose

console = Console()
FORMATS = ("table", "json", "csv")


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
    from ._args import check_model_name

    choose("format", fmt, FORMATS)
    check_model_name(model)  # before torch loads
    from ..profile import profile_model

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



def register(app: typer.Typer) -> None:
    app.command("profile")(profile_cmd)
