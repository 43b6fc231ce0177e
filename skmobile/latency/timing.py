"""Time layers (and, for the check, whole models) into a latency table.

Everything is timed together in interleaved rounds (:func:`skmobile.measure.timing.time_rounds`)
with the runtime's no-op beside the layers, so a burst of load on a shared machine hits every layer
alike and a model timed alongside sees the same machine as its layers. A layer's entry is its median
net of the no-op's median from the same rounds. The no-op and each whole model get several turns a
round, spread through it, so their medians see the same mix of machine states as the layers.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, replace
from typing import Callable, Iterable

from ..errors import SKMobileError
from ..measure import machine
from ..measure.stats import Spread, percentile
from ..measure.timing import Timed, TimingPlan, clock_of, time_rounds
from .capture import Unit, units_of
from .graph import noop_runner, unit_runner
from .measure import Arch, Setting, runner as model_runner
from .runtimes import torch_threads
from .table import LatencyTable

#: layers alone: short turns, a few rounds (a layer takes micro- to milliseconds)
UNIT_PLAN = TimingPlan(warmup_calls=3, warmup_s=0.03, round_s=0.02, min_calls=3, max_calls=500,
                       min_rounds=3, max_rounds=8, rel_ci=0.02, max_s=3.0)
#: runs one check is cut into: consecutive blocks of its rounds, each predicting and measuring every model
RUNS = 3
#: the check, layers and models together: at least 3 rounds for each run
CHECK_PLAN = replace(UNIT_PLAN, min_rounds=3 * RUNS, max_rounds=5 * RUNS)
#: turns per round of the no-op and of each whole model
NOOP_TURNS, MODEL_TURNS = 8, 4
NOOP, LAYER, MODEL = "noop", "layer", "model"


@dataclass(frozen=True)
class Label:
    """What a timed callable is: the no-op, a layer (``name``: its table key) or a whole model."""

    kind: str   # NOOP, LAYER or MODEL
    name: str = ""


def check_clock(clock: str, setting: Setting) -> None:
    """One-line error for an unknown clock, or the CPU clock where the work is not on this thread."""
    clock_of(clock)
    if clock == "cpu" and (setting.device != "cpu" or setting.threads != 1):
        raise SKMobileError(f"clock 'cpu' counts this thread's CPU time: allowed only with --device cpu "
                            f"--threads 1; got {setting.device}, {setting.threads} thread(s)")


def new_table(setting: Setting, clock: str = "wall") -> LatencyTable:
    setting.check()
    check_clock(clock, setting)
    record = {**machine.describe(setting.device), "id": machine.machine_id(setting.device),
              "runtime": machine.runtime_version(setting.runtime)}
    return LatencyTable(asdict(setting), record, clock=clock)


def time_together(units: Iterable[Unit], setting: Setting, plan: TimingPlan, models: Iterable[str] = (),
                  skipped: dict | None = None, on_unit: Callable[[int, int], None] | None = None,
                  on_round: Callable[[int, int], None] | None = None) -> Timed:
    """Time the no-op, every unit (by key; one that cannot run alone goes to ``skipped``) and every
    model in ``models`` in the same interleaved rounds."""
    todo, skipped = list({u.key: u for u in units}.values()), {} if skipped is None else skipped
    with tempfile.TemporaryDirectory(prefix="skmobile-units-") as tmp, torch_threads(setting.threads):
        fns, turns = {Label(NOOP): noop_runner(setting, tmp)}, {Label(NOOP): NOOP_TURNS}
        for i, u in enumerate(todo, 1):
            fn = unit_runner(u.make, u.shapes, setting, tmp)
            if fn is None:
                skipped[u.key] = "cannot export alone"
            else:
                fns[Label(LAYER, u.key)] = fn
            if on_unit is not None:
                on_unit(i, len(todo))
        for name in models:
            fns[Label(MODEL, name)], turns[Label(MODEL, name)] = model_runner(Arch(name), setting, tmp), MODEL_TURNS
        return time_rounds(fns, replace(plan, max_s=plan.max_s * len(fns)), on_round=on_round, turns=turns)


def samples(timed: Timed, label: Label, start: int = 0, end: int | None = None) -> list[float]:
    """``label``'s samples (seconds) from rounds [start, end): every round holds as many."""
    per_round = len(timed.samples[label]) // timed.rounds
    return timed.samples[label][start * per_round:(timed.rounds if end is None else end) * per_round]


def entries_of(timed: Timed, start: int = 0, end: int | None = None) -> tuple[float, dict[str, dict]]:
    """(no-op ms, layer key -> {"ms": median net of the no-op}) from rounds [start, end)."""
    ms = {lab: percentile(samples(timed, lab, start, end), 50) * 1e3 for lab in timed.samples if lab.kind != MODEL}
    noop = ms.pop(Label(NOOP))
    return noop, {lab.name: {"ms": round(max(0.0, v - noop), 5)} for lab, v in ms.items()}


