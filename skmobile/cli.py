"""The ``skmobile`` command line.

Commands live in ``skmobile/commands/*.py``; each module defines ``register(app)`` and is found
automatically, so a feature's commands sit beside nothing but themselves. Every bad input raises
:class:`SKMobileError`, printed here as one line with exit code 2 (no traceback).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings

import typer

from .errors import SKMobileError

app = typer.Typer(
    name="skmobile",
    help="Selective Kernel convolution for mobile networks: models, exact complexity, kernels, search, reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


_loaded = False


def _load_commands() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").register(app)


def fail(message: str) -> "typer.Exit":
    """Print a one-line error and return the exit to raise (code 2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def main(argv: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"fvcore.*")
    _load_commands()
    try:
        app(args=argv, standalone_mode=True)
    except SKMobileError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
