"""``skmobile analyze attention CHECKPOINT``: SK attention vs object scale (the paper's Figures 3/4)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import SKMobileError
from ._args import check_at_least, check_out_dir

console = Console()
analyze_app = typer.Typer(help="Analyses of trained models.", no_args_is_help=True)


def load_trained(checkpoint: Path):
    """The model stored in a checkpoint written by `skmobile train --out DIR` (no unpickling)."""
    if not checkpoint.exists():
        raise SKMobileError(f"no checkpoint at {checkpoint}")
    from ..train import load_model

    return load_model(checkpoint)


def _quality(checkpoint: Path) -> dict:
    """Model, data set, epochs and last errors recorded in the checkpoint (so readers see how trained it is)."""
    try:
        from ..train import read_checkpoint

        state = read_checkpoint(checkpoint)[1]
    except Exception:  # noqa: BLE001 - quality is informative only
        return {}
    last = (state.get("history") or [{}])[-1]
    return {"model": state.get("model"), "dataset": state.get("dataset"), "epochs": state.get("epochs_done"),
            "val_error": last.get("val_error"), "test_error": state.get("test_error")}


@analyze_app.command("attention")
def attention_cmd(
    checkpoint: Path = typer.Argument(..., help="checkpoint directory or file from `skmobile train --out DIR`"),
    dataset: str = typer.Option("fashion-mnist-scale", "--dataset", help="a data set with per-sample scales"),
    data_dir: str = typer.Option(None, "--data-dir"),
    bins: int = typer.Option(7, "--bins", help="number of scale bins"),
    limit: int = typer.Option(None, "--limit", help="use only the first N test images"),
    seed: int = typer.Option(0, "--seed", help="data seed (the scale draw)"),
    out: Path = typer.Option(Path("reports"), "--out", help="output directory"),
) -> None:
    """Mean attention to the larger kernel minus the smaller one, per SK unit, as object scale grows."""
    from ..data import make_loaders
    from ..layers import SKConv2d
    from ..report import attention as att

    if bins < 2:
        raise SKMobileError(f"--bins must be >= 2; got {bins}")
    check_at_least("--limit", limit, 1)
    check_out_dir(out)
    model = load_trained(checkpoint)
    if not any(isinstance(m, SKConv2d) and m.attn is not None for m in model.modules()):
        raise SKMobileError(f"{checkpoint} holds no SK unit with attention; train an SK model")
    loaders = make_loaders(dataset, data_dir, seed=seed, val_size=0, augment=False)  # only the test split is read
    test = loaders.test.dataset
    try:
        att.dataset_scales(test)
    except ValueError as exc:
        raise SKMobileError(f"{dataset}: {exc}") from None
    with console.status("collecting attention..."):
        meta, scales = att.attention_differences(model, test, limit=limit)
    if not meta:
        raise SKMobileError("no SK unit with two paths of different receptive fields in this model")
    result = att.analyze(meta, scales, bins=bins, lo=0.3 if dataset == "fashion-mnist-scale" else None,
                         hi=1.0 if dataset == "fashion-mnist-scale" else None)
    command = f"skmobile analyze attention {checkpoint} --dataset {dataset}" + (f" --limit {limit}" if limit else "") \
        + (f" --bins {bins}" if bins != 7 else "") + f" --out {out}"
    result["checkpoint"] = _quality(checkpoint)
    paths = att.write(result, out, str(checkpoint), command)
    console.print(f"{len(result['units'])} SK units: {result['units_rising']} rise with scale, "
                  f"{result['units_falling']} fall -> " + ", ".join(str(p) for p in paths))


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")
