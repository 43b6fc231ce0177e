"""Which device a training run uses: ``cpu``, ``cuda`` (or ``cuda:N``) or ``auto`` (CUDA when present)."""

from __future__ import annotations

import re

from ..errors import SKMobileError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(name: str) -> str:
    """The concrete device for ``name``: ``auto`` becomes ``cuda`` when CUDA is available, else ``cpu``.

    Asking for CUDA where there is none, or for an unknown device, is a one-line SKMobileError.
    """
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?", str(name))
    if m is None:
        raise SKMobileError(f"unknown device {name!r}; allowed: cpu, cuda, cuda:N, auto")
    if not torch.cuda.is_available():
        raise SKMobileError(f"device {name!r} asked for but CUDA is not available here; allowed: cpu, auto")
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        raise SKMobileError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    return name
