"""What a figure was measured on: CPU model, logical CPUs, GPU, load, library versions, date."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
from functools import lru_cache

#: import names of libraries whose distribution name differs
_MODULES = {"numba-cuda": "numba_cuda"}


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


def versions(*names: str) -> dict[str, str | None]:
    """The version of each named library (``python``: the interpreter); None where it cannot be imported."""
    out: dict[str, str | None] = {}
    for name in names:
        if name == "python":
            out[name] = platform.python_version()
            continue
        try:
            module = importlib.import_module(_MODULES.get(name, name))
        except Exception:  # not installed, or broken on this machine
            out[name] = None
            continue
        out[name] = getattr(module, "__version__", None)
    return out


def device_name(device) -> str:
    """The GPU's name on CUDA; on CPU the CPU model and torch's intra-op threads."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"{cpu_model()} ({threads} thread{'' if threads == 1 else 's'})"


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
              "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "onnxruntime": versions("onnxruntime")["onnxruntime"]}
    try:
        record["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        record["load_avg"] = None
    return record
