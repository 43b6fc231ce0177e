"""Fashion-MNIST-scale: every image shrunk by a seeded factor drawn uniformly from [0.3, 1.0] and
placed in a fixed canvas, the factor kept per sample. It tests the SKNet paper's claim (Li et al.,
CVPR 2019, Sec. 4.3) that SK attention follows object scale.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SCALE_RANGE = (0.3, 1.0)
CANVAS = 28


def rescale_images(images: np.ndarray, seed: int, split: int, canvas: int = CANVAS,
                   placement: str = "centre") -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, canvas, canvas) uint8, scales (N,) float32), deterministic per (seed, split).

    The stored scale is the one actually applied: ``round(28 * s) / 28`` for a drawn ``s``.
    ``placement`` "centre" centres the object; "random" uses a seeded offset inside the canvas.
    """
    rng = np.random.default_rng([seed, split])
    n, h, w = images.shape
    drawn = rng.uniform(*SCALE_RANGE, size=n)
    sizes = np.clip(np.rint(drawn * h).astype(int), 1, canvas)
    offsets = rng.random((n, 2))
    out = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    src = torch.from_numpy(np.array(images, copy=True)).unsqueeze(1).float()
    for size in np.unique(sizes):
        idx = np.nonzero(sizes == size)[0]
        small = F.interpolate(src[idx], size=(int(size), int(size)), mode="bilinear", antialias=True,
                              align_corners=False)
        small = small.round_().clamp_(0, 255).to(torch.uint8)
        room = canvas - int(size)
        for k, i in enumerate(idx):
            if placement == "random":
                top, left = (offsets[i] * (room + 1)).astype(int).clip(0, room)
            else:
                top = left = room // 2
            out[i, :, top:top + size, left:left + size] = small[k]
    return out, torch.from_numpy((sizes / h).astype(np.float32))
