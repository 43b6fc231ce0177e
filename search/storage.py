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
import stat
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


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def vet_storage(url: str | None, create: bool = True) -> StorageSpec:
    """Check a storage's file before anything opens it: a regular file, or (``create``) a new one in a
    folder that can be written. Never opens the path, so a FIFO cannot block and a device cannot be read."""
    spec = parse_storage(url)
    path = storage_file(spec.url)
    if path is None:
        return spec
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise SKMobileError(f"--storage {spec.url}: cannot read {path} ({exc.strerror}); allowed: a readable "
                            "file") from None
    if mode is not None and not stat.S_ISREG(mode):
        what = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        shown = f"journal:{DEFAULT_JOURNAL}" if spec.kind == "journal" else DEFAULT_STORAGE
        raise SKMobileError(f"--storage {spec.url} is {what}; allowed: a regular file (existing or new), "
                            f"e.g. {shown}")
    if mode is None and not create:
        raise SKMobileError(f"no study database at {path}; run `skmobile search` or "
                            "`skmobile reproduce --table N --train` first, or pass --storage")
    if create:
        _check_writable(spec, path, mode is not None)
    return spec


def _check_writable(spec: StorageSpec, path: Path, exists: bool) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists():
        folder = folder.parent
    if exists and not os.access(path, os.W_OK):
        raise SKMobileError(f"storage {path} is read-only; nothing can be added to its studies: make it "
                            "writable, or pass --storage NEW")
    if not os.access(folder, os.W_OK | os.X_OK):
        what = "is read-only" if exists and spec.kind == "sqlite" else "cannot be written"
        raise SKMobileError(f"storage {path} {what} (folder {folder} is not writable); allowed: a file in a "
                            "writable folder, or pass --storage NEW")


def open_storage(url: str | None, create: bool = True):
    """An Optuna storage for ``url``; a bad or unreachable one raises SKMobileError (one line).

    With ``create=False`` (readers such as the report) a SQLite or journal file that does not exist
    is an error instead of a new, empty storage. The path is vetted first (:func:`vet_storage`).
    """
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    spec = vet_storage(url, create)
    path = storage_file(spec.url)
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
    return _rdb(spec)


def _rdb(spec: StorageSpec):
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

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


def open_study(url: str | None, name: str, *, create: bool = False, directions=None, sampler=None,
               pruner=None, check=None):
    """The one way to a study, for the search and every report.

    Readers (``create=False``) never create a database or a study: a missing one is a one-line error
    that lists the studies there. Writers (``create=True``) create the study with ``directions`` when
    it is new; for an existing one, ``check(user_attrs, directions)`` runs first and may refuse it
    (raising SKMobileError) before anything is written.
    """
    import optuna

    if not name or not name.strip():
        raise SKMobileError(f"--study {name!r} is empty; allowed: a name, e.g. --study ablation")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(url, create=create)
    shown = parse_storage(url).redacted()
    try:
        study_id = store.get_study_id_from_name(name)
    except KeyError:
        study_id = None
    except Exception as exc:  # noqa: BLE001 - a damaged database, a server gone
        raise SKMobileError(f"cannot read studies in {shown}: {storage_error(exc)}") from None
    if study_id is None and not create:
        raise SKMobileError(f"no study {name!r} in {shown}; studies there: {', '.join(study_names(store)) or 'none'}")
    try:
        if study_id is not None and check is not None:
            check(store.get_study_user_attrs(study_id),
                  [d.name.lower() for d in store.get_study_directions(study_id)])
        if not create:
            return optuna.load_study(study_name=name, storage=store)
        return optuna.create_study(storage=store, study_name=name, sampler=sampler, pruner=pruner,
                                   directions=directions, load_if_exists=True)
    except SKMobileError:
        raise
    except Exception as exc:  # noqa: BLE001 - storage errors surface as one line
        raise SKMobileError(f"cannot open study {name!r} in {shown}: {storage_error(exc)}") from None


def existing_study(url: str | None, name: str) -> tuple[dict, list[str]] | None:
    """(user attributes, directions) of study ``name`` in ``url``; None when the storage or the study does
    not exist yet. Creates nothing, so a run can be checked against its study before any work."""
    if not storage_exists(url):
        return None
    store = open_storage(url, create=False)
    try:
        study_id = store.get_study_id_from_name(name)
    except KeyError:
        return None
    except Exception as exc:  # noqa: BLE001 - a damaged database, a server gone
        raise SKMobileError(f"cannot read studies in {parse_storage(url).redacted()}: {storage_error(exc)}") from None
    return store.get_study_user_attrs(study_id), [d.name.lower() for d in store.get_study_directions(study_id)]


def study_names(store) -> list[str]:
    """The names of the studies in an opened storage, sorted."""
    import optuna

    return sorted(s.study_name for s in optuna.get_all_study_summaries(store))


def storage_error(exc: BaseException) -> str:
    """One line for a storage failure; a write to a read-only database says so, whatever wraps it."""
    seen = exc
    while seen is not None:
        text = str(seen).lower()
        if "readonly" in text or "read-only" in text or "read only" in text:
            return "the database is read-only; make it writable, or pass --storage NEW"
        seen = seen.__cause__ or seen.__context__
    return _one_line(exc)


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
