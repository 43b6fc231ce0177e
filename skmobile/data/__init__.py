"""Real, installable data for proxy training (README, "Proxy training").

:func:`make_loaders` is the one entry point: Fashion-MNIST (default, Debian ``dataset-fashion-mnist``),
Fashion-MNIST-scale (seeded object scale in [0.3, 1.0], kept per sample), Fashion-MNIST-canvas (seeded
scale in [0.5, 2.0] and position on a 56 px canvas, both kept per sample), CIFAR-10/100 (python batches)
and ImageFolder. A validation split is held out of the training set (seeded) for the search;
the test split is the data set's own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from ..errors import SKMobileError, choose
from .arrays import ArrayDataset, Augment, CanvasDataset, ScaledDataset
from .canvas import CANVAS_SCALE_RANGE, CANVAS_SIZE, place_on_canvas
from .cifar import load_cifar, safe_unpickle
from .folder import FolderDataset, load_folder
from .idx import parse_idx, read_idx, read_idx_pair
from .scale import SCALE_RANGE, rescale_images

#: Every data set name :func:`make_loaders` accepts (the one list; the CLI and errors name these).
DATASETS = ("fashion-mnist", "fashion-mnist-scale", "fashion-mnist-canvas", "cifar10", "cifar100", "folder")
FASHION_DATASETS = ("fashion-mnist", "fashion-mnist-scale", "fashion-mnist-canvas")
#: Where the Debian package ``dataset-fashion-mnist`` installs the four IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                 "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
#: Augmentation per data set: random crop (zero padding) + horizontal flip. Fashion-MNIST gets flips only:
#: the proxy budgets are 1-3 epochs, too short for crops to pay off (measured: they slow convergence).
AUGMENT = {"fashion-mnist": Augment(flip=True), "fashion-mnist-scale": Augment(flip=True),
           "fashion-mnist-canvas": Augment(flip=True), "cifar10": Augment(pad=4, flip=True), "cifar100": Augment(pad=4, flip=True)}
CIFAR_STATS = {"cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
               "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))}


@dataclass
class Loaders:
    """Train/val/test DataLoaders of one data set and what a model needs to know about it."""

    name: str
    train: DataLoader
    val: DataLoader | None
    test: DataLoader
    num_classes: int
    in_chans: int
    image_size: int
    batch_size: int
    data_dir: str | None = None
    classes: list = field(default_factory=list)

    def describe(self) -> dict:
        return {"dataset": self.name, "train": len(self.train.dataset),
                "val": len(self.val.dataset) if self.val is not None else 0, "test": len(self.test.dataset),
                "num_classes": self.num_classes, "in_chans": self.in_chans, "image_size": self.image_size}


def find_fashion_mnist(data_dir=None) -> Path:
    root = Path(data_dir) if data_dir is not None else Path(os.environ.get("SKMOBILE_FASHION_MNIST",
                                                                          FASHION_MNIST_DIR))
    missing = [f for pair in FASHION_FILES.values() for f in pair if not (root / f).is_file()]
    if missing:
        raise SKMobileError(f"Fashion-MNIST not found in {root} (missing {', '.join(missing)}); install it with "
                            "`sudo apt-get install dataset-fashion-mnist` or pass --data-dir DIR holding the "
                            "four IDX .gz files")
    return root


def load_fashion_mnist(data_dir=None):
    """((train_images (N,28,28), labels), (test_images, labels)) as uint8 / int64 numpy arrays."""
    root = find_fashion_mnist(data_dir)
    return tuple(read_idx_pair(root / img, root / lab) for img, lab in FASHION_FILES.values())


def _stats(images: torch.Tensor):
    x = images.float().div(255.0)
    return tuple(x.mean((0, 2, 3)).tolist()), tuple(x.std((0, 2, 3)).clamp_min(1e-3).tolist())


def _stats_chunked(images: torch.Tensor, chunk: int = 4096):
    """Per-channel mean and (unbiased) std of uint8 images / 255 without a float copy of the whole set."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].double().div_(255.0)
        total += x.sum((0, 2, 3))
        squares += x.square().sum((0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    var = (squares - count * mean.square()) / max(count - 1, 1)
    return tuple(mean.tolist()), tuple(var.clamp_min(0).sqrt().clamp_min(1e-3).tolist())


def _datasets(name, data_dir, seed, image_size):
    """(full train set, test set, num_classes, classes) without augmentation."""
    if name in FASHION_DATASETS:
        (tr_x, tr_y), (te_x, te_y) = load_fashion_mnist(data_dir)
        classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
        if name == "fashion-mnist":
            tr = torch.from_numpy(tr_x.copy()).unsqueeze(1)
            te = torch.from_numpy(te_x.copy()).unsqueeze(1)
            mean, std = _stats(tr)
            return (ArrayDataset(tr, torch.from_numpy(tr_y), mean, std, seed=seed),
                    ArrayDataset(te, torch.from_numpy(te_y), mean, std, seed=seed), 10, classes)
        if name == "fashion-mnist-canvas":
            tr, tr_s, tr_c = place_on_canvas(tr_x, seed, split=0)
            te, te_s, te_c = place_on_canvas(te_x, seed, split=1)
            mean, std = _stats_chunked(tr)
            return (CanvasDataset(tr, torch.from_numpy(tr_y), tr_s, tr_c, mean, std, seed=seed),
                    CanvasDataset(te, torch.from_numpy(te_y), te_s, te_c, mean, std, seed=seed), 10, classes)
        tr, tr_s = rescale_images(tr_x, seed, split=0)
        te, te_s = rescale_images(te_x, seed, split=1)
        mean, std = _stats(tr)
        return (ScaledDataset(tr, torch.from_numpy(tr_y), tr_s, mean, std, seed=seed),
                ScaledDataset(te, torch.from_numpy(te_y), te_s, mean, std, seed=seed), 10, classes)
    if name in ("cifar10", "cifar100"):
        (tr_x, tr_y), (te_x, te_y), k = load_cifar(data_dir, name)
        mean, std = CIFAR_STATS[name]
        return (ArrayDataset(torch.from_numpy(tr_x.copy()), torch.from_numpy(tr_y), mean, std, seed=seed),
                ArrayDataset(torch.from_numpy(te_x.copy()), torch.from_numpy(te_y), mean, std, seed=seed),
                k, list(range(k)))
    train, test, classes = load_folder(data_dir, image_size or 64, seed)
    return train, test, len(classes), classes


def _loader(ds, batch_size: int, shuffle: bool, seed: int, num_workers: int) -> DataLoader:
    """Batch-level fetching: the sampler yields index lists, the data set returns whole batches."""
    if shuffle:
        inner = RandomSampler(ds, generator=torch.Generator().manual_seed(seed))
    else:
        inner = SequentialSampler(ds)
    sampler = BatchSampler(inner, batch_size, drop_last=shuffle and len(ds) > batch_size)
    return DataLoader(ds, batch_size=None, sampler=sampler, num_workers=num_workers,
                      persistent_workers=num_workers > 0)


def set_epoch(loader: DataLoader, epoch: int, seed: int = 0) -> None:
    """Make epoch ``epoch``'s order and augmentation depend only on (seed, epoch): resumes repeat them
    (a DistributedSampler is seeded at construction and reshuffled by its ``set_epoch``)."""
    if hasattr(getattr(loader, "sampler", None), "set_epoch"):
        loader.sampler.set_epoch(epoch)
    inner = getattr(getattr(loader, "sampler", None), "sampler", None)
    gen = getattr(inner, "generator", None)
    if gen is not None:
        gen.manual_seed(seed * 1_000_003 + epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


def make_loaders(name: str = "fashion-mnist", data_dir=None, *, batch_size: int = 128, val_size: int = 5000,
                 seed: int = 0, train_limit: int | None = None, num_workers: int = 0, augment: bool = True,
                 image_size: int | None = None, eval_batch_size: int | None = None) -> Loaders:
    """Loaders for data set ``name``; ``val_size`` images are held out of train (seeded), then the
    training part is cut to ``train_limit`` images (seeded) when given. ``image_size`` only applies to
    ``folder`` (default 64)."""
    choose("data set", name, DATASETS)
    if batch_size < 1:
        raise SKMobileError(f"batch size {batch_size} must be >= 1")
    if val_size < 0 or (train_limit is not None and train_limit < 1):
        raise SKMobileError(f"val_size ({val_size}) must be >= 0 and train_limit ({train_limit}) >= 1")
    full, test, num_classes, classes = _datasets(name, data_dir, seed, image_size)
    if val_size >= len(full):
        raise SKMobileError(f"val_size {val_size} leaves no training images ({len(full)} in the train split)")
    perm = torch.from_numpy(np.random.default_rng([seed, 1]).permutation(len(full)))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_limit is not None:
        train_idx = train_idx[:train_limit]
    aug = AUGMENT.get(name) if augment else None
    if name == "folder" and augment:
        aug = Augment(pad=max(1, (image_size or 64) // 8), flip=True)
    train_ds = full.subset(train_idx, aug)
    val_ds = full.subset(val_idx.sort().values) if val_size else None
    x0, _ = test[0]
    eval_bs = eval_batch_size or max(batch_size, 256)
    return Loaders(
        name=name, train=_loader(train_ds, batch_size, True, seed, num_workers),
        val=_loader(val_ds, eval_bs, False, seed, num_workers) if val_ds is not None else None,
        test=_loader(test, eval_bs, False, seed, num_workers), num_classes=num_classes,
        in_chans=int(x0.shape[0]), image_size=int(x0.shape[-1]), batch_size=batch_size,
        data_dir=str(data_dir) if data_dir is not None else None, classes=classes)


__all__ = ["CANVAS_SCALE_RANGE", "CANVAS_SIZE", "DATASETS", "FASHION_MNIST_DIR", "SCALE_RANGE", "ArrayDataset",
           "Augment", "CanvasDataset", "FolderDataset", "Loaders", "ScaledDataset", "place_on_canvas", "find_fashion_mnist", "load_cifar", "load_fashion_mnist", "make_loaders", "parse_idx",
           "read_idx", "read_idx_pair", "rescale_images", "safe_unpickle", "set_epoch"]
