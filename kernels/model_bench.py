"""Whole-network throughput: images/s of a model with each fusion backend against a baseline.

Besides the real fusion backends, ``compare`` accepts ``FREE``: a timing-only fusion that moves no
data (pool returns zeros, select returns the first branch as a view and hands dV to every branch;
the attention MLP still runs forward and backward). Its images/s is the ceiling any fusion backend
can reach in that network, so ``--fusions torch,numba,free`` says how much of the gap to the
baseline the fusion could close at all. Its outputs are wrong; it is registered only while timed.
"""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager

import torch
from torch.autograd import Function

#: Name of the timing-only, zero-traffic fusion (the ceiling of any fusion backend).
FREE = "free"


def free_pool(branches):
    """s = 0 without reading the branches."""
    b0 = branches[0]
    return b0.new_zeros(b0.shape[:2])


class _FreeSelect(Function):
    """V = U_1 (a view, no copy); backward passes dV to every branch and zeros to the attention."""

    @staticmethod
    def forward(ctx, attn, *branches):
        ctx.attn_shape, ctx.m = attn.shape, len(branches)
        return branches[0].view_as(branches[0])

    @staticmethod
    def backward(ctx, dv):
        return (dv.new_zeros(ctx.attn_shape), *([dv] * ctx.m))


def free_select(branches, attn):
    return _FreeSelect.apply(attn, *branches)


@contextmanager
def timing_only_fusions():
    """Register ``FREE`` for the duration of a benchmark."""
    from skmobile.layers.sk_fusion import register_fusion, unregister_fusion

    register_fusion(FREE, free_pool, free_select)
    try:
        yield
    finally:
        unregister_fusion(FREE)


def make_step(model, batch: int, input_size: int, device, train: bool, channels_last: bool = False):
    """``model`` moved to ``device`` (and channels_last), and a function that runs one step on a
    random batch: forward, or forward + backward + SGD step; it waits for the GPU."""
    device = torch.device(device)
    mf = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device).to(memory_format=mf)
    x = torch.randn(batch, 3, input_size, input_size, device=device).contiguous(memory_format=mf)
    model.train(train)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9) if train else None

    def step():
        if train:
            opt.zero_grad(set_to_none=True)
            model(x).float().mean().backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def images_per_second(model, batch: int, input_size: int, device, train: bool, iters: int,
                      warmup: int = 1, channels_last: bool = False) -> float:
    """Median images/s over ``iters`` steps (forward, or forward + backward + SGD step)."""
    step = make_step(model, batch, input_size, device, train, channels_last)
    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


#: The numba path's autograd Functions (forward) and their backward nodes, as the profiler names them.
FUSION_EVENTS = ("_Pool", "_Select", "_PoolBackward", "_SelectBackward")


def fusion_profile(model_name: str, fusion: str, batch: int, input_size: int, device="cpu",
                   channels_last: bool = False) -> dict:
    """One profiled training step after a warm-up: {"step_ms", "fusion_ms", "share"}.

    ``fusion_ms`` is the CPU time spent inside the numba fusion's autograd Functions, forward and
    backward (on CUDA that is host time). It attributes time inside the step itself, so it holds on
    a machine too noisy to compare whole-network images/s; the torch fusion's ops are ordinary aten
    ops and give 0 here."""
    import skmobile
    from skmobile.layers.selective_kernel import set_fusion
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = set_fusion(skmobile.create_model(model_name), fusion)
    step = make_step(model, batch, input_size, device, True, channels_last)
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        step()
        step_ms = (time.perf_counter() - t0) * 1e3
    fusion_us = sum(e.cpu_time_total for e in prof.key_averages() if e.key in FUSION_EVENTS)
    return dict(step_ms=round(step_ms, 2), fusion_ms=round(fusion_us / 1e3, 2),
                share=round(fusion_us / 1e3 / step_ms, 4))


def compare(model_name: str, baseline: str, fusions, device="cpu", train=False, batch=8, input_size=224,
            iters=3, rounds=1, channels_last=False) -> list[dict]:
    """Rows {model, fusion, images_per_s, vs_baseline}; models alternate per round (noisy machines).

    The SK model's weights are snapshotted once and restored before each fusion's run, so every
    fusion times the same weights (SGD steps and BN statistics would otherwise carry over)."""
    import copy

    import skmobile
    from skmobile.layers.selective_kernel import set_fusion

    torch.manual_seed(0)
    models = {"baseline": skmobile.create_model(baseline)}
    sk = skmobile.create_model(model_name)
    start = copy.deepcopy(sk.state_dict())
    results: dict[str, list[float]] = {"baseline": []}
    results.update({f: [] for f in fusions})
    with timing_only_fusions():
        for _ in range(rounds):
            results["baseline"].append(images_per_second(models["baseline"], batch, input_size, device,
                                                         train, iters, channels_last=channels_last))
            for f in fusions:
                sk.load_state_dict(start)
                set_fusion(sk, f)
                results[f].append(images_per_second(sk, batch, input_size, device, train, iters,
                                                    channels_last=channels_last))
        set_fusion(sk, "torch")
    base = statistics.median(results["baseline"])
    rows = [dict(model=baseline, fusion="-", images_per_s=round(base, 2), vs_baseline=1.0)]
    for f in fusions:
        ips = statistics.median(results[f])
        rows.append(dict(model=model_name, fusion=f, images_per_s=round(ips, 2), vs_baseline=round(ips / base, 3)))
    return rows
