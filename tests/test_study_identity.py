"""A study is one experiment; storage and output paths are vetted before work; nothing is lost.

* a study records its identity and refuses a run of another experiment (objective, direction, space,
  budget override, data set), with nothing stored; a compatible rerun continues it;
* a device, a FIFO or a folder as storage is one line, exit 2, within seconds and without memory growth;
* export to a device is one line; a failed write leaves the earlier file whole;
* a limit (--max-latency-ms) is enforced before training;
* analyze attention and bench kernels without --out leave a git checkout's tracked reports alone.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from skmobile.search.storage import open_storage

TESTS = os.path.dirname(os.path.abspath(__file__))
FAKE = "test_search_support:FakeTrainer"


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", FAKE)
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)
    monkeypatch.syspath_prepend(TESTS)
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path}/s.db"


def _search(cli, url, *extra):
    return cli(["search", "--no-live", "--storage", url, "--trials", "1", *extra])


def _trials(url, study):
    return optuna.load_study(study_name=study, storage=open_storage(url, create=False)).get_trials()


@pytest.mark.parametrize("extra,says", [
    (["--objective", "error,latency", "--latency", "predict"], "objectives (val_error, mflops) (this run: (val_error, latency_ms)"),
    (["--objective", "error"], "--objective"),
    (["--space", "mobile"], "space ablation (this run: mobile"),
    (["--train-limit", "256"], "train_limit the recipe's default (this run: 256, --train-limit)"),
    (["--epochs", "2"], "epochs the recipe's default (this run: 2, --epochs)"),
    (["--budget", "default"], "budget trial (this run: default, --budget)"),
    (["--dataset", "cifar10"], "dataset fashion-mnist (this run: cifar10, --dataset)"),
])
def test_a_study_refuses_another_experiment_and_stores_nothing(fake, cli, tmp_path, extra, says):
    code, _, err = _search(cli, fake, "--study", "s")
    assert code == 0, err
    db = tmp_path / "s.db"
    before = db.read_bytes()
    start = time.time()
    code, out, err = _search(cli, fake, "--study", "s", *extra)
    assert code == 2, out + err
    assert err.startswith("error: study 's' is another experiment") and len(err.strip().splitlines()) == 1, err
    assert says in err and "--study NEW" in err, err
    assert db.read_bytes() == before  # nothing stored
    assert time.time() - start < 10
    assert len(_trials(fake, "s")) == 1


def test_a_compatible_rerun_continues_and_the_identity_is_recorded(fake, cli):
    assert _search(cli, fake, "--study", "s", "--train-limit", "256")[0] == 0
    code, _, err = _search(cli, fake, "--study", "s", "--train-limit", "256")
    assert code == 0, err
    study = optuna.load_study(study_name="s", storage=open_storage(fake, create=False))
    assert len(study.get_trials()) == 2
    ident = study.user_attrs["identity"]
    assert ident["objectives"] == ["val_error", "mflops"] and ident["train_limit"] == 256
    assert ident["space"] == "ablation" and ident["dataset"] == "fashion-mnist" and ident["proxy"].startswith("trial:")


def test_budget_overrides_without_study_go_to_their_own_study(fake, cli):
    assert _search(cli, fake)[0] == 0
    code, out, err = _search(cli, fake, "--train-limit", "256", "--epochs", "1")
    assert code == 0, err
    assert len(_trials(fake, "ablation")) == 1  # the demo's study is untouched
    assert len(_trials(fake, "ablation-limit256-epochs1")) == 1
    from skmobile.report.search_study import collect, open_study

    data = collect(open_study(fake, "ablation-limit256-epochs1"), fake)
    assert data["budget"] == "trial (train-limit 256, epochs 1)"  # the report says which budget


def test_an_older_study_without_identity_gets_it_on_a_compatible_run_and_a_direction_is_checked(fake, cli):
    store = open_storage(fake)
    old = optuna.create_study(storage=store, study_name="old", directions=["minimize", "minimize"])
    for key, value in (("space", "ablation"), ("objective", "multi"), ("objective_names", ["val_error", "mflops"]),
                       ("dataset", "fashion-mnist"), ("budget", "trial")):
        old.set_user_attr(key, value)
    code, _, err = _search(cli, fake, "--study", "old", "--space", "mobile")
    assert code == 2 and "space ablation (this run: mobile" in err
    assert "identity" not in optuna.load_study(study_name="old", storage=store).user_attrs
    assert _search(cli, fake, "--study", "old")[0] == 0
    assert optuna.load_study(study_name="old", storage=store).user_attrs["identity"]["space"] == "ablation"
    optuna.create_study(storage=store, study_name="max", directions=["maximize", "minimize"])
    code, _, err = _search(cli, fake, "--study", "max")
    assert code == 2 and "directions (maximize, minimize) (this run: (minimize, minimize)" in err, err
    assert _trials(fake, "max") == []


def _bad_storages(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "adir").mkdir()
    return [("journal:/dev/full", "is a character device"), (f"journal:{fifo}", "is a FIFO"),
            (f"sqlite:///{fifo}", "is a FIFO"), (f"journal:{tmp_path}/adir", "is a folder"),
            (f"sqlite:///{tmp_path}/adir", "is a folder")]


def test_bad_storage_paths_are_one_line_within_seconds(fake, cli, tmp_path):
    for url, says in _bad_storages(tmp_path):
        start = time.time()
        code, out, err = _search(cli, url)
        assert code == 2 and err.startswith("error: --storage ") and says in err, (url, err)
        assert len(err.strip().splitlines()) == 1 and time.time() - start < 5, (url, err)
        code, _, err = cli(["report", "--storage", url])
        assert code == 2 and says in err, (url, err)


def test_dev_full_journal_keeps_memory_flat(tmp_path):
    """The old failure read /dev/full as a journal without end (GBs in seconds). The child runs under a
    1 GiB address-space limit: a reader that grows hits it and dies with a MemoryError, while the fix
    answers in one line before torch and optuna load. (A child's ru_maxrss is no measure here: Linux
    carries the forking pytest worker's peak, torch included, across exec.)"""
    import resource

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])),
           "SKMOBILE_SEARCH_TRAINER": FAKE}
    proc = subprocess.run([sys.executable, "-m", "skmobile", "search", "--no-live", "--storage", "journal:/dev/full",
                           "--trials", "1"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=120, preexec_fn=limit_memory)
    assert proc.returncode == 2 and "is a character device" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_read_only_database_says_read_only(fake, cli, monkeypatch, tmp_path):
    assert _search(cli, fake, "--study", "s")[0] == 0
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p).endswith("s.db") and mode & os.W_OK
                        else real(p, mode, **k))
    code, _, err = _search(cli, fake, "--study", "s")
    assert code == 2 and "read-only" in err and len(err.strip().splitlines()) == 1, err


