"""``--budget paper``: the paper's recipe on an ImageNet-layout folder of real JPEG files, synchronous SGD over
2 processes under torchrun (gloo on the CPU), resume on 1 process, and the bad inputs.

What must match between 2 processes and 1: the paper's BN is per GPU (no SyncBN), so a 2-process run
normalises each process's half of a global batch on its own. The 1-process run with the same global batch
reproduces that split instead of normalising all of it at once: with ``--bn-batch 4`` and a global batch of
8 it forms the same 2 BN groups (the samples a process of 2 would get) and accumulates their gradients,
and it keeps the BN running statistics of the first group, as DDP keeps rank 0's. So every tensor of the
checkpoint (weights and BN statistics) must agree. A 1-process run that normalises all 8 images at once
(``--bn-batch 8``) must not: the test checks that the comparison can tell them apart.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

MODEL = "shufflenetv2_x0_5_sk"   # the smallest full-size model with SK units: 224 px stays cheap on 2 cores
SIZES = [(300, 200), (180, 260), (256, 256), (400, 310), (97, 140)]
BROKEN = "broken.JPEG"


def write_imagenet(root, classes=("n01", "n02", "n03"), per_class=(("train", 4), ("val", 2)), broken=True):
    """ROOT/train/<class>/*.JPEG and ROOT/val/<class>/*.JPEG, real JPEGs of various sizes, one corrupt file."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, n in per_class:
        for ci, c in enumerate(classes):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = SIZES[(i + ci) % len(SIZES)]
                base = rng.integers(0, 255, (1, 1, 3)) * np.ones((h, w, 3))  # a class-tinted noise image
                img = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"{c}_{i}.JPEG", quality=85)
    if broken:
        (root / "train" / classes[1] / BROKEN).write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return root


@pytest.fixture(scope="module")
def inet(tmp_path_factory):
    return write_imagenet(tmp_path_factory.mktemp("inet"))


def _train(cli, data, out, *extra):
    return cli(["train", MODEL, "--budget", "paper", "--dataset", "folder", "--data-dir", str(data),
                "--batch-size", "8", "--steps-per-epoch", "1", "--workers", "0", "--threads", "1",
                "--skip-corrupt", "--no-progress", "--out", str(out), *extra])


def _tensors(out):
    return load_file(str(out / "checkpoint.safetensors"))


def _max_gap(a, b):
    """Largest |difference| over the tensors both hold (weights, BN statistics, momentum buffers)."""
    keys = a.keys() & b.keys()
    assert keys and {k for k in a.keys() ^ b.keys() if not k.startswith("optim.")} == set()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in keys)


@pytest.fixture(scope="module")
def runs(inet, tmp_path_factory):
    """The 2-process run (torchrun, gloo) and the 1-process runs it is compared with."""
    from skmobile.cli import main

    base = tmp_path_factory.mktemp("runs")

    def cli(argv):
        try:
            main(argv)
        except SystemExit as exc:
            return exc.code or 0
        return 0

    codes = {"two": _train(cli, inet, base / "two", "--epochs", "1", "--bn-batch", "4", "--nproc", "2"),
             "one": _train(cli, inet, base / "one", "--epochs", "1", "--bn-batch", "4"),
             "whole": _train(cli, inet, base / "whole", "--epochs", "1", "--bn-batch", "8")}
    return base, codes


def test_two_processes_under_torchrun_match_one_process(runs):
    base, codes = runs
    assert codes == {"two": 0, "one": 0, "whole": 0}
    two, one, whole = (_tensors(base / n) for n in ("two", "one", "whole"))
    from skmobile.models import create_model

    torch.manual_seed(0)
    init = {f"model.{k}": v for k, v in create_model(MODEL, num_classes=3).state_dict().items()}
    assert _max_gap(two, init) > 1e-4                  # the step moved the weights
    assert _max_gap(two, one) < 1e-6                   # same BN groups, same images, same seed
    assert _max_gap(whole, one) > 1e-4                 # one BN group of 8 is a different run
    m2 = json.loads((base / "two" / "metrics.json").read_text())
    assert m2["weight_spread"] < 1e-7                  # both ranks held rank 0's weights after the step
    assert m2["batching"] == {"global_batch": 8, "processes": 2, "per_process": 4, "bn_batch": 4,
                              "bn_groups_per_process": 1}
    m1 = json.loads((base / "one" / "metrics.json").read_text())
    assert m1["batching"]["bn_groups_per_process"] == 2
    # evaluation: top-1 error on the 6 val images (centre crop), summed over both processes
    assert m2["val_error"] == pytest.approx(m1["val_error"]) and m2["val_error"] * 6 / 100 == \
        pytest.approx(round(m2["val_error"] * 6 / 100))
    assert "centre crop 224" in m2["evaluation"] and m2["recipe"]["image_size"] == 224
    state = json.loads((base / "two" / "state.json").read_text())
    assert state["processes"] == 2 and state["meta"]["recipe"]["weight_decay"] == 4e-5  # a light model


def test_resume_on_one_process_continues(runs, inet, cli):
    """The 2-process run of epoch 1, resumed on 1 process for epoch 2, equals 1 process for both epochs."""
    base, _ = runs
    import shutil

    shutil.copytree(base / "two", base / "resumed")
    code, _, err = _train(cli, inet, base / "resumed", "--epochs", "2", "--resume")
    assert code == 0, err
    code, _, err = _train(cli, inet, base / "straight", "--epochs", "2", "--bn-batch", "4")
    assert code == 0, err
    state = json.loads((base / "resumed" / "state.json").read_text())
    assert state["epochs_done"] == 2 and [h["epoch"] for h in state["history"]] == [1, 2]
    assert state["processes"] == 1 and state["accum"] == 2      # the same BN groups on 1 process
    assert _max_gap(_tensors(base / "resumed"), _tensors(base / "straight")) < 1e-6
    assert _max_gap(_tensors(base / "resumed"), _tensors(base / "two")) > 1e-5
    before = (base / "resumed" / "state.json").read_text()
    code, _, err = cli(["train", MODEL, "--budget", "paper", "--dataset", "folder", "--data-dir", str(inet),
                        "--batch-size", "16", "--epochs", "3", "--resume", "--out", str(base / "resumed")])
    assert code == 2 and "--batch-size 16 differs from the 8" in err         # a resume keeps the global batch
    assert (base / "resumed" / "state.json").read_text() == before


def test_eval_of_a_paper_checkpoint_uses_the_centre_crop(runs, inet, cli):
    base, _ = runs
    code, out, err = cli(["eval", str(base / "one"), "--batch-size", "4"])
    assert code == 0, err
    m = json.loads((base / "one" / "metrics.json").read_text())
    assert f"{m['val_error']:.2f} %" in out and "centre crop 224" in out and "│ 6 " in out


def test_corrupt_image_is_named(inet, tmp_path, cli):
    code, out, err = _train(cli, inet, tmp_path / "r", "--epochs", "1", "--bn-batch", "4")
    assert code == 0 and f"skipped unreadable image {inet / 'train' / 'n02' / BROKEN}" in err
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["skipped_images"] == 1 and "skipped images" in out
    # without --skip-corrupt: one line naming the file, exit 2, no checkpoint
    argv = ["train", MODEL, "--budget", "paper", "--dataset", "folder", "--data-dir", str(inet), "--batch-size", "13",
            "--steps-per-epoch", "1", "--workers", "0", "--no-progress", "--out", str(tmp_path / "s")]
    code, _, err = cli(argv)
    assert code == 2 and err.count("\n") == 1 and f"cannot read image {inet / 'train' / 'n02' / BROKEN}" in err
    assert not (tmp_path / "s" / "checkpoint.safetensors").exists()


def test_transforms_are_torchvision_and_seeded(inet):
    from skmobile.data.imagenet import ImageNetFolder, imagenet_splits, transforms_for
    from skmobile.train.paper import paper_recipe

    train, val, classes = imagenet_splits(inet)
    assert classes == ["n01", "n02", "n03"] and len(train) == 13 and len(val) == 6
    recipe = paper_recipe(MODEL)
    ds = ImageNetFolder(train, transforms_for(recipe, True), seed=0)
    a, b, c = ds[(0, 0)][0], ds[(0, 0)][0], ds[(0, 1)][0]
    assert a.shape == (3, 224, 224) and torch.equal(a, b) and not torch.equal(a, c)   # per (seed, epoch, index)
    ev = ImageNetFolder(val, transforms_for(recipe, False))[(0, 0)][0]
    assert ev.shape == (3, 224, 224)
    names = [type(t).__name__ for t in transforms_for(recipe, True).transforms]
    assert names[:2] == ["RandomResizedCrop", "RandomHorizontalFlip"]
    assert [type(t).__name__ for t in transforms_for(recipe, False).transforms][:2] == ["Resize", "CenterCrop"]
    bad = ds[(train.index(next(s for s in train if s[0].endswith(BROKEN))), 0)]
    assert bad[0] is None and bad[2].endswith(BROKEN)


def test_paper_recipe_per_family():
    from skmobile.errors import SKMobileError
    from skmobile.train.paper import groups_per_process, paper_recipe

    big, light = paper_recipe("sknet50"), paper_recipe("mobilenetv2_100_sk")
    assert (big.weight_decay, big.train_scale, big.lr, big.batch_size) == (1e-4, (0.08, 1.0), 0.1, 256)
    assert (light.weight_decay, light.train_scale) == (4e-5, (0.25, 1.0))
    assert big.milestones() == [30, 60, 90] and big.eval_resize == 256 and big.scaled_lr(512) == 0.2
    assert groups_per_process(256, 1, 32) == (256, 8) and groups_per_process(256, 8, 32) == (32, 1)
    with pytest.raises(SKMobileError, match="family 'sknet-cifar'"):
        paper_recipe("sknet29")
    with pytest.raises(SKMobileError, match="does not split over 3"):
        groups_per_process(256, 3, 32)


@pytest.mark.parametrize("case", ["no-folder", "empty-class", "mixed-classes", "nproc-0", "cifar-family",
                                  "proxy-dataset"])
def test_bad_input_is_one_line_and_writes_nothing(case, inet, tmp_path, cli):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(inet, data)
    extra, model = [], MODEL
    if case == "no-folder":
        data = tmp_path / "nowhere"
    elif case == "empty-class":
        (data / "train" / "n04").mkdir()
        (data / "val" / "n04").mkdir()
    elif case == "mixed-classes":
        shutil.move(str(data / "val" / "n03"), str(data / "val" / "n09"))
    elif case == "nproc-0":
        extra = ["--nproc", "0"]
    elif case == "cifar-family":
        model = "sknet29"
    out = tmp_path / "out" / "run"
    argv = ["train", model, "--budget", "paper", "--dataset", "fashion-mnist" if case == "proxy-dataset" else "folder",
            "--data-dir", str(data), "--out", str(out), "--no-progress", *extra]
    code, stdout, err = cli(argv)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    expected = {"no-folder": "no such folder", "empty-class": "holds no image", "mixed-classes": "differ from the "
                "training classes", "nproc-0": "--nproc 0", "cifar-family": "no recipe for family",
                "proxy-dataset": "--dataset folder"}[case]
    assert expected in err
    assert not (tmp_path / "out").exists()


def test_bench_train_paper_prints_data_and_training_rates(cli):
    code, out, err = cli(["bench", "train", MODEL, "--budget", "paper", "--device", "cpu", "--steps", "1",
                          "--warmup", "0", "--batch-size", "2", "--workers", "0", "--threads", "1"])
    assert code == 0, err
    rates = {line.split(":")[0]: float(line.split()[1]) for line in out.splitlines()
             if line.startswith(("data:", "training:"))}
    assert set(rates) == {"data", "training"} and all(v > 0 for v in rates.values())
    assert "224 px" in out and "limit: " in out
    code, _, err = cli(["bench", "train", "sknet29", "--budget", "paper", "--steps", "1"])
    assert code == 2 and "no recipe for family" in err and err.count("\n") == 1


class SmallPaperTrainer:
    """The paper budget's trainer with a global batch of 8 (BN groups of 4), one epoch of one step, no workers."""

    def __new__(cls, **kwargs):
        from skmobile.search.paper_trainer import PaperTrainer

        trainer = PaperTrainer(**kwargs, workers=0, steps_per_epoch=1)
        trainer.batch_size, trainer.bn_batch, trainer.skip_corrupt = 8, 4, True
        trainer.epochs = trainer.epochs or 1
        return trainer


def test_search_trial_at_the_paper_budget(inet, tmp_path, cli, monkeypatch):
    import optuna

    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_full_scale:SmallPaperTrainer")
    db = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = cli(["search", "--space", "lightweight", "--budget", "paper", "--dataset", "folder", "--data-dir",
                          str(inet), "--trials", "1", "--epochs", "1", "--storage", db, "--study", "p",
                          "--no-live", "--format", "json"])
    assert code == 0, err
    trial = optuna.load_study(study_name="p", storage=db).trials[0]
    attrs = trial.user_attrs
    assert trial.state.name == "COMPLETE" and attrs["budget"] == "paper" and attrs["processes"] == 1, attrs
    assert attrs["batching"]["global_batch"] == 8 and attrs["proxy"]["input_size"] == 224
    assert attrs["proxy"]["full_size"] and attrs["val_images"] == 6 and 0 <= attrs["val_error"] <= 100
    code, _, err = cli(["search", "--space", "lightweight", "--budget", "paper", "--dataset", "fashion-mnist",
                        "--trials", "1", "--storage", f"sqlite:///{tmp_path / 't.db'}", "--no-live"])
    assert code == 2 and "--dataset folder" in err and not (tmp_path / "t.db").exists()
