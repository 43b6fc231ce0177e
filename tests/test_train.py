"""skmobile.train: fit on a few batches of tiny data, checkpoints + resume, NaN guard, recipes, CLI."""

from __future__ import annotations

import json
import math
import shlex

import pytest
import torch
from torch import nn

from skmobile.data import make_loaders
from skmobile.errors import SKMobileError
from skmobile.models import list_models, model_entry
from skmobile.train import (FAMILY_PROXIES, FitConfig, build_proxy_model, default_weight_decay, evaluate, fit,
                            load_model, lr_at, proxy_recipe, read_checkpoint)
from skmobile.train.optim import param_groups

from test_data import write_fmnist


@pytest.fixture(scope="module")
def fmnist_dir(tmp_path_factory):
    return write_fmnist(tmp_path_factory.mktemp("fm"), n_train=72, n_test=20)


@pytest.fixture
def loaders(fmnist_dir):
    return make_loaders("fashion-mnist", fmnist_dir, batch_size=16, val_size=8, seed=0)


class Tiny(nn.Module):
    def __init__(self, poison=False):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 10)
        self.poison = poison

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x))).mean((2, 3))
        out = self.fc(x)
        return out * float("nan") if self.poison else out


def tiny_sknet(loaders):
    return build_proxy_model("sknet50", loaders, width_mult=0.125)


def test_fit_few_batches(loaders):
    seen = []
    model = tiny_sknet(loaders)
    res = fit(model, loaders, FitConfig(epochs=2, progress=False, max_steps_per_epoch=2,
                                        on_epoch=lambda e, m: seen.append((e, m["val_error"]))))
    assert res.status == "ok" and res.epochs == 2 and len(res.history) == 2
    assert [e for e, _ in seen] == [1, 2] and all(0 <= v <= 100 for _, v in seen)
    assert 0 <= res.test_error <= 100 and res.test_accuracy == pytest.approx(100 - res.test_error)
    assert res.images_per_s > 0 and res.seconds > 0 and res.history[0]["images"] == 32
    assert res.weight_decay == 1e-4  # SKNet is a large-model family (paper)


def test_fit_learns_tiny_problem(loaders):
    torch.manual_seed(0)
    res = fit(Tiny(), loaders, FitConfig(epochs=6, lr=0.2, weight_decay=0.0, progress=False))
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]


def test_on_epoch_exception_propagates(loaders):
    class Pruned(Exception):
        pass

    def prune(epoch, metrics):
        raise Pruned()

    with pytest.raises(Pruned):
        fit(Tiny(), loaders, FitConfig(epochs=3, progress=False, on_epoch=prune, max_steps_per_epoch=1))


def test_nan_guard(loaders):
    res = fit(Tiny(poison=True), loaders, FitConfig(epochs=3, progress=False))
    assert res.status == "nan" and res.epochs == 0 and res.test_error is None and math.isnan(res.val_error)


def test_checkpoint_resume_same_epochs_and_weights(loaders, tmp_path):
    class Killed(Exception):
        pass

    def kill_after_2(epoch, metrics):
        if epoch == 2:
            raise Killed()

    torch.manual_seed(1)
    ref = Tiny()
    start = {k: v.clone() for k, v in ref.state_dict().items()}
    full = fit(ref, loaders, FitConfig(epochs=4, progress=False, out_dir=tmp_path / "full"))

    interrupted = Tiny()
    interrupted.load_state_dict(start)
    with pytest.raises(Killed):
        fit(interrupted, loaders, FitConfig(epochs=4, progress=False, out_dir=tmp_path / "run", on_epoch=kill_after_2))
    tensors, state = read_checkpoint(tmp_path / "run")
    assert state["epochs_done"] == 2 and any(k.startswith("optim.") for k in tensors)
    resumed = Tiny()
    resumed.load_state_dict(start)
    res = fit(resumed, loaders, FitConfig(epochs=4, progress=False, out_dir=tmp_path / "run", resume=True))
    assert res.epochs == 4 == full.epochs and [h["epoch"] for h in res.history] == [1, 2, 3, 4]
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k].float(), v.float(), atol=1e-4, rtol=1e-4)
    assert res.test_error == pytest.approx(full.test_error)


