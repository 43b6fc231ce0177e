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


def paste_resized(images: np.ndarray, sizes: np.ndarray, tops: np.ndarray, lefts: np.ndarray,
                  canvas: int) -> torch.Tensor:
    """(N, 1, canvas, canvas) uint8: image i resized (bilinear, antialiased) to ``sizes[i]`` square and
    pasted with its top-left corner at ``(tops[i], lefts[i])`` on a black canvas."""
    n = images.shape[0]
    out = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    src = torch.from_numpy(np.array(images, copy=True)).unsqueeze(1)
    for size in np.unique(sizes):
        size = int(size)
        idx = np.nonzero(sizes == size)[0]
        for start in range(0, idx.size, 4096):  # bounded float memory at large canvases
            part = idx[start:start + 4096]
            small = F.interpolate(src[part].float(), size=(size, size), mode="bilinear", antialias=True,
                                  align_corners=False)
            small = small.round_().clamp_(0, 255).to(torch.uint8)
            for k, i in enumerate(part):
                top, left = int(tops[i]), int(lefts[i])
                out[i, :, top:top + size, left:left + size] = small[k]
    return out


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
    room = canvas - sizes
    if placement == "random":
        corner = (offsets * (room[:, None] + 1)).astype(int).clip(0, room[:, None])
    else:
        corner = np.stack([room // 2, room // 2], axis=1)
    out = paste_resized(images, sizes, corner[:, 0], corner[:, 1], canvas)
    return out, torch.from_numpy((sizes / h).astype(np.float32))
