"""Batch-N inference latency of registered models, alone or side by side (``--vs``): each built at full
size (1000 classes, 224 px; 32 px for the CIFAR families) unless kwargs say otherwise, in eval mode
with random weights, timed by :mod:`skmobile.measure.timing` under one :class:`Setting`; ms per call."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from ..errors import SKMobileError
from ..measure import machine
from ..measure.timing import TimingPlan, Timed, time_rounds
from .runtimes import check_settings, export, ort_runner, torch_runner, torch_threads


@dataclass(frozen=True)
class Setting:
    runtime: str = "onnxruntime"
    device: str = "cpu"
    threads: int = 1
    batch: int = 1
    opset: int = 17

    def check(self) -> None:
        check_settings(self.runtime, self.device, self.threads, self.batch)


@dataclass(frozen=True)
class Arch:
    """A full-size architecture: a registered name and the kwargs that change it."""

    model: str
    kwargs: Mapping = field(default_factory=dict)
    input_size: int | None = None

    def canonical(self) -> dict:
        kwargs = {k: v for k, v in sorted(dict(self.kwargs).items())}
        return {"model": self.model, "kwargs": json.loads(json.dumps(kwargs, sort_keys=True, default=str)),
                "input_size": self.resolved_input_size()}

    def digest(self) -> str:
        return hashlib.sha1(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()[:16]

    def resolved_input_size(self) -> int:
        if self.input_size is not None:
            return self.input_size
        from ..models import model_entry

        return 32 if model_entry(self.model).family.endswith("-cifar") else 224


def build(arch: Arch):
    """The model of ``arch`` in eval mode (random weights, seed 0); one-line error for a bad name."""
    import torch

    from ..models import create_model

    torch.manual_seed(0)
    try:
        return create_model(arch.model, **dict(arch.kwargs)).eval()
    except SKMobileError:
        raise
    except TypeError as exc:
        raise SKMobileError(f"bad arguments for model {arch.model!r}: {exc}") from exc


def input_shape(arch: Arch, model, batch: int) -> tuple[int, int, int, int]:
    from torch import nn

    in_chans = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    size = arch.resolved_input_size()
    return (batch, in_chans, size, size)


def runner(arch: Arch, setting: Setting, workdir: str | Path) -> Callable[[], object]:
    """A zero-argument callable running one inference of ``arch`` under ``setting``."""
    model = build(arch)
    shape = input_shape(arch, model, setting.batch)
    if setting.runtime == "torch":
        return torch_runner(model, shape, setting.device)
    path = Path(workdir) / f"{arch.model}-{arch.digest()}-b{setting.batch}-op{setting.opset}.onnx"
    with torch_threads(max(1, setting.threads)):
        onnx_path = export(model, path, shape, setting.opset, name=arch.model)
    return ort_runner(onnx_path, shape, setting.device, setting.threads)


def timed(archs: Mapping[str, Arch], setting: Setting, plan: TimingPlan | None = None,
          on_round: Callable[[int, int], None] | None = None, workdir: str | Path | None = None) -> Timed:
    """Build a runner for every arch (label -> Arch) and time them in interleaved rounds."""
    setting.check()
    with tempfile.TemporaryDirectory(prefix="skmobile-latency-") as tmp:
        fns = {label: runner(a, setting, workdir or tmp) for label, a in archs.items()}
        with torch_threads(setting.threads):
            return time_rounds(fns, plan, on_round=on_round)


def measure(models: list[str], setting: Setting, vs: str | None = None, plan: TimingPlan | None = None,
            on_round: Callable[[int, int], None] | None = None, input_size: int | None = None) -> dict:
    """Latency of ``models`` (and ``vs``) under ``setting``: spreads in ms, ratios to ``vs``, machine record."""
    if not models:
        raise SKMobileError("no model given; name at least one registered model")
    labels = list(dict.fromkeys(models + ([vs] if vs else [])))
    archs = {m: Arch(m, input_size=input_size) for m in labels}
    for a in archs.values():
        a.resolved_input_size()   # unknown names fail here, before anything is built
    result = timed(archs, setting, plan, on_round)
    rows = []
    for m in labels:
        row = {"model": m, "input_size": archs[m].resolved_input_size(), "ms": result.spread(m).scaled(1e3).as_json(),
               "calls_per_round": result.calls_per_round[m]}
        if vs and m != vs:
            row["vs"] = {"base": vs, "ratio": result.ratio(m, vs).as_json()}
        rows.append(row)
    return {"setting": asdict(setting), "clock": (plan or TimingPlan()).clock, "rounds": result.rounds, "stable": result.stable, "models": rows,
            "machine": machine.describe(setting.device)}


def measure_one(arch: Arch, setting: Setting, plan: TimingPlan | None = None) -> dict:
    """One architecture's latency record: p10/p50/p90 ms, setting, runtime version and machine."""
    return measure_many({"arch": arch}, setting, plan)["arch"]


def measure_many(archs: Mapping[str, Arch], setting: Setting, plan: TimingPlan | None = None,
                 on_round: Callable[[int, int], None] | None = None) -> dict[str, dict]:
    """Records as :func:`measure_one` gives, for several architectures timed in interleaved rounds
    (a load change on a shared machine hits all of them alike, so their ratios hold better)."""
    where = machine.describe(setting.device)
    result = timed(archs, setting, plan, on_round)
    out = {}
    for label in archs:
        spread = result.spread(label).scaled(1e3)
        out[label] = {"latency_ms": round(spread.p50, 4), "latency_p10_ms": round(spread.p10, 4),
                      "latency_p90_ms": round(spread.p90, 4), "latency_calls": spread.n,
                      **record_setting(setting), "measured": where["date"],
                      "latency_load_avg": where["load_avg"], "latency_cpus": machine.cpus_allowed(),
                      "latency_stable": result.stable}
    return out


def record_setting(setting: Setting) -> dict:
    """How a latency was obtained, as stored beside it (trial user attributes, cache, table)."""
    return {"latency_runtime": machine.runtime_version(setting.runtime), "latency_device": setting.device,
            "latency_threads": setting.threads, "latency_batch": setting.batch,
            "latency_machine": machine.machine_id(setting.device)}
