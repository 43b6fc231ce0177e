"""Latency for a search trial: measured once per full-size architecture (cached), or predicted.

``mode="measure"`` times the full-size model on the trial's machine through the :class:`LatencyCache`;
``mode="predict"`` sums the layer table of ``bench latency --build-table`` (layers it lacks are timed
and added). Either way the trial gets ``latency_ms`` with the runtime, threads and machine beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from skmobile.errors import choose
from skmobile.latency.measure import Arch, Setting, record_setting

MODES = ("measure", "predict")


@dataclass
class TrialLatency:
    mode: str = "measure"
    setting: Setting = field(default_factory=Setting)
    cache_path: str | None = None
    table_path: str | None = None
    measured: int = 0
    cache_hits: int = 0
    predicted: int = 0

    def __post_init__(self):
        choose("latency mode", self.mode, MODES)
        self.setting.check()
        self._cache = self._table = None
        if self.mode == "measure":
            from skmobile.latency.cache import LatencyCache

            self._cache = LatencyCache(self.cache_path)
        else:
            from skmobile.latency.table import LatencyTable, default_table_path

            path = Path(self.table_path) if self.table_path else default_table_path(self.setting)
            self._table_file = path
            self._table = LatencyTable.load(path)
            self._table.check_setting(self.setting)

    @staticmethod
    def arch(model: str, kwargs: dict) -> Arch:
        """The full-size architecture of a candidate (its default classes and input size)."""
        return Arch(model, {k: v for k, v in kwargs.items() if k != "num_classes"})

    def __call__(self, model: str, kwargs: dict) -> dict:
        """User attributes for a trial: latency_ms, p10/p90 when measured, how, and where."""
        arch = self.arch(model, kwargs)
        if self._cache is not None:
            rec = self._cache.latency(arch, self.setting)
            if rec["latency_cached"]:
                self.cache_hits += 1
            else:
                self.measured += 1
            return {**rec, "latency_source": "measured"}
        from skmobile.latency.timing import predict

        out = predict(self._table, arch, self.setting)
        if out["layers_timed_now"]:
            self._table.save(self._table_file)
        self.predicted += 1
        return {"latency_ms": out["predicted_ms"], **record_setting(self.setting), "latency_source": "predicted",
                "latency_layers_timed_now": out["layers_timed_now"]}

    def summary(self) -> dict:
        where = str(self._cache.path) if self._cache is not None else str(self._table_file)
        return {"mode": self.mode, "measured": self.measured, "cache_hits": self.cache_hits,
                "predicted": self.predicted, "store": where, **record_setting(self.setting)}
