"""A latency predictor: a per-layer lookup table measured on this machine, summed per model.

The approach of FBNet's latency lookup table and nn-Meter (Zhang et al., MobiSys 2021): cut the
model into layers, time each layer alone at its exact shape under the deployment runtime, and
predict a model's latency as the sum. Layers here are the outermost modules of these kinds:

* ``ConvBnAct`` (any kernel, stride, dilation, groups: depthwise and grouped convs alike), bare
  ``Conv2d`` / ``BatchNorm2d`` / activations,
* ``SKConv2d`` (a whole SK unit: paths, attention and fusion), ``SqueezeExcite``,
* ``Linear`` and pools,

plus the tensor "glue" a model runs outside them (residual adds, channel split/concat/shuffle,
flatten), recorded with ``TorchFunctionMode`` and replayed alone. A layer is keyed by its module's
full one-line ``repr`` (every constructor argument) and input shape(s), so equal layers in two
models share one entry. Each standalone call pays the runtime's fixed per-call cost once, which
the whole model pays once in all: the table keeps that cost (``overhead_ms``, timed on a no-op),
each entry is stored net of it (of the no-op timed in the same rounds: the new layers of a model are
timed together, interleaved), and a prediction adds it back once.

onnxruntime on x86 runs convolutions in a blocked layout (NCHWc): a whole graph reorders once
into it and stays there across convs, adds and pools, while a layer alone reorders its input in
and its output out. The table times those boundary reorders (a ReorderInput -> ReorderOutput
graph at the same shape, half each), stores every layer net of its own, and a prediction adds a
reorder only where the layout changes: entering a blocked layer from a plain one, or leaving a
blocked layer for a layer that needs the plain layout (reshape, transpose, slice, concat, linear).
The layout is followed along the execution order, so a second branch that starts from a plain
tensor after a blocked one (ShuffleNetV2's stride-2 units) misses one reorder.

A layer timed alone runs with its weights hot in cache; a whole model whose footprint outgrows
the cache, or whose machine lets other tenants evict it within one inference, fetches them from
memory on every inference. A CPU table (format version 4 and later) keeps the machine's cyclic-read cost
curves (back to back, and after pauses), measured by a micro-benchmark when the table is made, and
a prediction adds the cache term of :mod:`.memory` (nothing in it is fitted to models). A
version-2 table (no curve) still loads and predicts the layers' sum alone, a version-3 table (no
paused curves) with the back-to-back curve alone; ``--build-table`` on either measures the curves.

Two terms of format version 5 (issue 17, reports/latency.md):

* **Cold weight-heavy layers.** A batch-1 classifier reads each weight once, and reads cold weights
  about half as fast as the streaming micro-benchmark, so the streaming term under-charges it. Every
  layer with at least :data:`COLD_MIN_BYTES` of weights is also timed *cold* in the same rounds:
  each call after a read of twice the last-level cache and then of its own input and output
  arrays (weights from memory, activations in cache, as in a model). Such a layer's cache term is
  its measured cold extra (cold - hot) times the share of a full miss that the curve gives it at the
  model's footprint and pause (:func:`.memory.cold_share`); other layers keep the streaming term.
* **One node's dispatch per layer.** Every entry is net of the no-op, a one-node graph, so it leaves
  out one node's dispatch (the executor's per-node work) that the whole graph pays per node. A chain
  of :data:`NODE_CHAIN` trivial nodes, timed with the layers, gives that cost (``node_ms``); a
  prediction adds it once per layer.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import math
import os
import tempfile
import warnings
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Mapping

from ..errors import SKMobileError
from ..measure import machine
from ..measure.stats import Spread
from ..measure.timing import TimingPlan, clock_of, time_rounds
from . import memory
from .measure import Arch, Setting, build, input_shape, runner as model_runner
from .runtimes import ort_runner, quiet_fds, torch_threads

#: a light plan for one layer: short turns, a few rounds (a layer is micro- to milliseconds)
UNIT_PLAN = TimingPlan(warmup_calls=3, warmup_s=0.03, round_s=0.02, min_calls=3, max_calls=500,
                       min_rounds=3, max_rounds=8, rel_ci=0.02, max_s=3.0)
#: layers that run in whichever layout their input has (onnxruntime's NCHWc: see the module docstring)
LAYOUT_NEUTRAL = {"glue:add", "glue:mul", "glue:dropout", "glue:relu", "ReLU", "ReLU6", "Sigmoid"}
#: tensor functions outside layers that cost nothing to record (shape queries and the like)
_SKIP = {"__get__", "dim", "size", "numel", "randn", "__len__", "__format__", "__repr__", "tolist", "item"}


def _layer_types() -> tuple:
    from torch import nn

    from ..layers import ConvBnAct, SKConv2d, SqueezeExcite

    pools = (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)
    acts = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.GELU)
    return (SKConv2d, SqueezeExcite, ConvBnAct, nn.Conv2d, nn.BatchNorm2d, nn.Linear) + pools + acts


@dataclass
class Unit:
    """One layer or glue op of a model, as timed alone."""

    kind: str
    key: str                        # table key: kind, full configuration, input shape(s)
    shapes: list[tuple[int, ...]]   # input shapes, in call order
    make: Callable = field(repr=False, default=None)   # -> an nn.Module taking ``len(shapes)`` tensors
    weight_bytes: int = 0           # parameters and buffers this layer reads
    out_bytes: int = 0              # its output tensor(s)

    @property
    def in_bytes(self) -> int:
        return 4 * sum(math.prod(s) for s in self.shapes)   # fp32 inputs

    @property
    def own_bytes(self) -> int:
        """What a call of this layer alone touches: weights, inputs, output."""
        return self.weight_bytes + self.in_bytes + self.out_bytes


class _Replay:
    """Build a module that replays one recorded tensor function on fresh inputs."""

    def __init__(self, func, args, kwargs):
        self.func, self.args, self.kwargs = func, args, kwargs

    def __call__(self):
        from torch import nn

        replay = self

        class Glue(nn.Module):
            def forward(self, *tensors):
                it = iter(tensors)
                args = [_fill(a, it) for a in replay.args]
                return replay.func(*args, **replay.kwargs)

        return Glue()


class _Slot:
    """A tensor argument's place in a recorded call."""

    def __init__(self, shape):
        self.shape = tuple(shape)


