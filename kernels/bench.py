"""Kernel benchmark: the SK fusion (pool -> attention -> select, and its backward) per backend.

Backends: ``numba`` (this package), ``eager`` (skmobile's torch fusion), ``compile``
(``torch.compile`` of the eager fusion), ``timm`` (timm's SelectiveKernel op sequence: stack the
branches, sum + mean, multiply, sum). Between pool and select every backend runs the same SK
attention, as in the paper (Eq. 3-5, BN left out): z = relu(s W1) with d = max(C/16, 32), then a
softmax over the M paths of z W2. It mixes channels, as a real SK unit's does, so no backend can
fuse pool, attention and select into one pass over each plane (an attention that did not mix
channels would let torch.compile do that, and the comparison would not hold for a network).
Backends are timed round-robin in one process (noisy shared machines: ratios, medians).
On CPU ``compile`` uses ``dynamic=True`` (one compiled graph for all shapes; per-shape static
compiles take minutes on 2 cores), on CUDA static shapes. ``gbps`` counts the minimum traffic of the fusion, (2M+1) tensors forward and (2M+1) backward
(read dV and M branches, write M gradients), over the measured time; ``copy`` is the roof:
bytes read + written by a large ``Tensor.copy_`` in the same run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import partial
from typing import Callable

import torch

from skmobile.layers.sk_fusion import torch_pool, torch_select
from skmobile.measure.machine import device_name
from skmobile.measure.stats import median
from skmobile.measure.timing import TimingPlan, call_seconds, repeat_seconds, time_rounds

#: (C, H = W) of the SK fusion in each family, stride-1 output sizes at 224x224 input.
SHAPES = {
    "sknet50": [(128, 56), (256, 28), (512, 14), (1024, 7)],
    "shufflenetv2": [(58, 28), (116, 14), (232, 7)],
    "mobilenetv2": [(96, 56), (144, 28), (384, 14), (960, 7)],
}
BACKENDS = ("numba", "eager", "compile", "timm")
PASSES = ("fwd", "fwd+bwd")


@dataclass
class Record:
    family: str
    shape: list  # N, M, C, H, W
    dtype: str
    backend: str
    pass_: str
    ms: float | None  # median; None: backend unavailable
    gbps: float | None
    note: str = ""

    def as_json(self) -> dict:
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        return d


# ---------------------------------------------------------------- the fusion per backend
def timm_pool_select(branches, w):
    """timm's SelectiveKernel fusion ops: stack, sum over paths + mean, weights, multiply, sum."""
    x = torch.stack(list(branches), dim=1)  # N, M, C, H, W
    s = x.sum(1).mean((2, 3))
    a = attention(s, w)
    return (x * a.unsqueeze(-1).unsqueeze(-1)).sum(1)


