"""Timing callables: warm-up, calls per round sized to a time budget, interleaved rounds.

Every model under test takes its turn in each round (the order alternates between rounds), so a
load change on a shared machine hits all of them alike; a ratio is taken per round and summarised
over rounds. A callable may take several turns per round, spread through it (``turns``), its
samples pooled. Rounds go on until every median is stable (its ~95% interval within ``rel_ci`` of it)
or ``max_rounds`` / ``max_s`` is reached. The clock is a parameter so the logic is testable.

Two clocks: ``wall`` (``perf_counter``, the default: what a user waits) and ``cpu`` (this
thread's CPU time: on a shared machine where other processes take turns on the same core, it
leaves out their turns; it still includes what they do to the caches and memory bandwidth). The
``cpu`` clock is right only where the work runs on the calling thread: one intra-op thread on a
CPU (onnxruntime and torch both run it on the caller).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ..errors import choose
from .stats import Spread, median_halfwidth, percentile


@dataclass
class TimingPlan:
    warmup_calls: int = 3         # at least this many untimed calls ...
    warmup_s: float = 0.2         # ... and at least this long (first onnxruntime runs are slow)
    round_s: float = 0.1          # time budget of one model's turn in a round
    min_calls: int = 3            # timed calls per turn, at least ...
    max_calls: int = 200          # ... and at most
    min_rounds: int = 5
    max_rounds: int = 40
    rel_ci: float = 0.01          # stop when every median's 95% half-width is within 1% of it
    max_s: float = 60.0           # overall budget for the timed rounds (seconds of the plan's clock)
    clock: str = "wall"           # "wall" or "cpu" (see the module docstring)


#: the clocks a plan can name
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}


def clock_of(name: str) -> Callable[[], float]:
    """The clock function called ``name``; one-line error for another name."""
    choose("clock", name, CLOCKS)
    return CLOCKS[name]


@dataclass
class Timed:
    samples: dict[str, list[float]] = field(default_factory=dict)       # seconds per call
    round_medians: dict[str, list[float]] = field(default_factory=dict)
    calls_per_round: dict[str, int] = field(default_factory=dict)    # timed calls per turn
    rounds: int = 0
    stable: bool = False

    def spread(self, name: str) -> Spread:
        return Spread.of(self.samples[name])

    def ratio(self, name: str, base: str) -> Spread:
        """``name``'s latency over ``base``'s, one ratio of medians per round."""
        pairs = zip(self.round_medians[name], self.round_medians[base])
        return Spread.of([a / b for a, b in pairs])


def warm_up(fn: Callable[[], object], plan: TimingPlan, clock: Callable[[], float],
            prepare: Callable[[], object] | None = None) -> float:
    """Run ``fn`` (each call after ``prepare``) untimed per ``plan``; return the seconds of the last
    warm-up call, ``prepare`` included (a turn's budget pays for both)."""
    start = clock()
    calls, last = 0, 0.0
    while calls < plan.warmup_calls or (clock() - start < plan.warmup_s and calls < 50 * plan.warmup_calls):
        t0 = clock()
        if prepare is not None:
            prepare()
        fn()
        last = clock() - t0
        calls += 1
    return last


def time_rounds(fns: Mapping[str, Callable[[], object]], plan: TimingPlan | None = None,
                clock: Callable[[], float] | None = None,
                on_round: Callable[[int, int], None] | None = None,
                prepare: Mapping[str, Callable[[], object]] | None = None,
                turns: Mapping[str, int] | None = None) -> Timed:
    """Time every callable in ``fns`` in interleaved rounds (by ``clock``, else the plan's clock);
    see the module docstring. ``prepare[name]``, where given, runs untimed before each call of
    ``fns[name]`` (a pause, a cache flush); the calls per turn are sized with it included.
    ``turns[name]`` (default 1) gives a callable that many turns per round, spread evenly through
    the round, its samples pooled: for one that many others are netted against (a no-op), so its
    median sees the machine in the same mix of states as they do."""
    plan = plan or TimingPlan()
    clock = clock or clock_of(plan.clock)
    prepare = prepare or {}
    names = list(fns)
    schedule = spread_turns(names, turns or {})
    out = Timed({n: [] for n in names}, {n: [] for n in names})
    for n in names:
        per_call = max(warm_up(fns[n], plan, clock, prepare.get(n)), 1e-9)
        out.calls_per_round[n] = int(min(plan.max_calls, max(plan.min_calls, plan.round_s // per_call)))
    start = clock()
    while out.rounds < plan.max_rounds:
        order = schedule if out.rounds % 2 == 0 else schedule[::-1]
        this_round: dict[str, list[float]] = {n: [] for n in names}
        for n in order:
            times, prep = this_round[n], prepare.get(n)
            for _ in range(out.calls_per_round[n]):
                if prep is not None:
                    prep()
                t0 = clock()
                fns[n]()
                times.append(clock() - t0)
        for n, times in this_round.items():
            out.samples[n] += times
            out.round_medians[n].append(percentile(times, 50))
        out.rounds += 1
        if on_round is not None:
            on_round(out.rounds, plan.max_rounds)
        if out.rounds >= plan.min_rounds:
            out.stable = all(median_halfwidth(out.samples[n]) <= plan.rel_ci for n in names)
            if out.stable or clock() - start > plan.max_s:
                break
    return out


def call_seconds(fn: Callable[[], object], calls: int = 1, clock: Callable[[], float] = time.perf_counter,
                 sync: Callable[[], object] | None = None) -> float:
    """Seconds per call over ``calls`` back-to-back calls of ``fn``. ``sync`` (a CUDA device wait), where
    given, runs before the clock starts and again before it stops, so work still queued is counted."""
    if sync is not None:
        sync()
    t0 = clock()
    for _ in range(calls):
        fn()
    if sync is not None:
        sync()
    return (clock() - t0) / calls


def repeat_seconds(fn: Callable[[], object], repeats: int, warmup: int = 0, calls: int = 1,
                   clock: Callable[[], float] = time.perf_counter,
                   sync: Callable[[], object] | None = None) -> list[float]:
    """``warmup`` untimed calls of ``fn``, then ``repeats`` samples of :func:`call_seconds`."""
    for _ in range(warmup):
        fn()
    return [call_seconds(fn, calls, clock, sync) for _ in range(repeats)]


def spread_turns(names: list[str], turns: Mapping[str, int]) -> list[str]:
    """One round's order of turns: ``names`` in order, each name with ``turns[name]`` > 1 repeated
    that many times at even intervals (names with several turns start at staggered offsets)."""
    slots = []
    for i, n in enumerate(names):
        k = max(1, int(turns.get(n, 1)))
        slots += [((j + (i + 0.5) / len(names)) / k, n) for j in range(k)]
    return [n for _, n in sorted(slots, key=lambda slot: slot[0])]