def _template(value):
    import torch

    if isinstance(value, torch.Tensor):
        return _Slot(value.shape)
    if isinstance(value, (list, tuple)):
        return type(value)(_template(v) for v in value)
    return value


def _fill(value, tensors):
    if isinstance(value, _Slot):
        return next(tensors)
    if isinstance(value, (list, tuple)):
        return type(value)(_fill(v, tensors) for v in value)
    return value


def _slots(value) -> list[tuple[int, ...]]:
    if isinstance(value, _Slot):
        return [value.shape]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _slots(v)]
    return []


def _describe(value) -> str:
    if isinstance(value, _Slot):
        return f"T{list(value.shape)}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


def _weight_bytes(module) -> int:
    """Bytes of the parameters and floating-point buffers (BatchNorm statistics) of ``module``."""
    tensors = list(module.parameters()) + [b for b in module.buffers() if b.is_floating_point()]
    return sum(t.numel() * t.element_size() for t in tensors)


def _tensor_bytes(value) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def collect_units(model, shape: tuple[int, ...]) -> list[Unit]:
    """The layers and glue ops one forward pass of ``model`` runs at input ``shape``, in order."""
    import torch
    from torch.overrides import TorchFunctionMode

    types = _layer_types()
    units: list[Unit] = []
    depth = [0]

    def pre(module, inputs):
        if depth[0] == 0:
            shapes = [tuple(t.shape) for t in inputs if isinstance(t, torch.Tensor)]
            desc = " ".join(repr(module).split())
            units.append(Unit(type(module).__name__, f"{desc} @ {shapes}", shapes,
                              make=lambda m=module: copy.deepcopy(m), weight_bytes=_weight_bytes(module)))
        depth[0] += 1

    def post(module, inputs, output):
        depth[0] -= 1
        if depth[0] == 0:
            units[-1].out_bytes = _tensor_bytes(output)

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types_, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", str(func))
            if depth[0] == 0 and name not in _SKIP and isinstance(out, torch.Tensor):
                targs, tkw = _template(list(args)), _template(kwargs)
                if not _slots(tkw):   # tensor keyword arguments never occur in these models
                    key = f"{name}({', '.join(_describe(a) for a in targs)}{', ' if tkw else ''}" \
                          f"{', '.join(f'{k}={v!r}' for k, v in tkw.items())})"
                    units.append(Unit(f"glue:{name}", key, _slots(targs), make=_Replay(func, targs, tkw),
                                      out_bytes=_tensor_bytes(out)))
            return out

    handles = []
    for m in model.modules():
        if isinstance(m, types):
            handles += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    x = torch.randn(*shape)
    try:
        with torch.inference_mode(), Recorder():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return units


def _export_unit(module, inputs, path: str, opset: int) -> None:
    import torch

    sink = io.StringIO()
    with warnings.catch_warnings(), redirect_stdout(sink), redirect_stderr(sink), quiet_fds():
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(module, tuple(inputs), path, dynamo=False, opset_version=opset,
                          input_names=[f"in{i}" for i in range(len(inputs))], do_constant_folding=True)


def _noop_module():
    from torch import nn

    class NoOp(nn.Module):
        def forward(self, x):
            return x + 0   # one trivial node: ONNX needs at least one

    return NoOp()


