"""``fit``: the one training loop (``skmobile train``, every search trial, and the ``paper`` budget).

SGD with momentum, label smoothing, the paper's weight decay (see :mod:`.optim`), a checkpoint after
every epoch with resume, a NaN/inf guard, top-1 error. A :class:`FitConfig` says how: a cosine
schedule with linear warm-up (the proxies) or the paper's step schedule, and, for the ``paper``
budget, synchronous SGD over the processes torchrun started (:mod:`.distributed`): each process
trains on its share of every global batch, split into ``accum`` BN groups whose gradients are
accumulated, so a run over fewer processes sees the same BN groups as one over more.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SKMobileError
from .checkpoint import has_checkpoint, load_into, read_checkpoint, save_checkpoint, update_state
from .distributed import SINGLE, DistContext, all_sum, weight_spread, wrap
from .optim import default_lr, default_weight_decay, lr_at, make_optimizer
from .precision import StepFormat, autocast, step_format


@dataclass
class FitConfig:
    """How :func:`fit` trains. ``warmup_epochs`` defaults to min(1, epochs / 10) (cosine schedule);
    ``lr_step_epochs`` switches to the step schedule (lr x ``lr_gamma`` every that many epochs, no
    warm-up). ``amp``/``channels_last`` default to on for CUDA only (:func:`.precision.step_format`).
    ``on_epoch(epoch, metrics)`` runs after each epoch's validation and checkpoint; whatever it raises
    (e.g. optuna.TrialPruned) propagates. With ``out_dir`` a checkpoint is written each epoch (by rank
    0); ``resume`` continues from it up to the epochs it recorded, or ``epochs`` when that is more.
    ``accum``: BN groups per process and step (gradients accumulated). ``skip_corrupt``: skip
    undecodable images (else stop, naming one). ``meta`` is stored in the checkpoint state."""

    epochs: int
    lr: float | None = None
    weight_decay: float | None = None
    label_smoothing: float = 0.1
    warmup_epochs: float | None = None
    lr_step_epochs: int | None = None
    lr_gamma: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    seed: int = 0
    device: str = "cpu"
    amp: bool | None = None
    channels_last: bool | None = None
    compile: bool = False
    accum: int = 1
    skip_corrupt: bool = False
    out_dir: object = None
    resume: bool = False
    progress: bool = True
    on_epoch: Callable | None = None
    max_steps_per_epoch: int | None = None
    evaluate_test: bool = True
    meta: dict | None = None
    dist: DistContext = SINGLE


@dataclass
class FitResult:
    """Errors and accuracies in percent; ``status`` "ok" or "nan" (a non-finite loss stopped the run)."""

    val_error: float
    test_error: float | None
    test_accuracy: float | None
    val_accuracy: float
    epochs: int
    images_per_s: float
    seconds: float
    status: str = "ok"
    train_loss: float = float("nan")
    lr: float = 0.0
    weight_decay: float = 0.0
    history: list = field(default_factory=list)
    checkpoint: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _device(device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SKMobileError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    return dev


def _as_batch(batch):
    """A :class:`skmobile.data.imagenet.Batch` of any loader's batch (tuples may carry extra fields)."""
    from ..data.imagenet import Batch

    if isinstance(batch, Batch):
        return batch
    x, y = batch[0], batch[1]
    return Batch(x, y, torch.arange(len(y)), [])


