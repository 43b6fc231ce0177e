"""Measured latencies kept by full-size architecture spec, so a repeated configuration is not timed again.

The key is a hash of the architecture (model name, canonical kwargs, input size), the setting
(runtime, device, threads, batch, opset), the runtime's version and the machine id (CPU model and
count, GPU): the same architecture on other hardware or another runtime is measured afresh. The
store is one SQLite file (safe with several search workers); ``SKMOBILE_LATENCY_CACHE`` moves it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Mapping

from ..errors import SKMobileError
from ..measure import machine
from .measure import Arch, Setting, measure_many, measure_one

ENV = "SKMOBILE_LATENCY_CACHE"


def default_path() -> Path:
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "skmobile" / "latency.sqlite")


def cache_key(arch: Arch, setting: Setting) -> str:
    ident = {"arch": arch.canonical(), "setting": asdict(setting),
             "runtime": machine.runtime_version(setting.runtime), "machine": machine.machine_id(setting.device)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


class LatencyCache:
    """get/put of latency records by :func:`cache_key`; counts hits and misses of :meth:`latency`."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else default_path()
        if self.path.exists() and not self.path.is_file():
            raise SKMobileError(f"latency cache {str(self.path)!r} is not a file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        try:
            with self._connect() as db:
                db.execute("CREATE TABLE IF NOT EXISTS latency (key TEXT PRIMARY KEY, arch TEXT, record TEXT)")
        except sqlite3.DatabaseError as exc:
            raise SKMobileError(f"latency cache {str(self.path)!r} is not a readable SQLite file: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, arch: Arch, setting: Setting) -> dict | None:
        with self._connect() as db:
            row = db.execute("SELECT record FROM latency WHERE key = ?", (cache_key(arch, setting),)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, arch: Arch, setting: Setting, record: dict) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO latency VALUES (?, ?, ?)",
                       (cache_key(arch, setting), json.dumps(arch.canonical(), sort_keys=True), json.dumps(record)))

    def __len__(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM latency").fetchone()[0]

    def latency(self, arch: Arch, setting: Setting, measure: Callable[[Arch, Setting], dict] | None = None) -> dict:
        """The stored record for ``arch`` under ``setting`` (``latency_cached`` True), or a fresh
        measurement (``measure``, default :func:`measure_one`), then stored."""
        def one(archs, s):
            return {label: (measure or measure_one)(a, s) for label, a in archs.items()}

        return self.latencies({"arch": arch}, setting, one)["arch"]

    def latencies(self, archs: Mapping[str, Arch], setting: Setting,
                  measure: Callable[[Mapping[str, Arch], Setting], dict] | None = None) -> dict[str, dict]:
        """:meth:`latency` for several architectures (label -> Arch): the stored ones as they are,
        the others measured together in interleaved rounds (:func:`measure_many`), then stored."""
        out, missing, same = {}, {}, {}
        for label, arch in archs.items():
            key = cache_key(arch, setting)
            if key in same:   # the same architecture under two labels: measured once
                same[key].append(label)
                continue
            same[key] = [label]
            found = self.get(arch, setting)
            if found is None:
                missing[label] = arch
            else:
                out[label] = {**found, "latency_cached": True}
        self.hits += len(out)
        self.misses += len(missing)
        if missing:
            fresh = (measure or measure_many)(missing, setting)
            for label, arch in missing.items():
                self.put(arch, setting, fresh[label])
                out[label] = {**fresh[label], "latency_cached": False}
        for labels in same.values():
            for label in labels[1:]:
                out[label] = out[labels[0]]
        return {label: out[label] for label in archs}
