"""In-memory image data sets with batch-level indexing and batch augmentation.

``ds[i]`` gives one ``(image, label)`` (so any DataLoader works); ``ds[[i, j, ...]]`` gives a whole
batch at once, which the loaders of :func:`skmobile.data.make_loaders` use (a BatchSampler with
``batch_size=None``): one tensor op per batch instead of one per image, which matters on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset


@dataclass(frozen=True)
class Augment:
    """Random crop with zero padding ``pad`` (0 = none) and random horizontal flip."""

    pad: int = 0
    flip: bool = False

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        if self.flip:
            mask = torch.rand(n, generator=gen) < 0.5
            x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
        if self.pad:
            p = self.pad
            padded = F.pad(x, (p, p, p, p))
            dy = torch.randint(0, 2 * p + 1, (n,), generator=gen).tolist()
            dx = torch.randint(0, 2 * p + 1, (n,), generator=gen).tolist()
            x = torch.stack([padded[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(zip(dy, dx))])
        return x


class ArrayDataset(Dataset):
    """uint8 images (N, C, H, W) + int64 labels, normalised on the fly with per-channel mean/std."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, augment: Augment | None = None,
                 seed: int = 0):
        self.images, self.labels = images, labels
        c = images.shape[1]
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, c, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, c, 1, 1)
        self.augment = augment
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Reseed augmentation so epoch ``epoch`` is the same with or without a resume."""
        self.generator.manual_seed(self.seed * 100_003 + epoch)

    def _batch(self, idx) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[idx].float().div_(255.0)
        if self.augment is not None:
            x = self.augment(x, self.generator)
        return (x - self.mean) / self.std, self.labels[idx]

    def __getitem__(self, index):
        if isinstance(index, (list, tuple, torch.Tensor)):
            return self._batch(torch.as_tensor(index, dtype=torch.long))
        x, y = self._batch(torch.tensor([index]))
        return x[0], int(y[0])

    def subset(self, idx: torch.Tensor, augment: Augment | None = None) -> "ArrayDataset":
        """The samples ``idx`` as a new data set (same normalisation) with its own augmentation."""
        out = self.__class__.__new__(self.__class__)
        out.__dict__.update(self.__dict__)
        out.images, out.labels, out.augment = self.images[idx], self.labels[idx], augment
        out.generator = torch.Generator().manual_seed(self.seed)
        for name in getattr(self, "_per_sample", ()):
            setattr(out, name, getattr(self, name)[idx])
        return out


class ScaledDataset(ArrayDataset):
    """An :class:`ArrayDataset` that also knows each sample's object scale (``scales``, float32).

    ``ds.item_with_scale(i)`` gives ``(image, label, scale)``; with ``ds.return_scale = True`` every
    item and batch carries the scale as a third element.
    """

    _per_sample = ("scales",)

    def __init__(self, images, labels, scales: torch.Tensor, mean, std, augment=None, seed: int = 0):
        super().__init__(images, labels, mean, std, augment, seed)
        self.scales = scales
        self.return_scale = False

    def item_with_scale(self, index: int):
        x, y = super().__getitem__(index)
        return x, y, float(self.scales[index])

    def __getitem__(self, index):
        out = super().__getitem__(index)
        if not self.return_scale:
            return out
        if isinstance(index, (list, tuple, torch.Tensor)):
            return out + (self.scales[torch.as_tensor(index, dtype=torch.long)],)
        return out + (float(self.scales[index]),)


class CanvasDataset(ScaledDataset):
    """A :class:`ScaledDataset` whose objects also sit at a known place: ``corners`` (N, 2) int64, the
    object's top-left (row, column) on the canvas; its side is ``scales * 28``."""

    _per_sample = ("scales", "corners")

    def __init__(self, images, labels, scales: torch.Tensor, corners: torch.Tensor, mean, std, augment=None,
                 seed: int = 0):
        super().__init__(images, labels, scales, mean, std, augment, seed)
        self.corners = corners
