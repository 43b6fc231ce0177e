"""skmobile.data: every format from tiny files written here (real IDX gz, CIFAR pickle batches, PNG folders)."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from skmobile.data import (Augment, load_cifar, make_loaders, parse_idx, read_idx, read_idx_pair,
                           rescale_images, safe_unpickle, set_epoch)
from skmobile.data.idx import _read_bytes
from skmobile.errors import SKMobileError

FMNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_bytes(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + \
        arr.astype(np.uint8).tobytes()


def write_fmnist(root, n_train=48, n_test=24, seed=0):
    """A tiny but real Fashion-MNIST folder: four gzip'd IDX files; class k is a bright block at row 2k."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for i, k in enumerate(labels):
            images[i, 2 * k + 4: 2 * k + 8, 6:22] = 250
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root


@pytest.fixture
def fmnist_dir(tmp_path):
    return write_fmnist(tmp_path / "fmnist")


# --- IDX ------------------------------------------------------------------------------------------

def test_idx_roundtrip(fmnist_dir):
    images, labels = read_idx_pair(fmnist_dir / FMNIST_FILES[0], fmnist_dir / FMNIST_FILES[1])
    assert images.shape == (48, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == [i % 10 for i in range(48)] and labels.dtype == np.int64


@pytest.mark.parametrize("damage, words", [
    (lambda b: b"\x00\x00\x09\x03" + b[4:], "magic"),         # wrong type code
    (lambda b: b"\x00\x00\x08\x02" + b[4:], "magic"),         # wrong number of dims
    (lambda b: b[:-5], "truncated"),
    (lambda b: b + b"\x00", "trailing"),
    (lambda b: b[:6], "header"),
])
def test_idx_rejects_damage(damage, words):
    good = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    assert parse_idx(good, 3).shape == (3, 28, 28)
    with pytest.raises(SKMobileError, match=words) as exc:
        parse_idx(damage(good), 3, "x.gz")
    assert "\n" not in str(exc.value)


def test_truncated_and_non_gzip_files(tmp_path, fmnist_dir):
    data = (fmnist_dir / FMNIST_FILES[0]).read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SKMobileError, match="corrupt or truncated"):
        read_idx(cut, 3)
    junk = tmp_path / "junk.gz"
    junk.write_bytes(b"this is not gzip at all")
    with pytest.raises(SKMobileError, match="corrupt or truncated"):
        _read_bytes(junk)


def test_label_range_and_count_mismatch(tmp_path):
    imgs = tmp_path / "i.gz"
    imgs.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8))))
    bad = tmp_path / "l.gz"
    bad.write_bytes(gzip.compress(idx_bytes(np.array([0, 1, 12, 3]))))
    with pytest.raises(SKMobileError, match="out of range"):
        read_idx_pair(imgs, bad)
    short = tmp_path / "s.gz"
    short.write_bytes(gzip.compress(idx_bytes(np.array([0, 1, 2]))))
    with pytest.raises(SKMobileError, match="disagree"):
        read_idx_pair(imgs, short)


def test_missing_fashion_mnist_says_how_to_install(tmp_path):
    with pytest.raises(SKMobileError, match="apt-get install dataset-fashion-mnist.*--data-dir"):
        make_loaders("fashion-mnist", tmp_path / "nowhere")


def test_unknown_dataset():
    with pytest.raises(SKMobileError, match="unknown data set 'mnist3d'"):
        make_loaders("mnist3d")


