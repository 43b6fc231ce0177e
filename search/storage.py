"""Where a study lives: SQLite (default), a journal file (several processes), or any RDB URL.

* ``sqlite:///runs/skmobile.db`` (default): one process. Heartbeat on, so a killed run's stale
  trial is failed and retried by the next run.
* ``journal:PATH`` or a path ending in ``.journal``/``.log``: Optuna's JournalFileBackend, for
  ``--workers N`` processes on one machine. It has no heartbeat: a trial whose worker process is
  gone (same host, dead pid) is failed and retried by :func:`sweep_dead_workers`.
* ``postgresql://user:pass@host/db`` (or ``mysql://``): workers on several machines, with
  heartbeat + ``RetryHeartbeatStaleTrialCallback`` (the v5 name of RetryFailedTrialCallback).

Opening never writes to a storage that cannot be read: a bad URL raises :class:`SKMobileError`.
"""

from __future__ import annotations

import os
import re
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from skmobile.errors import SKMobileError

DEFAULT_STORAGE = "sqlite:///runs/skmobile.db"
DEFAULT_JOURNAL = "runs/skmobile.journal"
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
#: (interval, grace) seconds; override with SKMOBILE_HEARTBEAT="interval,grace".
HEARTBEAT = (10, 30)
MAX_RETRY = 3


@dataclass(frozen=True)
class StorageSpec:
    url: str          # as the user gave it (normalised)
    kind: str         # "sqlite" | "journal" | "rdb"

    @property
    def multiprocess(self) -> bool:
        return self.kind != "sqlite"

    def redacted(self) -> str:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)


def parse_storage(url: str | None) -> StorageSpec:
    """Classify ``url`` (None = the default SQLite file); raise on an unknown scheme."""
    url = (url or DEFAULT_STORAGE).strip()
    if url.startswith("journal:"):
        path = url[len("journal:"):]
        path = path[2:] if path.startswith("//") else path
        if not path:
            raise SKMobileError("journal storage needs a file: journal:runs/skmobile.journal")
        return StorageSpec(f"journal:{path}", "journal")
    if "://" not in url:
        if url.endswith((".journal", ".log")):
            return StorageSpec(f"journal:{url}", "journal")
        if url.endswith((".db", ".sqlite", ".sqlite3")):
            return StorageSpec(f"sqlite:///{url}", "sqlite")
        raise SKMobileError(f"cannot read storage {url!r}; allowed: sqlite:///FILE.db, journal:FILE, "
                            "postgresql://USER:PASS@HOST/DB, mysql://..., or a .db/.journal path")
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    if scheme not in RDB_SCHEMES:
        raise SKMobileError(f"unknown storage scheme {scheme!r} in {url!r}; allowed: sqlite, journal, "
                            "postgresql, mysql")
    return StorageSpec(url, "sqlite" if scheme == "sqlite" else "rdb")


def storage_file(url: str | None) -> Path | None:
    """The file a SQLite or journal storage lives in (None for a server or an in-memory database)."""
    spec = parse_storage(url)
    if spec.kind == "journal":
        return Path(spec.url[len("journal:"):])
    if spec.kind == "sqlite":
        path = spec.url.split(":///", 1)[1] if ":///" in spec.url else ""
        return Path(path) if path and path != ":memory:" else None
    return None


def storage_exists(url: str | None) -> bool:
    """Whether ``url`` can hold studies already: its file exists (a server is assumed to)."""
    path = storage_file(url)
    return path is None or path.is_file()


def heartbeat() -> tuple[int, int]:
    raw = os.environ.get("SKMOBILE_HEARTBEAT")
    if not raw:
        return HEARTBEAT
    try:
        interval, grace = (int(v) for v in raw.split(","))
    except ValueError:
        raise SKMobileError(f"SKMOBILE_HEARTBEAT={raw!r}; expected 'interval,grace' in seconds, e.g. 10,30")
    return interval, grace


