"""The live view of a search: trials done / running / failed, the best front, and an ETA.

It renders from a snapshot of the study's trials (refreshed by the runner after each trial, or by
polling when workers run in other processes) plus the epoch progress the objective reports.
"""

from __future__ import annotations

import math
import threading
import time

from optuna.trial import TrialState
from rich.console import Group
from rich.table import Table
from rich.text import Text


def pareto_front(trials) -> list:
    """Complete trials not dominated on (all objectives minimised), sorted by the last objective."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values and all(map(math.isfinite, t.values))]
    front = []
    for t in done:
        dominated = any(all(a <= b for a, b in zip(o.values, t.values)) and o.values != t.values for o in done)
        if not dominated and all(o.values != t.values for o in front):
            front.append(t)
    return sorted(front, key=lambda t: t.values[::-1])


def _fmt(value, spec: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, spec)


def trial_line(t) -> str:
    """One line for a finished trial (logs and the console)."""
    a = t.user_attrs
    state = t.state.name.lower()
    if t.state == TrialState.COMPLETE:
        return (f"trial {t.number} complete: {a.get('label', '?')}  val err % {_fmt(a.get('val_error'), '.2f')}  "
                f"test acc % {_fmt(a.get('test_accuracy'), '.2f')}  {_fmt(a.get('mflops'), '.1f')} MFLOPs  "
                f"{_fmt(a.get('params'), '.3f', 1e-6)} M params  {_latency(a)}({_fmt(a.get('wall_s'), '.0f')} s)")
    reason = a.get("fail_reason") or a.get("rejected") or ""
    return f"trial {t.number} {state}: {a.get('label', '?')}  {reason}".rstrip()


def _latency(attrs: dict) -> str:
    """"12.34 ms (cached)  " for a trial with a latency, else nothing."""
    if attrs.get("latency_ms") is None:
        return ""
    how = "cached" if attrs.get("latency_cached") else attrs.get("latency_source", "measured")
    return f"{attrs['latency_ms']:.2f} ms ({how})  "


def epoch_line(number: int, epoch: int, metrics: dict) -> str:
    """One line for an epoch of a running trial (logs, where no live view runs)."""
    return f"trial {number} epoch {epoch}: val err % {_fmt(metrics.get('val_error'), '.2f')}"


class LiveView:
    """Rich renderable; call :meth:`update` with fresh trials, :meth:`progress` from on_epoch."""

    def __init__(self, study_name: str, storage: str, target: int, workers: int = 1, multi: bool = True,
                 baseline: int = 0, second: str = "mflops"):
        self.study_name, self.storage, self.target, self.workers, self.multi = study_name, storage, target, workers, multi
        self.second = second              # the second objective: mflops or latency_ms
        self.baseline = baseline          # finished trials before this run
        self.trials: list = []
        self.started = time.time()
        self.epoch: dict[int, tuple[int, dict]] = {}
        self._lock = threading.Lock()

    def update(self, trials) -> None:
        with self._lock:
            self.trials = list(trials)

    def progress(self, number: int, epoch: int, metrics: dict) -> None:
        with self._lock:
            self.epoch[number] = (epoch, dict(metrics))

    def counts(self) -> dict:
        c = {s: 0 for s in ("COMPLETE", "RUNNING", "FAIL", "PRUNED", "WAITING")}
        for t in self.trials:
            c[t.state.name] = c.get(t.state.name, 0) + 1
        return c

    def eta(self) -> float | None:
        finished = [t for t in self.trials if t.state.is_finished()]
        done_now = max(0, len(finished) - self.baseline)
        left = max(0, self.target - done_now)
        if left == 0:
            return 0.0
        durations = [(t.datetime_complete - t.datetime_start).total_seconds() for t in finished
                     if t.datetime_start and t.datetime_complete and t.state == TrialState.COMPLETE]
        if not durations:
            return None
        recent = durations[-10:]
        return sum(recent) / len(recent) * math.ceil(left / max(1, self.workers))

    def __rich__(self):
        with self._lock:
            c = self.counts()
            finished = c["COMPLETE"] + c["FAIL"] + c["PRUNED"]
            done_now = max(0, finished - self.baseline)
            eta = self.eta()
            # short lines: each fits 80 columns, so a narrow terminal does not wrap the counts
            head = Text.assemble(
                (f"study {self.study_name}", "bold"), f"  ({self.storage})\n",
                f"this run {done_now}/{self.target}  complete {c['COMPLETE']}  running {c['RUNNING']}  "
                f"failed {c['FAIL']}  pruned {c['PRUNED']}  waiting {c['WAITING']}\n",
                f"elapsed {time.time() - self.started:.0f} s  ETA {'-' if eta is None else f'{eta:.0f} s'}")
            running = [f"#{n}: epoch {e} val err % {_fmt(m.get('val_error'), '.2f')}"
                       for n, (e, m) in sorted(self.epoch.items())
                       if any(t.number == n and t.state == TrialState.RUNNING for t in self.trials)]
            versus = "full-size latency (ms)" if self.second == "latency_ms" else "full-size MFLOPs"
            table = Table(title=f"best front (val error vs {versus})" if self.multi else "best trials",
                          title_justify="left")
            for col in ("#", "candidate", "val err %", "test acc %", "MFLOPs", "params (M)", "latency ms", "s"):
                table.add_column(col, justify="left" if col == "candidate" else "right")
            rows = pareto_front(self.trials) if self.multi else sorted(
                (t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None),
                key=lambda t: t.value)[:5]
            for t in rows[:10]:
                a = t.user_attrs
                table.add_row(str(t.number), str(a.get("label", "?")), _fmt(a.get("val_error"), ".2f"),
                              _fmt(a.get("test_accuracy"), ".2f"), _fmt(a.get("mflops"), ".1f"),
                              _fmt(a.get("params"), ".3f", 1e-6), _fmt(a.get("latency_ms"), ".2f"),
                              _fmt(a.get("wall_s"), ".0f"))
        parts = [head]
        if running:
            parts.append(Text("running  " + "\n         ".join(running), style="dim"))
        parts.append(table)
        return Group(*parts)
