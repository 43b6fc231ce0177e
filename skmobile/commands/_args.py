"""Checks of command-line arguments that several commands share, run before any work starts.

Each raises :class:`SKMobileError` naming the bad value and what is allowed, and writes nothing: an
output folder is probed by creating it and removing what the probe created.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import typer

from ..errors import SKMobileError

# Options that several commands declare alike (typer reads an Option's metadata per command, so one
# instance serves every command that names it).
LATENCY_RUNTIMES = typer.Option(None, "--latency-runtimes", help="with --latency: comma-separated runtimes "
                                "(default onnxruntime,torch)")
LATENCY_THREADS = typer.Option(None, "--latency-threads", help="with --latency: intra-op threads (default 1)")
LATENCY_CACHE = typer.Option(None, "--latency-cache", help="with --latency: the SQLite latency cache "
                             "(default ~/.cache/skmobile/latency.sqlite or $SKMOBILE_LATENCY_CACHE)")


def check_out_dir(path: Path, flag: str = "--out") -> Path:
    """``path`` as an output folder that can be written: an existing folder or one that can be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SKMobileError(f"{flag} {path} is a file; allowed: a folder (existing or new)")
    made = []
    probe = path
    while not probe.exists():  # the levels a mkdir would create, deepest first
        made.append(probe)
        probe = probe.parent
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise SKMobileError(f"{flag} {path} cannot be written ({exc.strerror or exc}); allowed: a writable "
                            "folder") from None
    finally:
        for level in made:
            try:
                level.rmdir()
            except OSError:
                pass
    return path


def check_out_file(path: Path, flag: str = "--out", example: str = "model.onnx", make_parent: bool = False) -> Path:
    """``path`` as an output file: a regular file or a new one, in a folder that exists (or, with
    ``make_parent``, can be made) and can be written (never a device, FIFO or socket: writes go to a
    temporary file renamed over it)."""
    path = Path(path)
    if make_parent and not path.is_dir():
        check_out_dir(path.parent, flag)
    if path.is_dir():
        raise SKMobileError(f"{flag} {path} is a folder; allowed: a file name, e.g. {path / example}")
    if path.exists() and not path.is_file():
        raise SKMobileError(f"{flag} {path} is not a regular file (a device, FIFO or socket); allowed: a file "
                            f"in a writable folder, e.g. runs/{example}")
    if not path.parent.is_dir():
        raise SKMobileError(f"{flag} {path}: folder {path.parent} does not exist; allowed: a file in an "
                            "existing folder")
    if not os.access(path.parent, os.W_OK):
        raise SKMobileError(f"{flag} {path}: folder {path.parent} is not writable")
    return path


def check_at_least(flag: str, value, minimum: int, why: str = "") -> None:
    """Raise unless ``value`` (None = the default) is >= ``minimum``."""
    if value is not None and value < minimum:
        raise SKMobileError(f"{flag} {value} is not allowed; allowed: >= {minimum}" + (f" ({why})" if why else ""))


def check_model_name(name: str) -> None:
    """Refuse an unregistered model name from the generated index, before torch or any model loads."""
    import difflib

    from ..model_index import index_entries

    names = [e.name for e in index_entries()]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
        hint = ", ".join(close) if close else ", ".join(names[:8]) + ", ..."
        raise SKMobileError(f"unknown model {name!r}; allowed: {hint} (`skmobile models` lists all {len(names)})")