def test_storage_error_names_read_only_through_wrappers():
    from skmobile.search.storage import storage_error

    try:
        try:
            raise OSError("attempt to write a readonly database")
        except OSError as inner:
            raise RuntimeError("An exception is raised during the commit. e.g. exceeding max length") from inner
    except RuntimeError as exc:
        assert "read-only" in storage_error(exc)
    assert storage_error(ValueError("other\nlines")) == "other"


def test_max_latency_is_enforced_before_training(fake, monkeypatch):
    """A trial predicted above --max-latency-ms is pruned without training; one below trains."""
    import test_search_support

    from skmobile.search.runner import SearchConfig, run_search

    trained = []
    real_run = test_search_support.FakeTrainer.run
    monkeypatch.setattr(test_search_support.FakeTrainer, "run",
                        lambda self, c, seed, on_epoch=None: trained.append(c.label()) or real_run(self, c, seed, on_epoch))
    latencies = {}

    class Latency:
        def __call__(self, model, kwargs):
            ms = 5.0 if len(latencies) % 2 else 20.0  # every other candidate above the limit
            latencies[(model, str(kwargs))] = ms
            return {"latency_ms": ms, "latency_source": "predicted"}

        def summary(self):
            return {}

    monkeypatch.setattr(SearchConfig, "latency_provider", lambda self: Latency())
    run_search(SearchConfig(space="mobile", trials=4, storage=fake, study="lat", live=False, max_latency_ms=10.0))
    trials = _trials(fake, "lat")
    above = [t for t in trials if t.user_attrs["latency_ms"] > 10]
    assert above and all(t.state == optuna.trial.TrialState.PRUNED for t in above)
    assert all("above --max-latency-ms 10" in t.user_attrs["rejected"] for t in above)
    assert len(trained) == sum(t.user_attrs["latency_ms"] <= 10 and "reused_from" not in t.user_attrs for t in trials)


