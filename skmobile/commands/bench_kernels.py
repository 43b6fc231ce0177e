"""``skmobile bench kernels`` and ``skmobile bench model``: the SK fusion backends, measured."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from ..errors import SKMobileError, choose


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


def _device(device: str):
    import torch

    choose("device", device, ["cpu", "cuda"])
    if device == "cuda" and not torch.cuda.is_available():
        raise SKMobileError("device 'cuda' is unavailable on this machine; allowed: cpu")
    return device


def _versions() -> dict:
    import numba
    import torch

    v = {"torch": torch.__version__, "numba": numba.__version__}
    try:
        import numba_cuda

        v["numba-cuda"] = numba_cuda.__version__
    except Exception:  # pragma: no cover
        pass
    return v


def kernels(
    device: str = typer.Option("cpu", help="cpu or cuda"),
    batch: str = typer.Option("", help="comma list of batch sizes (default: 1,32 on cpu; 1,32,256 on cuda)"),
    family: str = typer.Option("sknet50,shufflenetv2,mobilenetv2", help="shape families"),
    backends: str = typer.Option("numba,eager,compile,timm", help="numba, eager, compile, timm"),
    passes: str = typer.Option("fwd,fwd+bwd", "--pass", help="fwd, fwd+bwd"),
    paths: int = typer.Option(2, "--paths", "-m", help="M, the number of SK paths (1..8)"),
    dtype: str = typer.Option("float32", help="float32 (cpu, cuda) or float16 (cuda)"),
    rounds: int = typer.Option(5, help="interleaved timing rounds (the median is reported)"),
    channels_last: bool = typer.Option(False, "--channels-last", help="branches in channels_last"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    out: str = typer.Option("reports/kernels.md", help="markdown report to write ('-' for none)"),
) -> None:
    """Time the SK fusion (forward, forward+backward) per backend and shape; write reports/kernels.md."""
    import torch

    from ..kernels import bench

    dev = _device(device)
    choose("format", fmt, ["table", "json"])
    choose("dtype", dtype, ["float32", "float16"] if dev == "cuda" else ["float32"])
    batches = _csv(batch or ("1,32,256" if dev == "cuda" else "1,32"), "batch", cast=int)
    if any(b < 1 for b in batches):
        raise SKMobileError(f"batch sizes must be >= 1, got {batch!r}")
    if not 1 <= paths <= 8 or rounds < 1:
        raise SKMobileError(f"--paths must be in 1..8 and --rounds >= 1 (got {paths}, {rounds})")
    fams = _csv(family, "family", bench.SHAPES)
    bks = _csv(backends, "backend", bench.BACKENDS)
    pss = _csv(passes, "pass", bench.PASSES)

    def progress(recs):
        if fmt == "table":
            for r in recs:
                ms = f"{r.ms:9.3f} ms {r.gbps:7.2f} GB/s" if r.ms else f"unavailable ({r.note})"
                typer.echo(f"{r.family:13s} {str(r.shape):26s} {r.pass_:8s} {r.backend:8s} {ms}")

    result = bench.run(dev, batches, fams, bks, pss, paths, getattr(torch, dtype), rounds, channels_last,
                       progress=progress)
    command = "skmobile " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    if fmt == "json":
        typer.echo(json.dumps([r.as_json() for r in result["records"]], indent=1))
    else:
        typer.echo(f"device: {result['device']}; copy bandwidth {result['copy_gbps']} GB/s")
        for vs in ("eager", "compile"):
            for shape, a, b, ratio in bench.ratios(result["records"], vs=vs):
                typer.echo(f"sknet50 batch 32 fwd+bwd {shape}: numba {a:.2f} ms, {vs} {b:.2f} ms, {ratio:.2f}x")
    if out != "-":
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        old = path.read_text() if path.exists() else ""
        path.write_text(bench.keep_notes(bench.to_markdown(result, command, _versions()), old))
        if fmt == "table":
            typer.echo(f"wrote {path}")


def model(
    name: str = typer.Argument(..., help="SK model, e.g. sknet50"),
    vs: str = typer.Option(..., "--vs", help="baseline model, e.g. resnext50_32x4d"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    train: bool = typer.Option(False, "--train", help="time forward + backward + SGD step"),
    batch: int = typer.Option(8, help="batch size"),
    input_size: int = typer.Option(224, help="input height = width"),
    fusions: str = typer.Option("torch,numba", help="fusion backends to time: torch, numba, auto; "
                                "'free' times a zero-traffic fusion (wrong outputs): the ceiling of any fusion"),
    iters: int = typer.Option(3, help="timed steps per round (after one warm-up step)"),
    rounds: int = typer.Option(1, help="interleaved rounds (median reported)"),
    channels_last: bool = typer.Option(False, "--channels-last"),
    fmt: str = typer.Option("table", "--format", help="table or json"),
    profile: bool = typer.Option(False, "--profile", help="also profile one training step per numba/auto "
                                 "fusion: time inside the fusion's autograd Functions, and its share of the step"),
) -> None:
    """Images/s of MODEL with each fusion backend against BASELINE (the SK overhead as a ratio)."""
    from ..kernels import model_bench
    from ..layers.sk_fusion import fusion_names

    dev = _device(device)
    choose("format", fmt, ["table", "json"])
    fus = _csv(fusions, "fusion", fusion_names() + [model_bench.FREE])
    if batch < 1 or input_size < 32 or iters < 1 or rounds < 1:
        raise SKMobileError("need --batch >= 1, --input-size >= 32, --iters >= 1, --rounds >= 1")
    rows = model_bench.compare(name, vs, fus, dev, train, batch, input_size, iters, rounds, channels_last)
    if profile:
        for r in rows:
            if r["fusion"] in ("numba", "auto"):
                r["profiled_step"] = model_bench.fusion_profile(name, r["fusion"], batch, input_size, dev,
                                                                channels_last)
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=1))
        return
    mode = "train" if train else "inference"
    typer.echo(f"{mode}, batch {batch}, {input_size}x{input_size}, device {dev}")
    for r in rows:
        typer.echo(f"{r['model']:24s} fusion={r['fusion']:6s} {r['images_per_s']:10.2f} img/s  "
                   f"{r['vs_baseline']:.3f}x of {vs}")
    for r in rows:
        if "profiled_step" in r:
            p = r["profiled_step"]
            typer.echo(f"profiled training step, fusion={r['fusion']}: {p['fusion_ms']:.1f} ms inside the fusion "
                       f"of a {p['step_ms']:.1f} ms step ({100 * p['share']:.1f} %)")


def register(app: typer.Typer) -> None:
    from .bench import bench_app

    bench_app.command("kernels")(kernels)
    bench_app.command("model")(model)
