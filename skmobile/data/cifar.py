"""CIFAR-10/100 from the official python batches (Krizhevsky 2009).

The official format is pickle, so it is read with a restricted unpickler that can only rebuild
plain containers and numpy arrays: any other global in the stream is refused, never imported.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import SKMobileError

#: The only globals a CIFAR batch may name (numpy array reconstruction; ``_codecs.encode`` is how
#: python 3 pickles ``bytes`` at protocol 2).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def safe_unpickle(data: bytes):
    return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


def _key(d: dict, name: str):
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise KeyError(name)


def read_batch(path: Path, label_key: str, num_classes: int):
    """(images (N, 3, 32, 32) uint8, labels (N,) int64) from one pickle batch, checked."""
    try:
        obj = safe_unpickle(path.read_bytes())
        data = np.asarray(_key(obj, "data"))
        labels = np.asarray(_key(obj, label_key), dtype=np.int64)
    except FileNotFoundError:
        raise SKMobileError(f"CIFAR batch not found: {path}") from None
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError,
            IndexError) as exc:
        raise SKMobileError(f"corrupt CIFAR batch {path}: {type(exc).__name__}: {exc}") from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise SKMobileError(f"corrupt CIFAR batch {path}: data {data.dtype} {data.shape}, expected uint8 (N, 3072)")
    if len(labels) != len(data):
        raise SKMobileError(f"corrupt CIFAR batch {path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise SKMobileError(f"corrupt CIFAR batch {path}: labels outside 0..{num_classes - 1}")
    return data.reshape(-1, 3, 32, 32), labels


def find_cifar_dir(data_dir, name: str) -> Path:
    sub = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    marker = "data_batch_1" if name == "cifar10" else "train"
    if data_dir is None:
        raise SKMobileError(f"{name} needs --data-dir: the folder holding {sub}/ (the python version from "
                            "https://www.cs.toronto.edu/~kriz/cifar.html)")
    root = Path(data_dir)
    for cand in (root, root / sub):
        if (cand / marker).is_file():
            return cand
    raise SKMobileError(f"no {name} python batches under {root} (looked for {marker} in it and in {sub}/)")


def load_cifar(data_dir, name: str):
    """((train_x, train_y), (test_x, test_y), num_classes) for ``cifar10`` or ``cifar100``."""
    root = find_cifar_dir(data_dir, name)
    if name == "cifar10":
        parts = [read_batch(root / f"data_batch_{i}", "labels", 10) for i in range(1, 6)]
        train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        test = read_batch(root / "test_batch", "labels", 10)
        return train, test, 10
    train = read_batch(root / "train", "fine_labels", 100)
    test = read_batch(root / "test", "fine_labels", 100)
    return train, test, 100
