"""``train_paper``: the full-size model trained with the paper's recipe on an ImageNet-layout folder,
in this process or as one of the processes torchrun started (``skmobile train --budget paper``).

The global batch (256 by default) is split over the processes; each process splits its share into
BN groups of ``bn_batch`` images (32, the paper's per-GPU batch) and accumulates their gradients, so
1, 2 or 8 processes train the same BN groups on the same images: a run can be resumed on a different
number of processes and continue as it would have.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SKMobileError
from .distributed import SINGLE, DistContext
from .loop import FitConfig, FitResult, fit
from .paper import PaperRecipe, groups_per_process, paper_recipe


@dataclass
class PaperJob:
    """What ``skmobile train --budget paper`` asked for; None takes the recipe's value."""

    model: str
    data_dir: str | None
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None      # global, over all processes
    bn_batch: int | None = None
    lr: float | None = None
    workers: int = 4
    device: str = "cpu"
    out_dir: Path | None = None
    resume: bool = False
    skip_corrupt: bool = False
    compile: bool = False
    steps_per_epoch: int | None = None
    progress: bool = False
    on_epoch: object = None
    overrides: dict = field(default_factory=dict)   # create_model kwargs on top (e.g. a table row's sk)
    meta: dict = field(default_factory=dict)


@dataclass
class PaperPlan:
    """A checked job: the recipe, the data's splits, and how each process splits the global batch."""

    recipe: PaperRecipe
    splits: tuple
    batch_size: int
    bn_batch: int
    local_batch: int
    accum: int
    world_size: int

    def describe(self) -> dict:
        return {"global_batch": self.batch_size, "processes": self.world_size, "per_process": self.local_batch,
                "bn_batch": self.local_batch // self.accum, "bn_groups_per_process": self.accum}


def _saved_batching(job: PaperJob) -> dict:
    """The global batch and BN batch a resumed run was started with (a resume keeps them)."""
    from .checkpoint import has_checkpoint, read_checkpoint

    if not (job.resume and job.out_dir is not None and has_checkpoint(job.out_dir)):
        return {}
    return dict((read_checkpoint(job.out_dir)[1].get("meta") or {}).get("batching") or {})


def plan_job(job: PaperJob, world_size: int) -> PaperPlan:
    """Check ``job`` for ``world_size`` processes before anything is written (one-line errors)."""
    from ..data.imagenet import imagenet_splits

    recipe = paper_recipe(job.model)
    saved = _saved_batching(job)
    batch = job.batch_size or saved.get("global_batch") or recipe.batch_size
    bn = job.bn_batch or saved.get("bn_batch") or recipe.bn_batch
    for flag, mine, theirs in (("--batch-size", batch, saved.get("global_batch")), ("--bn-batch", bn,
                                                                                    saved.get("bn_batch"))):
        if theirs is not None and mine != theirs:
            raise SKMobileError(f"{flag} {mine} differs from the {theirs} the run in {job.out_dir} started with; "
                                f"allowed: {theirs} (or train afresh with --force)")
    if bn < 2:
        raise SKMobileError(f"--bn-batch {bn} is not allowed; allowed: >= 2 (batch norm needs two images)")
    local, accum = groups_per_process(batch, world_size, bn)
    if local // accum < 2:
        raise SKMobileError(f"--batch-size {batch} over {world_size} processes leaves {local} image(s) per "
                            "process; allowed: at least 2 per process (batch norm)")
    splits = imagenet_splits(job.data_dir)
    return PaperPlan(recipe, splits, batch, bn, local, accum, world_size)


def build_model(job: PaperJob, num_classes: int):
    """The full-size registered model with the data set's classes (the same weights on every process)."""
    import torch

    from ..models import create_model
    from .proxy import encode_kwargs

    kwargs = {**job.overrides, "num_classes": num_classes}
    torch.manual_seed(job.seed)
    model = create_model(job.model, **kwargs)
    model.skmobile_kwargs = encode_kwargs(kwargs)
    return model


def train_paper(job: PaperJob, ctx: DistContext = SINGLE, plan: PaperPlan | None = None):
    """Train ``job`` as process ``ctx.rank`` of ``ctx.world_size``; returns (model, plan, FitResult)."""
    from ..data.imagenet import paper_loaders

    plan = plan or plan_job(job, ctx.world_size)
    recipe = plan.recipe
    loaders = paper_loaders(job.data_dir, recipe, batch_size=plan.local_batch, rank=ctx.rank,
                            world_size=ctx.world_size, seed=job.seed, workers=job.workers,
                            pin_memory=job.device.startswith("cuda"), splits=plan.splits)
    model = build_model(job, loaders.num_classes)
    config = FitConfig(epochs=job.epochs or recipe.epochs, lr=job.lr or recipe.scaled_lr(plan.batch_size),
                       weight_decay=recipe.weight_decay, label_smoothing=recipe.label_smoothing,
                       lr_step_epochs=recipe.lr_step_epochs, lr_gamma=recipe.lr_gamma, momentum=recipe.momentum,
                       nesterov=recipe.nesterov, seed=job.seed, device=job.device, compile=job.compile,
                       accum=plan.accum, skip_corrupt=job.skip_corrupt, out_dir=job.out_dir, resume=job.resume,
                       progress=job.progress and ctx.is_main, on_epoch=job.on_epoch if ctx.is_main else None,
                       max_steps_per_epoch=job.steps_per_epoch, evaluate_test=False, dist=ctx,
                       meta={"recipe": recipe.to_dict(), "batching": plan.describe(), **job.meta})
    result: FitResult = fit(model, loaders, config)
    return model, plan, result


__all__ = ["PaperJob", "PaperPlan", "build_model", "plan_job", "train_paper"]