def test_checkpoint_files_are_not_pickle_and_reload(loaders, tmp_path):
    model = tiny_sknet(loaders)
    fit(model, loaders, FitConfig(epochs=1, progress=False, out_dir=tmp_path, max_steps_per_epoch=1))
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["model"] == "sknet50" and state["model_kwargs"]["width_mult"] == 0.125
    assert (tmp_path / "checkpoint.safetensors").read_bytes()[8:9] == b"{"  # safetensors JSON header
    again = load_model(tmp_path)
    x = next(iter(loaders.test))[0]
    model.eval()
    torch.testing.assert_close(again(x), model(x))
    assert evaluate(again, loaders.test)[0] == pytest.approx(evaluate(model, loaders.test)[0])
    (tmp_path / "checkpoint.safetensors").write_bytes(b"garbage")
    with pytest.raises(SKMobileError, match="damaged checkpoint"):
        load_model(tmp_path)


def test_schedule_and_weight_decay_groups(loaders):
    assert lr_at(0, 100, 1.0, 10) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(10, 100, 1.0, 10) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 10) == pytest.approx(0.5)
    assert lr_at(100, 100, 1.0, 10) == pytest.approx(0.0)
    decay, no_decay = param_groups(Tiny(), 1e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and no_decay["weight_decay"] == 0.0
    assert {p.ndim for p in no_decay["params"]} == {1}  # BN gamma/beta and biases
    assert default_weight_decay(tiny_sknet(loaders)) == 1e-4
    if "shufflenetv2_x0_5_sk" in list_models():
        assert default_weight_decay(build_proxy_model("shufflenetv2_x0_5_sk", loaders)) == 4e-5


def test_fit_rejects_bad_input(loaders):
    with pytest.raises(SKMobileError, match="epochs"):
        fit(Tiny(), loaders, FitConfig(epochs=0))
    with pytest.raises(SKMobileError, match="CUDA"):
        if torch.cuda.is_available():
            raise SKMobileError("CUDA present; skip")
        fit(Tiny(), loaders, FitConfig(epochs=1, device="cuda"))


# --- proxy recipes --------------------------------------------------------------------------------

def _one_per_family():
    names = {}
    for name in list_models():
        names.setdefault(model_entry(name).family, name)
    return names


@pytest.mark.parametrize("family", sorted(FAMILY_PROXIES))
def test_proxy_recipe_per_family(family, loaders):
    name = _one_per_family().get(family)
    if name is None:
        pytest.skip(f"no {family} model registered yet")
    full, trial = proxy_recipe(name), proxy_recipe(name, budget="trial")
    assert full.model_kwargs["stem"] == "small"
    assert trial.train_limit * trial.epochs < 55_000 * full.epochs
    model = build_proxy_model(name, loaders)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert (full.weight_decay == 4e-5) == family.startswith(("shufflenet", "mobilenet"))


def test_proxy_recipe_errors():
    with pytest.raises(SKMobileError, match="unknown model"):
        proxy_recipe("nonet")
    with pytest.raises(SKMobileError, match="budget"):
        proxy_recipe("sknet50", budget="huge")


# --- CLI -------------------------------------------------------------------------------------------

def test_cli_train_eval_bench(fmnist_dir, tmp_path, cli):
    out = tmp_path / "run"
    code, stdout, err = cli(["train", "sknet50", "--data-dir", str(fmnist_dir), "--epochs", "1", "--val-size", "8",
                              "--batch-size", "16", "--out", str(out), "--no-progress", "--threads", "1"])
    assert code in (0, None), err
    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_error", "test_accuracy", "epochs", "images_per_s", "seconds", "model", "dataset", "seed",
                "recipe"):
        assert key in m
    assert m["epochs"] == 1 and m["model"] == "sknet50" and m["proxy"]["macs"] > 0
    assert "test error" in stdout and "MACs" in stdout

    code, stdout, err = cli(["train", "sknet50", "--data-dir", str(fmnist_dir), "--epochs", "1", "--val-size", "8",
                              "--batch-size", "16", "--out", str(out), "--resume", "--no-progress"])
    assert code in (0, None), err
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1

    code, stdout, err = cli(["eval", str(out), "--data-dir", str(fmnist_dir)])
    assert code in (0, None), err
    assert f"{m['test_accuracy']:.2f} %" in stdout

    # the attention analysis reads the same checkpoint (the real CLI path, not a hand-built model)
    rep = tmp_path / "rep"
    code, stdout, err = cli(["analyze", "attention", str(out), "--data-dir", str(fmnist_dir), "--limit", "8",
                              "--out", str(rep)])
    assert code in (0, None), err
    result = json.loads((rep / "attention.json").read_text())
    ck = result["checkpoints"][0]
    assert ck["model"] == "sknet50" and ck["command_recorded"] and len(result["stages"]) > 0
    assert ck["command"] == ("skmobile train sknet50 --data-dir " + shlex.quote(str(fmnist_dir)) + " --epochs 1 "
                             "--val-size 8 --batch-size 16 --out " + shlex.quote(str(out)) + " --no-progress "
                             "--threads 1")  # as typed, every option included
    assert all(e["verdict"].startswith("not tested (1 model") for s in result["stages"] for e in s["changes"])
    assert {"attention.md", "attention.png", "attention.svg"} <= {p.name for p in rep.iterdir()}

    code, stdout, err = cli(["bench", "train", "sknet50", "--fusion", "torch,nosuch", "--steps", "1", "--warmup", "0",
                              "--batch-size", "4", "--threads", "1"])
    assert code in (0, None), err
    assert "torch" in stdout and "unavailable" in stdout