def test_export_to_a_device_is_one_line_and_a_failed_write_keeps_the_old_file(cli, tmp_path, monkeypatch):
    code, _, err = cli(["export", "sknet26", "--out", "/dev/full"])
    assert code == 2 and "--out /dev/full is not a regular file" in err and len(err.strip().splitlines()) == 1
    from skmobile import export as export_mod

    old = tmp_path / "m.onnx"
    old.write_bytes(b"earlier graph")

    def full_disk(model, x, path, opset, exporter):
        Path(path).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_mod, "_export", full_disk)
    code, _, err = cli(["export", "shufflenetv2_x0_5_sk", "--out", str(old), "--input-size", "32", "--no-verify"])
    assert code == 2 and "No space left on device" in err and "--out" in err and len(err.strip().splitlines()) == 1
    assert old.read_bytes() == b"earlier graph"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, capture_output=True,
                          text=True, check=True).stdout


def test_analyze_and_bench_kernels_without_out_leave_tracked_reports_alone(cli, tmp_path, monkeypatch):
    from test_analyze import _checkpoints
    from test_data import write_fmnist

    repo = tmp_path / "repo"
    (repo / "reports").mkdir(parents=True)
    (repo / ".gitignore").write_text((Path(TESTS).parent / ".gitignore").read_text())
    for name in ("attention.md", "attention.json", "kernels.md"):
        (repo / "reports" / name).write_text("committed\n")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "reports")
    fm = write_fmnist(tmp_path / "fm")
    cks = _checkpoints(tmp_path, fm, (0, 1, 2))
    monkeypatch.chdir(repo)
    code, _, err = cli(["analyze", "attention", *map(str, cks), "--data-dir", str(fm), "--limit", "8"])
    assert code == 0, err
    code, _, err = cli(["bench", "kernels", "--batch", "1", "--family", "shufflenetv2", "--backends", "eager",
                        "--pass", "fwd", "--rounds", "1"])
    assert code == 0, err
    assert _git(repo, "status", "--porcelain") == ""
    written = sorted(p.name for p in (repo / "runs").iterdir())
    assert any(n.startswith("attention-") for n in written) and any(n.startswith("kernels-") for n in written)


@pytest.mark.parametrize("argv,says", [
    (["search", "--no-live", "--study", "", "--trials", "1"], "--study '' is empty"),
    (["bench", "latency", "shufflenetv2_x0_5", "--opset", "5"], "--opset 5"),
    (["bench", "latency", "shufflenetv2_x0_5", "--build-table", "--report", "/proc/forbidden/x.md"], "--report"),
    (["bench", "latency", "shufflenetv2_x0_5", "--build-table", "--table", "/proc/forbidden/t.json"], "--table"),
    (["bench", "kernels", "--out", "/proc/forbidden/k.md"], "--out"),
    (["bench", "kernels", "--out", "/dev/full"], "--out /dev/full is not a regular file"),
    (["export", "sknet26", "--out", "/dev/full"], "--out /dev/full is not a regular file"),
    (["profile", "nosuch"], "unknown model 'nosuch'"),
    (["export", "sknet50", "--out", "{tmp}/m.onnx", "--opset", "5"], "opset 5 is too old"),
    (["export", "sknet50", "--out", "{tmp}/m.onnx", "--rtol", "-1"], "tolerances must be >= 0"),
    (["report", "--storage", "journal:/dev/full"], "--storage journal:/dev/full is a character device"),
])
def test_bad_paths_and_options_fail_before_any_work(argv, says, fake, cli, tmp_path):
    before = sorted(tmp_path.rglob("*"))
    start = time.time()
    code, out, err = cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, out + err
    assert says in err and "Traceback" not in err, err
    assert time.time() - start < 10
    assert sorted(tmp_path.rglob("*")) == before