def unit_runner(make: Callable, shapes: list[tuple[int, ...]], setting: Setting, workdir: str):
    """(callable running one layer alone under ``setting``, its boundary reorders); (None, {}) if it
    cannot export. The boundary maps "in"/"out" to the shape reordered at the graph's input/output."""
    import torch

    module = make().eval().to(setting.device)
    inputs = [torch.randn(*s, device=setting.device) for s in shapes]
    if setting.runtime == "torch":
        sync = torch.cuda.synchronize if setting.device == "cuda" else (lambda: None)

        def run():
            with torch.inference_mode():
                out = module(*inputs)
            sync()
            return out

        run.inputs = inputs
        return run, {}
    path = os.path.join(workdir, f"unit{len(os.listdir(workdir))}.onnx")
    try:
        _export_unit(module.cpu(), [t.cpu() for t in inputs], path, setting.opset)
    except Exception:  # noqa: BLE001 - an op the exporter cannot write is left out, and counted
        return None, {}
    optimized = path.replace(".onnx", ".opt.onnx")
    fn = ort_runner(path, list(shapes), setting.device, setting.threads, optimized_path=optimized)
    return fn, boundary_reorders(optimized)


def boundary_reorders(optimized_path: str) -> dict:
    """Shapes reordered into NCHWc at the graph input ("in") and out of it at the output ("out")."""
    import onnx

    if not os.path.isfile(optimized_path):
        return {}
    graph = onnx.load(optimized_path).graph
    shape = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in list(graph.input) + list(graph.output)}
    found = {}
    for node in graph.node:
        if node.op_type == "ReorderInput" and node.input[0] in shape:
            found["in"] = shape[node.input[0]]
        if node.op_type == "ReorderOutput" and node.output[0] in shape:
            found["out"] = shape[node.output[0]]
    return found


