"""One-time runtime warnings of the kernels (a fallback or a slower path is said once per process)."""

from __future__ import annotations

import warnings

_WARNED: set[str] = set()


def warn_once(key: str, message: str) -> None:
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


#: Every fallback to the torch fusion, by reason, counted on each call (not once): a benchmark labels
#: its rows by the fusion that actually ran (see :func:`skmobile.bench_model.compare`).
FALLBACKS: dict[str, int] = {}


def fallback(backend: str, reason: str) -> None:
    """Count a fallback to the torch fusion and warn once per backend (not once per dtype mix)."""
    FALLBACKS[reason] = FALLBACKS.get(reason, 0) + 1
    warn_once(f"{backend}:fallback", f"skmobile.kernels: {reason}; using the torch fusion instead")
