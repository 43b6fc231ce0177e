"""Where a result came from: the git commit of the code and the hardware it ran on (recorded in every
trial, shown in every report's metadata block)."""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from pathlib import Path

_ARGV: list[str] | None = None


def set_argv(argv: list[str] | None) -> None:
    """Remember the arguments the ``skmobile`` command runs with (``main(argv)``; None: ``sys.argv``)."""
    global _ARGV
    _ARGV = None if argv is None else list(argv)


def current_argv() -> list[str]:
    """The arguments of the running ``skmobile`` command (without the program name)."""
    return list(_ARGV if _ARGV is not None else sys.argv[1:])


def command_line() -> str:
    """The command as the user typed it, every option included: ``skmobile ARGS`` (the one way a command
    records itself in its outputs)."""
    return "skmobile " + shlex.join(str(a) for a in current_argv())


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The short commit of the skmobile checkout, with "+dirty" for uncommitted changes (None outside git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def hardware(device: str | None = "cpu") -> str:
    """'CPU model xN' and, on CUDA, '+ GPU name'."""
    from .measure.machine import cpu_model, gpu_name

    text = f"{cpu_model()} x{os.cpu_count()}"
    if device and str(device).startswith("cuda"):
        text += f" + {gpu_name()}"
    return text
