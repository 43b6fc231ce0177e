"""Whole-network throughput: images/s of a model with each fusion backend against a baseline."""

from __future__ import annotations

import statistics
import time

import torch


def images_per_second(model, batch: int, input_size: int, device, train: bool, iters: int,
                      warmup: int = 1, channels_last: bool = False) -> float:
    """Median images/s over ``iters`` steps (forward, or forward + backward + SGD step)."""
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

    for _ in range(warmup):
        step()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def compare(model_name: str, baseline: str, fusions, device="cpu", train=False, batch=8, input_size=224,
            iters=3, rounds=1, channels_last=False) -> list[dict]:
    """Rows {model, fusion, images_per_s, vs_baseline}; models alternate per round (noisy machines)."""
    import skmobile
    from skmobile.layers.selective_kernel import set_fusion

    torch.manual_seed(0)
    models = {"baseline": skmobile.create_model(baseline)}
    sk = skmobile.create_model(model_name)
    results: dict[str, list[float]] = {"baseline": []}
    results.update({f: [] for f in fusions})
    for _ in range(rounds):
        results["baseline"].append(images_per_second(models["baseline"], batch, input_size, device, train,
                                                     iters, channels_last=channels_last))
        for f in fusions:
            set_fusion(sk, f)
            results[f].append(images_per_second(sk, batch, input_size, device, train, iters,
                                                channels_last=channels_last))
    base = statistics.median(results["baseline"])
    rows = [dict(model=baseline, fusion="-", images_per_s=round(base, 2), vs_baseline=1.0)]
    for f in fusions:
        ips = statistics.median(results[f])
        rows.append(dict(model=model_name, fusion=f, images_per_s=round(ips, 2), vs_baseline=round(ips / base, 3)))
    return rows
