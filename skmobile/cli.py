"""The ``skmobile`` command line.

Commands live in ``skmobile/commands/*.py``, one file per feature; each module defines
``register(app)`` and is found automatically. Command modules import torch, timm, optuna and the
like only inside their command functions, so ``skmobile --help`` answers without loading them.

Every bad input raises :class:`SKMobileError`, printed here as one line ``error: ...`` with exit code
2 (no traceback); so are usage errors (an unknown command or option), an OSError on a path the user
gave, and an allocation the machine cannot make. Ctrl-C ends with one line ``interrupted; ...`` (what
was kept) and exit code 130.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
import warnings

import typer

from .errors import Interrupted, SKMobileError

app = typer.Typer(
    name="skmobile",
    help="Selective Kernel convolution for mobile networks: models, exact complexity, kernels, search, reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Exit codes: a bad input or usage, and an interrupt (128 + SIGINT, as shells report it).
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

if hasattr(typer, "TyperException"):  # typer >= 0.2x carries its own click; its errors derive from this
    _ClickError = typer.TyperException
else:  # pragma: no cover - older typer raises click's own
    from click import ClickException as _ClickError

_ALLOC_MARKERS = ("can't allocate memory", "out of memory", "not enough memory")

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


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str, code: int = EXIT_BAD_INPUT) -> int:
    typer.echo(f"error: {_one_line(message)}", err=True)
    return code


def _run(argv: list[str] | None) -> int:
    """Run the app; turn every expected failure into one line and an exit code."""
    try:
        result = app(args=argv, standalone_mode=False)
        if result == EXIT_INTERRUPTED:  # typer turns a bare Ctrl-C into this code, silently
            typer.echo("interrupted", err=True)
        return result if isinstance(result, int) else 0
    except Interrupted as exc:
        typer.echo(f"interrupted; {_one_line(str(exc))}", err=True)
        return EXIT_INTERRUPTED
    except SKMobileError as exc:
        return _error(str(exc))
    except _ClickError as exc:  # usage errors: unknown command or option, bad option value
        code = getattr(exc, "exit_code", EXIT_BAD_INPUT)
        if type(exc).__name__ == "NoArgsIsHelpError":  # `skmobile` alone: typer has printed the help
            text = exc.format_message()
            if text.strip():
                typer.echo(text, err=True)
            return code
        ctx = getattr(exc, "ctx", None)
        hint = f"; see '{ctx.command_path} --help'" if ctx is not None else ""
        return _error(exc.format_message().rstrip(".") + hint, code)
    except typer.Abort:
        return _error("aborted", 1)
    except KeyboardInterrupt:
        return _error("interrupted", EXIT_INTERRUPTED)
    except MemoryError:
        return _error("out of memory: the sizes asked for need more memory than this machine has; "
                      "use smaller sizes (batch, input size)")
    except OSError as exc:
        if exc.filename is None:
            raise
        where = exc.filename if exc.filename2 is None else f"{exc.filename} -> {exc.filename2}"
        return _error(f"{where}: {exc.strerror or exc}")
    except RuntimeError as exc:  # torch reports a failed allocation as a RuntimeError
        text = str(exc)
        if not any(marker in text.lower() for marker in _ALLOC_MARKERS):
            raise
        first = re.sub(r"\[enforce fail at [^\]]*\]\s*(err == 0\.)?\s*", "", text.strip().splitlines()[0])
        return _error(f"out of memory: {first}; use smaller sizes (batch, input size)")


def main(argv: list[str] | None = None) -> None:
    """The console entry point: run one command and exit with its code."""
    from .provenance import set_argv

    _load_commands()
    set_argv(argv)
    with warnings.catch_warnings():
        # third-party notices about their own internals are not the user's business on the CLI;
        # restored on return, so callers embedding main() keep their filters
        warnings.filterwarnings("ignore", category=FutureWarning, message=r".*torch\.jit.*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"fvcore.*")
        code = _run(argv)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
