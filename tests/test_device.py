"""--device cpu|cuda|auto for search and reproduce: resolution, the one-line error without CUDA, and the
device recorded in every trial (the CUDA path's CPU-side logic, with torch.cuda.is_available patched)."""

import os

import optuna
import pytest
import torch

from skmobile.errors import SKMobileError
from skmobile.search.runner import SearchConfig, run_search, worker_argv
from skmobile.search.storage import open_storage
from skmobile.train import resolve_device

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
    with pytest.raises(SKMobileError, match=r"device 'cuda' asked for but CUDA is not available here; allowed: cpu"):
        resolve_device("cuda")
    with pytest.raises(SKMobileError, match=r"unknown device 'gpu'; allowed: cpu, cuda, cuda:N, auto"):
        resolve_device("gpu")
    _cuda(monkeypatch, True, count=2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(SKMobileError, match="'cuda:2' does not exist: 2 CUDA"):
        resolve_device("cuda:2")


def _cli(argv, capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code, capsys.readouterr().err.strip()


def test_cuda_without_cuda_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    _cuda(monkeypatch, False)
    db = tmp_path / "s.db"
    code, err = _cli(["search", "--storage", f"sqlite:///{db}", "--trials", "1", "--no-live", "--device", "cuda"],
                     capsys)
    assert code == 2 and err.startswith("error: device 'cuda'") and "\n" not in err
    code, err = _cli(["reproduce", "--table", "6", "--train", "--seeds", "1", "--storage", f"sqlite:///{db}",
                      "--out", str(tmp_path / "rep"), "--device", "cuda"], capsys)
    assert code == 2 and "CUDA is not available" in err and "\n" not in err
    assert not db.exists() and not (tmp_path / "rep").exists()


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