def open_storage(url: str | None, create: bool = True):
    """An Optuna storage for ``url``; a bad or unreachable one raises SKMobileError (one line).

    With ``create=False`` (readers such as the report) a SQLite or journal file that does not exist
    is an error instead of a new, empty storage.
    """
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    spec = parse_storage(url)
    path = storage_file(spec.url)
    if path is not None and path.is_dir():
        raise SKMobileError(f"storage {spec.url} is a folder; allowed: a file in it, e.g. "
                            f"{path / ('skmobile.journal' if spec.kind == 'journal' else 'skmobile.db')}")
    if not create and not storage_exists(spec.url):
        raise SKMobileError(f"no study database at {path}; run `skmobile search` or "
                            "`skmobile reproduce --table N --train` first, or pass --storage")
    if spec.kind == "journal":
        _ensure_dir(path.parent)
        if path.exists() and path.stat().st_size and not _looks_like_journal(path):
            raise SKMobileError(f"{path} exists and is not an Optuna journal file; not touching it")
        try:
            return JournalStorage(JournalFileBackend(str(path)))
        except Exception as exc:  # noqa: BLE001 - shown as one line
            raise SKMobileError(f"cannot open journal storage {path}: {_one_line(exc)}") from None
    if spec.kind == "sqlite" and path is not None:
        if path.exists() and path.stat().st_size and not _looks_like_sqlite(path):
            raise SKMobileError(f"{path} exists and is not an SQLite database; not touching it")
        _ensure_dir(path.parent)
    interval, grace = heartbeat()
    url = _with_driver(spec.url)
    engine_kwargs = {"connect_args": {"timeout": 60}} if spec.kind == "sqlite" else {"pool_pre_ping": True}
    try:
        for attempt in range(5):
            try:
                with warnings.catch_warnings():  # the heartbeat API is marked experimental
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=interval,
                                      grace_period=grace, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                                          max_retry=MAX_RETRY))
            except Exception as exc:  # noqa: BLE001 - workers creating the tables at once: retry
                text = str(exc).lower()
                if attempt == 4 or not ("duplicate" in text or "already exists" in text):
                    raise
                time.sleep(0.5 * (attempt + 1))
    except ImportError as exc:
        raise SKMobileError(f"no database driver for {spec.redacted()}: {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - sqlalchemy/optuna errors vary by backend
        raise SKMobileError(f"cannot open storage {spec.redacted()}: {_one_line(exc)}") from None


def _with_driver(url: str) -> str:
    """``postgresql://`` with the installed driver: SQLAlchemy 2.1 defaults to psycopg 3, skmobile
    ships psycopg2-binary. An explicit ``postgresql+DRIVER://`` is left alone."""
    scheme, rest = url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        return url
    import importlib.util

    driver = "psycopg" if importlib.util.find_spec("psycopg") else "psycopg2"
    return f"postgresql+{driver}://{rest}"


def _ensure_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SKMobileError(f"cannot create the storage folder {path}: {exc.strerror}") from None


def _looks_like_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _looks_like_journal(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(1) == b"{"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", first)[:300]


# --- stale trials ----------------------------------------------------------------------------

WORKER_ATTR = "worker"


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(study) -> list[int]:
    """Fail (and re-enqueue) trials left RUNNING by dead workers; returns their numbers.

    RDB storages use Optuna's heartbeat. A journal file has none, so a RUNNING trial whose worker
    ran on this host under a pid that no longer exists is failed and retried here.
    """
    import optuna
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    def running():
        return study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))

    before = {t.number for t in running()}
    optuna.storages.fail_stale_trials(study)  # heartbeat storages; a no-op for a journal file
    failed = sorted(before - {t.number for t in running()})
    host = socket.gethostname()
    retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)
    for t in running():
        owner = str(t.user_attrs.get(WORKER_ATTR, ""))
        h, _, pid = owner.rpartition(":")
        if h != host or not pid.isdigit() or _alive(int(pid)):
            continue
        try:
            dead = study.tell(t.number, state=TrialState.FAIL)
        except (ValueError, UpdateFinishedTrialError):  # another process failed it first
            continue
        failed.append(t.number)
        retry(study, dead)
    return sorted(failed)