def test_bench_train_times_the_network_a_table_trial_trains(cli):
    """The table budget repeats 28 px images up to 56 px for SKNet: the benchmark must time that
    network (it once timed the 28 px one, 4x too cheap), and name it."""
    code, stdout, err = cli(["bench", "train", "sknet50", "--budget", "table", "--fusion", "torch", "--steps", "1",
                             "--warmup", "0", "--batch-size", "2", "--threads", "1"])
    assert code in (0, None), err
    title = " ".join(stdout.split())
    assert "table proxy" in title and "net input 56 px" in title and "440000 images" in title, stdout
    code, stdout, err = cli(["bench", "train", "sknet50", "--device", "tpu"])
    assert code == 2 and "device" in err and "tpu" in err and "Traceback" not in err


def test_cli_train_channels_last_recipe_round_trips(fmnist_dir, tmp_path, cli):
    # ShuffleNetV2's default recipe trains in channels_last on CPU too (faster there, measured);
    # its checkpoint must reload into a plain model and evaluate to the same accuracy.
    recipe = proxy_recipe("shufflenetv2_x0_5_sk")
    assert recipe.channels_last and not proxy_recipe("shufflenetv2_x0_5_sk", budget="trial").channels_last
    out = tmp_path / "run"
    code, _, err = cli(["train", "shufflenetv2_x0_5_sk", "--data-dir", str(fmnist_dir), "--epochs", "1",
                         "--val-size", "8", "--batch-size", "16", "--out", str(out), "--no-progress",
                         "--threads", "1"])
    assert code in (0, None), err
    m = json.loads((out / "metrics.json").read_text())
    assert m["recipe"]["channels_last"] is True and m["batch_size"] == 16
    assert m["lr"] == pytest.approx(recipe.lr * 16 / recipe.batch_size)
    code, stdout, err = cli(["eval", str(out), "--data-dir", str(fmnist_dir)])
    assert code in (0, None), err
    assert f"{m['test_accuracy']:.2f} %" in stdout


