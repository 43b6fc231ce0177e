"""``skmobile train`` and ``skmobile eval``: proxy training on real data, and (``--budget paper``) the full-size model
with the paper's recipe on an ImageNet-layout folder, over the processes torchrun starts."""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..errors import Interrupted, SKMobileError, choose
from ._args import check_at_least, check_out_dir
from ._text import counted

console = Console()


def _threads(threads: int) -> int:
    """Set torch's CPU threads; 0 = auto: one thread when the machine is already busy (OpenMP threads
    spin-wait on a contended CPU and run several times slower), else torch's default."""
    import torch

    if threads < 0:
        raise SKMobileError(f"--threads must be >= 0; got {threads}")
    if threads == 0:
        cores = os.cpu_count() or 1
        try:
            busy = os.getloadavg()[0] > cores - 0.5
        except OSError:  # pragma: no cover
            busy = False
        threads = 1 if busy else torch.get_num_threads()
    torch.set_num_threads(threads)
    return threads


def _complexity(model, image_size: int):
    try:
        from ..profile import complexity
    except ImportError:  # pragma: no cover
        return None
    try:
        return complexity(model, image_size, "paper")
    except Exception:  # noqa: BLE001 - the summary goes on without MACs
        return None


def _fmt(v, unit="", digits=2):
    return "-" if v is None else f"{v:.{digits}f}{unit}"


def summary_table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    return table


PROXY_ONLY = ("--train-limit", "--val-size")
PAPER_ONLY = ("--nproc", "--skip-corrupt", "--compile", "--bn-batch", "--steps-per-epoch")


