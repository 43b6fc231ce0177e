"""The cache term of the latency predictor: what a whole graph pays to fetch weights a layer alone has hot.

A layer timed alone reads its weights again and again, so they sit in the cache level that holds
its own bytes (weights, input, output). A whole model reads every weight once per inference, and
between two reads of one weight it touches every other weight and its activation buffers: the
weights' reuse distance is the model's footprint. Once that footprint outgrows what the cache keeps
for this core, the weights come from a slower level (memory) on every inference.

The machine's answer to "what does one byte cost when a buffer of S bytes is read cyclically" is
measured here by a micro-benchmark (:func:`measure_curve`): a vectorised read of a buffer of size S,
repeated, for S from a few hundred KiB to several times the last-level cache. Nothing is fitted to
models. The term for one model is, per layer,

    weight bytes x (cost per byte at the model's footprint - cost per byte at the layer's own bytes)

summed over layers (clamped at 0). The footprint is the sum of every layer's weights plus the
largest live set of one layer (its inputs and output), a lower bound on a runtime's activation
arena. The term assumes a layer cannot hide the slower reads behind its arithmetic, so it is an
upper estimate for layers that reuse each weight many times (large-spatial convolutions) and close
for those that read each weight once (batch-1 linear layers, late 1x1 convolutions).

A weight's reuse distance is also a time: one inference. On a dedicated machine a buffer that fits
the cache is still there a few milliseconds later; on a shared one (a cloud guest whose core and
last-level cache other tenants use) it may not be: on the 2-core development VM, a 1 MiB buffer
re-read after a 4-16 ms pause costs about what 128 MiB costs (the paused curves in
reports/latency.md). So the curve is also measured with a pause before each read (:data:`DEFAULT_PAUSES_MS`, the process spinning without touching memory),
and the far cost is read at the model's footprint *and* after a pause of one inference (the
layers' sum): ``curve.at(footprint, pause_ms)``, interpolated between the measured pauses.
``--build-table`` times the paused reads (:func:`paused_reads`) in the same interleaved rounds
as the layers and the models it checks, so the curve sees the machine as they do.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Iterable, Sequence

#: buffer sizes of the sweep: 256 KiB .. 128 MiB in steps of 2**(1/4) (past the caches of common
#: CPUs; fine enough that a sharp knee at the last-level cache is placed within 19 %)
DEFAULT_SIZES = tuple(int(2 ** (18 + k / 4)) for k in range(37))
#: pauses (ms) before a timed read for the paused curves: the span of a light model's inference
DEFAULT_PAUSES_MS = (1.0, 4.0, 16.0)


@dataclass
class MemoryCurve:
    """ns per byte of a cyclic read at each buffer size (bytes), non-decreasing in size."""

    sizes: list[int]
    ns_per_byte: list[float]
    raw_ns_per_byte: list[float] | None = None   # as measured, before the monotone fit
    llc_bytes: int | None = None                 # the last-level cache the OS reports (for the record)
    method: str = "numpy max over float32, median of repeats, per-call overhead subtracted"
    pauses_ms: list[float] = field(default_factory=list)                # pauses of the paused curves
    paused_ns_per_byte: list[list[float]] = field(default_factory=list)  # per pause: a cost per size

    def __post_init__(self):
        if len(self.sizes) != len(self.ns_per_byte) or not self.sizes:
            raise ValueError("a memory curve needs one cost per size, and at least one size")
        if any(b <= a for a, b in zip(self.sizes, self.sizes[1:])):
            raise ValueError("memory curve sizes must increase")
        if len(self.pauses_ms) != len(self.paused_ns_per_byte) or any(
                len(c) != len(self.sizes) for c in self.paused_ns_per_byte):
            raise ValueError("a paused memory curve needs one cost per size for each pause")
        if any(b <= a for a, b in zip([0.0] + list(self.pauses_ms), self.pauses_ms)):
            raise ValueError("memory curve pauses must be positive and increase")

    def at(self, size: float, pause_ms: float = 0.0) -> float:
        """ns per byte at ``size`` bytes re-read after ``pause_ms``: linear in log(size) between
        measured sizes and linear in the pause between measured pauses (0: back to back), flat outside."""
        pauses = [0.0] + list(self.pauses_ms)
        costs = [self.ns_per_byte] + list(self.paused_ns_per_byte)
        if pause_ms >= pauses[-1]:
            return _interp_log(self.sizes, costs[-1], size)
        i = next(i for i in range(1, len(pauses)) if pause_ms < pauses[i])
        lo, hi = _interp_log(self.sizes, costs[i - 1], size), _interp_log(self.sizes, costs[i], size)
        return lo + (hi - lo) * (max(0.0, pause_ms) - pauses[i - 1]) / (pauses[i] - pauses[i - 1])

    def as_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "MemoryCurve":
        return cls(**data)

    def summary(self) -> str:
        """One line for reports: in-cache and far costs, and where the cost crosses halfway."""
        lo, hi = self.ns_per_byte[0], self.ns_per_byte[-1]
        half = next((s for s, y in zip(self.sizes, self.ns_per_byte) if y >= (lo + hi) / 2), self.sizes[-1])
        return (f"cyclic read {lo:.4f} ns/B in cache ({1 / lo:.1f} GB/s), {hi:.4f} ns/B at "
                f"{self.sizes[-1] / 2 ** 20:.0f} MiB ({1 / hi:.1f} GB/s); halfway at {half / 2 ** 20:.1f} MiB"
                + (f" (OS-reported LLC {self.llc_bytes / 2 ** 20:.0f} MiB)" if self.llc_bytes else "")
                + ("; 1 MiB re-read after a pause of " + " / ".join(f"{p:g}" for p in self.pauses_ms) + " ms: "
                   + " / ".join(f"{self.at(2 ** 20, p):.4f}" for p in self.pauses_ms) + " ns/B" if self.pauses_ms else ""))


def _interp_log(xs: Sequence[int], ys: Sequence[float], size: float) -> float:
    """``ys`` at ``size``: linear in log(size) between the ``xs``, flat outside them."""
    if size <= xs[0]:
        return ys[0]
    if size >= xs[-1]:
        return ys[-1]
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if size <= x1:
            w = (math.log(size) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + w * (y1 - y0)
    return ys[-1]  # pragma: no cover - the loop always returns


def monotone(values: Sequence[float]) -> list[float]:
    """The least-squares non-decreasing fit (pool adjacent violators): a larger working set never
    costs less per byte, so a dip in the measured curve is noise."""
    blocks: list[list[float]] = []   # [mean, count]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m1, n1 = blocks.pop()
            m0, n0 = blocks.pop()
            blocks.append([(m0 * n0 + m1 * n1) / (n0 + n1), n0 + n1])
    return [m for m, n in blocks for _ in range(int(n))]


def llc_bytes() -> int | None:
    """The largest cache size the OS reports for CPU 0 (Linux sysfs), or None."""
    import glob

    best = None
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            text = open(path).read().strip().upper()
        except OSError:
            continue
        mult = {"K": 2 ** 10, "M": 2 ** 20, "G": 2 ** 30}.get(text[-1:], 1)
        try:
            size = int(text.rstrip("KMG")) * mult
        except ValueError:
            continue
        best = max(best or 0, size)
    return best


def _spin(seconds: float) -> None:
    """Wait ``seconds`` without sleeping (the core stays ours) and without touching memory."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def measure_curve(sizes: Sequence[int] = DEFAULT_SIZES, repeats: int = 7, sweeps: int = 3,
                  clock=time.perf_counter, pauses_ms: Sequence[float] = DEFAULT_PAUSES_MS) -> MemoryCurve:
    """Time a cyclic read of buffers of ``sizes`` bytes back to back (median over ``repeats`` reads
    after one untimed read, per-call overhead of a 4 KiB read subtracted; ``sweeps`` sweeps
    interleave sizes so a load change hits them alike), then after each of ``pauses_ms`` (the
    callables of :func:`paused_reads` in ``sweeps`` interleaved rounds of ``repeats`` calls, as
    ``--build-table`` times them in its own rounds). Fitted as :func:`with_paused` does."""
    import numpy as np

    from ..measure.timing import TimingPlan, time_rounds

    def one(buf) -> float:
        buf.max()
        times = []
        for _ in range(repeats):
            t0 = clock()
            buf.max()
            times.append(clock() - t0)
        return sorted(times)[len(times) // 2]

    tiny = np.ones(_TINY // 4, np.float32)
    per_size: dict[int, list[float]] = {s: [] for s in sizes}
    for _ in range(sweeps):
        overhead = one(tiny)
        for s in sizes:
            buf = np.ones(max(1, s // 4), np.float32)
            per_size[s].append(max(0.0, one(buf) - overhead) * 1e9 / buf.nbytes)
            del buf
    raw = [sorted(v)[len(v) // 2] for v in (per_size[s] for s in sizes)]
    base = MemoryCurve(list(sizes), [round(v, 6) for v in monotone(raw)], [round(v, 6) for v in raw], llc_bytes())
    if not pauses_ms:
        return base
    reads, pauses = paused_reads(sizes, pauses_ms)
    plan = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=repeats, max_calls=repeats,
                      min_rounds=sweeps, max_rounds=sweeps)
    timed = time_rounds(reads, plan, clock=clock, prepare=pauses)
    return paused_from_ms(base, {k: timed.spread(k).p50 * 1e3 for k in reads}, pauses_ms)


def with_paused(base: MemoryCurve, raw: dict[float, Sequence[float]]) -> MemoryCurve:
    """``base`` (its back-to-back curve kept) with paused curves from ``raw``: pause ms -> measured
    ns per byte at each of ``base.sizes``. Each is fitted non-decreasing in size, and at each size
    a longer pause never costs less than a shorter one or than back to back."""
    fitted, previous = [], base.ns_per_byte
    for p in sorted(raw):
        previous = [max(a, b) for a, b in zip(monotone(raw[p]), previous)]
        fitted.append([round(v, 6) for v in previous])
    return replace(base, pauses_ms=[float(p) for p in sorted(raw)], paused_ns_per_byte=fitted)


def paused_reads(sizes: Sequence[int], pauses_ms: Sequence[float] = DEFAULT_PAUSES_MS) -> tuple[dict, dict]:
    """(label -> read callable, label -> pause callable) for timing the paused curves in another
    timer's rounds: a cyclic read of a buffer of each size after each pause, and of 4 KiB (the
    per-call overhead) after each pause; :func:`paused_from_ms` turns their medians into costs."""
    import numpy as np

    buffers = {s: np.ones(max(1, (s or _TINY) // 4), np.float32) for s in [None] + list(sizes)}   # one per size
    reads, pauses = {}, {}
    for p in pauses_ms:
        for s, buf in buffers.items():
            reads[_read_label(p, s)] = buf.max
            pauses[_read_label(p, s)] = (lambda seconds=p / 1e3: _spin(seconds))
    return reads, pauses


def paused_from_ms(base: MemoryCurve, median_ms: dict[str, float], pauses_ms: Sequence[float] = DEFAULT_PAUSES_MS
                   ) -> MemoryCurve:
    """``base`` with the paused curves from the median ms of :func:`paused_reads`' callables."""
    raw = {p: [max(0.0, median_ms[_read_label(p, s)] - median_ms[_read_label(p, None)]) * 1e6 / (4 * max(1, s // 4))
               for s in base.sizes] for p in pauses_ms}
    return with_paused(base, raw)


_TINY = 4096   # bytes of the overhead read


def _read_label(pause_ms: float, size: int | None) -> str:
    """The label of a paused read of ``size`` bytes (None: the overhead read)."""
    return f"read {size if size is not None else 'overhead'} B after {pause_ms:g} ms"


def footprint_bytes(weight_bytes: Iterable[int], live_bytes: Iterable[int]) -> int:
    """A model's per-inference footprint: all weights plus the largest live set of one layer."""
    return int(sum(weight_bytes)) + int(max(live_bytes, default=0))


def cache_term_ms(layers: Iterable[tuple], footprint: int, curve: MemoryCurve, pause_ms: float = 0.0) -> float:
    """The cache term in ms for ``layers`` given as (weight bytes, own bytes) or (weight bytes, own
    bytes, cold extra ms) tuples. A layer's weights cost (curve at ``footprint`` after ``pause_ms``,
    one inference - curve at its own bytes, back to back) ns per byte more in the model. A layer
    with a cold extra (its time with its weights in memory, measured, less its time alone: see
    :func:`cold_share`) pays that extra times the share of a full miss the curve gives it instead."""
    far = curve.at(footprint, pause_ms)
    total = 0.0
    for w, own, *cold in layers:
        if cold and cold[0] is not None:
            total += cold[0] * 1e6 * cold_share(curve, footprint, own, pause_ms)   # ms -> ns
        else:
            total += w * max(0.0, far - curve.at(own))
    return total * 1e-6


def cold_share(curve: MemoryCurve, footprint: int, own: int, pause_ms: float = 0.0) -> float:
    """The share (0..1) of a full miss that a layer of ``own`` bytes pays in a model of ``footprint``
    bytes re-read every ``pause_ms``: (curve there - curve at its own bytes) over (curve at the
    largest size after the longest pause - the same). A layer that reads its weights once pays a
    miss at its own pace (a batch-1 classifier reads cold weights about half as fast as the
    streaming read), so its measured cold extra, scaled by this share, replaces the streaming
    estimate (issue 17: reports/latency.md)."""
    near = curve.at(own)
    full = curve.at(curve.sizes[-1], (list(curve.pauses_ms) or [0.0])[-1]) - near
    return 0.0 if full <= 0 else min(1.0, max(0.0, curve.at(footprint, pause_ms) - near) / full)