def _to(x, dev, fmt: StepFormat):
    x = x.to(dev, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if fmt.channels_last else x


@torch.no_grad()
def evaluate(model: nn.Module, loader, device="cpu", *, amp: bool = False, channels_last: bool = False,
             dist: DistContext = SINGLE, skip_corrupt: bool = True):
    """(top-1 error %, top-1 accuracy %) of ``model`` on ``loader`` (summed over the processes of ``dist``)."""
    dev = _device(device)
    fmt = StepFormat("bf16" if amp and dev.type == "cuda" else "none", channels_last)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for raw in loader:
            b = _as_batch(raw)
            _report_bad(b.bad, skip_corrupt, set())
            if not len(b):
                continue
            with autocast(dev.type, fmt):
                pred = model(_to(b.x, dev, fmt)).argmax(1)
            correct += int((pred == b.y.to(dev)).sum())
            total += len(b)
    finally:
        model.train(was_training)
    correct, total = all_sum(dist, [correct, total])
    if total == 0:
        raise SKMobileError("evaluation loader is empty")
    acc = 100.0 * correct / total
    return 100.0 - acc, acc


def _report_bad(bad, skip: bool, reported: set) -> int:
    """Stop on an unreadable image (one line naming it) or, with ``skip``, name it once and count it."""
    for path, reason in bad:
        if not skip:
            raise SKMobileError(f"cannot read image {path} ({reason}); allowed: a decodable image, or "
                                "--skip-corrupt to skip unreadable images and count them")
        if path not in reported:
            reported.add(path)
            print(f"warning: skipped unreadable image {path} ({reason})", file=sys.stderr, flush=True)
    return len(bad)


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[ips]:>7.0f} img/s"), TextColumn("loss {task.fields[loss]:.3f}"),
                    TimeElapsedColumn(), TimeRemainingColumn())


@dataclass
class _Run:
    """One fit's moving parts."""

    cfg: FitConfig
    model: nn.Module          # the plain module (checkpoints, evaluation)
    net: nn.Module            # what trains: the module, in DDP and/or compiled
    loaders: object
    dev: torch.device
    fmt: StepFormat
    optimizer: torch.optim.Optimizer
    epochs: int
    steps: int
    lr: float
    weight_decay: float
    warmup_steps: int
    state: dict
    history: list
    start_epoch: int = 0
    reported: set = field(default_factory=set)

    def lr_at(self, epoch: int, i: int) -> float:
        c = self.cfg
        if c.lr_step_epochs:
            return self.lr * c.lr_gamma ** (epoch // c.lr_step_epochs)
        return lr_at(epoch * self.steps + i, self.epochs * self.steps, self.lr, self.warmup_steps)


def _setup(model: nn.Module, loaders, cfg: FitConfig) -> _Run:
    if cfg.epochs < 1:
        raise SKMobileError(f"epochs must be >= 1; got {cfg.epochs}")
    if cfg.accum < 1:
        raise SKMobileError(f"accum must be >= 1; got {cfg.accum}")
    dev = _device(cfg.device)
    fmt = step_format(dev.type, cfg.amp, cfg.channels_last)
    batch_size = getattr(loaders, "batch_size", None) or loaders.train.batch_size or 128
    lr = default_lr(batch_size) if cfg.lr is None else float(cfg.lr)
    wd = default_weight_decay(model) if cfg.weight_decay is None else float(cfg.weight_decay)
    warmup = 0.0 if cfg.lr_step_epochs else (min(1.0, cfg.epochs / 10) if cfg.warmup_epochs is None
                                              else float(cfg.warmup_epochs))
    n = len(loaders.train)
    steps = n if cfg.max_steps_per_epoch is None else min(n, cfg.max_steps_per_epoch)
    if steps < 1:
        raise SKMobileError("the training loader has no batches (is train_limit smaller than the batch size?)")
    model.to(dev)
    if fmt.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, lr, wd, cfg.momentum, cfg.nesterov)
    run = _Run(cfg, model, model, loaders, dev, fmt, optimizer, cfg.epochs, steps, lr, wd,
               int(round(warmup * steps)), {}, [])
    _resume(run)
    net = wrap(model, cfg.dist, dev)
    run.net = torch.compile(net) if cfg.compile else net
    run.state = {"model": getattr(model, "skmobile_name", None),
                 "model_kwargs": getattr(model, "skmobile_kwargs", None),
                 "dataset": getattr(loaders, "name", None), "data_dir": getattr(loaders, "data_dir", None),
                 "epochs": run.epochs, "seed": cfg.seed, "lr": lr, "weight_decay": wd,
                 "batch_size": batch_size * cfg.dist.world_size, "processes": cfg.dist.world_size,
                 "accum": cfg.accum, "label_smoothing": cfg.label_smoothing, "warmup_epochs": warmup,
                 "lr_step_epochs": cfg.lr_step_epochs, "amp": fmt.amp, "channels_last": fmt.channels_last,
                 "max_steps_per_epoch": cfg.max_steps_per_epoch, "meta": cfg.meta or {}}
    return run


