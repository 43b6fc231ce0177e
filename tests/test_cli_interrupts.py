"""Ctrl-C and logs: an interrupted search or training ends in one line with exit code 130 and keeps
what it had; without a terminal both print one plain line per epoch and per trial; the live view's
status lines fit 80 columns."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from skmobile.search.storage import open_storage
from test_data import write_fmnist

TESTS = os.path.dirname(os.path.abspath(__file__))


def _env(**extra):
    return dict(os.environ, SKMOBILE_SEARCH_TRAINER="test_search_support:FakeTrainer", OMP_NUM_THREADS="1",
                PYTHONPATH=os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])), **extra)


def _skmobile(args, env):
    """``python -m skmobile ARGS`` with Ctrl-C at its default: a process started in the background by
    a shell without job control (a CI script, ``cmd &``) inherits SIGINT ignored, and so would the CLI."""
    return subprocess.Popen([sys.executable, "-m", "skmobile", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(predicate, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _running(storage, study):
    try:
        trials = optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials()
    except KeyError:
        return []
    return [t.number for t in trials if t.state == TrialState.RUNNING]


def test_ctrl_c_during_a_search_trial_is_one_line_exit_130_and_the_trial_failed(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    proc = _skmobile(["search", "--storage", storage, "--study", "s", "--trials", "3"], _env(SKMOBILE_FAKE_SLEEP="60"))
    try:
        assert _wait_for(lambda: _running(storage, "s")), "no trial started"
        number = _running(storage, "s")[0]
        time.sleep(1.0)  # inside the fake trainer's sleep
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == f"interrupted; trial {number} marked failed; rerun to continue"
    assert f"trial {number} started" in out  # a plain progress line: stdout is not a terminal
    trials = optuna.load_study(study_name="s", storage=open_storage(storage)).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL]
    assert trials[0].user_attrs["fail_reason"] == "interrupted"


def test_ctrl_c_during_training_keeps_the_last_complete_epoch(tmp_path):
    data = write_fmnist(tmp_path / "fm", n_train=40, n_test=10)
    out_dir = tmp_path / "run"
    proc = _skmobile(["train", "shufflenetv2_x0_5_sk", "--data-dir", str(data), "--val-size", "8", "--batch-size",
                      "16", "--epochs", "500", "--threads", "1", "--out", str(out_dir)], _env())
    try:
        assert _wait_for(lambda: (out_dir / "state.json").is_file(), timeout=240), "no epoch finished"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    done = json.loads((out_dir / "state.json").read_text())["epochs_done"]
    assert err.strip() == f"interrupted; checkpoint of epoch {done} kept in {out_dir}; rerun with --resume to continue"
    assert done >= 1 and f"epoch {done}/500: train loss" in out  # one plain line per epoch


def _cli(argv, capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def test_search_without_a_terminal_prints_a_line_per_epoch_and_trial(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_search_support:FakeTrainer")
    monkeypatch.syspath_prepend(TESTS)
    code, out, err = _cli(["search", "--storage", f"sqlite:///{tmp_path}/s.db", "--study", "p", "--trials", "2"],
                          capsys)
    assert code == 0, err
    lines = out.splitlines()
    for n in (0, 1):
        started = lines.index(f"trial {n} started")
        assert lines[started + 1].startswith(f"trial {n} epoch 1: val err % ")
        assert lines[started + 2].startswith(f"trial {n} complete: ")


def test_train_without_a_terminal_prints_a_line_per_epoch(tmp_path, capsys):
    data = write_fmnist(tmp_path / "fm", n_train=40, n_test=10)
    code, out, err = _cli(["train", "shufflenetv2_x0_5_sk", "--data-dir", str(data), "--val-size", "8",
                           "--batch-size", "16", "--epochs", "2", "--threads", "1"], capsys)
    assert code == 0, err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("val error" in line and "img/s" in line for line in epoch_lines)


def test_live_view_status_lines_fit_80_columns():
    from rich.console import Console

    from skmobile.search.live import LiveView

    study = optuna.create_study(directions=["minimize", "minimize"])
    for i in range(12):
        study.add_trial(optuna.trial.create_trial(values=[10.0 + i, 100.0 - i], user_attrs={
            "label": f"sknet50[K3+K5 SK G=32 r=16 L=32] #{i}", "val_error": 10.0 + i, "mflops": 100.0 - i,
            "params": 2.5e6, "test_accuracy": 88.0, "wall_s": 1234.0}))
    view = LiveView("a-rather-long-study-name", "sqlite:///runs/skmobile.db", 1000, 1, True, baseline=0)
    view.update(study.get_trials())
    view.started -= 123456
    view.progress(12, 3, {"val_error": 12.3456})
    console = Console(width=80, record=True, color_system=None)
    console.print(view)
    lines = console.export_text().splitlines()
    status = next(line for line in lines if line.startswith("this run"))
    assert "complete 12" in status and "waiting 0" in status  # the counts are not wrapped
    assert any(line.startswith("elapsed ") and "ETA" in line for line in lines)
    assert max(len(line) for line in lines) <= 80


def test_ctrl_c_inside_an_epochs_checkpoint_and_report_waits_for_both():
    """A Ctrl-C between an epoch's checkpoint and its log line is raised only after both."""
    from skmobile.train.loop import _ctrl_c_held

    done = []
    with pytest.raises(KeyboardInterrupt):
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("checkpoint")
            done.append("report")
    assert done == ["checkpoint", "report"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
