"""``skmobile bench latency``: measured batch-N inference latency, ``--vs`` ratios, the predictor's table."""

from __future__ import annotations

import json
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from ..errors import SKMobileError, choose


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
            f"load average {m['load_avg']}; {m['date']}")


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
    device: str = typer.Option("cpu", help="cpu or cuda"),
    threads: int = typer.Option(1, help="intra-op threads (>= 1)"),
    batch: int = typer.Option(1, help="batch size"),
    input_size: int = typer.Option(None, "--input-size", help="input height = width (default: the model's, 224 or 32)"),
    opset: int = typer.Option(17, help="ONNX opset (17 uses torch's legacy exporter: fastest to export)"),
    max_rounds: int = typer.Option(40, "--max-rounds", help="interleaved rounds at most (stops earlier once stable)"),
    max_seconds: float = typer.Option(60.0, "--max-seconds", help="time budget of the timed rounds"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    build_table: bool = typer.Option(False, "--build-table", help="time every layer of MODELS alone into --table"),
    table: Path = typer.Option(None, "--table", help="layer lookup table JSON (default: in the latency cache folder)"),
    predict: bool = typer.Option(False, "--predict", help="print the latency predicted from --table; measure nothing"),
    check: bool = typer.Option(True, "--check/--no-check", help="with --build-table: also measure each model and "
                               "report the predictor's error"),
    report: Path = typer.Option(None, "--report", help="with --build-table: write the error table as markdown here"),
) -> None:
    """Batch-N inference latency of full-size MODELS: p10/p50/p90 ms, and the ratio to --vs."""
    from ..latency.measure import Arch, Setting
    from ..latency.timer import TimingPlan

    choose("format", fmt, ["table", "json"])
    setting = Setting(runtime, device, threads, batch, opset)
    setting.check()
    if max_rounds < 1 or max_seconds <= 0:
        raise SKMobileError(f"--max-rounds must be >= 1 and --max-seconds > 0; got {max_rounds}, {max_seconds}")
    if input_size is not None and input_size < 16:
        raise SKMobileError(f"--input-size must be >= 16; got {input_size}")
    models = list(models or [])
    for name in models + ([vs] if vs else []):
        Arch(name).resolved_input_size()   # one-line error for an unknown name, before any work
    plan = TimingPlan(max_rounds=max_rounds, min_rounds=min(5, max_rounds), max_s=max_seconds)
    if build_table or predict:
        _table(models, setting, table, build_table, predict, check, report, fmt, plan)
        return
    if not models:
        raise SKMobileError("no model given; name at least one registered model (`skmobile models` lists them)")
    from ..latency.measure import measure

    with _progress("measuring", fmt == "table") as update:
        result = measure(models, setting, vs=vs, plan=plan, input_size=input_size,
                         on_round=lambda done, total: update(done, total, "rounds"))
    result["command"] = "skmobile " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if fmt == "json":
        typer.echo(json.dumps(result, indent=1))
    else:
        _print_measured(result)


def _table(models, setting, path, build, predict, check, report, fmt, plan) -> None:
    from functools import partial

    from ..latency import predictor
    from ..latency.measure import Arch, measure_one

    path = Path(path) if path is not None else predictor.default_table_path(setting)
    if build:
        models = models or predictor.light_models()
        table = predictor.LatencyTable.load(path) if path.is_file() else None
        with _progress("timing layers", fmt == "table") as update:
            table = predictor.build_table(models, setting, table,
                                          on_model=lambda name, i, n: update(i - 1, n, name),
                                          measure=partial(measure_one, plan=plan) if check else None, save_to=path)
        table.save(path)
        command = "skmobile " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if report is not None:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(predictor.error_markdown(table, command))
        if fmt == "json":
            typer.echo(json.dumps({"table": str(path), "models": {m: table.models[m] for m in models},
                                   "summary": predictor.error_summary(table)}, indent=1))
            return
        typer.echo(f"wrote {path} ({len(table.entries)} layers; per-call overhead {table.overhead_ms:.4f} ms)")
        if check:
            typer.echo(predictor.error_markdown(table, command))
        return
    if not models:
        raise SKMobileError("no model given; name the models to predict")
    table = predictor.LatencyTable.load(path)
    rows = {m: predictor.predict(table, Arch(m), setting) for m in models}
    table.save(path)   # layers timed for missing entries are kept
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    for m, r in rows.items():
        typer.echo(f"{m:28s} predicted {r['predicted_ms']:9.3f} ms ({r['layers']} layers, "
                   f"{r['layers_timed_now']} timed now, {r['layers_missing']} missing)")


def register_into(bench_app: typer.Typer) -> None:
    """Add ``latency`` to the ``bench`` group (to be folded into commands/bench.py)."""
    bench_app.command("latency")(latency)


def register(app: typer.Typer) -> None:
    from .bench import bench_app

    register_into(bench_app)
