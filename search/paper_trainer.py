"""The trainer of ``--budget paper`` trials (``skmobile search`` and ``skmobile reproduce --train``): each
trial trains the full-size model of its candidate with the paper's recipe on an ImageNet-layout folder
(:func:`skmobile.train.paper_fit.train_paper`), in one process on one device. With ``--workers N`` on a
machine with N GPUs, worker i trains on ``cuda:i-1`` (:func:`skmobile.train.distributed.pin_device`).
"""

from __future__ import annotations

from skmobile.train.paper import paper_recipe
from skmobile.train.paper_fit import PaperJob, plan_job, train_paper

from .spaces import Candidate
from .outcome import TrainOutcome


class PaperTrainer:
    """:class:`skmobile.search.trainer.Trainer` for the ``paper`` budget (the data set is an ImageNet-layout folder)."""

    def __init__(self, dataset: str = "folder", data_dir: str | None = None, budget: str = "paper",
                 train_limit: int | None = None, epochs: int | None = None, device: str = "cpu", workers: int = 4,
                 steps_per_epoch: int | None = None):
        from skmobile.errors import SKMobileError

        if dataset != "folder":
            raise SKMobileError(f"--budget paper trains on an ImageNet-layout folder; got --dataset {dataset}; "
                                "allowed: --dataset folder --data-dir ROOT")
        if train_limit is not None:
            raise SKMobileError("--train-limit is not allowed with --budget paper; allowed: --epochs")
        self.data_dir, self.budget, self.epochs, self.device = data_dir, budget, epochs, device
        self.workers, self.steps_per_epoch = workers, steps_per_epoch
        self.batch_size = self.bn_batch = None   # the recipe's (256, BN groups of 32)
        self.skip_corrupt = False                # an unreadable image fails the trial, naming it
        self._splits = None

    def prepare(self, check_data: bool = False) -> None:
        """Scan the data folder once (a missing folder, an empty class or mismatched classes: one line)."""
        from skmobile.data.imagenet import imagenet_splits

        if check_data or self._splits is None:
            self._splits = imagenet_splits(self.data_dir)

    def run(self, candidate: Candidate, seed: int, on_epoch=None) -> TrainOutcome:
        job = PaperJob(candidate.model, self.data_dir, seed=seed, epochs=self.epochs, device=self.device,
                       workers=self.workers, steps_per_epoch=self.steps_per_epoch, on_epoch=on_epoch,
                       batch_size=self.batch_size, bn_batch=self.bn_batch, skip_corrupt=self.skip_corrupt,
                       overrides=dict(candidate.kwargs))
        self.prepare()
        plan = plan_job(job, 1)
        plan.splits = self._splits
        model, plan, result = train_paper(job, plan=plan)
        return TrainOutcome(
            val_error=float(result.val_error), test_error=float(result.val_error), epochs=int(result.epochs),
            images_per_s=float(result.images_per_s or 0.0), seconds=float(result.seconds), status=str(result.status),
            proxy={"model": candidate.model, "kwargs": dict(model.skmobile_kwargs), "full_size": True,
                   "params": sum(p.numel() for p in model.parameters()), "input_size": plan.recipe.image_size},
            protocol={"dataset": "folder", "budget": "paper", "device": self.device, "processes": 1,
                      "train_images": len(plan.splits[0]), "val_images": len(plan.splits[1]),
                      "test_images": len(plan.splits[1]), "batch_size": plan.batch_size, "lr": result.lr,
                      "weight_decay": result.weight_decay, "recipe": paper_recipe(candidate.model).to_dict(),
                      "batching": plan.describe()},
        )


__all__ = ["PaperTrainer"]