def _resume(run: _Run) -> None:
    """Load the checkpoint of ``cfg.out_dir`` into every process (any number of processes wrote it)."""
    cfg = run.cfg
    if not (cfg.resume and cfg.out_dir is not None and has_checkpoint(cfg.out_dir)):
        return
    tensors, saved = read_checkpoint(cfg.out_dir)
    load_into(run.model, run.optimizer, tensors)
    run.history = list(saved.get("history", []))
    run.start_epoch = int(saved.get("epochs_done", len(run.history)))
    run.epochs = max(int(saved.get("epochs", run.epochs)), run.epochs)  # a larger epoch count extends the run


def _set_epoch(loader, epoch: int, seed: int) -> None:
    from ..data import set_epoch

    set_epoch(loader, epoch, seed)


def _step(run: _Run, b, lr: float) -> float:
    """One synchronous SGD step on this process's share ``b`` of the global batch: ``accum`` BN groups
    (samples at positions k, k + accum, ...; BN running statistics kept from the first group, as DDP
    keeps rank 0's), gradients accumulated and averaged over the processes. Returns the mean loss
    over the processes (NaN if any is non-finite); the optimiser steps only on a finite loss."""
    k_groups = run.cfg.accum
    for g in run.optimizer.param_groups:
        g["lr"] = lr
    run.optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for k in range(k_groups):
        mask = (b.pos % k_groups) == k if k_groups > 1 else slice(None)
        x, y = _to(b.x[mask], run.dev, run.fmt), b.y[mask].to(run.dev, non_blocking=True)
        if k_groups > 1 and len(y) < 2:
            raise SKMobileError(f"a BN group of {len(y)} image(s): batch norm needs at least 2 per group; "
                                "allowed: a larger --batch-size or --bn-batch")
        kept = _bn_buffers(run.model) if k else None
        sync = getattr(run.net, "no_sync", None) if k < k_groups - 1 else None
        with sync() if sync is not None else nullcontext(), autocast(run.dev.type, run.fmt):
            loss = F.cross_entropy(run.net(x).float(), y, label_smoothing=run.cfg.label_smoothing) / k_groups
        loss.backward()
        if kept is not None:
            _restore(run.model, kept)
        total += float(loss.detach())
    total = all_sum(run.cfg.dist, [total])[0] / run.cfg.dist.world_size
    if math.isfinite(total):
        run.optimizer.step()
    return total


def _bn_buffers(model: nn.Module) -> list:
    return [(b, b.detach().clone()) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for b in m.buffers()]


def _restore(model: nn.Module, kept: list) -> None:
    with torch.no_grad():
        for buf, value in kept:
            buf.copy_(value)


