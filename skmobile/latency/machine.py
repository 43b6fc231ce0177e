"""What a latency was measured on: CPU model, logical CPUs, GPU, load, library versions, date."""

from __future__ import annotations

import datetime
import os
import platform
from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover - not Linux
        pass
    return platform.processor() or platform.machine() or "unknown cpu"


def gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_id(device: str = "cpu") -> str:
    """The part of a cache key that says which hardware ran it (not the host name: same hardware, same key)."""
    name = f"{cpu_model()} x{os.cpu_count()}"
    if device == "cuda":
        name += f" + {gpu_name()}"
    return name


def cpus_allowed() -> list[int] | None:
    """The CPUs this process may run on (``taskset`` pins it), or None where the OS cannot say."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None


def runtime_version(runtime: str) -> str:
    if runtime == "onnxruntime":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import torch

    return f"torch {torch.__version__}"


def describe(device: str = "cpu") -> dict:
    """The machine record printed and stored beside every measurement."""
    import torch

    record = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "gpu": gpu_name() if device == "cuda" else None,
              "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        import onnxruntime

        record["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover
        record["onnxruntime"] = None
    try:
        record["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        record["load_avg"] = None
    return record
