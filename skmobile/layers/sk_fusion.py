"""The SK fusion as two swappable steps, so a faster backend can replace the plain torch one.

* ``pool(branches) -> s``: s[n, c] = mean over H, W of sum_m U_m[n, c]  (paper Eq. 1-2)
* ``select(branches, a) -> V``: V[n, c] = sum_m a[n, m, c] * U_m[n, c]   (paper Eq. 5-6)

``branches`` is a sequence of M tensors (N, C, H, W); ``a`` is (N, M, C), softmaxed over M.
The torch versions below never build a 5-D tensor, so exported graphs stay rank <= 4.
Other backends (``skmobile.kernels`` adds "numba" and "auto") register themselves with
:func:`register_fusion`. The default, "default", runs "auto" on CUDA tensors (loading the kernels on
first use; reports/kernels-h100.md compares it with torch in training) and torch's
ops elsewhere, so CPU users never load numba unless they ask for it.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

from torch import Tensor

from ..errors import SKMobileError


class Fusion(NamedTuple):
    name: str
    pool: Callable[[Sequence[Tensor]], Tensor]
    select: Callable[[Sequence[Tensor], Tensor], Tensor]


def torch_pool(branches: Sequence[Tensor]) -> Tensor:
    u = branches[0]
    for b in branches[1:]:
        u = u + b
    return u.mean((2, 3))


def torch_select(branches: Sequence[Tensor], attn: Tensor) -> Tensor:
    n, m, c = attn.shape
    out = branches[0] * attn[:, 0].reshape(n, c, 1, 1)
    for i in range(1, m):
        out = out + branches[i] * attn[:, i].reshape(n, c, 1, 1)
    return out


class _DefaultFusion:
    """"auto" for CUDA inputs, torch otherwise; torch everywhere if the kernels cannot load."""

    def __init__(self):
        self._gpu: Fusion | None = None
        self._failed = False

    def _for(self, t: Tensor) -> Fusion | None:
        if not t.is_cuda or self._failed:
            return None
        if self._gpu is None:
            try:
                self._gpu = get_fusion("auto")
            except SKMobileError as exc:
                import warnings

                self._failed = True
                warnings.warn(f"SK fusion 'default' runs torch on CUDA: {exc}", RuntimeWarning, stacklevel=3)
                return None
        return self._gpu

    def pool(self, branches: Sequence[Tensor]) -> Tensor:
        gpu = self._for(branches[0])
        return torch_pool(branches) if gpu is None else gpu.pool(branches)

    def select(self, branches: Sequence[Tensor], attn: Tensor) -> Tensor:
        gpu = self._for(branches[0])
        return torch_select(branches, attn) if gpu is None else gpu.select(branches, attn)


_DEFAULT = _DefaultFusion()
#: The fusion an SKConv2d gets unless told otherwise.
DEFAULT_FUSION = "default"
_FUSIONS: dict[str, Fusion] = {"torch": Fusion("torch", torch_pool, torch_select),
                               "default": Fusion("default", _DEFAULT.pool, _DEFAULT.select)}
#: Backends that load on first use (name -> module that registers them).
_LAZY = {"numba": "skmobile.kernels", "auto": "skmobile.kernels"}


def register_fusion(name: str, pool, select) -> None:
    _FUSIONS[name] = Fusion(name, pool, select)


def unregister_fusion(name: str) -> None:
    """Forget ``name`` (the benchmark's timing-only fusions are registered only while they run)."""
    _FUSIONS.pop(name, None)


def fusion_names() -> list[str]:
    return sorted(set(_FUSIONS) | set(_LAZY))


def get_fusion(name: str) -> Fusion:
    """The fusion backend called ``name`` ("torch", or "numba"/"auto" once skmobile.kernels provides them)."""
    if name not in _FUSIONS and name in _LAZY:
        import importlib

        try:
            importlib.import_module(_LAZY[name])
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise SKMobileError(f"fusion {name!r} is unavailable ({exc}); allowed: torch") from exc
    if name not in _FUSIONS:
        raise SKMobileError(f"unknown fusion {name!r}; allowed: {', '.join(fusion_names())}")
    return _FUSIONS[name]
