"""``skmobile bench``: every benchmark command (kernels, whole models, proxy training, latency); each prints
measured figures. Heavy imports (torch, numba, timm) stay inside the commands."""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import typer

from ..device import resolve_device
from ..errors import SKMobileError, choose
from ..provenance import command_line
from ._args import check_out_file

bench_app = typer.Typer(help="Benchmarks that print measured figures (kernels, whole models, training).",
                        no_args_is_help=True)


#: Largest batch x height x width ``bench model`` allocates (a typo like --batch 100000000 is an error).
MAX_INPUT_PIXELS = 4096 * 224 * 224


def _csv(value: str, kind: str, allowed=None, cast=str) -> list:
    try:
        items = [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise SKMobileError(f"bad {kind} list {value!r}: {exc}") from exc
    if not items:
        raise SKMobileError(f"empty {kind} list")
    for v in items:
        if allowed is not None:
            choose(kind, v, allowed)
    return items


def _versions() -> dict:
    """torch, numba and (where installed) numba-cuda versions for the kernel report."""
    from ..measure.machine import versions

    return {k: v for k, v in versions("torch", "numba", "numba-cuda").items() if v is not None}


def kernels(
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
    batch: str = typer.Option("", help="comma list of batch sizes (default: 1,32 on cpu; 1,32,256 on cuda)"),
    family: str = typer.Option("sknet50,shufflenetv2,mobilenetv2", help="shape families"),
    backends: str = typer.Option("numba,eager,compile,timm", help="numba, eager, compile, timm"),
    passes: str = typer.Option("fwd,fwd+bwd", "--pass", help="fwd, fwd+bwd"),
    paths: int = typer.Option(2, "--paths", "-m", help="M, the number of SK paths (1..8)"),
    dtype: str = typer.Option("float32", help="float32 (cpu, cuda) or float16 (cuda)"),
    rounds: int = typer.Option(5, help="interleaved timing rounds (the median is reported)"),
    channels_last: bool = typer.Option(False, "--channels-last", help="branches in channels_last"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    out: str = typer.Option(None, help="markdown report to write ('-' for none; default: a new file "
                            "runs/kernels-DATE-TIME.md; `--out reports/kernels.md` replaces the committed one)"),
) -> None:
    """Time the SK fusion (forward, forward+backward) per backend and shape; write reports/kernels.md."""
    import torch

    from ..kernels import bench

    dev = resolve_device(device)
    if not dev.startswith("cuda"):  # importing torch's compile stack on a CPU-only machine warns of CUDA
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    choose("format", fmt, ["table", "json"])
    choose("dtype", dtype, ["float32", "float16"] if dev.startswith("cuda") else ["float32"])
    batches = _csv(batch or ("1,32,256" if dev.startswith("cuda") else "1,32"), "batch", cast=int)
    if any(b < 1 for b in batches):
        raise SKMobileError(f"batch sizes must be >= 1, got {batch!r}")
    if not 1 <= paths <= 8 or rounds < 1:
        raise SKMobileError(f"--paths must be in 1..8 and --rounds >= 1 (got {paths}, {rounds})")
    fams = _csv(family, "family", bench.SHAPES)
    bks = _csv(backends, "backend", bench.BACKENDS)
    pss = _csv(passes, "pass", bench.PASSES)
    if out is None:
        from ..outputs import fresh_dir

        out = str(fresh_dir("kernels")) + ".md"
    if out != "-":
        check_out_file(Path(out), "--out", "kernels.md", make_parent=True)  # before any timing

    def progress(recs):
        if fmt == "table":
            for r in recs:
                ms = f"{r.ms:9.3f} ms {r.gbps:7.2f} GB/s" if r.ms else f"unavailable ({r.note})"
                typer.echo(f"{r.family:13s} {str(r.shape):26s} {r.pass_:8s} {r.backend:8s} {ms}")

    result = bench.run(dev, batches, fams, bks, pss, paths, getattr(torch, dtype), rounds, channels_last,
                       progress=progress)
    command = command_line()
    if fmt == "json":
        typer.echo(json.dumps([r.as_json() for r in result["records"]], indent=1))
    else:
        typer.echo(f"device: {result['device']}; copy bandwidth {result['copy_gbps']} GB/s")
        for vs in ("eager", "compile"):
            for shape, a, b, ratio in bench.ratios(result["records"], vs=vs):
                typer.echo(f"sknet50 batch 32 fwd+bwd {shape}: numba {a:.2f} ms, {vs} {b:.2f} ms, {ratio:.2f}x")
    if out != "-":
        _write_kernels(Path(out), result, command, fmt == "table")


def _write_kernels(path: Path, result: dict, command: str, say: bool) -> None:
    from ..kernels import bench
    from ..outputs import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    write_text(path, bench.keep_notes(bench.to_markdown(result, command, _versions()), old))
    if say:
        typer.echo(f"wrote {path}")


def model(
    name: str = typer.Argument(..., help="SK model, e.g. sknet50"),
    vs: str = typer.Option(..., "--vs", help="baseline model, e.g. resnext50_32x4d"),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:N or auto"),
    train: bool = typer.Option(False, "--train", help="time forward + backward + SGD step"),
    batch: int = typer.Option(8, help="batch size"),
    input_size: int = typer.Option(224, help="input height = width"),
    fusions: str = typer.Option("torch,numba", help="fusion backends timed side by side: torch, numba, auto; "
                                "'free' times a zero-traffic fusion (wrong outputs): the ceiling of any fusion"),
    amp: str = typer.Option("none", help="autocast dtype: none, bf16, fp16"),
    channels_last: bool = typer.Option(False, "--channels-last", help="model and input in channels_last"),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile both models (default mode)"),
    dilated_as: str = typer.Option("rule", "--dilated-as", help="dilated depthwise SK paths run as: rule "
                                   "(per device/dtype/layout), dense, dilated"),
    iters: int = typer.Option(3, help="timed steps per round (after the warm-up steps)"),
    rounds: int = typer.Option(1, help="interleaved rounds (median reported)"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    profile: bool = typer.Option(False, "--profile", help="also profile one step per numba/auto fusion: time "
                                 "inside the fusion, and its share of the step"),
) -> None:
    """Images/s of MODEL with each fusion backend against BASELINE, ratios from one run."""
    from .. import bench_model
    from ..layers.sk_fusion import fusion_names
    from ..measure.machine import device_name
    from ..models import model_entry

    dev = resolve_device(device)
    choose("format", fmt, ["table", "json"])
    mode = bench_model.Mode(train=train, amp=amp, channels_last=channels_last, compile=compile_,
                            dilated_as=dilated_as)
    fus = _csv(fusions, "fusion", fusion_names() + [bench_model.FREE])
    if batch < 1 or input_size < 32 or iters < 1 or rounds < 1:
        raise SKMobileError("need --batch >= 1, --input-size >= 32, --iters >= 1, --rounds >= 1")
    if batch * input_size * input_size > MAX_INPUT_PIXELS:
        raise SKMobileError(f"--batch {batch} x {input_size}x{input_size} is over {MAX_INPUT_PIXELS:,} input "
                            f"pixels; allowed: a smaller --batch or --input-size")
    model_entry(name), model_entry(vs)
    rows = bench_model.compare(name, vs, fus, dev, batch, input_size, iters, rounds, mode)
    if profile:
        for r in rows:
            if r["fusion"] in ("numba", "auto"):  # a row that fell back ran torch: nothing to profile
                r["profiled_step"] = bench_model.fusion_profile(name, r["fusion"], batch, input_size, dev, mode)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    where = device_name(dev) if dev.startswith("cuda") else "cpu"
    typer.echo(f"{mode.describe()}, batch {batch}, {input_size}x{input_size}, device {where}")
    for r in rows:
        asked = f" (asked {r['asked']}: fell back: {r['fallback']})" if "asked" in r else ""
        typer.echo(f"{r['model']:24s} fusion={r['fusion']:6s} {r['images_per_s']:10.2f} img/s  "
                   f"{r['vs_baseline']:.3f}x of {vs}{asked}")
    for r in rows:
        if "profiled_step" in r:
            p = r["profiled_step"]
            typer.echo(f"profiled step, fusion={r['fusion']}: {p['fusion_ms']:.1f} ms inside the fusion "
                       f"of a {p['step_ms']:.1f} ms step ({100 * p['share']:.1f} %)")


def train(
    model: str = typer.Argument(..., help="registered model name"),
    fusion: str = typer.Option("torch,numba", "--fusion", help="comma-separated SK fusion backends"),
    steps: int = typer.Option(10, "--steps", help="timed training steps per backend"),
    warmup: int = typer.Option(2, "--warmup", help="untimed steps first"),
    batch_size: int = typer.Option(None, "--batch-size", help="default: the proxy recipe's"),
    image_size: int = typer.Option(28, "--image-size"),
    in_chans: int = typer.Option(1, "--in-chans"),
    num_classes: int = typer.Option(10, "--num-classes"),
    budget: str = typer.Option("trial", "--budget", help="recipe whose trial cost is estimated: trial | table | "
                               "default (proxies), paper (full size, 224 px: data and training images/s)"),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0 = auto)"),
    device: str = typer.Option("cpu", "--device"),
    data_dir: Path = typer.Option(None, "--data-dir", help="paper: an ImageNet-layout folder to read (default: "
                                  "generated JPEGs)"),
    workers: int = typer.Option(4, "--workers", help="paper: DataLoader worker processes"),
    compile_: bool = typer.Option(False, "--compile", help="paper: torch.compile the model"),
) -> None:
    """Training images/s of MODEL's proxy per fusion backend, and what one search trial costs; with
    --budget paper, images/s of the input pipeline and of training the full-size model."""
    from .train import _threads

    if steps < 1 or warmup < 0:
        raise SKMobileError(f"--steps must be >= 1 and --warmup >= 0; got {steps}, {warmup}")
    device = resolve_device(device)
    choose("budget", budget, ("trial", "table", "default", "paper"))
    n_threads = _threads(threads)
    if budget == "paper":
        _bench_paper(model, batch_size, steps, warmup, device, data_dir, workers, compile_, n_threads)
        return
    _bench_proxy(model, fusion, budget, batch_size, (image_size, in_chans, num_classes), steps, warmup, device,
                 n_threads)


def _bench_proxy(model, fusion, budget, batch_size, data_shape, steps, warmup, device, n_threads) -> None:
    """``bench train`` for a proxy budget: training images/s per fusion and one trial's training time."""
    from rich.console import Console
    from rich.table import Table

    from ..bench_model import Mode, time_training
    from ..layers import set_fusion
    from ..train import build_proxy_model, proxy_recipe
    from ..train.optim import timing_optimizer
    from ..train.precision import step_format
    from ..train.proxy import ProxyInput

    image_size, in_chans, num_classes = data_shape
    recipe = proxy_recipe(model, budget)
    bs = batch_size or recipe.batch_size
    # what a trial runs: the recipe's input side (images repeated up to min_input) and, on CUDA, the
    # trainer's bf16 autocast + channels_last (skmobile.train.loop)
    data = ProxyInput(image_size, num_classes, in_chans)
    fmt = step_format("cuda" if device.startswith("cuda") else "cpu")
    mode = Mode(train=True, amp=fmt.amp, channels_last=fmt.channels_last or recipe.channels_last)
    table = Table()
    for col in ("fusion", "images/s", "ms/step", f"one trial ({budget} budget, training)"):
        table.add_column(col, justify="right" if col != "fusion" else "left")
    base = None
    for name in [f.strip() for f in fusion.split(",") if f.strip()]:
        try:
            net = build_proxy_model(model, data, budget)
            set_fusion(net, name)
            ips = time_training(net, bs, in_chans, image_size, num_classes, steps, warmup, device, mode,
                                timing_optimizer)
        except (SKMobileError, ImportError) as exc:
            table.add_row(name, "unavailable", "-", str(exc).splitlines()[0][:70])
            continue
        base = base or ips
        images = (recipe.train_limit or 55_000) * recipe.epochs
        table.add_row(name, f"{ips:.0f}" + (f" ({ips / base:.2f}x)" if base != ips else ""),
                      f"{1000 * bs / ips:.1f}", f"{images / ips:.0f} s for {images} images")
        up = getattr(getattr(net, "upsample", None), "scale_factor", None) or 1  # the side the timed net sees
    table.title = (f"skmobile bench train {model} ({budget} proxy, batch {bs}, {image_size} px images, net input "
                   f"{image_size * int(up) if base else '?'} px, {'bf16 autocast, ' if fmt.amp == 'bf16' else ''}"
                   f"{n_threads} thread{'' if n_threads == 1 else 's'})")
    Console().print(table)


def _bench_paper(model, batch_size, steps, warmup, device, data_dir, workers, compile_, n_threads) -> None:
    """``bench train --budget paper``: data and training images/s of the full-size model at 224 px."""
    from ..train.paper import paper_recipe
    from ..train.paper_bench import data_images_per_s
    from ._args import check_at_least

    recipe = paper_recipe(model)
    check_at_least("--workers", workers, 0)
    check_at_least("--batch-size", batch_size, 2, "batch norm needs two images per batch")
    cuda = device.startswith("cuda")
    batch = batch_size or (recipe.batch_size if cuda else 8)
    data_ips, source = data_images_per_s(recipe, data_dir, steps, workers)
    train_ips, fmt = _paper_training_rate(recipe, batch, steps, warmup, device, compile_)
    typer.echo(f"skmobile bench train {model} --budget paper: full size, {recipe.image_size} px, batch {batch}, "
               f"device {device}, {'bf16 autocast' if fmt.amp == 'bf16' else 'float32'}, "
               f"{'channels_last' if fmt.channels_last else 'NCHW'}{', torch.compile' if compile_ else ''}, "
               f"{n_threads} thread(s)")
    typer.echo(f"data:     {data_ips:10.1f} images/s  ({workers} worker(s), batches of 32, decode + random-resized crop + flip, "
               f"start-up included; {source})")
    typer.echo(f"training: {train_ips:10.1f} images/s  (forward + backward + SGD step, {steps} timed steps)")
    typer.echo(f"limit: {'data loading' if data_ips < train_ips else 'training'} "
               f"({min(data_ips, train_ips) / max(data_ips, train_ips):.2f}x of the other)")


def _paper_training_rate(recipe, batch: int, steps: int, warmup: int, device: str, compile_: bool) -> tuple:
    """(images/s, StepFormat) of SGD steps of the full-size model (1000 classes, 224 px) with the trainer's
    per-device defaults (:func:`skmobile.train.precision.step_format`)."""
    import torch

    from ..bench_model import Mode, time_training
    from ..models import create_model
    from ..train.optim import timing_optimizer
    from ..train.precision import step_format

    fmt = step_format(torch.device(device).type)
    torch.manual_seed(0)
    net = create_model(recipe.model, num_classes=1000)
    mode = Mode(train=True, amp=fmt.amp, channels_last=fmt.channels_last, compile=compile_)
    return time_training(net, batch, 3, recipe.image_size, 1000, steps, warmup, device, mode, timing_optimizer), fmt


# --- bench latency -------------------------------------------------------------------------

@contextmanager
def _progress(label: str, enabled: bool = True):
    """A transient rich progress bar on stderr; yields ``update(done, total, text="")``."""
    if not enabled:
        yield lambda *a, **k: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done, total, text=""):
            bar.update(task, completed=done, total=total, description=f"{label} {text}".strip())

        yield update


def _header(result: dict) -> str:
    s, m = result["setting"], result["machine"]
    rt = f"onnxruntime {m['onnxruntime']} (opset {s['opset']})" if s["runtime"] == "onnxruntime" else f"torch {m['torch']}"
    where = m["gpu"] if s["device"] == "cuda" else f"{m['cpu']} ({m['logical_cpus']} logical CPUs)"
    return (f"{rt}, {s['device']}, {s['threads']} thread(s), batch {s['batch']}; {where}; "
            f"load average {m['load_avg']}; {m['date']}"
            + ("; clock: this thread's CPU time" if result.get("clock") == "cpu" else ""))


def _print_measured(result: dict) -> None:
    typer.echo(_header(result))
    typer.echo(f"{'model':28s} {'input':>5s} {'p10 ms':>9s} {'p50 ms':>9s} {'p90 ms':>9s} {'calls':>6s}")
    for r in result["models"]:
        ms = r["ms"]
        typer.echo(f"{r['model']:28s} {r['input_size']:5d} {ms['p10']:9.3f} {ms['p50']:9.3f} {ms['p90']:9.3f} {ms['n']:6d}")
    for r in result["models"]:
        if "vs" in r:
            q = r["vs"]["ratio"]
            typer.echo(f"{r['model']} / {r['vs']['base']}: {q['p50']:.3f}x (p10 {q['p10']:.3f}x, p90 {q['p90']:.3f}x "
                       f"over {q['n']} interleaved rounds)")
    if not result["stable"]:
        typer.echo(f"note: a median's 95% interval stayed wider than 1% after {result['rounds']} rounds "
                   "(a busy machine?); raise --max-rounds or rerun when it is quiet")


def latency(
    models: list[str] = typer.Argument(None, help="registered models (with --build-table: default all light models)"),
    vs: str = typer.Option(None, "--vs", help="baseline model: its ratio from interleaved rounds"),
    runtime: str = typer.Option("onnxruntime", help="torch or onnxruntime (ONNX via skmobile's export)"),
    device: str = typer.Option("cpu", help="cpu, cuda (the current CUDA device) or auto"),
    threads: int = typer.Option(1, help="intra-op threads (>= 1)"),
    batch: int = typer.Option(1, help="batch size"),
    input_size: int = typer.Option(None, "--input-size", help="input height = width (default: the model's, 224 or 32)"),
    opset: int = typer.Option(17, help="ONNX opset (17 uses torch's legacy exporter: fastest to export)"),
    max_rounds: int = typer.Option(40, "--max-rounds", help="interleaved rounds at most (stops earlier once stable; "
                                   "--build-table: at most 15)"),
    max_seconds: float = typer.Option(60.0, "--max-seconds", help="time budget of the timed rounds (not with "
                                      "--build-table: its rounds bound it)"),
    clock: str = typer.Option("wall", "--clock", help="wall, or cpu: this thread's CPU time (--device cpu "
                              "--threads 1; leaves out other processes' turns on a shared core)"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    build_table: bool = typer.Option(False, "--build-table", help="time every layer of MODELS alone into --table"),
    table: Path = typer.Option(None, "--table", help="layer lookup table JSON (default: in the latency cache folder)"),
    predict: bool = typer.Option(False, "--predict", help="print the latency predicted from --table; measure nothing"),
    check: bool = typer.Option(True, "--check/--no-check", help="with --build-table: also time each model in the same "
                               "rounds; print Kendall's tau, the median absolute error and the noise floor (3 runs)"),
    report: Path = typer.Option(None, "--report", help="with --build-table: write the check as markdown here"),
) -> None:
    """Batch-N inference latency of full-size MODELS: p10/p50/p90 ms, and the ratio to --vs."""
    from ..latency.measure import Arch, Setting
    from ..latency.timing import check_clock
    from ..measure.timing import TimingPlan

    choose("format", fmt, ["table", "json"])
    _check_latency_args(runtime, opset, report, table)
    setting = Setting(runtime, resolve_device(device), threads, batch, opset)
    setting.check()
    check_clock(clock, setting)
    if max_rounds < 1 or max_seconds <= 0:
        raise SKMobileError(f"--max-rounds must be >= 1 and --max-seconds > 0; got {max_rounds}, {max_seconds}")
    if input_size is not None and input_size < 16:
        raise SKMobileError(f"--input-size must be >= 16; got {input_size}")
    models = list(models or [])
    for name in models + ([vs] if vs else []):
        Arch(name).resolved_input_size()   # one-line error for an unknown name, before any work
    plan = TimingPlan(max_rounds=max_rounds, min_rounds=min(5, max_rounds), max_s=max_seconds, clock=clock)
    if build_table or predict:
        _table(models, setting, table, build_table, predict, check, report, fmt, plan)
        return
    if not models:
        raise SKMobileError("no model given; name at least one registered model (`skmobile models` lists them)")
    _measure(models, setting, vs, plan, input_size, fmt)


def _measure(models, setting, vs, plan, input_size, fmt) -> None:
    """``bench latency MODELS``: each model's latency (and the ratio to ``vs``), printed or as JSON."""
    from ..latency.measure import measure

    with _progress("measuring", fmt == "table") as update:
        result = measure(models, setting, vs=vs, plan=plan, input_size=input_size,
                         on_round=lambda done, total: update(done, total, "rounds"))
    result["command"] = command_line()
    if fmt == "json":
        typer.echo(json.dumps(result, indent=1))
    else:
        _print_measured(result)


def _check_latency_args(runtime: str, opset: int, report: Path | None, table: Path | None) -> None:
    """--opset and the files --report and --table name, before any timing: a bad path must not throw
    measured work away."""
    if runtime == "onnxruntime" and opset < 17:
        raise SKMobileError(f"--opset {opset} is too old; allowed: 17 or later")
    for flag, given, example in (("--report", report, "errors.md"), ("--table", table, "table.json")):
        if given is not None:
            check_out_file(given, flag, example, make_parent=True)


def _table(models, setting, path, build, predict, check, report, fmt, plan) -> None:
    from ..latency import table as lt
    from ..latency import timing
    from ..latency.capture import light_models
    from ..latency.measure import Arch

    path = Path(path) if path is not None else lt.default_table_path(setting)
    if build:
        _build_table(models or light_models(), setting, path, check, report, fmt, plan)
        return
    if not models:
        raise SKMobileError("no model given; name the models to predict")
    table = lt.LatencyTable.load(path)
    table.check_setting(setting, plan.clock)
    rows = {m: timing.predict(table, Arch(m), setting) for m in models}
    table.save(path)   # layers timed for missing entries are kept
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    for m, r in rows.items():
        typer.echo(f"{m:28s} predicted {r['predicted_ms']:9.3f} ms ({r['layers']} layers, "
                   f"{r['layers_timed_now']} timed now, {r['layers_missing']} missing)")


def _build_table(models, setting, path, check, report, fmt, plan) -> None:
    from ..latency import table as lt
    from ..latency import timing
    from ..report.latency_check import check_markdown, figures

    table = lt.LatencyTable.load(path) if path.is_file() else None
    rounds = timing.CHECK_PLAN   # layers and models together: --max-rounds can only lower it
    check_plan = replace(rounds, max_rounds=min(plan.max_rounds, rounds.max_rounds),
                         min_rounds=min(plan.max_rounds, rounds.min_rounds))
    with _progress("timing layers", fmt == "table") as update:
        table = timing.build_table(models, setting, table, check=check, clock=plan.clock, check_plan=check_plan,
                                   on_model=lambda name, i, n: update(i - 1, n, f"preparing {name}"),
                                   on_unit=lambda i, n: update(i, n, "exporting layers"),
                                   on_round=lambda i, n: update(i, n, "timing rounds"))
    table.save(path)
    command = command_line()
    if report is not None and check:
        from ..outputs import write_text

        report.parent.mkdir(parents=True, exist_ok=True)
        write_text(report, check_markdown(table, command), "--report")
    if fmt == "json":
        typer.echo(json.dumps({"table": str(path), "models": {m: table.models[m] for m in models if m in table.models},
                               "check": figures(table.check) if check else None}, indent=1))
        return
    typer.echo(f"wrote {path} ({len(table.entries)} layers; per-call overhead {table.overhead_ms:.4f} ms)")
    if check:
        typer.echo(check_markdown(table, command))


def register(app: typer.Typer) -> None:
    bench_app.command("kernels")(kernels)
    bench_app.command("model")(model)
    bench_app.command("train")(train)
    bench_app.command("latency")(latency)
    app.add_typer(bench_app, name="bench")
