"""The input side of ``skmobile bench train MODEL --budget paper``: images/s of the ImageNet pipeline alone
(decode + random-resized crop + flip in DataLoader workers), printed beside the training steps' images/s
(:func:`skmobile.bench_model.time_training`) so a user sees which of the two limits a run.

Without a data folder the pipeline reads a generated one: JPEG files of 500 x 375 px (the most common
ImageNet size), random content, in a temporary folder.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

#: The generated folder's image size (width, height): the most common ImageNet training image size.
SYNTHETIC_SIZE = (500, 375)


def write_synthetic(root: Path, images: int, classes: int = 2, seed: int = 0) -> Path:
    """``root/train/<class>/*.JPEG`` and ``root/val/<class>/*.JPEG`` of random 500 x 375 images."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = SYNTHETIC_SIZE
    for split, n in (("train", images), ("val", classes)):
        for i in range(n):
            d = root / split / f"c{i % classes}"
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(d / f"{i}.JPEG", quality=90)
    return root


def data_images_per_s(recipe, data_dir, steps: int, workers: int, batch: int = 32,
                      seed: int = 0) -> tuple[float, str]:
    """(images/s, what was read) of the training pipeline over at least ``steps`` and 2 x ``workers`` + 2
    batches of ``batch`` images, worker start-up included (the workers prefetch, so fewer batches would
    time their start-up alone)."""
    from ..data.imagenet import paper_loaders

    batches = max(steps, 2 * workers + 2)
    with tempfile.TemporaryDirectory(prefix="skmobile-bench-") as tmp:
        source = str(data_dir) if data_dir else f"generated {SYNTHETIC_SIZE[0]}x{SYNTHETIC_SIZE[1]} JPEGs"
        root = data_dir or write_synthetic(Path(tmp), batch * batches)
        loaders = paper_loaders(root, recipe, batch_size=batch, seed=seed, workers=workers)
        t0, seen = time.perf_counter(), 0
        for i, b in enumerate(loaders.train):
            seen += len(b)
            if i + 1 >= batches:
                break
        secs = time.perf_counter() - t0
        del loaders
    return seen / max(secs, 1e-9), source


__all__ = ["SYNTHETIC_SIZE", "data_images_per_s", "write_synthetic"]