def test_cli_corrupt_idx_exit_code_2(tmp_path, fmnist_dir, capsys):
    from skmobile.cli import main

    f = fmnist_dir / FMNIST_FILES[0]
    f.write_bytes(f.read_bytes()[:200])
    with pytest.raises(SystemExit) as exc:
        main(["train", "resnext50_32x4d", "--data-dir", str(fmnist_dir), "--val-size", "8", "--no-progress"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: corrupt or truncated IDX file") and len(err.splitlines()) == 1


# --- Fashion-MNIST loaders --------------------------------------------------------------------------

def test_fashion_mnist_loaders(fmnist_dir):
    L = make_loaders("fashion-mnist", fmnist_dir, batch_size=8, val_size=8, seed=3)
    assert (L.num_classes, L.in_chans, L.image_size, L.name) == (10, 1, 28, "fashion-mnist")
    assert (len(L.train.dataset), len(L.val.dataset), len(L.test.dataset)) == (40, 8, 24)
    x, y = next(iter(L.train))
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(L.train) == 5  # drop_last batches of 8
    assert sum(int(b[1].numel()) for b in L.test) == 24  # eval keeps every image
    xi, yi = L.test.dataset[0]
    assert xi.shape == (1, 28, 28) and isinstance(yi, int)
    # a plain DataLoader over the data set works too (per-item indexing)
    xb, yb = next(iter(torch.utils.data.DataLoader(L.test.dataset, batch_size=4)))
    assert xb.shape == (4, 1, 28, 28)


def test_split_and_limit_are_seeded(fmnist_dir):
    a = make_loaders("fashion-mnist", fmnist_dir, batch_size=4, val_size=8, seed=1, train_limit=12)
    b = make_loaders("fashion-mnist", fmnist_dir, batch_size=4, val_size=8, seed=1, train_limit=12)
    c = make_loaders("fashion-mnist", fmnist_dir, batch_size=4, val_size=8, seed=2, train_limit=12)
    assert len(a.train.dataset) == 12
    assert torch.equal(a.train.dataset.images, b.train.dataset.images)
    assert not torch.equal(a.val.dataset.images, c.val.dataset.images)
    with pytest.raises(SKMobileError, match="val_size"):
        make_loaders("fashion-mnist", fmnist_dir, val_size=48)


def test_epoch_order_repeats_after_set_epoch(fmnist_dir):
    L = make_loaders("fashion-mnist", fmnist_dir, batch_size=8, val_size=0, seed=0)
    set_epoch(L.train, 2, 0)
    first = [y.tolist() for _, y in L.train]
    set_epoch(L.train, 5, 0)
    set_epoch(L.train, 2, 0)
    assert [y.tolist() for _, y in L.train] == first


def test_augment_shapes_and_flip():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    g = torch.Generator().manual_seed(0)
    assert Augment(pad=1, flip=True)(x, g).shape == x.shape
    torch.testing.assert_close(Augment()(x, g), x)


# --- Fashion-MNIST-scale -----------------------------------------------------------------------------

def test_rescale_is_seeded_and_keeps_scale():
    imgs = np.full((50, 28, 28), 200, np.uint8)
    a, sa = rescale_images(imgs, seed=0, split=0)
    b, sb = rescale_images(imgs, seed=0, split=0)
    c, sc = rescale_images(imgs, seed=1, split=0)
    assert torch.equal(a, b) and torch.equal(sa, sb) and not torch.equal(sa, sc)
    assert a.shape == (50, 1, 28, 28) and sa.dtype == torch.float32
    assert float(sa.min()) >= 0.3 - 1 / 56 and float(sa.max()) <= 1.0
    # the object covers about (28 s)^2 pixels, centred
    area = (a[:, 0] > 100).sum((1, 2)).float()
    torch.testing.assert_close(area, (sa * 28).round() ** 2, atol=2 * 28 * sa.max(), rtol=0)


def test_fashion_mnist_scale_exposes_scales(fmnist_dir):
    L = make_loaders("fashion-mnist-scale", fmnist_dir, batch_size=8, val_size=8, seed=0)
    test = L.test.dataset
    assert test.scales.shape == (24,)
    x, y, s = test.item_with_scale(3)
    assert x.shape == (1, 28, 28) and y == 3 and s == pytest.approx(float(test.scales[3]))
    assert L.train.dataset.scales.shape == (40,) and L.val.dataset.scales.shape == (8,)
    test.return_scale = True
    xb, yb, sb = test[[0, 1, 2]]
    assert xb.shape == (3, 1, 28, 28) and torch.equal(sb, test.scales[:3])
    L2 = make_loaders("fashion-mnist-scale", fmnist_dir, batch_size=8, val_size=8, seed=0)
    assert torch.equal(L2.test.dataset.scales, test.scales)


# --- Fashion-MNIST-canvas -----------------------------------------------------------------------------

def test_place_on_canvas_is_seeded_and_in_range():
    from skmobile.data import CANVAS_SCALE_RANGE, place_on_canvas

    imgs = np.full((300, 28, 28), 200, np.uint8)
    a, sa, ca = place_on_canvas(imgs, seed=3, split=0)
    b, sb, cb = place_on_canvas(imgs, seed=3, split=0)
    c, sc, cc = place_on_canvas(imgs, seed=4, split=0)
    d, sd, _ = place_on_canvas(imgs, seed=3, split=1)
    assert torch.equal(a, b) and torch.equal(sa, sb) and torch.equal(ca, cb)
    assert not torch.equal(sa, sc) and not torch.equal(ca, cc) and not torch.equal(sa, sd)
    assert a.shape == (300, 1, 56, 56) and a.dtype == torch.uint8
    assert sa.shape == (300,) and ca.shape == (300, 2) and ca.dtype == torch.int64
    lo, hi = CANVAS_SCALE_RANGE
    assert float(sa.min()) >= lo - 1 / 56 and float(sa.max()) <= hi
    # the draw covers the range (300 uniform draws: both ends within 10 % of it)
    assert float(sa.min()) < lo + 0.15 and float(sa.max()) > hi - 0.15
    side = (sa * 28).round().long()
    assert int((ca + side[:, None]).max()) <= 56 and int(ca.min()) >= 0
    # positions vary (not all centred) and the object is exactly where the corner says
    assert len({tuple(r) for r in ca.tolist()}) > 100
    for i in range(0, 300, 37):
        top, left, s = int(ca[i, 0]), int(ca[i, 1]), int(side[i])
        inside = a[i, 0, top:top + s, left:left + s]
        assert int((inside > 100).sum()) >= (s - 2) ** 2
        assert int((a[i, 0] > 100).sum()) == int((inside > 100).sum())  # nothing outside the box


def test_canvas_keeps_content_scaled():
    """An object is the source image resized: a half-bright left half stays on the left, any scale."""
    from skmobile.data import place_on_canvas

    imgs = np.zeros((40, 28, 28), np.uint8)
    imgs[:, :, :14] = 255
    a, s, c = place_on_canvas(imgs, seed=0, split=0)
    for i in range(40):
        top, left, side = int(c[i, 0]), int(c[i, 1]), int(round(float(s[i]) * 28))
        box = a[i, 0, top:top + side, left:left + side].float()
        half = side // 2
        assert box[:, :max(half - 1, 1)].mean() > 200 and box[:, half + 1:].mean() < 50


def test_fashion_mnist_canvas_loaders(fmnist_dir):
    L = make_loaders("fashion-mnist-canvas", fmnist_dir, batch_size=8, val_size=8, seed=0)
    test = L.test.dataset
    assert L.image_size == 56 and L.in_chans == 1 and L.num_classes == 10
    assert test.images.shape == (24, 1, 56, 56) and test.scales.shape == (24,) and test.corners.shape == (24, 2)
    # labels preserved in order, and each canvas holds its own source object (class k: the block at row 2k)
    assert test.labels.tolist() == [i % 10 for i in range(24)]
    x, y, s = test.item_with_scale(5)
    assert x.shape == (1, 56, 56) and y == 5 and s == pytest.approx(float(test.scales[5]))
    for i in range(24):
        side = round(float(test.scales[i]) * 28)
        top, left = test.corners[i].tolist()
        box = test.images[i, 0, top:top + side, left:left + side].float()
        rows = box.mean(1)
        k = int(test.labels[i])
        assert abs(int(rows.argmax()) / side - (2 * k + 6) / 28) < 0.12
    # train/val subsets carry their own scales and corners
    assert L.train.dataset.scales.shape == (40,) and L.val.dataset.corners.shape == (8, 2)
    test.return_scale = True
    xb, yb, sb = test[[0, 1, 2]]
    assert xb.shape == (3, 1, 56, 56) and torch.equal(sb, test.scales[:3])
    # same seed, new call: identical; another seed: different draw
    L2 = make_loaders("fashion-mnist-canvas", fmnist_dir, batch_size=8, val_size=8, seed=0)
    assert torch.equal(L2.test.dataset.images, test.images) and torch.equal(L2.test.dataset.corners, test.corners)
    L3 = make_loaders("fashion-mnist-canvas", fmnist_dir, batch_size=8, val_size=8, seed=1)
    assert not torch.equal(L3.test.dataset.scales, test.scales)
    # normalisation statistics computed in chunks equal the whole-set ones
    from skmobile.data import _stats, _stats_chunked

    imgs = L.train.dataset.images
    for got, want in zip(_stats_chunked(imgs, chunk=7), _stats(imgs)):
        assert got == pytest.approx(want, rel=1e-5)


def test_dataset_typo_names_allowed():
    from skmobile.data import DATASETS

    with pytest.raises(SKMobileError) as exc:
        make_loaders("fashion-mnist-canvs")
    msg = str(exc.value)
    assert "\n" not in msg and "'fashion-mnist-canvs'" in msg and all(name in msg for name in DATASETS)


def test_cli_dataset_typo_is_one_line_exit_2(fmnist_dir, capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["train", "sknet50", "--dataset", "fashion-mnist-canvs", "--data-dir", str(fmnist_dir)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error:") and "fashion-mnist-canvas" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_train_help_lists_every_dataset():
    import inspect

    from skmobile.commands.train import train_cmd
    from skmobile.data import DATASETS

    helptext = inspect.signature(train_cmd).parameters["dataset"].default.help
    assert sorted(n.strip() for n in helptext.split("|")) == sorted(DATASETS)


# --- CIFAR ----------------------------------------------------------------------------------------------

def write_cifar10(root, n=6):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root


def test_cifar10_batches(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    L = make_loaders("cifar10", tmp_path, batch_size=4, val_size=6)
    assert (L.num_classes, L.in_chans, L.image_size) == (10, 3, 32)
    assert (len(L.train.dataset), len(L.test.dataset)) == (24, 6)
    x, y = next(iter(L.train))
    assert x.shape == (4, 3, 32, 32)


def test_cifar100_batches(tmp_path):
    root = tmp_path / "cifar-100-python"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 10), ("test", 5)):
        d = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "fine_labels": list(range(90, 90 + n)),
             "coarse_labels": [0] * n}
        (root / name).write_bytes(pickle.dumps(d, protocol=4))
    (tr_x, tr_y), (te_x, te_y), k = load_cifar(tmp_path, "cifar100")
    assert k == 100 and tr_x.shape == (10, 3, 32, 32) and te_y.tolist() == [90, 91, 92, 93, 94]


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_unpickler_refuses_arbitrary_globals(tmp_path):
    root = write_cifar10(tmp_path / "c")
    (root / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(SKMobileError, match="not allowed"):
        load_cifar(root, "cifar10")
    with pytest.raises(pickle.UnpicklingError):
        safe_unpickle(pickle.dumps(_Evil()))


def test_cifar_bad_shapes_and_missing(tmp_path):
    root = write_cifar10(tmp_path / "c")
    (root / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(SKMobileError, match="expected uint8"):
        load_cifar(root, "cifar10")
    with pytest.raises(SKMobileError, match="--data-dir"):
        make_loaders("cifar10")
    with pytest.raises(SKMobileError, match="no cifar100"):
        make_loaders("cifar100", tmp_path)


# --- ImageFolder ---------------------------------------------------------------------------------------

def _png(path, color, size=(12, 9)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_image_folder_imagenet_layout(tmp_path):
    for split, n in (("train", 6), ("val", 2)):
        for c, color in (("cat", (200, 0, 0)), ("dog", (0, 0, 200))):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png", color)
    L = make_loaders("folder", tmp_path, batch_size=4, val_size=2, image_size=16)
    assert (L.num_classes, L.in_chans, L.image_size, L.classes) == (2, 3, 16, ["cat", "dog"])
    assert (len(L.train.dataset), len(L.val.dataset), len(L.test.dataset)) == (10, 2, 4)
    x, y = next(iter(L.test))
    assert x.shape == (4, 3, 16, 16) and y.tolist() == [0, 0, 1, 1]
    assert float(x[0, 0].mean()) > float(x[0, 2].mean())  # red cat


def test_image_folder_flat_layout_and_errors(tmp_path):
    for c in ("a", "b", "c"):
        for i in range(5):
            _png(tmp_path / "flat" / c / f"{i}.jpg", (i * 40, 10, 10))
    L = make_loaders("folder", tmp_path / "flat", batch_size=2, val_size=2, image_size=8)
    assert len(L.train.dataset) + len(L.val.dataset) + len(L.test.dataset) == 15
    (tmp_path / "flat" / "a" / "bad.png").write_bytes(b"not an image")
    L = make_loaders("folder", tmp_path / "flat", batch_size=16, val_size=1, image_size=8, augment=False)
    with pytest.raises(SKMobileError, match="cannot read image"):
        for loader in (L.train, L.val, L.test):
            list(loader)
    with pytest.raises(SKMobileError, match="no class subfolders"):
        (tmp_path / "empty").mkdir()
        make_loaders("folder", tmp_path / "empty")


# --- the real data set, when installed ---------------------------------------------------------------------

def test_real_fashion_mnist_first_records():
    from skmobile.data import FASHION_MNIST_DIR

    labels = FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz"
    if not labels.is_file():
        pytest.skip("dataset-fashion-mnist is not installed")
    with gzip.open(labels) as fh:
        head = fh.read(8 + 10)
    assert head[:4] == b"\x00\x00\x08\x01" and struct.unpack(">I", head[4:8])[0] == 10000
    assert list(head[8:]) == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    y = read_idx(labels, 1)
    assert y.shape == (10000,) and int(y.max()) == 9
