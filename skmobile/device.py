"""Which device a command runs on: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (CUDA when present).

The one check behind every ``--device`` (``train``, ``eval``, ``search``, ``reproduce``, ``bench``, and
the latency runtimes): a bad or unavailable device is a one-line SKMobileError naming the value and what is
allowed, raised before any work starts.
"""

from __future__ import annotations

import re

from .errors import SKMobileError

DEVICES = ("cpu", "cuda", "auto")
_ALLOWED = "cpu, cuda, cuda:N, auto"


def resolve_device(name: str, flag: str = "--device") -> str:
    """The concrete device for ``name``: ``auto`` becomes ``cuda`` when CUDA is available, else ``cpu``;
    ``cpu``, ``cuda`` and ``cuda:N`` are returned as given once they exist here."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?", str(name or ""))
    if m is None:
        raise SKMobileError(f"{flag} {name!r} is not a device; allowed: {_ALLOWED}")
    if not torch.cuda.is_available():
        raise SKMobileError(f"{flag} {name!r}: CUDA is not available on this machine; allowed: cpu, auto")
    count = torch.cuda.device_count()
    if m.group(1) is not None and int(m.group(1)) >= count:
        raise SKMobileError(f"{flag} {name!r} does not exist: this machine has {count} CUDA device(s); "
                            f"allowed: cuda:0..cuda:{count - 1}, cpu, auto")
    return name
