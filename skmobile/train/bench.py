"""Training throughput of a model on synthetic batches (``skmobile bench train``)."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from .optim import default_weight_decay, make_optimizer


def time_training(model, batch_size: int, in_chans: int, image_size: int, num_classes: int, steps: int,
                  warmup: int = 2, device="cpu") -> float:
    """Images/s of full SGD steps (forward, backward, update) after ``warmup`` untimed steps."""
    dev = torch.device(device)
    model.to(dev).train()
    opt = make_optimizer(model, 0.01, default_weight_decay(model))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, in_chans, image_size, image_size, generator=g).to(dev)
    y = torch.randint(0, num_classes, (batch_size,), generator=g).to(dev)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return batch_size * steps / (time.perf_counter() - t0)
