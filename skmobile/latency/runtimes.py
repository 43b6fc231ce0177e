"""Callables that run one inference of a model (eager torch, or an onnxruntime session on the graph of
:func:`skmobile.export.export_onnx`); each returns only when the result is ready (CUDA synchronised)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable

from ..device import resolve_device
from ..errors import SKMobileError, choose

RUNTIMES = ("torch", "onnxruntime")
DEVICES = ("cpu", "cuda")


def check_settings(runtime: str, device: str, threads: int, batch: int) -> None:
    """Raise a one-line SKMobileError for a setting that cannot run here."""
    choose("runtime", runtime, RUNTIMES)
    if resolve_device(device) != device or device not in DEVICES:  # auto, or cuda:N
        raise SKMobileError(f"--device {device!r}: latency runs on cpu or the current CUDA device; allowed: cpu, cuda")
    if threads < 1:
        raise SKMobileError(f"threads must be >= 1; got {threads}")
    if batch < 1:
        raise SKMobileError(f"batch must be >= 1; got {batch}")
    if device == "cuda":
        if runtime == "onnxruntime":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                raise SKMobileError("onnxruntime here has no CUDAExecutionProvider; allowed on cuda: torch")


@contextlib.contextmanager
def quiet_fds():
    """Send file descriptors 1 and 2 to /dev/null for the block (exporters print C++ graph dumps there)."""
    import sys

    sys.stdout.flush(), sys.stderr.flush()
    saved, null = [os.dup(1), os.dup(2)], os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1), os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


@contextlib.contextmanager
def torch_threads(threads: int):
    """Set torch's intra-op thread count for the block, then restore it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _shapes(shape) -> list:
    return [shape] if isinstance(shape[0], int) else list(shape)


def torch_runner(model, shape, device: str = "cpu") -> Callable[[], object]:
    """Eager inference (eval, inference_mode) of ``model`` on fixed random inputs of ``shape`` (one
    shape, or a list of shapes for several inputs)."""
    import torch

    model = model.eval().to(device)
    xs = [torch.randn(*s, device=device) for s in _shapes(shape)]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run():
        with torch.inference_mode():
            out = model(*xs)
        sync()
        return out

    return run


def export(model, path: str | os.PathLike, shape: tuple[int, ...], opset: int = 17, name: str = "model") -> str:
    """Export ``model`` to ``path`` for ``shape`` unless a file is already there; one-line error on failure."""
    from ..export import export_onnx

    path = Path(path)
    if path.is_file():
        return str(path)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.onnx")
    try:
        with quiet_fds():
            export_onnx(model, tmp, input_size=shape[-1], opset=opset, batch_size=shape[0], in_chans=shape[1],
                        verify=False)
    except Exception as exc:  # noqa: BLE001 - any exporter failure means "cannot export"
        tmp.unlink(missing_ok=True)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SKMobileError(f"model {name!r} cannot be exported to ONNX (opset {opset}): {first}") from exc
    os.replace(tmp, path)
    return str(path)


def ort_runner(onnx_path: str, shape, device: str = "cpu", threads: int = 1) -> Callable[[], object]:
    """An onnxruntime session (all graph optimisations, sequential, ``threads`` intra-op threads) on
    random inputs of ``shape`` (one shape, or a list of shapes for several inputs)."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    providers = ["CUDAExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(onnx_path, opts, providers=providers)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(s, dtype=np.float32) for s in _shapes(shape)]
    return bound_run(sess, inputs, device)


def bound_run(sess, inputs, device: str = "cpu") -> Callable[[], object]:
    """``sess.run`` through an IO binding: inputs bound once, outputs into buffers allocated once.

    A plain ``run`` allocates every output afresh; for megabyte outputs (one layer timed alone)
    that page-faults on every call, which a whole graph (arena memory) never pays.
    """
    import numpy as np
    import onnxruntime as ort

    dev = "cuda" if device == "cuda" else "cpu"
    io = sess.io_binding()
    for meta, arr in zip(sess.get_inputs(), inputs):
        io.bind_ortvalue_input(meta.name, ort.OrtValue.ortvalue_from_numpy(arr, dev, 0))
    first = sess.run(None, {m.name: a for m, a in zip(sess.get_inputs(), inputs)})
    outputs = [np.empty_like(out) for out in first]
    for meta, out in zip(sess.get_outputs(), outputs):
        io.bind_ortvalue_output(meta.name, ort.OrtValue.ortvalue_from_numpy(out, dev, 0))

    def run():
        sess.run_with_iobinding(io)
        return io

    return run
