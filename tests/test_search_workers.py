"""Search processes: SIGKILL mid-trial (SQLite heartbeat, journal dead-pid sweep) and two workers on a
real PostgreSQL server (Debian's postgresql, started here on loopback in a temporary directory)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from skmobile.search.storage import open_storage

TESTS = os.path.dirname(os.path.abspath(__file__))


def _env(**extra):
    env = dict(os.environ, SKMOBILE_SEARCH_TRAINER="test_search_support:FakeTrainer", SKMOBILE_HEARTBEAT="1,2",
               PYTHONPATH=os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])), OMP_NUM_THREADS="1")
    env.update(extra)
    return env


def _cmd(storage, study, trials, *more):
    return [sys.executable, "-m", "skmobile", "search", "--storage", storage, "--study", study,
            "--trials", str(trials), "--no-live", *more]


def _trials(storage, study):
    try:
        return optuna.load_study(study_name=study, storage=open_storage(storage)).get_trials()
    except KeyError:
        return []


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_sigkilled_worker_loses_no_completed_trial(tmp_path, kind):
    storage = f"sqlite:///{tmp_path}/k.db" if kind == "sqlite" else f"journal:{tmp_path}/k.journal"
    proc = subprocess.Popen(_cmd(storage, "k", 50), env=_env(SKMOBILE_FAKE_SLEEP="1.5"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 90
    while time.time() < deadline:
        trials = _trials(storage, "k")
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(done) >= 2 and any(t.state == TrialState.RUNNING for t in trials):
            break
        time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {t.number: t.values for t in _trials(storage, "k") if t.state == TrialState.COMPLETE}
    stale = [t.number for t in _trials(storage, "k") if t.state == TrialState.RUNNING]
    assert len(before) >= 2 and len(stale) == 1
    time.sleep(2.5)  # past the heartbeat grace period
    subprocess.run(_cmd(storage, "k", 2), env=_env(SKMOBILE_FAKE_SLEEP="0"), check=True, timeout=120,
                   stdout=subprocess.DEVNULL)
    after = _trials(storage, "k")
    by_number = {t.number: t for t in after}
    for number, values in before.items():  # no completed trial lost or changed
        assert by_number[number].state == TrialState.COMPLETE and by_number[number].values == values
    assert by_number[stale[0]].state == TrialState.FAIL  # the stale trial failed ...
    retries = [t for t in after if t.system_attrs.get("failed_trial") == stale[0]]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE  # ... and retried
    assert len([t for t in after if t.state == TrialState.COMPLETE]) == len(before) + 2
    assert not [t for t in after if t.state == TrialState.RUNNING]


# --- PostgreSQL ------------------------------------------------------------------------------------

def _pg_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    bindir = _pg_bin()
    if bindir is None:
        reason = "PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if root else []
    tmp = tempfile.mkdtemp(prefix="skmobile-pg-")
    data = os.path.join(tmp, "data")
    if root:
        shutil.chown(tmp, "postgres", "postgres")
    port = _free_port()
    log = os.path.join(tmp, "log")
    try:
        subprocess.run(run_as + [str(bindir / "initdb"), "-D", data, "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60", "-o",
                                 f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True, timeout=90)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = f"PostgreSQL could not be started: {exc} {detail.decode(errors='replace')[-300:]}"
        print(f"SKIP: {reason}")
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.skip(reason)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.postgres
def test_two_workers_on_postgresql_no_trial_lost_or_duplicated(postgres_url):
    env = _env(SKMOBILE_FAKE_SLEEP="0.5")
    procs = [subprocess.Popen(_cmd(postgres_url, "pg", 4, "--seed", str(seed)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for seed in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-2000:]
    trials = _trials(postgres_url, "pg")
    assert sorted(t.number for t in trials) == list(range(8))  # 8 trials, numbers unique and dense
    assert len({t._trial_id for t in trials}) == 8
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers did some