def attention_weights(m: int, c: int, generator=None):
    """W1 (C, d) and W2 (d, M*C) of the SK attention, d = max(C/16, 32) (paper: r = 16, L = 32)."""
    d = max(c // 16, 32)
    return (torch.randn(c, d, generator=generator) / c ** 0.5,
            torch.randn(d, m * c, generator=generator) / d ** 0.5)


def attention(s, w):
    w1, w2 = w
    n, c = s.shape
    return (torch.relu(s @ w1) @ w2).view(n, -1, c).softmax(dim=1)


def _fusion(pool, select):
    def run(branches, w):
        return select(branches, attention(pool(branches), w))

    return run


def make_fn(backend: str, dynamic: bool = False) -> Callable:
    if backend == "numba":
        from . import autograd

        return _fusion(autograd.pool, autograd.select)
    if backend == "eager":
        return _fusion(torch_pool, torch_select)
    if backend == "timm":
        return timm_pool_select
    if backend == "compile":
        _raise_compile_limits()
        return torch.compile(_fusion(torch_pool, torch_select), dynamic=dynamic)
    raise ValueError(backend)


def _raise_compile_limits() -> None:
    cfg = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
        if hasattr(cfg, name):
            setattr(cfg, name, max(getattr(cfg, name), 256))


# ---------------------------------------------------------------- timing
def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(fn, branches, w, dv, backward: bool):
    """One call of the fusion ``fn``: forward only (no autograd) or forward + backward."""
    if not backward:
        with torch.no_grad():
            return fn(branches, w)
    v = fn(branches, w)
    return torch.autograd.grad(v, list(branches) + list(w), dv)


def copy_bandwidth(device, nbytes: int = 256 << 20, repeats: int = 5) -> float:
    """GB/s of ``dst.copy_(src)`` (bytes read + written) on ``device``."""
    n = nbytes // 4
    src = torch.ones(n, device=device)
    dst = torch.empty_like(src)
    seconds = repeat_seconds(lambda: dst.copy_(src), repeats, warmup=1, sync=partial(_sync, device))
    return 2 * n * 4 / median(seconds) / 1e9


def fusion_bytes(n, m, c, h, w, itemsize: int, backward: bool) -> int:
    units = (2 * m + 1) * (2 if backward else 1)
    return units * n * c * h * w * itemsize


def roof_ms(shape, dtype: str, backward: bool, copy_gbps: float) -> float:
    """Milliseconds to move the fusion's minimum traffic at ``copy_gbps``. A soft bound: kernels
    that mostly read can beat a copy by a few percent."""
    itemsize = torch.tensor([], dtype=getattr(torch, dtype)).element_size()
    return fusion_bytes(*shape, itemsize, backward) / copy_gbps / 1e6


def bench_shape(family, n, m, c, hw, backends, passes, device, dtype=torch.float32, rounds=5,
                channels_last=False, fns=None, min_ms=20.0) -> list[Record]:
    """Time every backend x pass on one shape, round-robin; one Record per (backend, pass)."""
    args = _inputs(n, m, c, hw, device, dtype, channels_last)
    fns = fns if fns is not None else {}
    turns, notes = {}, {}
    for b in backends:
        for p in passes:
            try:
                fn = fns.setdefault(b, make_fn(b, dynamic=device.type == "cpu"))
                call = partial(step, fn, *args, p == "fwd+bwd")
                for _ in range(2):  # warm-up (and JIT / compile)
                    call()
            except Exception as exc:  # an unavailable backend is recorded, not fatal
                notes[(b, p)] = f"unavailable: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                continue
            once_ms = call_seconds(call, sync=partial(_sync, device)) * 1e3
            iters = max(1, min(50, int(min_ms / max(once_ms, 1e-3))))
            turns[(b, p)] = (partial(call_seconds, call, iters, sync=partial(_sync, device)), iters)
    plan = TimingPlan(warmup_calls=0, warmup_s=0.0, min_calls=1, max_calls=1, min_rounds=rounds,
                      max_rounds=rounds, max_s=math.inf)
    timed = time_rounds({f"{b} {p}": turn for (b, p), (turn, _) in turns.items()}, plan)
    shape, dtype_name = [n, m, c, hw, hw], str(dtype).replace("torch.", "")
    itemsize = torch.tensor([], dtype=dtype).element_size()
    out = []
    for b in backends:
        for p in passes:
            if (b, p) not in turns:
                out.append(Record(family, shape, dtype_name, b, p, None, None, notes.get((b, p), "")))
                continue
            ms = median(timed.samples[f"{b} {p}"]) * 1e3 / turns[(b, p)][1]
            gb = fusion_bytes(n, m, c, hw, hw, itemsize, p == "fwd+bwd") / ms / 1e6
            # 4 significant digits: tiny shapes on a busy CPU stay > 0
            out.append(Record(family, shape, dtype_name, b, p, round(ms, 4), float(f"{gb:.4g}")))
    return out


def _inputs(n, m, c, hw, device, dtype, channels_last):
    """(branches, attention weights, dV) of one shape, seeded, all needing gradients but dV."""
    gen = torch.Generator().manual_seed(0)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    branches = [torch.randn(n, c, hw, hw, generator=gen).to(device, dtype).contiguous(memory_format=mf)
                .requires_grad_() for _ in range(m)]
    w = tuple(t.to(device, dtype).requires_grad_() for t in attention_weights(m, c, gen))
    dv = torch.randn(n, c, hw, hw, generator=gen).to(device, dtype).contiguous(memory_format=mf)
    return branches, w, dv


def run(device="cpu", batches=(1, 32), families=tuple(SHAPES), backends=BACKENDS, passes=PASSES,
        m=2, dtype=torch.float32, rounds=5, channels_last=False, progress=None) -> dict:
    """The whole benchmark: {"device", "copy_gbps", "records": [Record...]}."""
    device = torch.device(device)
    fns: dict = {}
    copy = copy_bandwidth(device)
    records = []
    for fam in families:
        for n in batches:
            for c, hw in SHAPES[fam]:
                recs = bench_shape(fam, n, m, c, hw, backends, passes, device, dtype, rounds,
                                   channels_last, fns)
                records.extend(recs)
                if progress:
                    progress(recs)
    copy = max(copy, copy_bandwidth(device))  # the roof: best of the two measurements
    return {"device": device_name(device), "copy_gbps": round(copy, 2), "records": records}


# ---------------------------------------------------------------- report
#: Everything from this line on in an existing report is kept when the table is regenerated.
NOTES_MARKER = "<!-- notes below this line are kept when skmobile bench kernels rewrites the table -->"


def keep_notes(new_text: str, old_text: str) -> str:
    """``new_text`` followed by the hand-written part of ``old_text`` (from NOTES_MARKER on)."""
    if NOTES_MARKER not in old_text:
        return new_text
    return new_text.rstrip("\n") + "\n\n" + old_text[old_text.index(NOTES_MARKER):]


def _by_key(records):
    table: dict = {}
    for r in records:
        table.setdefault((r.family, tuple(r.shape), r.dtype, r.pass_), {})[r.backend] = r
    return table


def ratios(records, family="sknet50", batch=32, pass_="fwd+bwd", vs="eager") -> list[tuple]:
    """[(shape, numba ms, other ms, other/numba)] for one family, batch and pass."""
    out = []
    for (fam, shape, _, p), row in _by_key(records).items():
        if fam == family and shape[0] == batch and p == pass_ and "numba" in row and vs in row:
            a, b = row["numba"].ms, row[vs].ms
            if a and b:
                out.append((list(shape), a, b, b / a))
    return out


def to_markdown(result: dict, command: str, versions: dict, notes=()) -> str:
    recs = result["records"]
    backends = [b for b in BACKENDS if any(r.backend == b for r in recs)]
    copy = result["copy_gbps"]
    lines = ["# SK fusion kernels: measured", "",
             f"- Device: **{result['device']}**; copy bandwidth (roof, same run): **{copy} GB/s**",
             "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
             f"- Command: `{command}`",
             "- Times are medians of interleaved rounds (backends take turns, so load on this shared machine "
             "hits them alike); GB/s counts the fusion's minimum traffic, (2M+1) tensors per pass.",
             "- roof ms: that minimum traffic at the copy bandwidth; eager/roof and compile/roof: what a backend "
             "moving only those bytes at copy speed would gain over eager and torch.compile (read-heavy "
             "kernels can beat a copy by a few percent, so this is a soft ceiling).",
             ""]
    others = ["eager"] + (["compile"] if "compile" in backends else [])
    head = ["family", "N,M,C,H,W", "pass"] + [f"{b} ms" for b in backends]
    head += [f"{o}/numba" for o in others] + ["numba GB/s", "% of copy", "roof ms"]
    head += [f"{o}/roof" for o in others]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (fam, shape, dtype, p), row in _by_key(recs).items():
        cells = [fam, ",".join(map(str, shape)), p]
        cells += [f"{row[b].ms:.3f}" if b in row and row[b].ms else "n/a" for b in backends]
        nb = row.get("numba")
        for other in others:
            o = row.get(other)
            cells.append(f"{o.ms / nb.ms:.2f}x" if nb and o and nb.ms and o.ms else "n/a")
        cells.append(f"{nb.gbps:.2f}" if nb and nb.gbps else "n/a")
        cells.append(f"{100 * nb.gbps / copy:.0f}%" if nb and nb.gbps else "n/a")
        roof = roof_ms(shape, dtype, p == "fwd+bwd", copy)
        cells.append(f"{roof:.3f}")
        for other in others:
            o = row.get(other)
            cells.append(f"{o.ms / roof:.2f}x" if o and o.ms else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    missing = sorted({f"{r.backend}: {r.note}" for r in recs if r.ms is None})
    if missing:
        lines += ["", "Unavailable: " + "; ".join(missing)]
    lines += ["", *notes]
    return "\n".join(lines) + "\n"
