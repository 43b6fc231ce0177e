"""The low-floor measurement layer: batch timing with a device wait, repeated samples, library versions."""

import platform

from skmobile.measure import machine
from skmobile.measure.stats import median
from skmobile.measure.timing import call_seconds, repeat_seconds


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_call_seconds_counts_queued_work_through_sync_and_averages_over_calls():
    clock, events = FakeClock(), []

    def work():
        events.append("call")
        clock.now += 0.5          # host time of one call

    def sync():
        events.append("sync")
        clock.now += 1.0          # the device finishing what was queued

    assert call_seconds(work, calls=4, clock=clock, sync=sync) == (4 * 0.5 + 1.0) / 4
    assert events == ["sync", "call", "call", "call", "call", "sync"]


def test_repeat_seconds_warms_up_untimed_then_takes_one_sample_per_repeat():
    clock, costs = FakeClock(), iter([9.0, 9.0, 1.0, 3.0, 2.0])

    def work():
        clock.now += next(costs)

    samples = repeat_seconds(work, repeats=3, warmup=2, clock=clock)
    assert samples == [1.0, 3.0, 2.0] and median(samples) == 2.0
    assert median([1.0, 4.0]) == 2.5


def test_versions_names_the_interpreter_and_none_for_a_missing_library():
    got = machine.versions("python", "torch", "no_such_library_here")
    assert got["python"] == platform.python_version()
    assert got["torch"] and got["no_such_library_here"] is None
    assert list(got) == ["python", "torch", "no_such_library_here"]


def test_device_name_on_cpu_names_the_cpu_model_and_threads():
    import torch

    n = torch.get_num_threads()
    try:
        for threads, says in ((1, "(1 thread)"), (2, "(2 threads)")):
            torch.set_num_threads(threads)
            name = machine.device_name("cpu")
            assert name.startswith(machine.cpu_model()) and name.endswith(says)
    finally:
        torch.set_num_threads(n)
