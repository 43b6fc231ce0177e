"""GPU probe for the CUDA fusion kernels: each step's device time and GB/s, and the host cost per launch.

Run on a CUDA machine: ``python tools/cuda_probe.py``. Device times are CUDA-event timings of
CUDA-graph replays (so host overhead is left out), median of 20; host cost is the wall time of a
call without a sync, for the fast launcher and (first shape) numba's own dispatcher. Not a test and
not a report: it tells which kernel to work on (notes in reports/kernels.md).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from skmobile.kernels import ops

SHAPES = [(32, 2, 128, 56), (32, 2, 256, 28), (32, 2, 512, 14), (32, 2, 1024, 7), (256, 2, 128, 56),
          (256, 2, 1024, 7), (32, 3, 128, 56)]


def event_ms(fn, reps=20):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def host_us(fn, reps=50):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    t1 = time.perf_counter()
    torch.cuda.synchronize()
    return (t1 - t0) / reps * 1e6


def copy_gbps():
    src = torch.randn(256 << 20, device="cuda")
    dst = torch.empty_like(src)
    ms = event_ms(lambda: dst.copy_(src))
    return 2 * src.numel() * 4 / ms / 1e6


def graph_ms(fn, reps=10):
    """Device time of one ``fn`` call: ``reps`` calls captured in a CUDA graph, replays timed."""
    fn()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for _ in range(reps):
            fn()
    return event_ms(g.replay) / reps


def profile_step(n=32, m=2, c=128, hw=56, iters=50) -> None:
    """Host time of the numba fusion's forward+backward (bench's step), and where it goes (cProfile)."""
    import cProfile
    import pstats

    from skmobile.kernels import bench

    fn = bench.make_fn("numba")
    branches = [torch.randn(n, c, hw, hw, device="cuda", requires_grad=True) for _ in range(m)]
    w = tuple(t.cuda().requires_grad_() for t in bench.attention_weights(m, c))
    dv = torch.randn(n, c, hw, hw, device="cuda")
    for backward in (False, True):
        args = (branches, w, dv, backward)
        bench.step(fn, *args)
        print(f"fwd{'+bwd' if backward else ''}: host {host_us(lambda: bench.step(fn, *args), iters):.0f} us/step, "
              f"device-synced {event_ms(lambda: bench.step(fn, *args)) * 1e3:.0f} us/step", flush=True)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(iters):
        bench.step(fn, *args)
    torch.cuda.synchronize()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(22)


def trace_step(n=256, m=2, c=128, hw=56, steps=5) -> None:
    """Kernel timeline of the numba and eager fusion's forward+backward: where device time goes,
    and whether the caching allocator goes back to cudaMalloc/cudaFree (which synchronize)."""
    from torch.profiler import ProfilerActivity, profile

    from skmobile.kernels import bench

    branches = [torch.randn(n, c, hw, hw, device="cuda", requires_grad=True) for _ in range(m)]
    w = tuple(t.cuda().requires_grad_() for t in bench.attention_weights(m, c))
    dv = torch.randn(n, c, hw, hw, device="cuda")
    for name in ("numba", "eager"):
        fn = bench.make_fn(name)
        args = (branches, w, dv, True)
        for _ in range(3):
            bench.step(fn, *args)
        torch.cuda.synchronize()
        before = torch.cuda.memory_stats()
        t0 = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                bench.step(fn, *args)
            torch.cuda.synchronize()
        wall = (time.perf_counter() - t0) / steps * 1e3
        after = torch.cuda.memory_stats()
        mallocs = {k: after.get(k, 0) - before.get(k, 0) for k in ("num_device_alloc", "num_device_free",
                                                                    "num_alloc_retries")}
        print(f"== {name}: {wall:.3f} ms/step (profiled), allocator {mallocs}")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=14, max_name_column_width=60))


def link_debug() -> None:
    """Why select's backward does or does not take the linked path: walk attn's graph."""
    from skmobile.kernels import autograd, bench, ops

    for dev in ("cpu", "cuda"):
        br = [torch.randn(2, 16, 8, 8, device=dev, requires_grad=True) for _ in range(2)]
        w = tuple(t.to(dev).requires_grad_() for t in bench.attention_weights(2, 16))
        s = autograd.pool(br)
        attn = bench.attention(s, w)
        link = getattr(br[0], "_sk_link", None)
        print(dev, "torch", torch.__version__, "link", link, "claimed", getattr(link, "claimed", None))
        seen, stack = [], [attn.grad_fn]
        while stack and len(seen) < 30:
            node = stack.pop()
            if node is None:
                continue
            seen.append(node)
            print("  node", type(node).__name__, "sk_link" in dir(node), getattr(node, "sk_link", "-") is link)
            stack.extend(f for f, _ in getattr(node, "next_functions", ()))
        print("  reaches", autograd._graph_reaches(attn.grad_fn, link), "refs ok",
              [r() is b for r, b in zip(link.refs, br)])
        ops.CALLS.clear()
        v = autograd.select(br, attn)
        torch.autograd.grad(v, br + list(w), torch.randn_like(v))
        print("  calls", dict(ops.CALLS))
    fn = bench.make_fn("numba")
    for shape in ((2, 2, 16, 8), (32, 2, 128, 56), (256, 2, 128, 56)):
        n, m, c, hw = shape
        br = [torch.randn(n, c, hw, hw, device="cuda", requires_grad=True) for _ in range(m)]
        w = tuple(t.cuda().requires_grad_() for t in bench.attention_weights(m, c))
        dv = torch.randn(n, c, hw, hw, device="cuda")
        for i in range(3):
            ops.CALLS.clear()
            s = autograd.pool(br)
            link = br[0]._sk_link
            attn = bench.attention(s, w)
            print(shape, i, "reaches", autograd._graph_reaches(attn.grad_fn, link), "claimed", link.claimed,
                  "refs", [r() is b for r, b in zip(link.refs, br)], "grad_fn", type(attn.grad_fn).__name__)
            v = autograd.select(br, attn)
            torch.autograd.grad(v, br + list(w), dv)
            ops.CALLS.clear()
            bench.step(fn, br, w, dv, True)
            print("   bench step calls", dict(ops.CALLS))


def main() -> int:
    if "--link" in sys.argv:
        link_debug()
        return 0
    if "--profile" in sys.argv:
        profile_step()
        return 0
    if "--trace" in sys.argv:
        trace_step()
        return 0
    fast, slow = ops.CudaBackend(sim=False), ops.CudaBackend(sim=False, fast=False)
    print(f"device {torch.cuda.get_device_name()}, copy {copy_gbps():.0f} GB/s", flush=True)
    print(f"{'N,M,C,HW':18s} {'layout':6s} {'step':10s} {'dev ms':>8s} {'GB/s':>8s} {'host us':>8s} "
          f"{'numba-dispatch host us':>8s}")
    for k, (n, m, c, hw) in enumerate(SHAPES):
        for cl in (False, True):
            mf = torch.channels_last if cl else torch.contiguous_format
            layout = "nhwc" if cl else "nchw"
            us = [torch.randn(n, c, hw, hw, device="cuda").contiguous(memory_format=mf) for _ in range(m)]
            a = torch.rand(n, m, c, device="cuda")
            dv = torch.randn(n, c, hw, hw, device="cuda").contiguous(memory_format=mf)
            ds = torch.randn(n, c, device="cuda")
            x = n * c * hw * hw * 4
            steps = {
                "pool": (lambda be: ops.pool(be, us, layout), m * x),
                "select": (lambda be: ops.select(be, us, a, layout), (m + 1) * x),
                "attn_grad": (lambda be: ops.attn_grad(be, dv, us, a, layout), (m + 1) * x),
                "fused_bwd": (lambda be: ops.fused_backward(be, dv, a, ds, us[0].shape, torch.float32, layout),
                              (m + 1) * x),
                "select_bwd": (lambda be: ops.select_backward(be, dv, us, a, layout), (2 * m + 1) * x),
            }
            for name, (fn, nbytes) in steps.items():
                try:
                    ms = graph_ms(lambda: fn(fast))
                    h_fast = host_us(lambda: fn(fast))
                    h_slow = f"{host_us(lambda: fn(slow), reps=10):8.1f}" if k == 0 else "-"
                    print(f"{n},{m},{c},{hw:<8d} {layout:6s} {name:10s} {ms:8.4f} {nbytes / ms / 1e6:8.0f} "
                          f"{h_fast:8.1f} {h_slow}", flush=True)
                except Exception as exc:  # keep probing the other steps
                    print(f"{n},{m},{c},{hw:<8d} {layout:6s} {name:10s} FAILED {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