def add_units(table: LatencyTable, units: Iterable[Unit], setting: Setting, plan: TimingPlan = UNIT_PLAN) -> int:
    """Time the units missing from ``table`` (with the no-op) and add them; return how many were timed."""
    todo = {u.key: u for u in units if u.key not in table.entries and u.key not in table.skipped}
    if todo:
        timed = time_together(todo.values(), setting, replace(plan, clock=table.clock), skipped=table.skipped)
        table.entries.update({key: {"kind": todo[key].kind, **e} for key, e in entries_of(timed)[1].items()})
    return len(todo)


def predict(table: LatencyTable, arch: Arch, setting: Setting, add_missing: bool = True) -> dict:
    """Predicted latency of ``arch``; missing layers are timed and added to ``table`` when allowed."""
    table.check_setting(setting)
    units = units_of(arch, setting.batch)
    ms, missing = table.predict_units(units)
    added = add_units(table, missing, setting) if missing and add_missing else 0
    if added:
        ms, missing = table.predict_units(units)
    return {"predicted_ms": round(ms, 4), "layers": len(units), "layers_timed_now": added,
            "layers_missing": len(missing)}


def build_table(models: list[str], setting: Setting, table: LatencyTable | None = None, check: bool = False,
                clock: str = "wall", check_plan: TimingPlan | None = None,
                on_model: Callable[[str, int, int], None] | None = None,
                on_unit: Callable[[int, int], None] | None = None,
                on_round: Callable[[int, int], None] | None = None) -> LatencyTable:
    """Time every layer of ``models`` into ``table`` (new if None), replacing their entries. With
    ``check``, every whole model is timed in the same rounds (``check_plan``, default
    :data:`CHECK_PLAN`) and :func:`_check` fills ``table.models`` and ``table.check``."""
    table = table or new_table(setting, clock)
    table.check_setting(setting, clock)
    units_by_model = {}
    for i, name in enumerate(models, 1):
        if on_model is not None:
            on_model(name, i, len(models))
        units_by_model[name] = units_of(Arch(name), setting.batch)
    units = {u.key: u for us in units_by_model.values() for u in us}
    plan = replace((check_plan or CHECK_PLAN) if check else UNIT_PLAN, clock=table.clock)
    timed = time_together(units.values(), setting, plan, models if check else (), table.skipped, on_unit, on_round)
    noop, entries = entries_of(timed)
    table.overhead_ms = round(noop, 5)
    table.entries.update({key: {"kind": units[key].kind, **e} for key, e in entries.items()})
    if check:
        _check(table, timed, units_by_model)
    return table


def blocks(rounds: int, runs: int = RUNS) -> list[tuple[int, int]]:
    """``runs`` consecutive, nearly equal [start, end) blocks of ``rounds`` rounds (fewer if too few rounds)."""
    runs = max(1, min(runs, rounds))
    edges = [round(i * rounds / runs) for i in range(runs + 1)]
    return list(zip(edges, edges[1:]))


def _check(table: LatencyTable, timed: Timed, units_by_model: dict[str, list[Unit]]) -> None:
    """Per model, measured (all rounds) vs predicted; per run (:func:`blocks`), every model predicted
    from that block's layer times and measured in the same block (:mod:`skmobile.report.latency_check`
    turns these into Kendall's tau, the median absolute error and the noise floor)."""
    for name, units in units_by_model.items():
        m, pred = Spread.of(samples(timed, Label(MODEL, name))).scaled(1e3), table.predict_units(units)[0]
        table.models[name] = {"measured_ms": round(m.p50, 4), "measured_p10_ms": round(m.p10, 4),
                              "measured_p90_ms": round(m.p90, 4), "predicted_ms": round(pred, 4),
                              "error_pct": round(100 * (pred / m.p50 - 1), 2), "layers": len(units)}
    runs = []
    for start, end in blocks(timed.rounds):
        noop, entries = entries_of(timed, start, end)
        measured = {n: percentile(samples(timed, Label(MODEL, n), start, end), 50) * 1e3 for n in units_by_model}
        runs.append({"rounds": [start, end], "measured": {n: round(v, 4) for n, v in measured.items()},
                     "predicted": {n: round(table.predict_units(us, entries, noop)[0], 4)
                                   for n, us in units_by_model.items()}})
    table.check = {"rounds": timed.rounds, "load_avg_at_end": [round(x, 2) for x in os.getloadavg()], "runs": runs}