def _train_epoch(run: _Run, epoch: int, bar) -> dict | None:
    """Train one epoch; its metrics, or None when a non-finite loss stopped it."""
    torch.manual_seed(run.cfg.seed * 1_000_003 + epoch)
    _set_epoch(run.loaders.train, epoch, run.cfg.seed)
    run.net.train()
    t0 = time.perf_counter()
    seen = skipped = 0
    loss_sum, cur_lr = 0.0, run.lr
    task = bar.add_task(f"epoch {epoch + 1}/{run.epochs}", total=run.steps, ips=0.0, loss=float("nan")) \
        if bar is not None else None
    for i, raw in enumerate(run.loaders.train):
        if i >= run.steps:
            break
        b = _as_batch(raw)
        skipped += _report_bad(b.bad, run.cfg.skip_corrupt, run.reported)
        cur_lr = run.lr_at(epoch, i)
        value = _step(run, b, cur_lr)
        if not math.isfinite(value):
            if bar is not None:
                bar.update(task, description=f"epoch {epoch + 1}/{run.epochs}: non-finite loss, stopped")
            return None
        seen += len(b)
        loss_sum += value * len(b)
        if task is not None:
            bar.update(task, advance=1, ips=seen / max(1e-9, time.perf_counter() - t0), loss=loss_sum / seen)
    train_s = time.perf_counter() - t0
    seen_all, loss_all, skipped = all_sum(run.cfg.dist, [seen, loss_sum, skipped])
    val = run.loaders.val
    val_err, val_acc = (evaluate(run.model, val, run.dev, amp=run.fmt.amp != "none",
                                 channels_last=run.fmt.channels_last, dist=run.cfg.dist,
                                 skip_corrupt=run.cfg.skip_corrupt)
                        if val is not None else (float("nan"), float("nan")))
    return {"epoch": epoch + 1, "train_loss": loss_all / max(1, seen_all), "val_error": val_err,
            "val_accuracy": val_acc, "lr": cur_lr, "images": int(seen_all), "skipped_images": int(skipped),
            "train_seconds": train_s, "images_per_s": seen_all / max(1e-9, train_s),
            "seconds": time.perf_counter() - t0, "weight_spread": weight_spread(run.model, run.cfg.dist)}


def fit(model: nn.Module, loaders, config: FitConfig) -> FitResult:
    """Train ``model`` on ``loaders.train`` as ``config`` says; validate each epoch, test at the end."""
    run = _setup(model, loaders, config)
    status = "ok"
    bar = _progress(config.progress and config.dist.is_main)
    t_run = time.perf_counter()
    try:
        if bar is not None:
            bar.start()
        for epoch in range(run.start_epoch, run.epochs):
            metrics = _train_epoch(run, epoch, bar)
            if metrics is None:
                status = "nan"
                break
            run.history.append(metrics)
            with _ctrl_c_held():  # an epoch's checkpoint and its report land together
                if config.out_dir is not None and config.dist.is_main:
                    save_checkpoint(config.out_dir, model, run.optimizer,
                                    {**run.state, "epochs_done": epoch + 1, "history": run.history})
                if config.on_epoch is not None:
                    config.on_epoch(epoch + 1, dict(metrics))
    finally:
        if bar is not None:
            bar.stop()
    return _finish(run, status, t_run)


@contextmanager
def _ctrl_c_held():
    """Hold a Ctrl-C that arrives inside the block and raise it as KeyboardInterrupt when the block ends
    (only where Ctrl-C raises KeyboardInterrupt, in the main thread; an exception from the block wins)."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    held = []
    signal.signal(signal.SIGINT, lambda *_: held.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if held:
        raise KeyboardInterrupt


def _finish(run: _Run, status: str, t_run: float) -> FitResult:
    cfg, history = run.cfg, run.history
    images = sum(h["images"] for h in history)
    train_seconds = sum(h["train_seconds"] for h in history)
    seconds = sum(h["seconds"] for h in history)
    test_err = test_acc = None
    if status == "ok" and cfg.evaluate_test and getattr(run.loaders, "test", None) is not None:
        t0 = time.perf_counter()
        test_err, test_acc = evaluate(run.model, run.loaders.test, run.dev, amp=run.fmt.amp != "none",
                                      channels_last=run.fmt.channels_last, dist=cfg.dist)
        seconds += time.perf_counter() - t0
    last = history[-1] if history and status == "ok" else {}
    result = FitResult(val_error=last.get("val_error", float("nan")), test_error=test_err, test_accuracy=test_acc,
                       val_accuracy=last.get("val_accuracy", float("nan")), epochs=len(history),
                       images_per_s=images / train_seconds if train_seconds else 0.0,
                       seconds=seconds if history else time.perf_counter() - t_run, status=status,
                       train_loss=last.get("train_loss", float("nan")), lr=run.lr, weight_decay=run.weight_decay,
                       history=history, checkpoint=str(cfg.out_dir) if cfg.out_dir is not None else None)
    if cfg.out_dir is not None and history and cfg.dist.is_main:
        update_state(cfg.out_dir, status=status, test_error=test_err, test_accuracy=test_acc)
    return result
