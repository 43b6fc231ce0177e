"""ONNX export of any registered model, verified against PyTorch under onnxruntime.

The model is exported in eval mode for one fixed input shape. Two PyTorch exporters exist in
torch 2.14: the maintained torch.export-based one ("dynamo", opset >= 18: it has no opset-17
implementations) and the deprecated TorchScript-based one ("legacy", the only way to opset 17,
faster, due for removal). ``exporter="auto"`` picks dynamo for opset >= 18 and legacy for 17.

After export the graph is checked for tensors of rank above 4 (Core ML and TFLite reject them;
the SK fusion and the ShuffleNet shuffle are written rank-4) using ONNX shape inference, and the
outputs are compared with PyTorch's under onnxruntime. Two float32 programs that order their sums
differently disagree in proportion to the size of what they compute, so the difference is judged
against the output's scale: max |onnxruntime - torch| <= RTOL * max |torch| + ATOL. RTOL = 1e-3 is
the relative bound PyTorch's own ONNX exporter tests use for float32; ATOL = 1e-5 only matters for
near-zero outputs. A changed weight or a wrong operator moves the outputs by far more.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .errors import SKMobileError, choose

FORMATS = ("onnx",)
EXPORTERS = ("auto", "dynamo", "legacy")
MAX_RANK = 4
RTOL = 1e-3  # allowed difference per unit of max |torch output|
ATOL = 1e-5  # allowed difference when the outputs are ~0


@dataclass
class ExportResult:
    path: str
    opset: int
    exporter: str
    input_shape: tuple[int, ...]
    max_rank: int
    high_rank: list[str] = field(default_factory=list)   # "name: shape" of tensors with rank > 4
    unknown_rank: int = 0                                # tensors shape inference could not type
    max_abs_diff: float | None = None                    # vs PyTorch, None when not verified
    output_scale: float | None = None                    # max |PyTorch output|, to judge the diff
    rtol: float = RTOL
    atol: float = ATOL

    @property
    def bound(self) -> float | None:
        """The largest difference float32 rounding explains: rtol * max |torch| + atol."""
        return None if self.output_scale is None else self.rtol * self.output_scale + self.atol

    @property
    def matches(self) -> bool:
        return self.max_abs_diff is None or self.max_abs_diff <= self.bound

    @property
    def ok(self) -> bool:
        return not self.high_rank and self.matches

    def summary(self) -> str:
        diff = "not verified" if self.max_abs_diff is None else (
            f"{self.max_abs_diff:.3e} (bound {self.bound:.3e} = {self.rtol:g} x max |torch| "
            f"{self.output_scale:.3g} + {self.atol:g})")
        return (f"{self.path}: opset {self.opset} ({self.exporter}), input {list(self.input_shape)}, "
                f"max tensor rank {self.max_rank}, max |onnxruntime - torch| = {diff}")


def _export(model: nn.Module, x: torch.Tensor, path: str, opset: int, exporter: str) -> None:
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=opset)
    sink = io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(sink), redirect_stderr(sink):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        if exporter == "legacy":
            torch.onnx.export(model, (x,), path, dynamo=False, do_constant_folding=True, **kwargs)
        else:
            program = torch.onnx.export(model, (x,), None, dynamo=True, optimize=True, **kwargs)
            program.save(path, external_data=False)


@torch.no_grad()
def calibrate_bn(model: nn.Module, input_shape: tuple[int, ...], steps: int = 2, seed: int = 0) -> nn.Module:
    """Set every BN's running statistics from ``steps`` random batches (cumulative average).

    A freshly initialised network in eval mode has running mean 0 / var 1, and depthwise convs
    initialised with fan_out = C * k * k shrink activations layer by layer: the logits of a random
    MobileNetV2 are ~1e-10, which makes any output comparison vacuous. Calibrated statistics give
    O(1) activations. Only for models without trained weights.
    """
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for _ in range(steps):
        model(torch.randn(*input_shape, generator=gen))
    for m, mom in zip(bns, saved):
        m.momentum = mom
        # near-constant channels (a few samples, dead units) would divide by ~sqrt(eps) and turn
        # float32 rounding into 1e-4 output noise in PyTorch itself: floor them at 10% of the median
        floor = 0.1 * float(m.running_var.median())
        m.running_var.clamp_(min=max(floor, 1e-4))
    return model.eval()


def tensor_ranks(onnx_model) -> dict[str, tuple]:
    """name -> shape (tuple, None for unknown dims) of every typed tensor, after shape inference."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(onnx_model, strict_mode=False)
    g = inferred.graph
    shapes: dict[str, tuple | None] = {}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        t = vi.type.tensor_type
        shapes[vi.name] = (tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
                           if t.HasField("shape") else None)
    for init in g.initializer:
        shapes[init.name] = tuple(init.dims)
    for node in g.node:  # outputs shape inference left untyped
        for out in node.output:
            shapes.setdefault(out, None)
    return shapes


