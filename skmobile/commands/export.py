"""``skmobile export MODEL --format onnx --out FILE``: export, check ranks, verify under onnxruntime."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import SKMobileError, choose
from ._args import check_out_file


def export(
    model: str = typer.Argument(..., help="registered model name, e.g. shufflenetv2_x1_0_sk"),
    format: str = typer.Option("onnx", "--format", help="export format (onnx)"),
    out: Path = typer.Option(..., "--out", help="output file"),
    input_size: int = typer.Option(224, "--input-size", help="square input size in pixels"),
    opset: int = typer.Option(18, "--opset", help="ONNX opset (>= 17; 17 uses the legacy exporter)"),
    exporter: str = typer.Option("auto", "--exporter", help="auto | dynamo | legacy"),
    num_classes: int = typer.Option(1000, "--num-classes", help="classifier outputs"),
    stem: str = typer.Option(None, "--stem", help="model stem, e.g. small (28-32 px proxy form)"),
    batch_size: int = typer.Option(1, "--batch-size", help="fixed batch size of the exported graph"),
    rtol: float = typer.Option(1e-3, "--rtol", help="allowed max |onnxruntime - torch| per unit of max |torch|"),
    atol: float = typer.Option(1e-5, "--atol", help="allowed difference on top, for near-zero outputs"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="compare with PyTorch under onnxruntime"),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="state dict to load (else random weights, "
                                    "BN statistics calibrated on random inputs)"),
) -> None:
    """Export MODEL in eval mode; fail (exit 1) on a rank > 4 tensor, or when onnxruntime and PyTorch
    differ by more than float32 rounding explains (rtol x max |torch output| + atol)."""
    check_out_file(out)  # before torch loads
    import torch

    from ..export import FORMATS, calibrate_bn, check_options, export_onnx, load_state_dict
    from ..models import create_model

    choose("format", format, FORMATS)
    check_options(opset, exporter, rtol, atol, input_size, batch_size)  # before the model is built
    if checkpoint is not None and not checkpoint.is_file():
        raise SKMobileError(f"--checkpoint {checkpoint} is not a file; allowed: a state dict file (.pt, .pth)")
    kwargs = {"num_classes": num_classes}
    if stem is not None:
        kwargs["stem"] = stem
    torch.manual_seed(0)  # random weights are reproducible
    net = create_model(model, **kwargs)
    if checkpoint is not None:
        load_state_dict(net, checkpoint)
    else:  # random weights: give BN real statistics so the comparison is not between ~0 outputs
        in_chans = next(m.in_channels for m in net.modules() if hasattr(m, "in_channels"))
        calibrate_bn(net, (8 if input_size < 160 else 2, in_chans, input_size, input_size))
    result = export_onnx(net, out, input_size=input_size, opset=opset, exporter=exporter,
                         batch_size=batch_size, verify=verify, rtol=rtol, atol=atol)
    typer.echo(result.summary())
    if result.high_rank:
        typer.echo(f"FAIL: {len(result.high_rank)} tensor(s) of rank > 4: {', '.join(result.high_rank[:5])}",
                   err=True)
    if not result.matches:
        typer.echo(f"FAIL: onnxruntime differs from PyTorch by {result.max_abs_diff:.3e}, above the float32 "
                   f"bound {result.bound:.3e} ({rtol:g} x max |torch| {result.output_scale:.3g} + {atol:g}): "
                   f"the exported graph computes something else", err=True)
    if not result.ok:
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
