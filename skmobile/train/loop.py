"""``fit``: the one training loop (``skmobile train`` and every search trial reach it through ``train_proxy``).

SGD (momentum 0.9, Nesterov), cosine schedule with linear warm-up, label smoothing, paper weight
decay (see :mod:`.optim`), a checkpoint after every epoch with resume, a NaN/inf guard, top-1 error.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SKMobileError
from .checkpoint import has_checkpoint, load_into, read_checkpoint, save_checkpoint
from .optim import default_lr, default_weight_decay, lr_at, make_optimizer


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


def _batches(batch):
    """(x, y) of a batch that may carry extra per-sample fields (e.g. scale)."""
    return batch[0], batch[1]


def _device(device) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SKMobileError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    return dev


def _autocast(dev: torch.device, amp: bool):
    if amp and dev.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, loader, device="cpu", *, amp: bool = False, channels_last: bool = False):
    """(top-1 error %, top-1 accuracy %) of ``model`` on ``loader``."""
    dev = _device(device)
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for batch in loader:
            x, y = _batches(batch)
            x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(dev, amp):
                pred = model(x).argmax(1)
            correct += int((pred == y).sum())
            total += int(y.numel())
    finally:
        model.train(was_training)
    if total == 0:
        raise SKMobileError("evaluation loader is empty")
    acc = 100.0 * correct / total
    return 100.0 - acc, acc


def _progress(enabled: bool):
    if not enabled:
        return None
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[ips]:>7.0f} img/s"), TextColumn("loss {task.fields[loss]:.3f}"),
                    TimeElapsedColumn(), TimeRemainingColumn())


def fit(model: nn.Module, loaders, *, epochs: int, lr: float | None = None, weight_decay: float | None = None,
        label_smoothing: float = 0.1, warmup_epochs: float | None = None, seed: int = 0, device="cpu",
        out_dir=None, resume: bool = False, progress: bool = True, on_epoch=None,
        max_steps_per_epoch: int | None = None, evaluate_test: bool = True, momentum: float = 0.9,
        nesterov: bool = True, amp: bool | None = None, channels_last: bool | None = None,
        meta: dict | None = None) -> FitResult:
    """Train ``model`` on ``loaders.train`` for ``epochs``; validate each epoch, test at the end.

    ``warmup_epochs`` defaults to min(1, epochs / 10). ``on_epoch(epoch, metrics)`` runs after each
    epoch's validation and checkpoint (metrics has ``val_error`` in %); whatever it raises
    (e.g. optuna.TrialPruned) propagates. With ``out_dir`` a checkpoint is written each epoch;
    ``resume`` continues from it up to the total epochs it recorded. ``amp``/``channels_last``
    default to on for CUDA only (on CPU they slow these small proxies down). ``meta`` is stored in
    the checkpoint state (e.g. the recipe).
    """
    if epochs < 1:
        raise SKMobileError(f"epochs must be >= 1; got {epochs}")
    dev = _device(device)
    amp = dev.type == "cuda" if amp is None else amp
    channels_last = dev.type == "cuda" if channels_last is None else channels_last
    batch_size = getattr(loaders, "batch_size", None) or loaders.train.batch_size or 128
    lr = default_lr(batch_size) if lr is None else float(lr)
    weight_decay = default_weight_decay(model) if weight_decay is None else float(weight_decay)
    warmup_epochs = min(1.0, epochs / 10) if warmup_epochs is None else float(warmup_epochs)
    steps = len(loaders.train) if max_steps_per_epoch is None else min(len(loaders.train), max_steps_per_epoch)
    if steps < 1:
        raise SKMobileError("the training loader has no batches (is train_limit smaller than the batch size?)")
    total_steps, warmup_steps = epochs * steps, int(round(warmup_epochs * steps))

    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, lr, weight_decay, momentum, nesterov)
    history: list[dict] = []
    start_epoch = 0
    if resume and out_dir is not None and has_checkpoint(out_dir):
        tensors, saved = read_checkpoint(out_dir)
        load_into(model, optimizer, tensors)
        history = list(saved.get("history", []))
        start_epoch = int(saved.get("epochs_done", len(history)))
        epochs = int(saved.get("epochs", epochs))
        total_steps = epochs * steps
    state = {"model": getattr(model, "skmobile_name", None),
             "model_kwargs": getattr(model, "skmobile_kwargs", None),
             "dataset": getattr(loaders, "name", None), "data_dir": getattr(loaders, "data_dir", None),
             "epochs": epochs, "seed": seed, "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size,
             "label_smoothing": label_smoothing, "warmup_epochs": warmup_epochs,
             "max_steps_per_epoch": max_steps_per_epoch, "meta": meta or {}}
    status, last_loss = "ok", float("nan")
    bar = _progress(progress)
    t_run = time.perf_counter()
    try:
        if bar is not None:
            bar.start()
        for epoch in range(start_epoch, epochs):
            torch.manual_seed(seed * 1_000_003 + epoch)
            _set_epoch(loaders.train, epoch, seed)
            model.train()
            t0 = time.perf_counter()
            seen, loss_sum = 0, 0.0
            task = bar.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, ips=0.0, loss=float("nan")) \
                if bar is not None else None
            for i, batch in enumerate(loaders.train):
                if i >= steps:
                    break
                x, y = _batches(batch)
                x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                cur_lr = lr_at(epoch * steps + i, total_steps, lr, warmup_steps)
                for g in optimizer.param_groups:
                    g["lr"] = cur_lr
                with _autocast(dev, amp):
                    loss = F.cross_entropy(model(x), y, label_smoothing=label_smoothing)
                value = float(loss.detach())
                if not math.isfinite(value):
                    status = "nan"
                    break
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                seen += int(y.numel())
                loss_sum += value * int(y.numel())
                if task is not None:
                    bar.update(task, advance=1, ips=seen / max(1e-9, time.perf_counter() - t0),
                               loss=loss_sum / seen)
            train_s = time.perf_counter() - t0
            if status != "ok":
                if bar is not None:
                    bar.update(task, description=f"epoch {epoch + 1}/{epochs}: non-finite loss, stopped")
                break
            last_loss = loss_sum / max(1, seen)
            val_loader = loaders.val if loaders.val is not None else None
            val_err, val_acc = (evaluate(model, val_loader, dev, amp=amp, channels_last=channels_last)
                                if val_loader is not None else (float("nan"), float("nan")))
            metrics = {"epoch": epoch + 1, "train_loss": last_loss, "val_error": val_err, "val_accuracy": val_acc,
                       "lr": cur_lr, "images": seen, "train_seconds": train_s,
                       "images_per_s": seen / max(1e-9, train_s), "seconds": time.perf_counter() - t0}
            history.append(metrics)
            if out_dir is not None:
                save_checkpoint(out_dir, model, optimizer, {**state, "epochs_done": epoch + 1, "history": history})
            if on_epoch is not None:
                on_epoch(epoch + 1, dict(metrics))
    finally:
        if bar is not None:
            bar.stop()
    done = len(history)
    images = sum(h["images"] for h in history)
    train_seconds = sum(h["train_seconds"] for h in history)
    seconds = sum(h["seconds"] for h in history)
    test_err = test_acc = None
    if status == "ok" and evaluate_test and loaders.test is not None:
        t0 = time.perf_counter()
        test_err, test_acc = evaluate(model, loaders.test, dev, amp=amp, channels_last=channels_last)
        seconds += time.perf_counter() - t0
    last = history[-1] if history else {}
    if status != "ok":
        val_err = val_acc = float("nan")
    else:
        val_err, val_acc = last.get("val_error", float("nan")), last.get("val_accuracy", float("nan"))
    result = FitResult(val_error=val_err, test_error=test_err, test_accuracy=test_acc, val_accuracy=val_acc,
                       epochs=done, images_per_s=images / train_seconds if train_seconds else 0.0,
                       seconds=seconds if history else time.perf_counter() - t_run, status=status,
                       train_loss=last_loss if status == "ok" else float("nan"), lr=lr,
                       weight_decay=weight_decay, history=history,
                       checkpoint=str(out_dir) if out_dir is not None else None)
    if out_dir is not None and history:
        from .checkpoint import checkpoint_paths

        _, state_path = checkpoint_paths(out_dir)
        import json

        saved = json.loads(state_path.read_text())
        saved.update(status=status, test_error=test_err, test_accuracy=test_acc)
        state_path.write_text(json.dumps(saved, indent=1))
    return result


def _set_epoch(loader, epoch: int, seed: int) -> None:
    from ..data import set_epoch

    set_epoch(loader, epoch, seed)