def train_cmd(
    model: str = typer.Argument(..., help="registered model name, e.g. shufflenetv2_x0_5_sk, sknet50"),
    dataset: str = typer.Option("fashion-mnist", "--dataset",
                                help="fashion-mnist | fashion-mnist-scale | fashion-mnist-canvas | cifar10 | cifar100 | "
                                "folder"),
    data_dir: str = typer.Option(None, "--data-dir", help="data folder (default: the data set's usual place)"),
    epochs: int = typer.Option(None, "--epochs", help="default: the recipe's"),
    batch_size: int = typer.Option(None, "--batch-size", help="default: the recipe's (paper: the global batch, "
                                   "256, split over the processes)"),
    lr: float = typer.Option(None, "--lr", help="peak learning rate (default: the recipe's)"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N | auto (CUDA when present)"),
    out: Path = typer.Option(None, "--out", help="directory for checkpoints and metrics.json"),
    resume: bool = typer.Option(False, "--resume", help="continue from the last checkpoint in --out"),
    force: bool = typer.Option(False, "--force", help="train afresh into a non-empty --out, replacing its files"),
    train_limit: int = typer.Option(None, "--train-limit", help="train on this many images (default: recipe)"),
    budget: str = typer.Option("default", "--budget", help="default | trial | table (proxies) | paper (the "
                               "full-size model on --dataset folder in ImageNet layout, the paper's recipe)"),
    val_size: int = typer.Option(5000, "--val-size", help="images held out of train for validation"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = auto: 1 on a busy machine)"),
    workers: int = typer.Option(None, "--workers", help="data loader worker processes (default 0; paper: "
                                "cores / processes, at most 8)"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    nproc: int = typer.Option(None, "--nproc", help="paper: processes on this machine, started by torchrun"),
    compile_: bool = typer.Option(False, "--compile", help="paper: torch.compile the model"),
    skip_corrupt: bool = typer.Option(False, "--skip-corrupt", help="paper: skip unreadable images (named, counted)"),
    bn_batch: int = typer.Option(None, "--bn-batch", help="paper: images per batch-norm group (default 32)"),
    steps_per_epoch: int = typer.Option(None, "--steps-per-epoch", help="paper: steps per epoch (a smoke test)"),
) -> None:
    """Train MODEL: its proxy on a real data set, or (--budget paper) the full-size model with the
    paper's recipe, over several processes with --nproc or torchrun; print a summary, write DIR/metrics.json."""
    given = {"--train-limit": train_limit, "--nproc": nproc, "--skip-corrupt": skip_corrupt or None,
             "--compile": compile_ or None, "--bn-batch": bn_batch, "--steps-per-epoch": steps_per_epoch}
    from ..train import TRAIN_BUDGETS

    choose("budget", budget, TRAIN_BUDGETS)
    _check_common(out, resume, force, epochs, batch_size, lr, workers)
    wrong = [f for f in (PROXY_ONLY if budget == "paper" else PAPER_ONLY) if given.get(f) is not None]
    if wrong:
        raise SKMobileError(f"{wrong[0]} is not allowed with --budget {budget}; allowed: "
                            + ("--budget paper" if budget != "paper" else "--budget default, trial or table"))
    if budget == "paper":
        from ..train.paper_fit import PaperJob

        job = PaperJob(model, data_dir, seed=seed, epochs=epochs, batch_size=batch_size, bn_batch=bn_batch, lr=lr,
                       device=device, out_dir=out, resume=resume, skip_corrupt=skip_corrupt, compile=compile_,
                       steps_per_epoch=steps_per_epoch)
        _train_paper(job, dataset, nproc, threads, workers, progress)
        return
    check_at_least("--train-limit", train_limit, 2, "batch norm needs two images per training batch")
    check_at_least("--val-size", val_size, 1, "the validation error is measured on them")
    _train_proxy(model, dataset, data_dir, epochs, batch_size, lr, seed, device, out, resume, budget,
                 (train_limit, val_size, threads, workers or 0, progress))


def _check_common(out, resume, force, epochs, batch_size, lr, workers) -> None:
    from ..outputs import check_train_out

    if resume and out is None:
        raise SKMobileError("--resume needs --out DIR (the directory holding the checkpoint)")
    check_train_out(out, resume, force)
    check_at_least("--epochs", epochs, 1)
    check_at_least("--batch-size", batch_size, 2, "batch norm needs two images per training batch")
    check_at_least("--workers", workers, 0)
    if lr is not None and not (lr > 0 and math.isfinite(lr)):
        raise SKMobileError(f"--lr {lr} is not allowed; allowed: a finite number > 0")


def _train_proxy(model, dataset, data_dir, epochs, batch_size, lr, seed, device, out, resume, budget, rest) -> None:
    from ..data import make_loaders
    from ..provenance import command_line
    from ..train import proxy_recipe, resolve_device, train_proxy

    train_limit, val_size, threads, workers, progress = rest
    device = resolve_device(device)
    if out is not None:
        check_out_dir(out)
    n_threads = _threads(threads)
    recipe = proxy_recipe(model, budget)
    batch_size = batch_size or recipe.batch_size
    limit = train_limit if train_limit is not None else recipe.train_limit
    t0 = time.perf_counter()
    loaders = make_loaders(dataset, data_dir, batch_size=batch_size, val_size=val_size, seed=seed,
                           train_limit=limit, num_workers=workers)
    if len(loaders.train.dataset) < 2:
        raise SKMobileError(f"{len(loaders.train.dataset)} training image(s) left after --val-size {val_size}; "
                            "allowed: at least 2 (batch norm needs two images per batch)")
    on_epoch, bar = _epoch_output(progress, epochs or recipe.epochs)
    try:
        run = train_proxy(model, loaders, budget=budget, seed=seed, epochs=epochs, lr=lr, device=device,
                          out_dir=out, resume=resume, progress=bar, on_epoch=on_epoch,
                          meta={"train_limit": limit, "threads": n_threads, "command": command_line()})
    except KeyboardInterrupt:
        raise Interrupted(_kept(out)) from None
    net, res, cx = run.model, run.result, run.complexity
    metrics = {
        "model": model, "dataset": loaders.name, "seed": seed, "status": res.status,
        "test_error": res.test_error, "test_accuracy": res.test_accuracy, "val_error": res.val_error,
        "epochs": res.epochs, "images_per_s": res.images_per_s, "seconds": res.seconds,
        "wall_seconds": time.perf_counter() - t0, "train_images": len(loaders.train.dataset),
        "batch_size": batch_size, "lr": run.lr, "weight_decay": recipe.weight_decay, "threads": n_threads,
        "device": device, "budget": budget, "processes": 1, "command": command_line(),
        "proxy": {"kwargs": getattr(net, "skmobile_kwargs", {}), "input_size": loaders.image_size,
                  "params": cx.params if cx else None, "macs": cx.macs if cx else None,
                  "stage_maps": (run.shape or {}).get("stage_maps"), "net_input": (run.shape or {}).get("net_input")},
        "recipe": recipe.to_dict(), "units": {"test_error": "%", "test_accuracy": "%", "val_error": "%"},
    }
    _write_metrics(out, metrics)
    rows = [("model", f"{model} (proxy: {', '.join(f'{k}={v}' for k, v in recipe.model_kwargs.items())})"),
            ("data", f"{loaders.name}: {len(loaders.train.dataset)} train images, {counted(res.epochs, 'epoch')}, seed {seed}"),
            ("test error", _fmt(res.test_error, " %")), ("test accuracy", _fmt(res.test_accuracy, " %")),
            ("val error", _fmt(res.val_error, " %")),
            ("params", f"{cx.params / 1e6:.3f} M" if cx else "-"),
            ("MACs", f"{cx.macs / 1e6:.2f} M at {loaders.image_size} px" if cx else "-"),
            ("stage maps", "/".join(map(str, (run.shape or {}).get("stage_maps") or [])) + " px" if run.shape else "-"),
            ("images/s", f"{res.images_per_s:.0f} (train, {counted(n_threads, 'thread')})"),
            ("time", f"{res.seconds:.1f} s fit, {metrics['wall_seconds']:.1f} s in all")]
    _print_summary(model, rows, out, res)


def _train_paper(job, dataset: str, nproc: int | None, threads: int, workers: int | None, progress: bool) -> None:
    """``--budget paper``: check everything, then train here, or start torchrun with ``--nproc N``."""
    from ..provenance import command_line, current_argv
    from ..train import resolve_device
    from ..train.distributed import env_world_size, from_env, process_device, shutdown, torchrun_argv, under_torchrun
    from ..train.paper_fit import plan_job, train_paper

    if dataset != "folder":
        raise SKMobileError(f"--budget paper trains on an ImageNet-layout folder; got --dataset {dataset}; allowed: "
                            "--dataset folder --data-dir ROOT (ROOT/train/<class>/*, ROOT/val/<class>/*)")
    check_at_least("--nproc", nproc, 1, "processes on this machine")
    device = resolve_device(job.device)
    world = nproc or env_world_size()
    _check_gpus(device, nproc, world)
    if job.out_dir is not None:
        check_out_dir(job.out_dir)
    plan = plan_job(job, world)
    if (nproc or 1) > 1 and not under_torchrun():
        code = subprocess.run(torchrun_argv(nproc, current_argv()), check=False).returncode
        raise typer.Exit(code=code)
    ctx = from_env(device)
    job.device = process_device(device)
    job.workers = workers if workers is not None else min(8, max(1, (os.cpu_count() or 1) // world))
    n_threads = _threads(threads)
    job.on_epoch, job.progress = _epoch_output(progress, job.epochs or plan.recipe.epochs)
    job.meta = {"threads": n_threads, "command": command_line(), "processes": world}
    t0 = time.perf_counter()
    try:
        _, plan, res = train_paper(job, ctx, plan)
    except KeyboardInterrupt:
        raise Interrupted(_kept(job.out_dir)) from None
    finally:
        shutdown(ctx)
    if ctx.is_main:
        _paper_summary(job, plan, res, time.perf_counter() - t0, n_threads)


def _check_gpus(device: str, nproc: int | None, world: int) -> None:
    if not device.startswith("cuda") or world == 1:
        return
    import torch

    if device != "cuda":
        raise SKMobileError(f"--device {device} names one GPU but the run has {world} processes; allowed: "
                            "--device cuda (process i uses cuda:i)")
    if nproc is not None and nproc > torch.cuda.device_count():
        raise SKMobileError(f"--nproc {nproc} is more than the {torch.cuda.device_count()} GPU(s) here; allowed: "
                            f"1..{torch.cuda.device_count()} (one process per GPU)")


def _paper_summary(job, plan, res, wall: float, n_threads: int) -> None:
    from ..provenance import command_line

    train_n, val_n = (len(s) for s in plan.splits[:2])
    skipped = sum(h.get("skipped_images", 0) for h in res.history)
    metrics = {"model": job.model, "dataset": "folder", "data_dir": str(job.data_dir), "budget": "paper",
               "seed": job.seed, "status": res.status, "val_error": res.val_error, "val_accuracy": res.val_accuracy,
               "evaluation": f"top-1 on {job.data_dir}/val, resize {plan.recipe.eval_resize} + centre crop "
                             f"{plan.recipe.image_size}", "epochs": res.epochs, "images_per_s": res.images_per_s,
               "seconds": res.seconds, "wall_seconds": wall, "train_images": train_n, "val_images": val_n,
               "classes": len(plan.splits[2]), "skipped_images": skipped, "lr": res.lr,
               "weight_decay": res.weight_decay, "device": job.device, "threads": n_threads,
               "weight_spread": (res.history[-1].get("weight_spread") if res.history else None),
               "batching": plan.describe(), "recipe": plan.recipe.to_dict(), "command": command_line(),
               "units": {"val_error": "%", "val_accuracy": "%"}}
    _write_metrics(job.out_dir, metrics)
    b = plan.describe()
    rows = [("model", f"{job.model} (full size, {len(plan.splits[2])} classes, {plan.recipe.image_size} px)"),
            ("data", f"{job.data_dir}: {train_n} train, {val_n} val images; {counted(res.epochs, 'epoch')}, seed {job.seed}"),
            ("top-1 error", _fmt(res.val_error, " %") + f" (val, centre crop {plan.recipe.image_size})"),
            ("processes", f"{b['processes']} x {b['per_process']} images ({b['bn_groups_per_process']} BN group(s) "
                          f"of {b['bn_batch']}), global batch {b['global_batch']}"),
            ("skipped images", str(skipped)),
            ("images/s", f"{res.images_per_s:.0f} (train, all processes)"),
            ("time", f"{res.seconds:.1f} s fit, {wall:.1f} s in all")]
    _print_summary(job.model, rows, job.out_dir, res)


def _epoch_output(progress: bool, epochs: int):
    """(on_epoch printer, live bar): a bar on a terminal, one plain line per epoch in a log file."""
    bar = progress and console.is_terminal
    return (_epoch_printer(epochs) if progress and not bar else None), bar


def _write_metrics(out: Path | None, metrics: dict) -> None:
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))


def _print_summary(model: str, rows: list, out: Path | None, res) -> None:
    if out is not None:
        rows.append(("saved", str(out / "metrics.json")))
    console.print(summary_table(f"skmobile train {model}", rows))
    if res.status != "ok":
        typer.echo(f"error: training stopped at epoch {res.epochs + 1}: non-finite loss (status {res.status})",
                   err=True)
        raise typer.Exit(code=1)


def _epoch_printer(epochs: int):
    def on_epoch(epoch: int, m: dict) -> None:
        typer.echo(f"epoch {epoch}/{epochs}: train loss {m['train_loss']:.4f}, val error {m['val_error']:.2f} %, "
                   f"{m['images_per_s']:.0f} img/s, {m['seconds']:.1f} s")

    return on_epoch


def _kept(out: Path | None) -> str:
    """What an interrupted `skmobile train` leaves: the checkpoint of the last complete epoch."""
    from ..train import read_checkpoint
    from ..train.checkpoint import has_checkpoint

    if out is None:
        return "nothing saved (no --out); rerun to train again"
    if not has_checkpoint(out):
        return f"no epoch finished, nothing saved in {out}; rerun to start again"
    done = read_checkpoint(out)[1].get("epochs_done", "?")
    return f"checkpoint of epoch {done} kept in {out}; rerun with --resume to continue"


def eval_cmd(
    checkpoint: Path = typer.Argument(..., help="checkpoint directory (or .safetensors) from `skmobile train --out`"),
    dataset: str = typer.Option(None, "--dataset", help="default: the data set it was trained on"),
    data_dir: str = typer.Option(None, "--data-dir"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | cuda:N | auto (CUDA when present)"),
    batch_size: int = typer.Option(256, "--batch-size"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = auto)"),
) -> None:
    """Top-1 error of a trained checkpoint on a data set's test split."""
    import torch

    from ..data import make_loaders
    from ..train import evaluate, load_checkpoint, resolve_device

    device = resolve_device(device)
    check_at_least("--batch-size", batch_size, 1)
    _threads(threads)
    t0 = time.perf_counter()
    model, state = load_checkpoint(checkpoint, device)
    if ((state.get("meta") or {}).get("recipe") or {}).get("budget") == "paper":
        _eval_paper(checkpoint, model, state, data_dir, device, batch_size, t0)
        return
    dataset = dataset or state.get("dataset") or "fashion-mnist"
    data_dir = data_dir or (state.get("data_dir") if dataset == state.get("dataset") else None)
    loaders = make_loaders(dataset, data_dir, batch_size=batch_size, val_size=0, seed=int(state.get("seed", 0)),
                           augment=False)
    trained_with = f"the checkpoint's model (trained on {state.get('dataset') or 'unknown data'})"
    model_chans = next((m.in_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if model_chans is not None and model_chans != loaders.in_chans:
        raise SKMobileError(f"--dataset {dataset} has {loaders.in_chans}-channel images but {trained_with} takes "
                            f"{model_chans}; allowed: a data set of {model_chans}-channel images")
    trained_classes = (state.get("model_kwargs") or {}).get("num_classes")
    if trained_classes is not None and trained_classes != loaders.num_classes:
        raise SKMobileError(f"--dataset {dataset} has {loaders.num_classes} classes but {trained_with} has "
                            f"{trained_classes}")
    t1 = time.perf_counter()
    err, acc = evaluate(model, loaders.test, device)
    secs = time.perf_counter() - t1
    cx = _complexity(model, loaders.image_size)
    n = len(loaders.test.dataset)
    console.print(summary_table(f"skmobile eval {checkpoint}", [
        ("model", f"{state.get('model')} ({counted(state.get('epochs_done', '?'), 'epoch')})"),
        ("data", f"{loaders.name} test split, {n} images"),
        ("test error", f"{err:.2f} %"), ("test accuracy", f"{acc:.2f} %"),
        ("params", f"{cx.params / 1e6:.3f} M" if cx else "-"),
        ("MACs", f"{cx.macs / 1e6:.2f} M at {loaders.image_size} px" if cx else "-"),
        ("images/s", f"{n / secs:.0f} (inference)"), ("time", f"{time.perf_counter() - t0:.1f} s")]))


def _eval_paper(checkpoint, model, state, data_dir, device, batch_size, t0) -> None:
    """``eval`` of a ``--budget paper`` checkpoint: top-1 error on ROOT/val with the recipe's centre crop."""
    from ..data.imagenet import paper_loaders
    from ..train import evaluate
    from ..train.paper import paper_recipe

    recipe = paper_recipe(state["model"])
    loaders = paper_loaders(data_dir or state.get("data_dir"), recipe, batch_size=batch_size, workers=0)
    trained = (state.get("model_kwargs") or {}).get("num_classes")
    if trained != loaders.num_classes:
        raise SKMobileError(f"{loaders.data_dir} has {loaders.num_classes} classes but the checkpoint's model has "
                            f"{trained}; allowed: the folder it was trained on, or one with the same classes")
    err, acc = evaluate(model, loaders.val, device)
    console.print(summary_table(f"skmobile eval {checkpoint}", [
        ("model", f"{state.get('model')} (full size, {state.get('epochs_done', '?')} epochs, --budget paper)"),
        ("data", f"{loaders.data_dir}/val"), ("images", str(len(loaders.val.dataset))),
        ("evaluation", f"resize {recipe.eval_resize}, centre crop {recipe.image_size}"),
        ("top-1 error", f"{err:.2f} %"), ("top-1 accuracy", f"{acc:.2f} %"),
        ("time", f"{time.perf_counter() - t0:.1f} s")]))


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("eval")(eval_cmd)
