"""Plain, JSON-serialisable descriptions of an SK unit.

An :class:`SKSpec` is data: the search samples one, a table row names one, and
:class:`skmobile.layers.SKConv2d` is built from one. Paths are written as the paper writes
them (Li et al., CVPR 2019, Table 7): ``K3`` = 3x3, ``K5`` = 3x3 with dilation 2, ``K7`` = 3x3
with dilation 3; Table 6's true large kernels are written ``5x5g64`` or ``7x7d1g128``
(kernel, optional dilation, optional per-path groups).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from .errors import SKMobileError

#: Paper shorthand (Sec. 3.1 and Table 7): a 5x5 (7x7) kernel is a 3x3 with dilation 2 (3).
NAMED_PATHS = {"K3": (3, 1), "K5": (3, 2), "K7": (3, 3)}
_PATH_RE = re.compile(r"^(\d+)x(\d+)(?:d(\d+))?(?:g(\d+))?$")
_PATH_FIELDS = ("kernel", "dilation", "groups")


def check_int(what: str, value, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum`` (an integral float such as JSON's 16.0 is accepted)."""
    ok = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not ok or int(value) < minimum:
        raise SKMobileError(f"{what}={value!r} is not allowed; allowed: an integer >= {minimum}")
    return int(value)


def check_positive(what: str, value) -> float:
    """``value`` as a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise SKMobileError(f"{what}={value!r} is not allowed; allowed: a finite number > 0")
    return value


@dataclass(frozen=True)
class PathSpec:
    """One SK path: a ``kernel`` x ``kernel`` conv with ``dilation``; ``groups`` None = the unit's G."""

    kernel: int = 3
    dilation: int = 1
    groups: int | None = None

    @property
    def receptive_field(self) -> int:
        """The kernel size the (dilated) conv covers, Table 6's "resulted kernel"."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def name(self) -> str:
        for short, (k, d) in NAMED_PATHS.items():
            if (self.kernel, self.dilation) == (k, d) and self.groups is None:
                return short
        text = f"{self.kernel}x{self.kernel}"
        if self.dilation != 1:
            text += f"d{self.dilation}"
        if self.groups is not None:
            text += f"g{self.groups}"
        return text


def parse_path(path) -> PathSpec:
    """Read one path from ``"K5"``, ``"5x5g64"``, ``(3, 2)``, ``(5, 1, 64)`` or a PathSpec."""
    if isinstance(path, PathSpec):
        spec = path
    elif isinstance(path, str):
        key = path.strip()
        if key.upper() in NAMED_PATHS:
            spec = PathSpec(*NAMED_PATHS[key.upper()])
        else:
            m = _PATH_RE.match(key.lower())
            if not m or m.group(1) != m.group(2):
                raise SKMobileError(
                    f"unknown SK path {path!r}; allowed: K3, K5, K7, or KxK[dD][gG] such as 5x5g64"
                )
            spec = PathSpec(int(m.group(1)), int(m.group(3) or 1), int(m.group(4)) if m.group(4) else None)
    elif isinstance(path, (tuple, list)) and len(path) in (2, 3):
        spec = PathSpec(*path)
    elif isinstance(path, dict):
        unknown = sorted(set(path) - set(_PATH_FIELDS), key=str)
        if unknown:
            raise SKMobileError(f"unknown SK path field(s) {unknown} in {path!r}; allowed: {', '.join(_PATH_FIELDS)}")
        spec = PathSpec(**path)
    else:
        raise SKMobileError(f"unknown SK path {path!r}; allowed: K3, K5, K7, KxK[dD][gG], (kernel, dilation[, groups])")
    kernel = check_int("SK path kernel", spec.kernel)
    if kernel % 2 == 0:
        raise SKMobileError(f"SK path kernel={kernel} is not allowed; allowed: an odd integer >= 1")
    groups = None if spec.groups is None else check_int("SK path groups", spec.groups)
    return PathSpec(kernel, check_int("SK path dilation", spec.dilation), groups)


def parse_paths(paths) -> tuple[PathSpec, ...]:
    """Read a path list: ``"K3+K5"``, ``["K3", "K5"]`` or pairs. M = len(result) must be >= 1."""
    if isinstance(paths, str):
        paths = [p for p in paths.replace(",", "+").split("+") if p.strip()]
    if isinstance(paths, (PathSpec, dict)) or (isinstance(paths, tuple) and paths and isinstance(paths[0], int)):
        paths = [paths]
    if not isinstance(paths, (list, tuple)):
        raise SKMobileError(f"SK paths {paths!r} are not allowed; allowed: a string such as 'K3+K5' or a list of paths")
    parsed = tuple(parse_path(p) for p in paths)
    if len(parsed) < 1:
        raise SKMobileError("an SK unit needs M >= 1 paths; got 0 (allowed: K3, K5, K7, ...)")
    return parsed


def paths_to_str(paths: Iterable[PathSpec]) -> str:
    """The canonical string of a path list, e.g. ``"K3+K5"`` (Optuna stores strings, not tuples)."""
    return "+".join(p.name for p in paths)


@dataclass(frozen=True)
class SKSpec:
    """SK[M, G, r] of the paper plus L, the attention-width override and attention on/off.

    Defaults are the paper's SK[2, 32, 16] with L = 32 (Sec. 3.3 and Table 1).
    """

    paths: tuple[PathSpec, ...] = (PathSpec(3, 1), PathSpec(3, 2))
    groups: int = 32
    reduction: float = 16
    min_attn: int = 32
    attn_channels: int | None = None
    attention: bool = True

    def __post_init__(self):
        checked = {"paths": parse_paths(self.paths), "groups": check_int("SK groups G", self.groups),
                   "reduction": check_positive("SK reduction r", self.reduction),
                   "min_attn": check_int("SK minimum attention width L", self.min_attn),
                   "attn_channels": None if self.attn_channels is None
                   else check_int("SK attention width d", self.attn_channels)}
        if not isinstance(self.attention, bool):
            raise SKMobileError(f"SK attention={self.attention!r} is not allowed; allowed: true, false")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def m(self) -> int:
        return len(self.paths)

    @property
    def kernels(self) -> str:
        return paths_to_str(self.paths)

    def attn_width(self, channels: int) -> int:
        """d = max(C / r, L) (paper Eq. 4) unless overridden."""
        if self.attn_channels is not None:
            return int(self.attn_channels)
        return max(int(channels // self.reduction), int(self.min_attn))

    def replace(self, **changes) -> "SKSpec":
        _check_fields(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {
            "paths": self.kernels,
            "groups": self.groups,
            "reduction": self.reduction,
            "min_attn": self.min_attn,
            "attn_channels": self.attn_channels,
            "attention": self.attention,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SKSpec":
        _check_fields(data)
        return cls(**data)


def _check_fields(data: dict) -> None:
    known = [f.name for f in dataclasses.fields(SKSpec)]
    unknown = sorted(set(data) - set(known), key=str)
    if unknown:
        raise SKMobileError(f"unknown SK spec field(s) {unknown}; allowed: {', '.join(known)}")


def merge_sk(defaults: SKSpec, sk) -> SKSpec:
    """The spec a model builds from its ``defaults`` and a user's ``sk``: None keeps the defaults, a
    dict overrides only the keys it names, an :class:`SKSpec` (complete by construction) replaces."""
    if sk is None:
        return defaults
    if isinstance(sk, SKSpec):
        return sk
    if isinstance(sk, dict):
        return SKSpec.from_dict({**defaults.to_dict(), **sk})
    raise SKMobileError(f"cannot read an SK spec from {sk!r}; give an SKSpec or a dict")


def as_sk_spec(spec) -> SKSpec:
    """Accept an SKSpec, a dict (over the paper default) or None (the paper default)."""
    return merge_sk(SKSpec(), spec)


def check_channels(name: str, channels: int, groups: int) -> None:
    """Raise unless ``groups`` divides the ``name`` channel count."""
    if channels % groups:
        raise SKMobileError(f"groups G={groups} must divide the {name} channels ({channels})")
