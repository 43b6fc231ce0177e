"""A strict reader for the IDX format (LeCun's MNIST files; Fashion-MNIST, Xiao et al. 2017, uses it too).

Header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then one
big-endian uint32 per dimension; the data follows. Every check fails with a one-line
:class:`SKMobileError` (bad gzip, truncated file, wrong magic, wrong dims, trailing bytes, labels out of
range), so a damaged file never turns into garbage training.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import SKMobileError

_UBYTE = 0x08


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise SKMobileError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; truncation is EOFError
        raise SKMobileError(f"corrupt or truncated IDX file {path}: {exc}") from None


def parse_idx(data: bytes, ndim: int, name: str = "<bytes>") -> np.ndarray:
    """Decode IDX ``data`` of unsigned bytes with exactly ``ndim`` dimensions."""
    if len(data) < 4:
        raise SKMobileError(f"corrupt IDX file {name}: {len(data)} bytes, shorter than the header")
    zero, dtype, nd = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != _UBYTE or nd != ndim:
        raise SKMobileError(f"corrupt IDX file {name}: magic 0x{data[:4].hex()}, expected "
                            f"0x000008{ndim:02x} (unsigned byte, {ndim} dims)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise SKMobileError(f"corrupt IDX file {name}: truncated header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if any(d == 0 for d in dims):
        raise SKMobileError(f"corrupt IDX file {name}: empty dimension in {dims}")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise SKMobileError(f"corrupt IDX file {name}: {what} ({len(data)} bytes, expected {expected} "
                            f"for dims {dims})")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path, ndim: int) -> np.ndarray:
    path = Path(path)
    return parse_idx(_read_bytes(path), ndim, str(path))


def read_idx_pair(images_path, labels_path, num_classes: int = 10, image_hw=(28, 28)):
    """Images (N, H, W) uint8 and labels (N,) int64, checked against each other."""
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if tuple(images.shape[1:]) != tuple(image_hw):
        raise SKMobileError(f"corrupt IDX file {images_path}: images are {images.shape[1:]}, expected {image_hw}")
    if len(images) != len(labels):
        raise SKMobileError(f"IDX files disagree: {len(images)} images in {images_path} but {len(labels)} "
                            f"labels in {labels_path}")
    if labels.max() >= num_classes:
        raise SKMobileError(f"corrupt IDX file {labels_path}: label {int(labels.max())} out of range "
                            f"0..{num_classes - 1}")
    return images, labels.astype(np.int64)