from test_report_latency import _fake_measure_many, _quick_figures, table4  # noqa: E402,F401 - fixture


def test_rerender_does_not_replace_measured_latencies_without_force(table4, tmp_path, monkeypatch, cli):  # noqa: F811
    import shutil
    from functools import partial

    from skmobile.latency import measure as measure_mod

    _quick_figures(monkeypatch)
    rep = tmp_path / "rep"
    shutil.copytree(table4[0], rep)
    before = (rep / "table4.json").read_bytes()
    monkeypatch.setattr(measure_mod, "measure_many", lambda *a, **k: pytest.fail("timed before the refusal"))
    args = ["report", "--rerender", str(rep), "--table", "4", "--latency", "--latency-runtimes", "torch",
            "--latency-cache", str(tmp_path / "c.sqlite"), "--out", str(rep)]
    code, _, err = cli(args)
    assert code == 2 and "--force" in err and "table4.json holds latencies" in err, err
    assert (rep / "table4.json").read_bytes() == before
    calls = []
    monkeypatch.setattr(measure_mod, "measure_many", partial(_fake_measure_many, calls))
    code, _, err = cli(args + ["--force"])
    assert code == 0 and len(calls) == 1, err
    assert (rep / "table4.json").read_bytes() != before


def test_a_fusion_that_falls_back_is_labelled_torch_in_one_line(cli):
    """fp16 autocast on CPU: the numba fusion cannot take float16 and runs the torch fusion; the row
    says so, and no RuntimeWarning is printed."""
    code, out, err = cli(["bench", "model", "shufflenetv2_x0_5_sk", "--vs", "shufflenetv2_x0_5", "--amp", "fp16",
                          "--fusions", "numba", "--input-size", "32", "--batch", "2", "--iters", "1"])
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("shufflenetv2_x0_5_sk"))
    assert "fusion=torch" in row and "(asked numba: fell back: numba fusion does not support" in row, out
    assert "RuntimeWarning" not in err and "fusion=numba" not in out


def test_no_cuda_noise_on_a_cpu_only_machine(tmp_path):
    """`bench model --profile` and `bench kernels` (its compile backend imports torch's C++ extension
    helpers) print nothing about CUDA where there is none (native stderr included: a child process)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine")
    runs = [["bench", "model", "shufflenetv2_x0_5_sk", "--vs", "shufflenetv2_x0_5", "--fusions", "numba", "--profile",
             "--input-size", "32", "--batch", "2", "--iters", "1"],
            ["bench", "kernels", "--batch", "1", "--family", "shufflenetv2", "--backends", "compile", "--pass", "fwd",
             "--rounds", "1", "--out", "-"]]
    for argv in runs:
        res = subprocess.run([sys.executable, "-m", "skmobile", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-2000:]
        assert "gpuGetDeviceCount" not in res.stderr and "No CUDA runtime" not in res.stderr, res.stderr[-2000:]


def test_paper_table_records_of_a_budget_override_carry_it(fake, cli):
    """A grid run with --train-limit goes to its own study, and its records name the override, so a
    table report shows them apart from the recipe's runs (unknown budgets are never pooled)."""
    from skmobile.report import load_records

    assert _search(cli, fake, "--grid", "table4")[0] == 0
    assert _search(cli, fake, "--grid", "table4", "--train-limit", "256")[0] == 0
    budgets = {r.study: r.budget for r in load_records(fake)}
    assert budgets == {"grid-table4": "trial", "grid-table4-limit256": "trial (train-limit 256)"}