def check_options(opset: int, exporter: str, rtol: float, atol: float, input_size: int, batch_size: int) -> str:
    """Refuse impossible export options (before any model is built); returns the exporter "auto" picks."""
    choose("exporter", exporter, EXPORTERS)
    if not (rtol >= 0 and atol >= 0):
        raise SKMobileError(f"tolerances must be >= 0; got rtol={rtol}, atol={atol}")
    if opset < 17:
        raise SKMobileError(f"opset {opset} is too old; allowed: 17 or later")
    if input_size < 1 or batch_size < 1:
        raise SKMobileError(f"input size and batch size must be >= 1; got {input_size}, {batch_size}")
    if exporter == "auto":
        exporter = "dynamo" if opset >= 18 else "legacy"
    if exporter == "dynamo" and opset < 18:
        raise SKMobileError(f"the dynamo exporter in torch {torch.__version__} starts at opset 18; "
                            f"use opset 18+ or exporter 'legacy' for opset {opset}")
    return exporter


def export_onnx(model: nn.Module, path: str | os.PathLike, input_size: int = 224, opset: int = 18,
                exporter: str = "auto", batch_size: int = 1, in_chans: int | None = None, verify: bool = True,
                rtol: float = RTOL, atol: float = ATOL, seed: int = 0) -> ExportResult:
    """Export ``model`` (switched to eval mode) to ONNX at ``path``; check ranks; verify outputs."""
    import onnx

    exporter = check_options(opset, exporter, rtol, atol, input_size, batch_size)
    if in_chans is None:
        in_chans = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), 3)
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise SKMobileError(f"output folder {str(path.parent)!r} does not exist")
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, in_chans, input_size, input_size, generator=gen)
    from .outputs import replacing

    with replacing(path) as tmp:  # a full disk leaves the previous file at ``path`` whole
        with torch.no_grad():
            _export(model, x, str(tmp), opset, exporter)
        proto = onnx.load(str(tmp))
        max_abs_diff = compare_outputs(tmp, model, x) if verify else None
    return _result(proto, path, exporter, x, rtol, atol, max_abs_diff)


def _result(proto, path: Path, exporter: str, x: torch.Tensor, rtol: float, atol: float, diff) -> ExportResult:
    """Check the exported graph ``proto`` and describe it (``diff``: (max |ort - torch|, max |torch|) or None)."""
    import onnx

    onnx.checker.check_model(proto)
    actual_opset = max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)
    shapes = tensor_ranks(proto)
    known = {n: s for n, s in shapes.items() if s is not None}
    high = [f"{n}: {list(s)}" for n, s in known.items() if len(s) > MAX_RANK]
    result = ExportResult(str(path), actual_opset, exporter, tuple(x.shape),
                          max((len(s) for s in known.values()), default=0), high,
                          len(shapes) - len(known), rtol=rtol, atol=atol)
    if diff is not None:
        result.max_abs_diff, result.output_scale = diff
    return result


@torch.no_grad()
def compare_outputs(path: str | os.PathLike, model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """(max |onnxruntime - torch|, max |torch|) of the graph at ``path`` and ``model`` (eval) on ``x``."""
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, min(2, os.cpu_count() or 1))
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    actual = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    expected = model.eval()(x).numpy()
    return float(np.max(np.abs(actual - expected))), float(np.max(np.abs(expected)))


def load_state_dict(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights from a file holding a state dict (or a dict with "state_dict"/"model" in it)."""
    path = Path(path)
    if not path.is_file():
        raise SKMobileError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a bad input
        raise SKMobileError(f"cannot read checkpoint {str(path)!r}: {exc}") from exc
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[:2]
        raise SKMobileError(f"checkpoint {str(path)!r} does not fit the model: {' '.join(first)}") from exc
    return model
