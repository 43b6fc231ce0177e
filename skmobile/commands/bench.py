"""``skmobile bench``: the command group; its subcommands live in their features' modules."""

from __future__ import annotations

import typer

bench_app = typer.Typer(help="Benchmarks that print measured figures (kernels, whole models, training).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
