"""Fashion-MNIST-canvas: every 28 px Fashion-MNIST object resized by a seeded factor drawn uniformly
from [0.5, 2.0] (14 to 56 px) and pasted at a seeded position on a 56 px black canvas.

Objects then span a 4x range of sizes and sit anywhere in the image, so a unit's receptive field has
something to adapt to: the SKNet paper's claim (Li et al., CVPR 2019, Sec. 5.3) is that SK attention
shifts toward the larger kernel as the object grows. Each sample keeps the scale actually applied
(``side / 28``) and its top-left corner, derived on the fly from the real IDX files (nothing downloaded).
"""

from __future__ import annotations

import numpy as np
import torch

from .scale import paste_resized

CANVAS_SCALE_RANGE = (0.5, 2.0)
CANVAS_SIZE = 56
SOURCE_SIZE = 28


def place_on_canvas(images: np.ndarray, seed: int, split: int, canvas: int = CANVAS_SIZE,
                    scale_range: tuple[float, float] = CANVAS_SCALE_RANGE
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images (N, 1, canvas, canvas) uint8, scales (N,) float32, corners (N, 2) int64 as (top, left)).

    Deterministic per ``(seed, split)``. A drawn factor ``s`` gives a square object of side
    ``round(28 s)`` (clipped to the canvas); the stored scale is that side over 28. The corner is drawn
    uniformly over every position that keeps the whole object on the canvas.
    """
    n, h, _ = images.shape
    rng = np.random.default_rng([seed, split, canvas])
    sizes = np.clip(np.rint(rng.uniform(*scale_range, size=n) * h).astype(int), 1, canvas)
    room = canvas - sizes
    corner = np.floor(rng.random((n, 2)) * (room[:, None] + 1)).astype(np.int64)
    out = paste_resized(images, sizes, corner[:, 0], corner[:, 1], canvas)
    return out, torch.from_numpy((sizes / h).astype(np.float32)), torch.from_numpy(corner)
