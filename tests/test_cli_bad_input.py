"""Bad input, as a new user types it: one line `error: ...`, exit code 2, no traceback, nothing written.

Every case fails before any training, measuring or study creation starts, so each runs in well under
a second or two. The second half checks the same for the Python API (SKConv2d, SKSpec, create_model).
"""

import json
import math
import os
from pathlib import Path

import pytest

from skmobile import SKConv2d, SKMobileError, SKSpec
from skmobile.models import create_model
from test_data import write_cifar10, write_fmnist

TESTS = os.path.dirname(os.path.abspath(__file__))
FAKE_TRAINER = "test_search_support:FakeTrainer"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs the cases point at: tiny data sets, a file, a folder and checkpoints (good and damaged)."""
    import torch

    from skmobile.train import save_checkpoint

    root = tmp_path_factory.mktemp("world")
    fm = write_fmnist(root / "fm", n_train=40, n_test=10)
    write_cifar10(root / "c10" / "cifar-10-batches-py")
    (root / "afile").write_text("keep me\n")
    (root / "adir").mkdir()
    kwargs = {"num_classes": 10, "in_chans": 1, "stem": "small"}
    net = create_model("shufflenetv2_x0_5_sk", **kwargs)
    state = {"model": "shufflenetv2_x0_5_sk", "model_kwargs": kwargs, "dataset": "fashion-mnist",
             "data_dir": str(fm), "epochs_done": 1, "seed": 0}
    save_checkpoint(root / "ckpt_fm", net, None, state)
    save_checkpoint(root / "ckpt_list", net, None, state)
    (root / "ckpt_list" / "state.json").write_text("[1, 2, 3]")
    save_checkpoint(root / "ckpt_kwargs", net, None, {**state, "model_kwargs": {**kwargs, "foo": 1}})
    return root


FM = ["--data-dir", "{w}/fm", "--val-size", "8", "--epochs", "1", "--no-progress", "--threads", "1"]
TRAIN = ["train", "shufflenetv2_x0_5_sk", *FM]
SEARCH = ["search", "--no-live", "--storage", "sqlite:///{tmp}/s.db"]

CASES = [
    # reproduce / report / analyze: where their files would go
    (["reproduce", "--table", "4", "--no-train", "--out", "/proc/forbidden"], "--out /proc/forbidden"),
    (["reproduce", "--table", "4", "--no-train", "--out", "{w}/afile"], "is a file"),
    (["reproduce", "--table", "9"], "9"),
    (["reproduce", "--table", "7", "--train", "--seeds", "0"], "--seeds 0"),
    (["reproduce", "--table", "7", "--train", "--threads", "0"], "--threads 0"),
    (["reproduce", "--table", "7", "--threads", "1"], "use it with --train"),
    (["report", "--out", "{w}/afile"], "is a file"),
    (["analyze", "attention", "{w}/adir", "--out", "{w}/afile"], "is a file"),
    # train: outputs, sizes, devices
    ([*TRAIN, "--out", "{w}/afile"], "is a file"),
    ([*TRAIN, "--out", "/proc/forbidden"], "--out /proc/forbidden"),
    ([*TRAIN, "--batch-size", "1"], "--batch-size 1"),
    ([*TRAIN, "--train-limit", "1"], "--train-limit 1"),
    ([*TRAIN, "--epochs", "0"], "--epochs 0"),
    ([*TRAIN, "--lr", "0"], "--lr 0"),
    ([*TRAIN, "--lr", "nan"], "--lr nan"),
    ([*TRAIN, "--device", "tpu"], "'tpu'"),
    ([*TRAIN, "--device", "cuda:x"], "'cuda:x'"),
    ([*TRAIN, "--workers", "-1"], "--workers -1"),
    ([*TRAIN, "--resume"], "--resume needs --out"),
    ([*TRAIN, "--budget", "huge"], "huge"),
    (["train", "shufflenetv2_x0_5_sk", "--data-dir", "{w}/fm", "--val-size", "0"], "--val-size 0"),
    (["train", "shufflenetv2_x0_5_sk", "--data-dir", "{w}/fm", "--val-size", "39", "--no-progress"],
     "1 training image"),
    (["train", "nosuchnet", *FM], "unknown model 'nosuchnet'"),
    ([*TRAIN, "--dataset", "mnist3d"], "mnist3d"),
    # eval: damaged checkpoints, the wrong data set
    (["eval", "{w}/ckpt_list"], "JSON list"),
    (["eval", "{w}/ckpt_kwargs"], "takes no argument 'foo'"),
    (["eval", "{w}/ckpt_fm", "--dataset", "cifar10", "--data-dir", "{w}/c10"], "3-channel images"),
    (["eval", "{w}/adir"], "no checkpoint"),
    (["eval", "{w}/ckpt_fm", "--device", "tpu"], "'tpu'"),
    (["eval", "{w}/ckpt_fm", "--batch-size", "0"], "--batch-size 0"),
    # search: contradictory or impossible options create no study
    ([*SEARCH[:2], "--storage", "sqlite:///{w}/adir", "--trials", "1"], "is a folder"),
    ([*SEARCH, "--grid", "table7", "--space", "mobile", "--trials", "0"], "--space mobile with --grid table7"),
    ([*SEARCH, "--grid", "table7", "--trials", "0"], "--trials 0"),
    ([*SEARCH, "--trials", "-1"], "--trials -1"),
    ([*SEARCH, "--space", "nosuch", "--trials", "1"], "nosuch"),
    ([*SEARCH[:2], "--storage", "foo://x", "--trials", "1"], "foo"),
    # profile: an sk= that cannot apply, malformed specs and sizes
    (["profile", "mobilenetv2_100", "--sk", '{"paths": "K3+K5+K7"}'], "has no SK units"),
    (["profile", "resnext50_32x4d", "--sk", '{"paths": "K3+K5"}'], "has no SK units"),
    (["profile", "shufflenetv2_x0_5_sk", "--sk", '{"groups": 3}'], "SK field groups=3"),
    (["profile", "mobilenetv1_050_sk", "--sk", '{"groups": 8}'], "SK field groups=8"),
    (["profile", "sknet26", "--sk", '{"groups": "a"}'], "G='a'"),
    (["profile", "sknet26", "--sk", '{"paths": 5}'], "paths 5"),
    (["profile", "sknet26", "--sk", '{"paths": [{"kernel": 3, "foo": 1}]}'], "'foo'"),
    (["profile", "sknet26", "--sk", '{"reduction": 1e999}'], "r=inf"),
    (["profile", "sknet26", "--sk", '{"foo": 1}'], "'foo'"),
    (["profile", "sknet26", "--sk", "K3+K5"], "not valid JSON"),
    (["profile", "sknet26", "--num-classes", "0"], "num_classes=0"),
    # export: where the graph would go
    (["export", "sknet26", "--out", "{w}/adir"], "is a folder"),
    (["export", "sknet26", "--out", "{tmp}/nodir/m.onnx"], "does not exist"),
    (["export", "sknet26", "--out", "{tmp}/m.onnx", "--checkpoint", "{tmp}/missing.pt"], "missing.pt"),
    # models and usage
    (["models", "--family", "nosuch"], "unknown family"),
    (["nosuch"], "No such command"),
    # an allocation no machine can make (refused by bench itself; cli.main's generic out-of-memory
    # line is tested in test_cli.py)
    (["bench", "model", "shufflenetv2_x0_5", "--vs", "shufflenetv2_x0_5", "--batch", "100000000",
      "--input-size", "32", "--iters", "1", "--fusions", "torch"], "--batch 100000000"),
]


def _files(root: Path) -> dict:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("argv,says", CASES, ids=[" ".join(a[:1] + [x for x in a[1:] if x.startswith("--")][:3])
                                                  + f" [{i}]" for i, (a, _) in enumerate(CASES)])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, says, world, tmp_path, monkeypatch, capsys):
    from skmobile.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", FAKE_TRAINER)
    monkeypatch.syspath_prepend(TESTS)
    fill = lambda text: text.replace("{w}", str(world)).replace("{tmp}", str(tmp_path))  # noqa: E731
    args = [fill(a) for a in argv]
    before_world, before_tmp = _files(world), _files(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2, err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert fill(says) in err, err
    assert _files(world) == before_world and _files(tmp_path) == before_tmp  # nothing written or created


# --- the Python API --------------------------------------------------------------------------------

@pytest.mark.parametrize("build,says", [
    (lambda: SKSpec(paths=5), "paths 5"),
    (lambda: SKSpec(paths=[{"kernel": 3, "foo": 1}]), "'foo'"),
    (lambda: SKSpec(groups="a"), "G='a'"),
    (lambda: SKSpec(groups=2.5), "G=2.5"),
    (lambda: SKSpec(reduction=math.inf), "r=inf"),
    (lambda: SKSpec(reduction=-1), "r=-1"),
    (lambda: SKSpec(min_attn=0), "L=0"),
    (lambda: SKSpec(attn_channels=0), "d=0"),
    (lambda: SKSpec(attention="yes"), "'yes'"),
    (lambda: SKSpec(paths=[("a", 1)]), "kernel='a'"),
    (lambda: SKSpec().replace(foo=1), "'foo'"),
    (lambda: SKSpec.from_dict({"paths": "K3", "bar": 2}), "'bar'"),
    (lambda: SKConv2d(64, 64, paths=5), "paths 5"),
    (lambda: SKConv2d(64, 64, paths=[{"kernel": 3, "foo": 1}]), "'foo'"),
    (lambda: SKConv2d(64, 64, groups="a"), "G='a'"),
    (lambda: SKConv2d(-64, 64), "channels=-64"),
    (lambda: SKConv2d(0, 64), "channels=0"),
    (lambda: SKConv2d(64, 0), "channels=0"),
    (lambda: SKConv2d(64, 64, reduction=math.inf), "r=inf"),
    (lambda: SKConv2d(64, 64, stride=3), "stride 3"),
    (lambda: create_model("shufflenetv2_x0_5", num_classes=0), "num_classes=0"),
    (lambda: create_model("shufflenetv2_x0_5", in_chans=0), "in_chans=0"),
    (lambda: create_model("sknet26", foo=1), "'foo'"),
    (lambda: create_model("mobilenetv2_100", sk={"paths": "K3+K5+K7"}), "has no SK units"),
    (lambda: create_model("shufflenetv2_x0_5_sk", sk={"groups": 3}), "SK field groups=3"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_api_bad_arguments_raise_one_line_sk_mobile_errors(build, says):
    with pytest.raises(SKMobileError) as info:
        build()
    text = str(info.value)
    assert says in text and "\n" not in text and "allowed" in text


def test_sk_fields_a_family_takes_still_build():
    """The guard rejects only what is ignored: a depthwise family takes paths, r and L."""
    net = create_model("shufflenetv2_x0_5_sk", sk={"paths": "K3+K7", "reduction": 8, "min_attn": 16})
    specs = {(u.spec.kernels, u.spec.reduction, u.spec.min_attn) for u in net.modules() if isinstance(u, SKConv2d)}
    assert specs == {("K3+K7", 8, 16)}
    assert json.loads(json.dumps(SKSpec(groups=16.0).to_dict()))["groups"] == 16
