"""What a trainer reports for one trial (the :class:`~skmobile.search.trainer.Trainer` protocol's result)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainOutcome:
    """What a trainer reports: errors in percent (as ``fit``), throughput, and the proxy it trained."""

    val_error: float
    test_error: float | None
    epochs: int
    images_per_s: float
    seconds: float
    status: str = "ok"                      # "ok" | "nan"
    proxy: dict = field(default_factory=dict)  # proxy model name/kwargs/params/macs/input size
    protocol: dict = field(default_factory=dict)  # data set, train images, batch size, lr, ...
