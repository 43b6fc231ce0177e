"""Output buffers for the CPU kernels that stay mapped between steps.

A large CPU tensor comes from glibc's ``mmap`` and goes back to the kernel on free, so each new
one is zero-filled page by page on first write; for the fusion's large outputs (early SKNet stages
at training batch sizes) that page filling is a large share of a step (reports/kernels.md has the
figures with and without the pool). Tensors under glibc's mmap threshold are not affected. This
pool keeps the buffers of V and dU_m and hands a buffer out again once every tensor made from it is gone, as torch's CUDA
caching allocator does on a GPU. Each loan is a numpy view of the buffer wrapped by
``torch.from_numpy``, whose storage holds the view for as long as any tensor or view of it lives;
the pool keeps only a weak reference to the view, so the buffer is free again when that reference
is dead.

Buffers under ``MIN_BYTES`` come from torch as usual (small blocks stay in malloc's heap anyway).
The pool holds at most ``SKMOBILE_CPU_BUFFER_MB`` (default: an eighth of RAM, at most 2 GiB); when it
is full, idle buffers of other sizes are dropped first, then new requests get plain tensors.
``SKMOBILE_CPU_BUFFER_MB=0`` turns it off.
"""

from __future__ import annotations

import functools
import math
import os
import threading
import warnings
import weakref

import numpy as np
import torch

MIN_BYTES = 1 << 20
ALIGN = 64


def _default_limit() -> int:
    env = os.environ.get("SKMOBILE_CPU_BUFFER_MB")
    if env is not None:
        try:
            if int(env) >= 0:
                return int(env) << 20
        except ValueError:
            pass
        warnings.warn(f"SKMOBILE_CPU_BUFFER_MB={env!r} is not a whole number of MiB >= 0 "
                      f"(0 turns the buffer pool off); using the default", RuntimeWarning, stacklevel=2)
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        ram = 16 << 30
    return min(2 << 30, ram // 8)


@functools.lru_cache(maxsize=None)
def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty((), dtype=dtype).numpy().dtype


class _Buffer:
    __slots__ = ("data", "loan")

    def __init__(self, nbytes: int):
        raw = np.empty(nbytes + ALIGN, np.uint8)
        start = -raw.ctypes.data % ALIGN  # torch's CPU allocator aligns to 64 bytes too
        self.data = raw[start:start + nbytes]
        self.loan = None  # weakref to the numpy view lent out last

    def idle(self) -> bool:
        return self.loan is None or self.loan() is None

    def lend(self, np_dtype, shape) -> np.ndarray:
        view = self.data.view(np_dtype).reshape(shape)
        self.loan = weakref.ref(view)
        return view


class BufferPool:
    """Reusable byte buffers keyed by size; ``empty`` returns a torch tensor over one."""

    def __init__(self, limit_bytes: int | None = None, min_bytes: int = MIN_BYTES):
        self.limit = _default_limit() if limit_bytes is None else limit_bytes
        self.min_bytes = min_bytes
        self.by_size: dict[int, list[_Buffer]] = {}
        self.held = 0
        self.hits = self.misses = 0
        self.lock = threading.Lock()

    def empty(self, shape, dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised contiguous CPU tensor of ``shape`` and ``dtype``."""
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes < self.min_bytes or self.limit <= 0:
            return torch.empty(shape, dtype=dtype)
        with self.lock:
            buf = self._take(nbytes)
            if buf is None:
                return torch.empty(shape, dtype=dtype)
            return torch.from_numpy(buf.lend(_numpy_dtype(dtype), shape))

    def _take(self, nbytes: int) -> _Buffer | None:
        for buf in self.by_size.get(nbytes, ()):
            if buf.idle():
                self.hits += 1
                return buf
        if self.held + nbytes > self.limit:
            self._drop_idle(self.held + nbytes - self.limit)
        if self.held + nbytes > self.limit:
            return None
        buf = _Buffer(nbytes)
        self.by_size.setdefault(nbytes, []).append(buf)
        self.held += nbytes
        self.misses += 1
        return buf

    def _drop_idle(self, need: int) -> None:
        for size in sorted(self.by_size, reverse=True):
            keep = []
            for buf in self.by_size[size]:
                if need > 0 and buf.idle():
                    need -= size
                    self.held -= size
                else:
                    keep.append(buf)
            if keep:
                self.by_size[size] = keep
            else:
                del self.by_size[size]

    def release(self) -> int:
        """Drop every idle buffer; returns the bytes given back."""
        with self.lock:
            before = self.held
            self._drop_idle(self.held)
            return before - self.held

    def stats(self) -> dict:
        with self.lock:
            count = sum(len(v) for v in self.by_size.values())
            return dict(held_bytes=self.held, buffers=count, hits=self.hits, misses=self.misses,
                        limit_bytes=self.limit)


POOL = BufferPool()


def empty(shape, dtype: torch.dtype, device) -> torch.Tensor:
    """A contiguous tensor for a kernel to fill: pooled on CPU, torch's allocator elsewhere."""
    if torch.device(device).type == "cpu":
        return POOL.empty(tuple(shape), dtype)
    return torch.empty(tuple(shape), dtype=dtype, device=device)
