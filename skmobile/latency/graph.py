"""Run one layer alone under the deployment runtime (its own ONNX graph, or eager torch), and the no-op.

Each standalone call pays the runtime's fixed per-call cost, which a whole model pays once; the
no-op (a one-node graph) times that cost, so a layer's entry can be stored net of it.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import redirect_stderr, redirect_stdout
from typing import Callable

from .measure import Setting
from .runtimes import ort_runner, quiet_fds, torch_runner


def _export_unit(module, shapes, path: str, opset: int) -> None:
    import torch

    sink = io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(sink), redirect_stderr(sink), quiet_fds():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(module, tuple(torch.randn(*s) for s in shapes), path, dynamo=False, opset_version=opset,
                          input_names=[f"in{i}" for i in range(len(shapes))], do_constant_folding=True)


def noop_module():
    """The no-op layer: one trivial node (ONNX needs at least one)."""
    from torch import nn

    class NoOp(nn.Module):
        def forward(self, x):
            return x + 0

    return NoOp()


def unit_runner(make: Callable, shapes: list[tuple[int, ...]], setting: Setting, workdir: str):
    """A callable running one layer (``make()``) alone on random inputs of ``shapes`` under
    ``setting``; None where onnxruntime is asked for and the layer cannot be exported alone."""
    module = make().eval()
    if setting.runtime == "torch":
        return torch_runner(module, shapes, setting.device)
    path = os.path.join(workdir, f"unit{len(os.listdir(workdir))}.onnx")
    try:
        _export_unit(module, shapes, path, setting.opset)
    except Exception:  # noqa: BLE001 - an op the exporter cannot write is left out, and counted
        return None
    return ort_runner(path, list(shapes), setting.device, setting.threads)


def noop_runner(setting: Setting, workdir: str):
    """The no-op under ``setting``."""
    return unit_runner(noop_module, [(1,)], setting, workdir)
