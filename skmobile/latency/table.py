"""The latency lookup table: per-layer times measured on this machine, and the prediction (their sum).

As FBNet's latency table and nn-Meter (Zhang et al., MobiSys 2021) do: every layer of a model is
timed alone at its exact shape under the deployment runtime, net of the runtime's no-op timed in
the same rounds (``overhead_ms``, the fixed cost of one call, added back once per model). Layers
that cannot run alone (``skipped``) count as 0 ms. A file of another format is refused."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import SKMobileError
from .capture import Unit
from .measure import Setting

#: the one table format this skmobile reads and writes
TABLE_VERSION = 6


@dataclass
class LatencyTable:
    """Per-layer latencies (ms, net of the per-call overhead) for one setting on one machine."""

    setting: dict
    machine: dict
    overhead_ms: float = 0.0
    entries: dict[str, dict] = field(default_factory=dict)   # key -> {"kind", "ms"}
    skipped: dict[str, str] = field(default_factory=dict)    # key -> why it has no time
    models: dict[str, dict] = field(default_factory=dict)    # the check: name -> measured/predicted
    check: dict | None = None                                # the check's accuracy figures
    clock: str = "wall"                                      # the timer's clock for every entry
    version: int = TABLE_VERSION

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyTable":
        path, version = Path(path), None
        if not path.is_file():
            raise SKMobileError(f"latency table {str(path)!r} does not exist; build it with "
                                "`skmobile bench latency --build-table`")
        try:
            data = json.loads(path.read_text())
            version = data.get("version")
            if version == TABLE_VERSION:
                return cls(**data)
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
            raise SKMobileError(f"latency table {str(path)!r} is not a table written by --build-table: {exc}") from exc
        raise SKMobileError(f"latency table {str(path)!r} has format version {version}; this skmobile reads "
                            f"version {TABLE_VERSION} only: rebuild the table with "
                            f"`skmobile bench latency --build-table --table {path}`")

    def check_setting(self, setting: Setting, clock: str | None = None) -> None:
        if {k: self.setting.get(k) for k in asdict(setting)} != asdict(setting):
            raise SKMobileError(f"latency table was built for {self.setting}; asked for {asdict(setting)}")
        if clock is not None and clock != self.clock:
            raise SKMobileError(f"latency table was timed with the {self.clock!r} clock; asked for {clock!r} "
                                "(use another --table)")

    def predict_units(self, units: Iterable[Unit], entries: dict | None = None,
                      overhead_ms: float | None = None) -> tuple[float, list[Unit]]:
        """(predicted ms, units missing from the table): the per-call overhead once plus every layer's
        entry; skipped layers count as 0 ms. ``entries`` / ``overhead_ms`` replace the table's own
        (the check predicts from each run's times)."""
        entries = self.entries if entries is None else entries
        total = self.overhead_ms if overhead_ms is None else overhead_ms
        missing = []
        for u in units:
            if u.key in entries:
                total += entries[u.key]["ms"]
            elif u.key not in self.skipped:
                missing.append(u)
        return total, missing


def default_table_path(setting: Setting) -> Path:
    from .cache import default_path

    return default_path().parent / (f"latency_table-{setting.runtime}-{setting.device}-t{setting.threads}"
                                    f"-b{setting.batch}.json")
