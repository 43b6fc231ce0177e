"""ImageFolder (ImageNet layout): ``root/train/<class>/*.jpg`` and ``root/val/<class>/*`` (or ``test/``),
or a single ``root/<class>/*`` whose test part is held out by a seeded split. Images are read
lazily with PIL, converted to RGB and resized to a square ``image_size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import SKMobileError
from .arrays import Augment

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
#: ImageNet statistics (the usual torchvision values).
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def scan_folder(root: Path, classes: list[str] | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    if not root.is_dir():
        raise SKMobileError(f"image folder not found: {root}")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = classes or found
    if not classes:
        raise SKMobileError(f"no class subfolders in {root} (expected {root}/<class>/<image>)")
    index = {c: i for i, c in enumerate(classes)}
    samples = []
    for c in found:
        if c not in index:
            raise SKMobileError(f"class folder {root / c} is not among the training classes")
        samples += [(p, index[c]) for p in sorted((root / c).rglob("*")) if p.suffix.lower() in IMAGE_EXTS]
    if not samples:
        raise SKMobileError(f"no images under {root} (extensions: {', '.join(sorted(IMAGE_EXTS))})")
    return samples, classes


class FolderDataset(Dataset):
    def __init__(self, samples, image_size: int, augment: Augment | None = None, seed: int = 0):
        self.samples, self.image_size, self.augment, self.seed = list(samples), image_size, augment, seed
        self.labels = torch.tensor([s[1] for s in self.samples], dtype=torch.long)
        self.mean = torch.tensor(MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(STD).view(1, 3, 1, 1)
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self):
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def _load(self, i: int) -> torch.Tensor:
        from PIL import Image, UnidentifiedImageError

        path = self.samples[i][0]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8).copy()
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise SKMobileError(f"cannot read image {path}: {exc}") from None
        return torch.from_numpy(arr).permute(2, 0, 1)

    def _batch(self, idx):
        x = torch.stack([self._load(int(i)) for i in idx]).float().div_(255.0)
        if self.augment is not None:
            x = self.augment(x, self.generator)
        return (x - self.mean) / self.std, self.labels[torch.as_tensor(idx, dtype=torch.long)]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, torch.Tensor)):
            return self._batch(list(index))
        x, y = self._batch([index])
        return x[0], int(y[0])

    def subset(self, idx, augment: Augment | None = None) -> "FolderDataset":
        return FolderDataset([self.samples[int(i)] for i in idx], self.image_size, augment, self.seed)


def load_folder(data_dir, image_size: int, seed: int, test_fraction: float = 0.2):
    """(train FolderDataset, test FolderDataset, classes)."""
    if data_dir is None:
        raise SKMobileError("the folder data set needs --data-dir (root/train/<class>/* and root/val/<class>/*)")
    root = Path(data_dir)
    if (root / "train").is_dir():
        train, classes = scan_folder(root / "train")
        test_root = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
        if test_root is None:
            raise SKMobileError(f"{root}/train exists but neither {root}/val nor {root}/test")
        test, _ = scan_folder(test_root, classes)
    else:
        samples, classes = scan_folder(root)
        perm = np.random.default_rng([seed, 7]).permutation(len(samples))
        n_test = max(1, int(round(len(samples) * test_fraction)))
        if n_test >= len(samples):
            raise SKMobileError(f"too few images in {root} ({len(samples)}) to hold out a test split")
        test = [samples[i] for i in sorted(perm[:n_test])]
        train = [samples[i] for i in sorted(perm[n_test:])]
    return FolderDataset(train, image_size, seed=seed), FolderDataset(test, image_size, seed=seed), classes
