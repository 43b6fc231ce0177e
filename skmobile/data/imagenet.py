"""The ImageNet input pipeline of the ``paper`` budget: ``ROOT/train/<class>/*`` and ``ROOT/val/<class>/*``.

Training images get torchvision's RandomResizedCrop (224 px, the recipe's area range) and a random
horizontal flip; evaluation images are resized (short side 224 / 0.875 = 256) and centre-cropped to
224; both are normalised with the ImageNet statistics. Images are decoded by PIL in DataLoader
worker processes (``workers``, persistent, pinned memory).

Every sample's augmentation is seeded by (seed, epoch, index), so an image is cropped the same way
whichever process or worker decodes it: a run over 2 processes sees exactly the images a run over 1
sees, and a resumed epoch repeats itself. The sampler tags each index with its epoch, since
persistent workers keep their own copy of the data set.

An image that cannot be decoded does not stop a worker: it comes back as a named failure in its
batch (:class:`Batch`), and the training loop either stops with one line naming the file or, with
``skip_corrupt``, skips it, prints one line naming it, and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..errors import SKMobileError
from .folder import IMAGE_EXTS, MEAN, STD


@dataclass
class Batch:
    """A collated batch: images and labels of the readable samples, their positions in the batch as
    sampled (``pos``), and ``bad``: (path, reason) of each sample that could not be decoded."""

    x: torch.Tensor
    y: torch.Tensor
    pos: torch.Tensor
    bad: list = field(default_factory=list)

    def pin_memory(self):
        return Batch(self.x.pin_memory(), self.y.pin_memory(), self.pos, self.bad)

    def __len__(self) -> int:
        return int(self.y.numel())


def scan_split(root: Path, classes: list[str] | None = None) -> tuple[list[tuple[str, int]], list[str]]:
    """(samples, classes) of ``root/<class>/*``: every class folder must hold an image, and a val split's
    classes must be the training classes."""
    if not root.is_dir():
        raise SKMobileError(f"no such folder: {root} (ImageNet layout: ROOT/train/<class>/*.JPEG and "
                            "ROOT/val/<class>/*.JPEG)")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not found:
        raise SKMobileError(f"no class folders in {root}; allowed: {root}/<class>/<image>")
    if classes is not None and found != classes:
        extra, missing = sorted(set(found) - set(classes)), sorted(set(classes) - set(found))
        raise SKMobileError(f"the classes of {root} differ from the training classes (not in train: "
                            f"{', '.join(extra[:5]) or 'none'}; missing: {', '.join(missing[:5]) or 'none'}); "
                            "allowed: the same class folders in train and val")
    samples = []
    for i, c in enumerate(found):
        files = sorted(str(p) for p in (root / c).rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())
        if not files:
            raise SKMobileError(f"class folder {root / c} holds no image (extensions: {', '.join(sorted(IMAGE_EXTS))})")
        samples += [(f, i) for f in files]
    return samples, found


def imagenet_splits(data_dir) -> tuple[list, list, list[str]]:
    """(train samples, val samples, classes) of an ImageNet-layout folder."""
    if data_dir is None:
        raise SKMobileError("--budget paper needs --data-dir ROOT with ROOT/train/<class>/* and ROOT/val/<class>/*")
    root = Path(data_dir)
    if not root.is_dir():
        raise SKMobileError(f"--data-dir {root}: no such folder")
    train, classes = scan_split(root / "train")
    val_root = root / "val"
    if not val_root.is_dir():
        raise SKMobileError(f"{root}/train exists but {root}/val does not; allowed: ROOT/val/<class>/* beside it")
    val, _ = scan_split(val_root, classes)
    return train, val, classes


def transforms_for(recipe, train: bool):
    """torchvision's transforms of the recipe: random-resized crop + flip, or resize + centre crop."""
    from torchvision.transforms import v2

    tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    if train:
        head = [v2.RandomResizedCrop(recipe.image_size, scale=tuple(recipe.train_scale), antialias=True),
                v2.RandomHorizontalFlip()]
    else:
        head = [v2.Resize(recipe.eval_resize, antialias=True), v2.CenterCrop(recipe.image_size)]
    return v2.Compose(head + tail)


class ImageNetFolder(Dataset):
    """Samples of one split; ``ds[(index, epoch)]`` is (image tensor or None, label, path, reason)."""

    def __init__(self, samples, transform, seed: int = 0):
        self.samples, self.transform, self.seed = list(samples), transform, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key):
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        path, label = self.samples[index]
        from PIL import Image

        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
        except Exception as exc:  # noqa: BLE001 - any decoder failure is this image's, reported by name
            return None, label, path, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + index)
            return self.transform(im), label, path, None


class EpochSampler(DistributedSampler):
    """torch's DistributedSampler (seeded, reshuffled per epoch by ``set_epoch``) yielding (index, epoch)."""

    def __iter__(self):
        return ((i, self.epoch) for i in super().__iter__())


def collate(items) -> Batch:
    good = [(k, it) for k, it in enumerate(items) if it[0] is not None]
    bad = [(it[2], it[3]) for it in items if it[0] is None]
    if not good:
        return Batch(torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), bad)
    return Batch(torch.stack([it[0] for _, it in good]), torch.tensor([it[1] for _, it in good]),
                 torch.tensor([k for k, _ in good]), bad)


@dataclass
class PaperLoaders:
    """Train and val loaders of one process (``batch_size``: images per process per step)."""

    train: DataLoader
    val: DataLoader
    classes: list
    batch_size: int
    data_dir: str
    name: str = "folder"
    test: DataLoader | None = None
    image_size: int = 224
    in_chans: int = 3

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict:
        return {"dataset": self.name, "train": len(self.train.dataset), "val": len(self.val.dataset),
                "num_classes": self.num_classes, "image_size": self.image_size}


def _loader(ds, sampler, batch_size: int, workers: int, drop_last: bool, pin: bool) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=pin, drop_last=drop_last, persistent_workers=workers > 0,
                      prefetch_factor=4 if workers > 0 else None)


def paper_loaders(data_dir, recipe, *, batch_size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                  workers: int = 4, pin_memory: bool = False, splits=None) -> PaperLoaders:
    """Loaders of process ``rank`` of ``world_size``: its share of every global batch (``batch_size``
    images per process), shuffled per epoch by seed and epoch; the val split sharded without padding."""
    train, val, classes = splits or imagenet_splits(data_dir)
    train_ds = ImageNetFolder(train, transforms_for(recipe, True), seed)
    val_ds = ImageNetFolder(val, transforms_for(recipe, False), seed)
    if len(train_ds) < batch_size * world_size:
        raise SKMobileError(f"{len(train_ds)} training images in {data_dir} are fewer than one global batch "
                            f"({batch_size * world_size}); allowed: a smaller --batch-size")
    sampler = EpochSampler(train_ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    val_sampler = [(i, 0) for i in range(rank, len(val_ds), world_size)]
    return PaperLoaders(train=_loader(train_ds, sampler, batch_size, workers, True, pin_memory),
                        val=_loader(val_ds, val_sampler, batch_size, workers, False, pin_memory),
                        classes=classes, batch_size=batch_size, data_dir=str(data_dir),
                        image_size=recipe.image_size)


__all__ = ["Batch", "EpochSampler", "ImageNetFolder", "PaperLoaders", "imagenet_splits", "paper_loaders",
           "scan_split", "transforms_for"]
