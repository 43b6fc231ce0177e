"""--device cpu|cuda|cuda:N|auto for train, eval, search and reproduce: one resolver, the one-line error
without CUDA in every command, and the device recorded in every trial (the CUDA path's CPU-side logic,
with torch.cuda.is_available patched)."""

import os

import optuna
import pytest
import torch

from skmobile.errors import SKMobileError
from skmobile.search.runner import SearchConfig, run_search, worker_argv
from skmobile.search.storage import open_storage
from skmobile.device import resolve_device

TESTS = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(autouse=True)
def fake_trainer(monkeypatch):
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_search_support:FakeTrainer")
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)


def _cuda(monkeypatch, present: bool, count: int = 1):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count if present else 0)


def test_resolve_device(monkeypatch):
    _cuda(monkeypatch, False)
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") == "cpu"
    with pytest.raises(SKMobileError, match=r"--device 'cuda': CUDA is not available on this machine; allowed: cpu"):
        resolve_device("cuda")
    with pytest.raises(SKMobileError, match=r"--device 'gpu' is not a device; allowed: cpu, cuda, cuda:N, auto"):
        resolve_device("gpu")
    for bad in ("cuda:x", "cuda:", "CPU", ""):
        with pytest.raises(SKMobileError, match="is not a device"):
            resolve_device(bad)
    _cuda(monkeypatch, True, count=2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("cuda") == "cuda" and resolve_device("cpu") == "cpu"
    with pytest.raises(SKMobileError, match=r"'cuda:2' does not exist: this machine has 2 CUDA device\(s\)"):
        resolve_device("cuda:2")


def test_cuda_without_cuda_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, cli):
    _cuda(monkeypatch, False)
    db = tmp_path / "s.db"
    code, _, err = cli(["search", "--storage", f"sqlite:///{db}", "--trials", "1", "--no-live", "--device", "cuda"])
    assert code == 2 and err.startswith("error: --device 'cuda': CUDA is not available") and "\n" not in err.strip()
    code, _, err = cli(["reproduce", "--table", "6", "--train", "--seeds", "1", "--storage", f"sqlite:///{db}",
                      "--out", str(tmp_path / "rep"), "--device", "cuda"])
    assert code == 2 and "CUDA is not available" in err and "\n" not in err.strip()
    assert not db.exists() and not (tmp_path / "rep").exists()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny trained-model checkpoint for `eval` (never evaluated: the device check comes first)."""
    from skmobile.models import create_model
    from skmobile.train import save_checkpoint

    root = tmp_path_factory.mktemp("ckpt")
    kwargs = {"num_classes": 10, "in_chans": 1, "stem": "small", "width_mult": 0.25}
    save_checkpoint(root / "m", create_model("shufflenetv2_x0_5", **kwargs), None,
                    {"model": "shufflenetv2_x0_5", "model_kwargs": kwargs, "dataset": "fashion-mnist", "seed": 0})
    return root / "m"


@pytest.mark.parametrize("command", ["train", "eval", "search", "reproduce"])
@pytest.mark.parametrize("device, says", [("cuda", "--device 'cuda': CUDA is not available on this machine"),
                                          ("cuda:1", "--device 'cuda:1': CUDA is not available"),
                                          ("tpu", "--device 'tpu' is not a device; allowed: cpu, cuda, cuda:N, auto")])
def test_every_device_flag_has_one_check(command, device, says, checkpoint, tmp_path, monkeypatch, cli):
    """train, eval, search and reproduce refuse a bad or missing device the same way: one line, exit 2,
    nothing written."""
    _cuda(monkeypatch, False)
    monkeypatch.chdir(tmp_path)
    argv = {"train": ["train", "shufflenetv2_x0_5", "--out", str(tmp_path / "run"), "--no-progress"],
            "eval": ["eval", str(checkpoint)],
            "search": ["search", "--storage", f"sqlite:///{tmp_path}/s.db", "--trials", "1", "--no-live"],
            "reproduce": ["reproduce", "--table", "7", "--train", "--seeds", "1", "--storage",
                          f"sqlite:///{tmp_path}/s.db", "--out", str(tmp_path / "rep")]}[command]
    code, _, err = cli([*argv, "--device", device])
    assert code == 2 and err.startswith(f"error: {says}") and "\n" not in err.strip(), err
    assert list(tmp_path.iterdir()) == []


def test_train_and_eval_take_auto(checkpoint, tmp_path, monkeypatch, cli):
    """auto resolves before work starts: CPU here (CUDA patched away), and train records the device it used."""
    import json

    from test_data import write_fmnist

    _cuda(monkeypatch, False)
    fm = write_fmnist(tmp_path / "fm", n_train=40, n_test=10)
    out = tmp_path / "run"
    code, _, err = cli(["train", "shufflenetv2_x0_5", "--data-dir", str(fm), "--val-size", "8", "--epochs", "1",
                      "--threads", "1", "--no-progress", "--device", "auto", "--out", str(out)])
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["device"] == "cpu"
    code, _, err = cli(["eval", str(out), "--device", "auto", "--data-dir", str(fm)])
    assert code == 0 and err == "", err


def _attrs(url, study):
    trials = optuna.load_study(study_name=study, storage=open_storage(url)).get_trials()
    return [t.user_attrs for t in trials]


def test_trials_record_the_resolved_device(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/s.db"
    _cuda(monkeypatch, False)
    run_search(SearchConfig(trials=2, storage=url, study="auto", device="auto", live=False))
    assert [a["device"] for a in _attrs(url, "auto")] == ["cpu", "cpu"]
    # with CUDA present (patched), auto picks it and the trainer is built for it
    _cuda(monkeypatch, True)
    seen = {}
    import test_search_support

    real_init = test_search_support.FakeTrainer.__init__

    def spy(self, **kwargs):
        seen.update(kwargs)
        real_init(self, **kwargs)

    monkeypatch.setattr(test_search_support.FakeTrainer, "__init__", spy)
    run_search(SearchConfig(trials=1, storage=url, study="gpu", device="auto", live=False))
    assert seen["device"] == "cuda" and [a["device"] for a in _attrs(url, "gpu")] == ["cuda"]
    argv = worker_argv(SearchConfig(device="auto", storage=f"journal:{tmp_path}/j.log", workers=2), 1, 3)
    assert argv[argv.index("--device") + 1] == "auto"
