"""The paper's own ImageNet protocol (Li et al., "Selective Kernel Networks", CVPR 2019, Sec. 4):
the ``paper`` budget of ``skmobile train``, ``skmobile bench train`` and ``skmobile reproduce``.

What the paper states, per family:

- every model: 100 epochs from scratch, synchronous SGD with momentum 0.9 over 8 GPUs, mini-batch
  256, learning rate 0.1 divided by 10 every 30 epochs, label-smoothing regularisation, random-size
  crops to 224 x 224 with random horizontal flips for training, a 224 x 224 centre crop for
  evaluation;
- ResNeXt/SENet/SKNet: weight decay 1e-4;
- ShuffleNetV2 and MobileNet ("the light models"): weight decay 4e-5 and "less aggressive scale
  augmentation".

Where the paper gives no number, the choice and its source are written in :data:`CHOICES` (and in
every run's state.json, through :meth:`PaperRecipe.to_dict`). The CIFAR families (ResNeXt-29 etc.)
have no ImageNet recipe: asking for one is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import SKMobileError

#: The paper's global mini-batch and the number of GPUs it is split over (Sec. 4).
PAPER_BATCH, PAPER_GPUS = 256, 8
#: Images per batch-norm group: the paper's per-GPU batch (256 over 8 GPUs). BN is per GPU, not synchronised.
PAPER_BN_BATCH = PAPER_BATCH // PAPER_GPUS
#: Resize-then-centre-crop ratio of evaluation (224 / 256).
CROP_RATIO = 0.875

#: Where the paper is vague: what skmobile takes, and where it comes from.
CHOICES = {
    "label_smoothing": "0.1: the paper names label smoothing without a value; 0.1 is the value of the paper that "
                       "introduced it (Szegedy et al., CVPR 2016, Sec. 7)",
    "nesterov": "off: the paper says SGD with momentum 0.9 and nothing about Nesterov",
    "warmup": "none: the paper names no warm-up",
    "train_scale": "(0.08, 1) for the large models: the crop area range of the Inception-style random-size crop "
                   "the paper cites (Szegedy et al., CVPR 2015), torchvision's default",
    "light_scale": "(0.25, 1) for the light models: the paper says 'less aggressive scale augmentation' (after "
                   "ShuffleNet) without a number; 0.25 is skmobile's choice",
    "eval_resize": "short side 256, then the 224 centre crop (ratio 0.875, the usual ImageNet evaluation)",
    "lr_scaling": "lr 0.1 per 256 images, scaled linearly when --batch-size changes the global batch "
                  "(Goyal et al., 2017); the paper only uses 256",
    "bn_batch": "32 images per BN group (256 over the paper's 8 GPUs); a run with fewer processes splits each "
                "process's batch into groups of 32 and accumulates gradients, so BN sees what it saw in the paper",
    "weight_decay_on": "conv and linear weights only, not BN parameters or biases (skmobile's optimiser)",
}

_LARGE = ("resnext", "senet", "sknet")
_LIGHT = ("shufflenetv2", "mobilenetv2", "mobilenetv1")
PAPER_FAMILIES = _LARGE + _LIGHT


@dataclass(frozen=True)
class PaperRecipe:
    """The paper's recipe for one model (``batch_size`` is the global batch over all processes)."""

    model: str
    family: str
    epochs: int = 100
    batch_size: int = PAPER_BATCH
    lr: float = 0.1
    lr_step_epochs: int = 30
    lr_gamma: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    image_size: int = 224
    train_scale: tuple = (0.08, 1.0)
    crop_ratio: float = CROP_RATIO
    bn_batch: int = PAPER_BN_BATCH
    budget: str = "paper"
    choices: dict = dataclasses.field(default_factory=lambda: dict(CHOICES))

    @property
    def light(self) -> bool:
        return self.family in _LIGHT

    @property
    def eval_resize(self) -> int:
        return int(round(self.image_size / self.crop_ratio))

    def scaled_lr(self, batch_size: int) -> float:
        """0.1 per 256 images (linear scaling for another global batch)."""
        return self.lr * batch_size / PAPER_BATCH

    def milestones(self) -> list[int]:
        """Epochs after which the learning rate is multiplied by ``lr_gamma`` (30, 60, 90 for 100 epochs)."""
        return list(range(self.lr_step_epochs, self.epochs, self.lr_step_epochs))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def paper_recipe(model_name: str) -> PaperRecipe:
    """The paper's recipe for registered ``model_name``; a family without one is a one-line error."""
    from ..models import model_entry

    family = model_entry(model_name).family
    if family not in PAPER_FAMILIES:
        raise SKMobileError(f"--budget paper has no recipe for family {family!r} (model {model_name!r}): the "
                            f"paper trains only ImageNet models; allowed families: {', '.join(PAPER_FAMILIES)}")
    if family in _LIGHT:
        return PaperRecipe(model_name, family, weight_decay=4e-5, train_scale=(0.25, 1.0))
    return PaperRecipe(model_name, family)


def step_lr(epoch: int, base_lr: float, step_epochs: int, gamma: float) -> float:
    """``base_lr`` multiplied by ``gamma`` once every ``step_epochs`` epochs."""
    return base_lr * gamma ** (epoch // step_epochs)


def groups_per_process(batch_size: int, world_size: int, bn_batch: int) -> tuple[int, int]:
    """(images per process, BN groups per process) for a global ``batch_size`` over ``world_size``
    processes; a one-line error when the batch does not split evenly."""
    if batch_size % world_size:
        raise SKMobileError(f"--batch-size {batch_size} does not split over {world_size} processes; allowed: a "
                            f"multiple of {world_size}")
    local = batch_size // world_size
    if local <= bn_batch:
        return local, 1
    if local % bn_batch:
        raise SKMobileError(f"{local} images per process do not split into BN groups of {bn_batch} "
                            f"(--bn-batch); allowed: a per-process batch that is a multiple of {bn_batch}, or "
                            f"at most {bn_batch}")
    return local, local // bn_batch


__all__ = ["CHOICES", "CROP_RATIO", "PAPER_BATCH", "PAPER_BN_BATCH", "PAPER_FAMILIES", "PaperRecipe",
           "groups_per_process", "paper_recipe", "step_lr"]
