"""``skmobile analyze attention CHECKPOINT...``: SK attention as the same images' centre is enlarged,
over several trained models (the paper's Figures 3 and 4)."""

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


def _provenance(checkpoint: Path) -> dict:
    """Path, weights hash, training record and command of a checkpoint (see report.attention)."""
    from ..report.attention import checkpoint_record
    from ..train import read_checkpoint
    from ..train.checkpoint import checkpoint_paths

    state = read_checkpoint(checkpoint)[1]
    return checkpoint_record(checkpoint, state, checkpoint_paths(checkpoint)[0])


def _factors(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise SKMobileError(f"--factors {text!r} must be comma-separated numbers >= 1, e.g. 1.0,1.5,2.0") from None
    if 1.0 not in values or any(v < 1.0 for v in values) or len(set(values)) != len(values) or len(values) < 2:
        raise SKMobileError(f"--factors {text!r} must hold 1.0 and at least one larger factor, each once, "
                            "e.g. 1.0,1.5,2.0")
    return values


@analyze_app.command("attention")
def attention_cmd(
    checkpoints: list[Path] = typer.Argument(..., help="checkpoint directories from `skmobile train --out DIR`, "
                                                       "one per independently trained model (>= 3 for the test)"),
    dataset: str = typer.Option(None, "--dataset", help="test images (default: the data set the models trained on)"),
    data_dir: str = typer.Option(None, "--data-dir"),
    factors: str = typer.Option("1.0,1.5,2.0", "--factors", help="centre enlargements, the paper's 1.0,1.5,2.0"),
    limit: int = typer.Option(None, "--limit", help="use only the first N test images"),
    seed: int = typer.Option(0, "--seed", help="data seed (for seeded data sets)"),
    out: Path = typer.Option(None, "--out", help="output directory (default: a new folder runs/attention-DATE-TIME; "
                             "`--out reports` replaces the committed report)"),
) -> None:
    """Per-channel attention to the larger kernel minus the smaller, per stage, as the same images' centre
    is enlarged 1.0x/1.5x/2.0x, over several trained models (the paper's Figures 3 and 4)."""
    from ..data import make_loaders
    from ..layers import SKConv2d
    from ..report import attention as att

    from ..outputs import final_paths, fresh_dir, staged

    steps = _factors(factors)
    check_at_least("--limit", limit, 1)
    out = check_out_dir(out) if out is not None else fresh_dir("attention")
    records = [_provenance(ck) for ck in checkpoints]  # also checks every checkpoint exists and reads
    hashes = {}
    for ck, rec in zip(checkpoints, records):
        if rec["sha256"] in hashes:
            raise SKMobileError(f"{ck} holds the same weights as {hashes[rec['sha256']]}; give independently "
                                "trained models")
        hashes[rec["sha256"]] = ck
    trained_on = sorted({str(r["dataset"]) for r in records})
    if dataset is None:
        if len(trained_on) != 1:
            raise SKMobileError(f"the checkpoints were trained on different data sets ({', '.join(trained_on)}); "
                                "pass --dataset")
        dataset = trained_on[0]
    loaders = make_loaders(dataset, data_dir, seed=seed, val_size=0, augment=False)  # only the test split is read
    test = loaders.test.dataset
    per_model = []
    with console.status("collecting attention..."):
        for ck, rec in zip(checkpoints, records):
            model = load_trained(ck)
            if not any(isinstance(m, SKConv2d) and m.attn is not None for m in model.modules()):
                raise SKMobileError(f"{ck} holds no SK unit with attention; train an SK model")
            if rec["num_classes"] not in (None, loaders.num_classes):
                raise SKMobileError(f"{dataset} has {loaders.num_classes} classes but {ck}'s model has "
                                    f"{rec['num_classes']}")
            units = att.measure_model(model, test, loaders.num_classes, factors=steps, limit=limit)
            if not units:
                raise SKMobileError(f"{ck}: no SK unit with two paths of different receptive fields")
            per_model.append(units)
    try:
        result = att.combine_models(per_model, steps, loaders.classes)
    except ValueError as exc:
        raise SKMobileError(str(exc)) from None
    result.update(dataset=dataset, n_images=min(limit or len(test), len(test)), checkpoints=records)
    command = _command(checkpoints, dataset, factors if steps != att.FACTORS else None, limit, out)
    with staged(out, force=True) as stage:  # each file renamed into place: a full disk keeps the old ones
        paths = final_paths(att.write(result, stage, command), stage, out)
    console.print(att.verdict_summary(result) + " -> " + ", ".join(str(p) for p in paths))


def _command(checkpoints, dataset: str, factors: str | None, limit: int | None, out: Path) -> str:
    return ("skmobile analyze attention " + " ".join(str(c) for c in checkpoints) + f" --dataset {dataset}"
            + (f" --factors {factors}" if factors else "") + (f" --limit {limit}" if limit else "") + f" --out {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(analyze_app, name="analyze")