def reorder_pair_runner(shape: list[int], setting: Setting):
    """onnxruntime's ReorderInput -> ReorderOutput alone at ``shape`` (None where it does not apply)."""
    if setting.runtime != "onnxruntime" or setting.device != "cpu" or len(shape) != 4 or shape[1] % 4:
        return None
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    domain = "com.microsoft.nchwc"
    nodes = [helper.make_node("ReorderInput", ["x"], ["y"], domain=domain),
             helper.make_node("ReorderOutput", ["y"], ["z"], domain=domain, channels=shape[1])]
    graph = helper.make_graph(nodes, "reorder", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, shape)])
    model = helper.make_model(graph, ir_version=8,   # IR 8 = opset 17; older onnxruntimes reject newer IRs
                              opset_imports=[helper.make_opsetid("", setting.opset), helper.make_opsetid(domain, 1)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = setting.threads, 1, 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    from .runtimes import bound_run

    return bound_run(sess, [np.random.default_rng(0).standard_normal(shape, dtype=np.float32)])


def node_chain_runner(nodes: int, setting: Setting):
    """onnxruntime running a chain of ``nodes`` Relu nodes on one float (None for another runtime).

    Every layer's entry is net of the no-op, a one-node graph, so it leaves out one node's dispatch
    (the executor's per-node work and an output from the arena) that a whole graph pays for each
    of its nodes: (chain - no-op) / (nodes - 1) is that cost."""
    if setting.runtime != "onnxruntime":
        return None
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper

    names = ["x"] + [f"t{i}" for i in range(nodes)]
    graph = helper.make_graph([helper.make_node("Relu", [a], [b]) for a, b in zip(names, names[1:])], "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info(names[-1], TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", setting.opset)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads, opts.log_severity_level = setting.threads, 1, 3
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers = ["CUDAExecutionProvider"] if setting.device == "cuda" else ["CPUExecutionProvider"]
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=providers)
    from .runtimes import bound_run

    return bound_run(sess, [np.ones(1, np.float32)], setting.device)


def time_one(fn, plan: TimingPlan = UNIT_PLAN) -> float:
    """Median ms of ``fn`` under ``plan``."""
    return time_rounds({"u": fn}, plan).spread("u").p50 * 1e3


#: the table format written now (5: weight-heavy layers also timed cold, ``cold_ms``, and one
#: node's dispatch, ``node_ms``); 2 (no cache term), 3 (back-to-back curve only) and 4 (no cold
#: times, no node dispatch: the streaming term for every layer) still load, older ones ask for a rebuild
TABLE_VERSION = 5


@dataclass
class LatencyTable:
    """Per-layer latencies (ms, net of the per-call overhead) for one setting on one machine, and
    the machine's cyclic-read cost curve for the cache term (:mod:`.memory`; None: no term)."""

    setting: dict
    machine: dict
    overhead_ms: float = 0.0
    reorders: dict[str, float] = field(default_factory=dict)  # shape -> ms of one NCHWc reorder there
    entries: dict[str, dict] = field(default_factory=dict)   # key -> {"kind", "ms"}
    skipped: dict[str, str] = field(default_factory=dict)    # key -> why it has no time
    models: dict[str, dict] = field(default_factory=dict)    # evaluation: name -> measured/predicted
    memory: dict | None = None                               # MemoryCurve.as_json(), or None
    node_ms: float | None = None                             # dispatch of one more graph node (onnxruntime)
    clock: str = "wall"                                      # the timer's clock for every entry (timer.CLOCKS)
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
        path = Path(path)
        if not path.is_file():
            raise SKMobileError(f"latency table {str(path)!r} does not exist; build it with "
                                "`skmobile bench latency --build-table`")
        try:
            data = json.loads(path.read_text())
            version = data.get("version", 1) if isinstance(data, dict) else None
            if version not in (2, 3, 4, TABLE_VERSION):
                raise SKMobileError(f"latency table {str(path)!r} has format version {version}; this skmobile "
                                    f"reads versions 2 to {TABLE_VERSION}: rebuild it with "
                                    "`skmobile bench latency --build-table --table NEW.json`")
            table = cls(**data)
            if table.memory is not None:
                memory.MemoryCurve.from_json(table.memory)   # a malformed curve fails here, not mid-search
            return table
        except SKMobileError:
            raise
        except (json.JSONDecodeError, TypeError, ValueError) as exc:
            raise SKMobileError(f"latency table {str(path)!r} is not a table written by --build-table: {exc}") from exc

    def check_setting(self, setting: Setting, clock: str | None = None) -> None:
        if {k: self.setting.get(k) for k in asdict(setting)} != asdict(setting):
            raise SKMobileError(f"latency table was built for {self.setting}; asked for {asdict(setting)}")
        if clock is not None and clock != self.clock:
            raise SKMobileError(f"latency table was timed with the {self.clock!r} clock; asked for {clock!r} "
                                "(use another --table)")

    def curve(self) -> "memory.MemoryCurve | None":
        return None if self.memory is None else memory.MemoryCurve.from_json(self.memory)

    def cache_term(self, units: list[Unit], pause_ms: float = 0.0) -> tuple[float, int]:
        """(cache term ms, footprint bytes) of a whole model made of ``units`` whose weights are
        re-read every ``pause_ms`` (one inference); 0 ms without a curve."""
        footprint = memory.footprint_bytes((u.weight_bytes for u in units), (u.in_bytes + u.out_bytes for u in units))
        curve = self.curve()
        if curve is None:
            return 0.0, footprint
        return memory.cache_term_ms(((u.weight_bytes, u.own_bytes, self.cold_extra_ms(u)) for u in units),
                                    footprint, curve, pause_ms), footprint

    def cold_extra_ms(self, unit: Unit) -> float | None:
        """What ``unit`` took more when timed cold than hot (None: not timed cold, or not a
        weight-heavy layer by :func:`times_cold`)."""
        entry = self.entries.get(unit.key) or {}
        if "cold_ms" not in entry or not times_cold(unit):
            return None
        return max(0.0, entry["cold_ms"] - entry["ms"])

    def predict_parts(self, units: Iterable[Unit]) -> dict:
        """The sum of the layers timed alone (``hot_ms``, with overhead and reorders), the cache term
        (``cache_ms``: weights re-read after one inference, ``hot_ms``), their total (``ms``), the
        footprint and the units missing from the table."""
        units = list(units)
        hot, missing = self.hot_sum(units)
        cache, footprint = self.cache_term(units, hot)
        return {"ms": hot + cache, "hot_ms": hot, "cache_ms": cache, "footprint_bytes": footprint, "missing": missing}

    def predict_units(self, units: Iterable[Unit]) -> tuple[float, list[Unit]]:
        """(predicted ms, units missing from the table): the layers' sum plus the cache term."""
        parts = self.predict_parts(units)
        return parts["ms"], parts["missing"]

    def hot_sum(self, units: Iterable[Unit]) -> tuple[float, list[Unit]]:
        """(ms of the layers as timed alone, units missing from the table); skipped units count as 0 ms.

        Follows the layout along the units (see the module docstring) to add the reorders a whole
        graph runs, and adds one node's dispatch (``node_ms``) per layer: each entry is net of the
        no-op, a one-node graph, so it leaves that out."""
        total, missing = self.overhead_ms, []
        blocked, leave = False, 0.0
        for u in units:
            e = self.entries.get(u.key)
            if e is None:
                if u.key not in self.skipped:
                    missing.append(u)
                continue
            neutral = e["kind"] in LAYOUT_NEUTRAL
            if e.get("reorder_in_ms") is not None:
                total += 0.0 if blocked else e["reorder_in_ms"]
            elif blocked and not neutral:
                total += leave
                blocked = False
            total += e["ms"] + (self.node_ms or 0.0)
            if e.get("reorder_out_ms") is not None:
                blocked, leave = True, e["reorder_out_ms"]
            elif not neutral:
                blocked = False
        return total + (leave if blocked else 0.0), missing

    def add_units(self, units: Iterable[Unit], setting: Setting, plan: TimingPlan | None = None,
                  on_unit: Callable[[int, int], None] | None = None,
                  on_round: Callable[[int, int], None] | None = None) -> int:
        """Time every unit not yet in the table (:meth:`time_units`); return how many were timed."""
        return self.time_units(units, setting, plan, on_unit=on_unit, on_round=on_round)[0]

    def time_units(self, units: Iterable[Unit], setting: Setting, plan: TimingPlan | None = None,
                   alongside: Mapping[str, Callable[[], object]] | None = None,
                   on_unit: Callable[[int, int], None] | None = None,
                   on_round: Callable[[int, int], None] | None = None,
                   prepare: Mapping[str, Callable[[], object]] | None = None,
                   turns: Mapping[str, int] | None = None) -> tuple[int, dict[str, Spread]]:
        """Time every unit not yet in the table, and the callables ``alongside`` (whole models for
        the predictor's check, paused reads for the cache curve; ``prepare[label]`` runs untimed
        before each call of one, ``turns[label]`` gives one several turns a round) in the same
        rounds; return (units timed, label -> ms spread of each callable alongside).

        Everything is timed together in interleaved rounds (:func:`.timer.time_rounds`), with the
        runtime's no-op and the units' boundary reorders beside them: each layer's samples spread
        over the whole timing instead of one short turn, so a burst of load on a shared machine hits
        every layer alike rather than ruining the few timed during it, and a model measured
        alongside sees the same machine as its layers. A layer's entry is its median net of the
        no-op's median from the same rounds (and of its reorders). The no-op and the reorder pairs,
        which many layers are netted against, get :data:`SHARED_TURNS` turns per round spread
        through it: on a machine whose speed flips within seconds (a busy neighbour), one turn per
        round leaves their medians to the luck of when those turns fell, an error that a model of
        150 layers pays 150 times. ``on_unit(i, n)`` follows the layers' export, ``on_round(i, n)``
        the timing rounds."""
        todo = list({u.key: u for u in units if u.key not in self.entries and u.key not in self.skipped}.values())
        alongside = dict(alongside or {})
        if not todo and not alongside:
            return 0, {}
        plan = replace(plan or UNIT_PLAN, clock=self.clock)
        with tempfile.TemporaryDirectory(prefix="skmobile-units-") as tmp, torch_threads(setting.threads):
            fns = {_NOOP: unit_runner(_noop_module, [(1,)], setting, tmp)[0]}
            chain = node_chain_runner(NODE_CHAIN, setting) if self.node_ms is None else None
            if chain is not None:
                fns[_CHAIN] = chain
            boundaries: dict[str, dict] = {}
            for i, u in enumerate(todo, 1):
                fn, boundary = unit_runner(u.make, u.shapes, setting, tmp)
                if fn is None:
                    self.skipped[u.key] = "cannot export alone"
                else:
                    fns[u.key], boundaries[u.key] = fn, boundary
                    for shape in boundary.values():
                        self._add_reorder_runner(fns, shape, setting)
                if on_unit is not None:
                    on_unit(i, len(todo))
            preps = {_ALONGSIDE + label: fn for label, fn in (prepare or {}).items()}
            cold = [u.key for u in todo if u.key in fns and self._times_cold(u)]
            if cold:
                flush = _flush_reader()
                for key in [_NOOP] + cold:
                    fns[_COLD + key], preps[_COLD + key] = fns[key], _cold_prepare(fns[key], flush)
            fns.update({_ALONGSIDE + label: fn for label, fn in alongside.items()})
            shared = {k: SHARED_TURNS for k in fns if k in (_NOOP, _COLD + _NOOP, _CHAIN) or k.startswith(_REORDER)}
            shared.update({_ALONGSIDE + label: n for label, n in (turns or {}).items()})
            rounds = time_rounds(fns, replace(plan, max_s=plan.max_s * len(fns)), on_round=on_round,
                                 prepare=preps, turns=shared)
        spreads = {label: rounds.spread(_ALONGSIDE + label).scaled(1e3) for label in alongside}
        ms = {k: rounds.spread(k).p50 * 1e3 for k in fns if not k.startswith(_ALONGSIDE)}
        noop = ms.pop(_NOOP)
        cold_noop = ms.pop(_COLD + _NOOP, None)
        if _CHAIN in ms:
            self.node_ms = round(max(0.0, ms.pop(_CHAIN) - noop) / (NODE_CHAIN - 1), 6)
        for k in [k for k in ms if k.startswith(_REORDER)]:
            self.reorders[k[len(_REORDER):]] = round(max(0.0, ms.pop(k) - noop) / 2, 5)
        kinds = {u.key: u.kind for u in todo}
        for key, boundary in boundaries.items():
            entry = {"kind": kinds[key]}
            for side, shape in boundary.items():
                entry[f"reorder_{side}_ms"] = self.reorders[str(list(shape))]
            reorders = sum(entry[f"reorder_{side}_ms"] for side in boundary)
            entry["ms"] = round(max(0.0, ms[key] - noop - reorders), 5)
            if _COLD + key in ms:
                entry["cold_ms"] = round(max(0.0, ms[_COLD + key] - cold_noop - reorders), 5)
            self.entries[key] = entry
        return len(todo), spreads

    def _times_cold(self, unit: Unit) -> bool:
        """Whether ``unit`` also gets a cold timing: a CPU table with a cache term, and a weight-heavy
        layer (:func:`times_cold`)."""
        return self.memory is not None and self.setting.get("device") == "cpu" and times_cold(unit)

    def _add_reorder_runner(self, fns: dict, shape, setting: Setting) -> None:
        """Add the reorder pair at ``shape`` to ``fns`` unless the table has it (0 ms where none applies)."""
        key = str(list(shape))
        if key in self.reorders or _REORDER + key in fns:
            return
        fn = reorder_pair_runner(list(shape), setting)
        if fn is None:
            self.reorders[key] = 0.0
        else:
            fns[_REORDER + key] = fn


#: turns per round of the no-op and of each reorder pair (each turn is short: at most
#: ``UNIT_PLAN.max_calls`` calls of a few microseconds)
SHARED_TURNS = 8

#: a layer is also timed cold (:func:`_cold_prepare`) where it holds at least this many bytes of
#: weights ...
COLD_MIN_BYTES = 256 * 2 ** 10
#: ... and at least this many times its input and output bytes: the flush also empties the layer's
#: own scratch buffers (its blocked-layout copies of input and output), which a model has warm, so a
#: cold time measures its weights' cost only where the weights dominate what it touches (the
#: batch-1 classifier, 1x1 convolutions at 7x7). In runs 2 and 3 of reports/latency.md, cold times
#: of layers with more activation than weight bytes over-charged MobileNetV1 by up to +25 %.
COLD_WEIGHT_RATIO = 2


def times_cold(unit: Unit) -> bool:
    """Whether ``unit`` is weight-heavy enough for a cold time (see :data:`COLD_WEIGHT_RATIO`)."""
    return unit.weight_bytes >= COLD_MIN_BYTES and unit.weight_bytes >= COLD_WEIGHT_RATIO * (unit.in_bytes + unit.out_bytes)

#: nodes in the chain that times what one more graph node costs (:func:`node_chain_runner`)
NODE_CHAIN = 33

#: labels of the no-op, the node chain, the reorder pairs, the cold timings and the callables
#: alongside among the units timed together
_NOOP, _CHAIN, _REORDER, _COLD, _ALONGSIDE = "\0noop", "\0chain", "\0reorder ", "\0cold ", "\0alongside "


def _flush_reader() -> Callable[[], object]:
    """A read of twice the last-level cache (32 MiB assumed where the OS does not say): after
    it, what a layer last touched has left the caches."""
    import numpy as np

    return np.ones(2 * (memory.llc_bytes() or 32 * 2 ** 20) // 4, np.float32).max


def _cold_prepare(fn, flush: Callable[[], object]) -> Callable[[], None]:
    """Run before each cold call of ``fn``: ``flush``, then a read of its bound input and output
    arrays, so its weights come from memory while its activations are in cache, as inside a model
    whose weights the cache no longer holds."""
    arrays = list(getattr(fn, "inputs", [])) + list(getattr(fn, "outputs", []))

    def prepare():
        flush()
        for a in arrays:
            a.max()

    return prepare


def new_table(setting: Setting, plan: TimingPlan = UNIT_PLAN, clock: str = "wall") -> LatencyTable:
    """An empty table for ``setting`` with its per-call overhead timed by ``clock`` and, on a CPU,
    the machine's cyclic-read curve for the cache term."""
    setting.check()
    check_clock(clock, setting)
    with tempfile.TemporaryDirectory(prefix="skmobile-units-") as tmp, torch_threads(setting.threads):
        fn, _ = unit_runner(_noop_module, [(1,)], setting, tmp)
        overhead = time_one(fn, replace(plan, clock=clock))
    record = machine.describe(setting.device)
    record["id"] = machine.machine_id(setting.device)
    record["runtime"] = machine.runtime_version(setting.runtime)
    table = LatencyTable(asdict(setting), record, round(overhead, 5), clock=clock)
    ensure_curve(table)
    return table


def check_clock(clock: str, setting: Setting) -> None:
    """One-line error for an unknown clock, or the CPU clock where the work is not on this thread."""
    clock_of(clock)
    if clock == "cpu" and (setting.device != "cpu" or setting.threads != 1):
        raise SKMobileError(f"clock 'cpu' counts this thread's CPU time: allowed only with --device cpu "
                            f"--threads 1; got {setting.device}, {setting.threads} thread(s)")


def ensure_curve(table: LatencyTable) -> None:
    """Measure the cache term's back-to-back curve into a CPU table that has none (a version-2
    table or a new one; :func:`build_table` adds the paused curves in its rounds); the layer
    entries stay valid: they were timed alone in the same way."""
    if table.memory is None and table.setting.get("device") == "cpu":
        table.memory = memory.measure_curve(clock=clock_of(table.clock), pauses_ms=()).as_json()
    table.version = TABLE_VERSION


def units_of(arch: Arch, batch: int = 1) -> list[Unit]:
    model = build(arch)
    return collect_units(model, input_shape(arch, model, batch))


def predict(table: LatencyTable, arch: Arch, setting: Setting, add_missing: bool = True) -> dict:
    """Predicted latency of ``arch``; missing layers are timed and added to ``table`` when allowed."""
    table.check_setting(setting)
    units = units_of(arch, setting.batch)
    parts = table.predict_parts(units)
    added = 0
    if parts["missing"] and add_missing:
        added = table.add_units(parts["missing"], setting)
        parts = table.predict_parts(units)
    return {"predicted_ms": round(parts["ms"], 4), "layers_alone_ms": round(parts["hot_ms"], 4),
            "cache_term_ms": round(parts["cache_ms"], 4), "footprint_mib": round(parts["footprint_bytes"] / 2 ** 20, 2),
            "layers": len(units), "layers_timed_now": added, "layers_missing": len(parts["missing"])}


def light_models() -> list[str]:
    """Every registered light model: the ShuffleNetV2 and MobileNetV2/V1 families, base, _se and _sk."""
    from ..models import list_models, model_entry

    return [n for n in list_models() if model_entry(n).family in ("shufflenetv2", "mobilenetv2", "mobilenetv1")]


#: rounds of the timing that checks the predictor (layers and whole models together; a round
#: gives every layer one turn and every model MODEL_TURNS, about 13 s for all light models)
CHECK_PLAN = replace(UNIT_PLAN, min_rounds=8, max_rounds=16)
#: turns per round of each whole model in the check, spread through the round: a model's median
#: then comes from as many machine states as its layers' sum (150 turns a round for a ShuffleNetV2)
#: rather than from one turn a round
MODEL_TURNS = 4


def build_table(models: list[str], setting: Setting, table: LatencyTable | None = None,
                on_model: Callable[[str, int, int], None] | None = None, check: bool = False,
                save_to: str | os.PathLike | None = None, clock: str = "wall",
                on_layers: Callable[[int, int, str], None] | None = None,
                check_plan: TimingPlan | None = None) -> LatencyTable:
    """Time every layer of ``models`` into ``table`` (new if None): the new layers of all models
    in one interleaved timing (:meth:`LatencyTable.time_units`), with the cache curve's paused
    reads (a CPU table: :func:`.memory.paused_reads`; the paused curves are replaced by these).
    With ``check``, every whole model is timed in the same rounds as the layers (``check_plan``,
    default :data:`CHECK_PLAN`), so a load change on a shared machine hits a model, its layers and
    the curve alike, and ``table.models`` gets measured vs predicted ms and the error. With ``save_to``, the table is saved once timed.
    ``clock`` times a new table's layers; an existing table must have been timed by it.
    ``on_model(name, i, n)`` follows the models' layer collection and export,
    ``on_layers(done, total, what)`` the layers' export and the timing rounds."""
    table = table or new_table(setting, clock=clock)
    table.check_setting(setting, clock)
    ensure_curve(table)
    if not models:
        return table
    progress = (lambda what: None) if on_layers is None else (lambda what: lambda i, n: on_layers(i, n, what))
    with tempfile.TemporaryDirectory(prefix="skmobile-models-") as tmp:
        units_by_model, runners = {}, {}
        for i, name in enumerate(models, 1):
            if on_model is not None:
                on_model(name, i, len(models))
            units_by_model[name] = units_of(Arch(name), setting.batch)
            if check:
                with torch_threads(setting.threads):
                    runners[name] = model_runner(Arch(name), setting, tmp)
        curve = table.curve()
        reads, pauses = memory.paused_reads(curve.sizes) if curve is not None else ({}, {})
        _, measured = table.time_units([u for units in units_by_model.values() for u in units], setting,
                                       (check_plan or CHECK_PLAN) if check else None, alongside={**runners, **reads},
                                       prepare=pauses, turns={name: MODEL_TURNS for name in runners},
                                       on_unit=progress("exporting layers"),
                                       on_round=progress("timing layers" + (" and models" if check else "")
                                                         + ", interleaved rounds"))
        del reads, pauses   # their buffers: up to a few hundred MiB
    if curve is not None:
        table.memory = memory.paused_from_ms(curve, {k: v.p50 for k, v in measured.items()}).as_json()
    load = _load_avg()
    for name, units in units_by_model.items():
        parts = table.predict_parts(units)
        row = {"predicted_ms": round(parts["ms"], 4), "layers_alone_ms": round(parts["hot_ms"], 4),
               "cache_term_ms": round(parts["cache_ms"], 4), "footprint_mib": round(parts["footprint_bytes"] / 2 ** 20, 2),
               "layers": len(units), "layers_skipped": sum(u.key in table.skipped for u in units)}
        if name in measured:
            m = measured[name]
            row.update(measured_ms=round(m.p50, 4), measured_p10_ms=round(m.p10, 4), measured_p90_ms=round(m.p90, 4),
                       measured_load_avg=load, error_pct=round(100 * (parts["ms"] - m.p50) / m.p50, 2),
                       error_layers_alone_pct=round(100 * (parts["hot_ms"] - m.p50) / m.p50, 2))
        table.models[name] = row
    if save_to is not None:
        table.save(save_to)
    return table


def _load_avg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on this platform
        return None


def default_table_path(setting: Setting) -> Path:
    from .cache import default_path

    return default_path().parent / f"latency_table-{setting.runtime}-{setting.device}-t{setting.threads}-b{setting.batch}.json"


def error_summary(table: LatencyTable, within_pct: float = 10.0, field_name: str = "error_pct") -> dict:
    """How many evaluated models the table predicts within ``within_pct`` of their measured latency
    (``field_name``: ``error_pct`` with the cache term, ``error_layers_alone_pct`` without it)."""
    errs = {n: r[field_name] for n, r in table.models.items() if field_name in r}
    inside = [n for n, e in errs.items() if abs(e) <= within_pct]
    return {"models": len(errs), "within": len(inside), "within_pct": within_pct,
            "misses": sorted((n for n in errs if n not in inside), key=lambda n: -abs(errs[n])),
            "mean_abs_error_pct": round(sum(abs(e) for e in errs.values()) / len(errs), 2) if errs else None}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def error_markdown(table: LatencyTable, command: str) -> str:
    """The predictor's error per model as a markdown section (measured vs predicted, this machine)."""
    s, m = table.setting, table.machine
    summary, alone = error_summary(table), error_summary(table, field_name="error_layers_alone_pct")
    curve = table.curve()
    loads = [r["measured_load_avg"][0] for r in table.models.values() if r.get("measured_load_avg")]
    lines = [f"# Latency predictor error ({s['runtime']}, {s['device']}, {s['threads']} thread(s), batch {s['batch']})",
             "", f"Command: `{command}`", "",
             f"Machine: {m.get('cpu')} ({m.get('logical_cpus')} logical CPUs), {m.get('runtime')}, "
             f"torch {m.get('torch')}, load average at start {m.get('load_avg')}, {m.get('date')}"
             + (f"; 1-minute load while models were measured {min(loads):.2f}-{max(loads):.2f}" if loads else "") + ".",
             "", f"Table: {len(table.entries)} layers timed alone, {len(table.skipped)} left out (cannot export alone), "
             f"per-call overhead {table.overhead_ms:.4f} ms (added once per model)"
             + (f", one node's dispatch {table.node_ms * 1e3:.2f} us (added per layer)" if table.node_ms is not None else "")
             + f", {sum('cold_ms' in e for e in table.entries.values())} weight-heavy layers also timed cold; clock: "
             + ("wall (perf_counter)" if table.clock == "wall" else "this thread's CPU time (other processes' turns "
                "on the core left out)") + ".", "",
             ("Cache term: " + curve.summary() + "." if curve is not None else
              "Cache term: none (this table has no memory curve: a version-2 table, or not a CPU)."), "",
             "| model | footprint MiB | measured p50 ms | p10-p90 ms | layers alone ms | cache term ms | predicted ms "
             "| error % | error without the term % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in table.models.items():
        if "measured_ms" in r:
            lines.append(f"| {name} | {_fmt(r.get('footprint_mib'), '.1f')} | {r['measured_ms']:.3f} | "
                         f"{r['measured_p10_ms']:.3f}-{r['measured_p90_ms']:.3f} | {_fmt(r.get('layers_alone_ms'), '.3f')} | "
                         f"{_fmt(r.get('cache_term_ms'), '.3f')} | {r['predicted_ms']:.3f} | {r['error_pct']:+.1f} | "
                         f"{_fmt(r.get('error_layers_alone_pct'), '+.1f')} |")
    lines += ["", f"Within +-{summary['within_pct']:g} %: {summary['within']} of {summary['models']} models "
              f"(mean absolute error {summary['mean_abs_error_pct']} %)"
              + (f"; without the cache term {alone['within']} of {alone['models']} "
                 f"(mean absolute error {alone['mean_abs_error_pct']} %)." if alone["models"] else ".")]
    if summary["misses"]:
        lines.append("Outside it: " + ", ".join(f"{n} ({table.models[n]['error_pct']:+.1f} %)" for n in summary["misses"]) + ".")
    return "\n".join(lines) + "\n"
