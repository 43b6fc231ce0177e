"""Whole-network benchmarks: images/s of a model's training or inference step.

One step function serves both users: ``compare`` (``skmobile bench model``: an SK model with each
fusion backend against a baseline model, in one process, rounds interleaved) and ``time_training``
(``skmobile bench train``: a proxy model's SGD steps per fusion). A :class:`Mode` says how the step
runs, as GPU users train: autocast (bf16 or fp16), channels_last, ``torch.compile``.

Besides the real fusion backends, ``compare`` accepts ``FREE``: a timing-only fusion that moves no
data (pool returns zeros, select returns the first branch as a view and hands dV to every branch;
the attention MLP still runs forward and backward). Its images/s is the ceiling any fusion backend
can reach in that network. Its outputs are wrong; it is registered only while timed.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd import Function

from .errors import choose
from .measure.stats import median
from .measure.timing import call_seconds, repeat_seconds

#: Name of the timing-only, zero-traffic fusion (the ceiling of any fusion backend).
FREE = "free"
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Mode:
    """How a step runs: ``train`` (forward + backward + optimizer step) or inference, autocast
    dtype ``amp`` (none, bf16, fp16), channels_last memory format, ``torch.compile``, and the form
    of the dilated depthwise SK paths (``layers.dilated_depthwise``: rule, dense, dilated)."""

    train: bool = False
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    dilated_as: str = "rule"

    def __post_init__(self):
        from .layers.dilated_depthwise import FORMS

        choose("amp", self.amp, list(AMP_DTYPES))
        choose("dilated form", self.dilated_as, FORMS)

    def describe(self) -> str:
        parts = ["train" if self.train else "inference", "fp32" if self.amp == "none" else f"{self.amp} autocast",
                 "channels_last" if self.channels_last else "NCHW"]
        parts += ["torch.compile" if self.compile else "eager"]
        return ", ".join(parts + ([f"dilated paths as {self.dilated_as}"] if self.dilated_as != "rule" else []))


# ---------------------------------------------------------------- the timing-only fusion
def free_pool(branches):
    """s = 0 without reading the branches."""
    b0 = branches[0]
    return b0.new_zeros(b0.shape[:2])


class _FreeSelect(Function):
    """V = U_1 (a view, no copy); backward passes dV to every branch and zeros to the attention."""

    @staticmethod
    def forward(ctx, attn, *branches):
        ctx.attn_shape, ctx.attn_dtype, ctx.m = attn.shape, attn.dtype, len(branches)
        return branches[0].view_as(branches[0])

    @staticmethod
    def backward(ctx, dv):
        return (dv.new_zeros(ctx.attn_shape, dtype=ctx.attn_dtype), *([dv] * ctx.m))


def free_select(branches, attn):
    return _FreeSelect.apply(attn, *branches)


@contextmanager
def timing_only_fusions():
    """Register ``FREE`` for the duration of a benchmark."""
    from .layers.sk_fusion import register_fusion, unregister_fusion

    register_fusion(FREE, free_pool, free_select)
    try:
        yield
    finally:
        unregister_fusion(FREE)


# ---------------------------------------------------------------- one step
def make_step(model, batch: int, input_size: int, device, mode: Mode = Mode(), in_chans: int = 3,
              num_classes: int | None = None, optimizer=None):
    """``model`` moved to ``device`` (and channels_last), and a function that runs one step on a fixed
    random batch; it waits for the GPU. Training uses cross-entropy on random labels when
    ``num_classes`` is given (else the output's mean) and ``optimizer(model)`` (default SGD with
    momentum); fp16 autocast scales the loss on CUDA, as mixed-precision training does."""
    from .layers.dilated_depthwise import set_dilated_form

    device = torch.device(device)
    mf = torch.channels_last if mode.channels_last else torch.contiguous_format
    model = set_dilated_form(model.to(device).to(memory_format=mf), mode.dilated_as)
    model.train(mode.train)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, in_chans, input_size, input_size, generator=g).to(device).contiguous(memory_format=mf)
    y = torch.randint(0, num_classes, (batch,), generator=g).to(device) if num_classes else None
    run = torch.compile(model) if mode.compile else model
    dtype = AMP_DTYPES[mode.amp]

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()

    if not mode.train:
        def infer():
            with torch.no_grad(), autocast():
                run(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        return infer

    opt = optimizer(model) if optimizer else torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda") if mode.amp == "fp16" and device.type == "cuda" else None

    def train_step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            out = run(x)
            loss = F.cross_entropy(out.float(), y) if y is not None else out.float().mean()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return train_step


def images_per_second(step, batch: int, iters: int, warmup: int = 1) -> float:
    """Median images/s over ``iters`` calls of ``step`` after ``warmup`` untimed ones."""
    return batch / median(repeat_seconds(step, iters, warmup))


def time_training(model, batch_size: int, in_chans: int, image_size: int, num_classes: int, steps: int,
                  warmup: int = 2, device="cpu", mode: Mode | None = None, optimizer=None) -> float:
    """Training images/s of ``model`` (``skmobile bench train``) with ``optimizer(model)`` (the trainer's:
    :func:`skmobile.train.optim.timing_optimizer`; default SGD with momentum); ``mode`` (default: a plain
    training step) sets autocast and the memory format."""
    step = make_step(model, batch_size, image_size, device, mode or Mode(train=True), in_chans, num_classes,
                     optimizer=optimizer)
    return images_per_second(step, batch_size, steps, warmup)


# ---------------------------------------------------------------- model vs baseline
def compare(model_name: str, baseline: str, fusions, device="cpu", batch=8, input_size=224, iters=3, rounds=1,
            mode: Mode = Mode()) -> list[dict]:
    """Rows {model, fusion, images_per_s, vs_baseline}; models alternate per round (noisy machines).

    The SK model's weights are snapshotted once and restored before each fusion's run, so every
    fusion times the same weights (SGD steps and BN statistics would otherwise carry over)."""
    from .layers.selective_kernel import set_fusion
    from .models import create_model

    torch.manual_seed(0)
    base_model = create_model(baseline)
    sk = create_model(model_name)
    start = copy.deepcopy(sk.state_dict())
    warmup = 2 if mode.compile else 1
    results: dict[str, list[float]] = {"baseline": []}
    results.update({f: [] for f in fusions})
    fell_back: dict[str, set] = {f: set() for f in fusions}
    with timing_only_fusions():
        for _ in range(rounds):
            step = make_step(base_model, batch, input_size, device, mode)
            results["baseline"].append(images_per_second(step, batch, iters, warmup))
            for f in fusions:
                sk.load_state_dict(start)
                set_fusion(sk, f)
                with _fallbacks(fell_back[f]):
                    step = make_step(sk, batch, input_size, device, mode)
                    results[f].append(images_per_second(step, batch, iters, warmup))
        set_fusion(sk, "torch")
    base = median(results["baseline"])
    rows = [dict(model=baseline, fusion="-", images_per_s=round(base, 2), vs_baseline=1.0)]
    for f in fusions:
        ips = median(results[f])
        ran = {"fusion": "torch", "asked": f, "fallback": "; ".join(sorted(fell_back[f]))} if fell_back[f] else {"fusion": f}
        rows.append(dict(model=model_name, **ran, images_per_s=round(ips, 2), vs_baseline=round(ips / base, 3)))
    return rows


@contextmanager
def _fallbacks(seen: set):
    """Collect into ``seen`` why the fusion fell back to torch inside the block (its warnings are kept
    quiet: the row is labelled with the fusion that ran instead)."""
    from skmobile.kernels.warn import FALLBACKS

    before = dict(FALLBACKS)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="skmobile.kernels: ", category=RuntimeWarning)
        yield
    seen.update(k for k, n in FALLBACKS.items() if n > before.get(k, 0))


# ---------------------------------------------------------------- where a step's time goes
#: Profiler event names of the numba fusion: its eager autograd Functions and its custom ops.
FUSION_EVENTS = ("_Pool", "_Select", "_PoolBackward", "_SelectBackward")
FUSION_EVENT_PREFIX = "skmobile::"


@contextmanager
def _native_stderr_quiet():
    """Silence what C++ libraries print on file descriptor 2 inside the block: the profiler's own log
    lines (and, on a machine without a GPU, its "gpuGetDeviceCount failed"). Python errors still raise."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def fusion_profile(model_name: str, fusion: str, batch: int, input_size: int, device="cpu",
                   mode: Mode = Mode(train=True)) -> dict:
    """One profiled step after a warm-up: {"step_ms", "fusion_ms", "share"}.

    ``fusion_ms`` is the CPU time spent inside the numba fusion (autograd Functions or custom ops),
    forward and backward (on CUDA that is host time). It attributes time inside the step itself, so
    it holds on a machine too noisy to compare whole-network images/s; the torch fusion's ops are
    ordinary aten ops and give 0 here."""
    from torch.profiler import ProfilerActivity, profile

    from .layers.selective_kernel import set_fusion
    from .models import create_model

    torch.manual_seed(0)
    model = set_fusion(create_model(model_name), fusion)
    step = make_step(model, batch, input_size, device, mode)
    step()
    with _native_stderr_quiet(), profile(activities=[ProfilerActivity.CPU]) as prof:
        step_ms = call_seconds(step) * 1e3
    fusion_us = sum(e.cpu_time_total for e in prof.key_averages()
                    if e.key in FUSION_EVENTS or e.key.startswith(FUSION_EVENT_PREFIX))
    return dict(step_ms=round(step_ms, 2), fusion_ms=round(fusion_us / 1e3, 2),
                share=round(fusion_us / 1e3 / step_ms, 4))