def test_cli_errors_are_one_line(tmp_path, cli):
    code, _, err = cli(["train", "sknet50", "--data-dir", str(tmp_path), "--no-progress"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "apt-get install dataset-fashion-mnist" in err
    code, _, err = cli(["train", "sknet50", "--resume"])
    assert code == 2 and "--out" in err
    code, _, err = cli(["eval", str(tmp_path / "none")])
    assert code == 2 and "no checkpoint" in err


def test_cli_run_sigkilled_mid_epoch_resumes_to_the_same_epochs(tmp_path):
    """A real `skmobile train` process is SIGKILLed after its first checkpoint (inside epoch 2);
    `--resume` finishes the run with the asked-for number of epochs and a full history."""
    import os
    import signal
    import subprocess
    import sys
    import time

    data = write_fmnist(tmp_path / "fm", n_train=640, n_test=40)
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "skmobile", "train", "sknet50", "--data-dir", str(data), "--epochs", "3",
            "--val-size", "40", "--batch-size", "16", "--out", str(out), "--no-progress", "--threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        state = out / "state.json"
        if state.exists() and json.loads(state.read_text() or "{}").get("epochs_done") == 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-400:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not (out / "metrics.json").exists()
    assert json.loads((out / "state.json").read_text())["epochs_done"] == 1

    res = subprocess.run(argv + ["--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-800:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 3
    assert [h["epoch"] for h in read_checkpoint(out)[1]["history"]] == [1, 2, 3]


def _structure(model):
    return ([(n, type(m).__name__) for n, m in model.named_modules()],
            [(n, tuple(p.shape)) for n, p in model.named_parameters()], sum(p.numel() for p in model.parameters()))


def test_cli_train_and_a_search_trial_build_the_same_network(fmnist_dir, monkeypatch, cli):
    """Issue 14: ``skmobile train M`` and a search trial of M go through one ``train_proxy``; they build
    the same proxy (modules, parameter shapes and count), group scaling included."""
    import dataclasses

    from skmobile.search.spaces import Candidate
    from skmobile.search.trainer import ProxyTrainer
    from skmobile.train import proxy as recipes
    from skmobile.train import proxy_fit

    half = dataclasses.replace(recipes.FAMILY_PROXIES["sknet"],  # the table proxy's structure at half width:
                               model_kwargs={**recipes.RESNEXT_PROXY, "width_mult": 0.5})  # a CPU-test size
    monkeypatch.setitem(recipes.FAMILY_PROXIES, "sknet", half)

    built = []
    real_fit = proxy_fit.fit

    def spy(model, loaders, config):
        built.append(model)
        return real_fit(model, loaders, config)

    monkeypatch.setattr(proxy_fit, "fit", spy)
    code, _, err = cli(["train", "sknet26", "--data-dir", str(fmnist_dir), "--budget", "table", "--epochs", "1",
                         "--val-size", "8", "--batch-size", "16", "--no-progress", "--threads", "1"])
    assert code in (0, None), err
    trainer = ProxyTrainer(data_dir=str(fmnist_dir), budget="table", epochs=1, val_size=8)
    out = trainer.run(Candidate("sknet26", {}), seed=0)
    assert len(built) == 2 and out.status == "ok"
    cli_net, trial_net = (_structure(m) for m in built)
    assert cli_net == trial_net and cli_net[2] == out.proxy["params"]

    # a Table 6 branch: the table proxy scales its groups with the width (0.5 here), the same on both paths
    sk = {"paths": "K3+7x7g128", "groups": 64}
    trainer.run(Candidate("sknet26", {"sk": sk}), seed=0)
    loaders = trainer.loaders(proxy_recipe("sknet26", "table").batch_size, 0, None)
    direct = build_proxy_model("sknet26", loaders, "table", sk=sk)
    assert _structure(built[-1]) == _structure(direct)
    units = [u for u in built[-1].modules() if u.__class__.__name__ == "SKConv2d"]
    assert units and all(u.spec.groups == 32 and u.spec.kernels == "K3+7x7g64" for u in units)
