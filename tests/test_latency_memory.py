"""The predictor's cache term: curve arithmetic on synthetic data, byte counts, table versions.

No timed assertions: the curve, layer times and sizes here are made up; the one real micro-benchmark
call runs on tiny buffers and checks only the shape of its result.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from skmobile.errors import SKMobileError
from skmobile.latency import memory, predictor
from skmobile.latency.measure import Arch, Setting

MIB = 2 ** 20
#: in cache up to 4 MiB (0.02 ns/B), memory from 16 MiB on (0.10 ns/B)
CURVE = memory.MemoryCurve([1 * MIB, 4 * MIB, 16 * MIB, 64 * MIB], [0.02, 0.02, 0.10, 0.10])
#: the same machine where a buffer re-read after 2 ms comes from memory at every size (a shared host)
PAUSED = memory.MemoryCurve(CURVE.sizes, CURVE.ns_per_byte, pauses_ms=[2.0, 8.0],
                            paused_ns_per_byte=[[0.10, 0.10, 0.10, 0.10], [0.12, 0.12, 0.12, 0.12]])


def test_curve_interpolates_in_log_size_and_is_flat_outside():
    assert CURVE.at(1) == 0.02 and CURVE.at(10 ** 12) == 0.10
    assert CURVE.at(4 * MIB) == pytest.approx(0.02)
    assert CURVE.at(8 * MIB) == pytest.approx(0.06)          # halfway between 4 and 16 MiB in log2
    assert CURVE.at(2 ** 23.5) == pytest.approx(0.08)         # three quarters of the way
    with pytest.raises(ValueError, match="one cost per size"):
        memory.MemoryCurve([1, 2], [0.1])
    with pytest.raises(ValueError, match="must increase"):
        memory.MemoryCurve([2, 1], [0.1, 0.2])


def test_paused_curves_interpolate_in_the_pause_and_are_flat_past_the_last():
    assert PAUSED.at(1 * MIB) == PAUSED.at(1 * MIB, 0.0) == 0.02            # back to back: the base curve
    assert PAUSED.at(1 * MIB, 1.0) == pytest.approx(0.06)                   # halfway to the 2 ms curve
    assert PAUSED.at(8 * MIB, 1.0) == pytest.approx((0.06 + 0.10) / 2)
    assert PAUSED.at(1 * MIB, 5.0) == pytest.approx(0.11) and PAUSED.at(1 * MIB, 100.0) == 0.12
    with pytest.raises(ValueError, match="one cost per size for each pause"):
        memory.MemoryCurve([1, 2], [0.1, 0.2], pauses_ms=[1.0], paused_ns_per_byte=[[0.1]])
    with pytest.raises(ValueError, match="pauses must be positive and increase"):
        memory.MemoryCurve([1, 2], [0.1, 0.2], pauses_ms=[2.0, 1.0], paused_ns_per_byte=[[0.1, 0.2]] * 2)


def test_the_cache_term_reads_the_far_cost_after_one_inference():
    units = _units()[:1]                                    # 4 MiB of weights: fits back to back
    entries = {u.key: {"kind": u.kind, "ms": 1.5} for u in units}
    table = predictor.LatencyTable({}, {}, overhead_ms=0.5, entries=entries, memory=CURVE.as_json())
    assert table.predict_parts(units)["cache_ms"] == 0.0
    table.memory = PAUSED.as_json()                         # re-read after 2 ms (the layers' sum): memory
    parts = table.predict_parts(units)
    own = 4 * MIB + 1024 + 1024
    assert parts["cache_ms"] == pytest.approx(4 * MIB * (0.10 - CURVE.at(own)) * 1e-6) and parts["cache_ms"] > 0
    assert memory.cache_term_ms([(4 * MIB, own)], own, PAUSED, pause_ms=0.0) == 0.0


def test_monotone_fit_pools_dips_and_keeps_a_rising_curve():
    assert memory.monotone([1.0, 2.0, 3.0]) == [1.0, 2.0, 3.0]
    assert memory.monotone([1.0, 3.0, 2.0, 4.0]) == [1.0, 2.5, 2.5, 4.0]
    assert memory.monotone([3.0, 1.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])


def test_cache_term_charges_each_layers_weights_the_far_minus_own_cost():
    layers = [(1 * MIB, 2 * MIB), (2 * MIB, 8 * MIB), (MIB // 2, 64 * MIB)]
    # footprint 64 MiB: far = 0.10; own costs 0.02, 0.06, 0.10 (the last already misses alone)
    expected = (1 * MIB * 0.08 + 2 * MIB * 0.04 + 0) * 1e-6
    assert memory.cache_term_ms(layers, 64 * MIB, CURVE) == pytest.approx(expected)
    assert memory.cache_term_ms(layers, 4 * MIB, CURVE) == 0.0    # the model fits: nothing to add
    assert memory.cache_term_ms(layers, 8 * MIB, CURVE) == pytest.approx(1 * MIB * 0.04 * 1e-6)
    assert memory.footprint_bytes([3, 4, 5], [10, 30, 20]) == 42 and memory.footprint_bytes([], []) == 0


def test_a_layer_timed_cold_pays_its_cold_extra_times_the_share_of_a_full_miss():
    # own 2 MiB (0.02 ns/B); a full miss is 0.10 at 64 MiB: the share is (far - 0.02) / 0.08
    assert memory.cold_share(CURVE, 64 * MIB, 2 * MIB) == pytest.approx(1.0)
    assert memory.cold_share(CURVE, 8 * MIB, 2 * MIB) == pytest.approx(0.5)    # far 0.06
    assert memory.cold_share(CURVE, 4 * MIB, 2 * MIB) == 0.0                   # the model fits
    assert memory.cold_share(CURVE, 64 * MIB, 64 * MIB) == 0.0                 # misses alone too
    assert memory.cold_share(PAUSED, 4 * MIB, 2 * MIB, pause_ms=2.0) == pytest.approx(0.08 / 0.10)
    layers = [(1 * MIB, 2 * MIB, 0.3), (1 * MIB, 2 * MIB, None), (1 * MIB, 2 * MIB)]
    stream = 1 * MIB * (0.06 - 0.02) * 1e-6                                    # at 8 MiB
    assert memory.cache_term_ms(layers, 8 * MIB, CURVE) == pytest.approx(0.3 * 0.5 + 2 * stream)
    unit = predictor.Unit("Linear", "fc", [(1, 256)], weight_bytes=1 * MIB, out_bytes=1024)
    table = predictor.LatencyTable({}, {}, entries={"fc": {"kind": "Linear", "ms": 0.1, "cold_ms": 0.4}},
                                   memory=CURVE.as_json())
    assert table.cold_extra_ms(unit) == pytest.approx(0.3)
    assert table.cache_term([unit], 0.0)[0] == pytest.approx(0.3 * memory.cold_share(CURVE, table.cache_term(
        [unit], 0.0)[1], unit.own_bytes))
    del table.entries["fc"]["cold_ms"]                                         # a version-4 entry: streaming
    assert table.cold_extra_ms(unit) is None


def test_measure_curve_on_tiny_buffers_has_one_non_decreasing_cost_per_size():
    curve = memory.measure_curve(sizes=(4096, 16384, 65536), repeats=3, sweeps=1, pauses_ms=(0.05, 0.2))
    assert curve.sizes == [4096, 16384, 65536] and len(curve.raw_ns_per_byte) == 3
    assert curve.pauses_ms == [0.05, 0.2] and [len(c) for c in curve.paused_ns_per_byte] == [3, 3]
    for costs in [curve.ns_per_byte] + curve.paused_ns_per_byte:
        assert all(b >= a for a, b in zip(costs, costs[1:]))
        assert all(v >= 0 and math.isfinite(v) for v in costs)
    for shorter, longer in zip([curve.ns_per_byte] + curve.paused_ns_per_byte, curve.paused_ns_per_byte):
        assert all(b >= a for a, b in zip(shorter, longer))   # a longer pause never costs less


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def test_collect_units_counts_weight_input_and_output_bytes():
    units = predictor.collect_units(Small(), (1, 3, 8, 8))
    by_kind = {u.kind: u for u in units}
    assert [u.kind for u in units] == ["Conv2d", "BatchNorm2d", "glue:relu", "glue:flatten", "Linear"]
    assert by_kind["Conv2d"].weight_bytes == 4 * (4 * 3 * 9)
    assert by_kind["BatchNorm2d"].weight_bytes == 4 * 4 * 4            # weight, bias, running mean and var
    assert by_kind["Linear"].weight_bytes == 4 * (256 * 10 + 10)
    assert by_kind["glue:relu"].weight_bytes == 0
    assert by_kind["Conv2d"].in_bytes == 4 * 3 * 64 and by_kind["Conv2d"].out_bytes == 4 * 4 * 64
    assert by_kind["Linear"].out_bytes == 40
    lin = by_kind["Linear"]
    assert lin.own_bytes == lin.weight_bytes + 4 * 256 + 40


def _units():
    """Three synthetic layers: 4 MiB of weights each, small activations (12 MiB together: past the cache)."""
    return [predictor.Unit("Linear", f"k{i}", [(1, 256)], weight_bytes=4 * MIB, out_bytes=1024) for i in range(3)]


def test_prediction_is_the_layers_sum_plus_the_cache_term():
    units = _units()
    entries = {u.key: {"kind": u.kind, "ms": 1.0} for u in units}
    table = predictor.LatencyTable({}, {}, overhead_ms=0.5, entries=entries, memory=CURVE.as_json())
    parts = table.predict_parts(units)
    footprint = 12 * MIB + (1024 + 1024)                            # weights + largest in+out
    own = 4 * MIB + 1024 + 1024
    term = 12 * MIB * (CURVE.at(footprint) - CURVE.at(own)) * 1e-6
    assert parts["footprint_bytes"] == footprint and parts["hot_ms"] == pytest.approx(3.5)
    assert parts["cache_ms"] == pytest.approx(term) and term > 0
    assert table.predict_units(units)[0] == pytest.approx(3.5 + term)
    table.memory = None                                             # no curve: the sum alone
    assert table.predict_units(units)[0] == pytest.approx(3.5)


def test_table_round_trip_keeps_the_curve_and_the_prediction(tmp_path):
    units = _units()
    table = predictor.LatencyTable({"runtime": "onnxruntime"}, {"cpu": "x"}, overhead_ms=0.25,
                                   entries={u.key: {"kind": u.kind, "ms": 0.5} for u in units},
                                   memory=CURVE.as_json())
    table.models["m"] = {"predicted_ms": 1.0, "layers_alone_ms": 0.9, "cache_term_ms": 0.1}
    loaded = predictor.LatencyTable.load(table.save(tmp_path / "t.json"))
    assert loaded.version == predictor.TABLE_VERSION == 5
    assert loaded.curve() == CURVE and loaded.models == table.models
    assert loaded.predict_units(units)[0] == pytest.approx(table.predict_units(units)[0])


def _old_table(tmp_path, version=2, **extra):
    data = {"setting": json.loads(json.dumps(Setting().__dict__)), "machine": {}, "overhead_ms": 0.5,
            "reorders": {}, "entries": {u.key: {"kind": u.kind, "ms": 1.0} for u in _units()},
            "skipped": {}, "models": {}, "version": version, **extra}
    if version == 1:
        del data["reorders"]
    path = tmp_path / f"v{version}.json"
    path.write_text(json.dumps(data))
    return path


def test_a_version_2_table_loads_and_predicts_without_the_term(tmp_path):
    table = predictor.LatencyTable.load(_old_table(tmp_path))
    assert table.memory is None and table.version == 2
    parts = table.predict_parts(_units())
    assert parts["cache_ms"] == 0.0 and parts["ms"] == pytest.approx(3.5)


def test_build_table_on_a_version_2_table_adds_the_curve(tmp_path, monkeypatch):
    path = _old_table(tmp_path)
    table = predictor.LatencyTable.load(path)
    monkeypatch.setattr(memory, "measure_curve", lambda **kw: CURVE)
    assert predictor.build_table([], Setting(), table) is table and table.memory == CURVE.as_json()
    table.save(path)
    again = predictor.LatencyTable.load(path)
    assert again.version == 5 and again.curve() == CURVE and again.entries == table.entries


def test_a_version_3_table_keeps_its_curve_until_a_build_times_the_paused_reads(tmp_path, monkeypatch):
    table = predictor.LatencyTable.load(_old_table(tmp_path, version=3, memory=CURVE.as_json()))
    assert table.curve().pauses_ms == []          # a version-3 curve: back to back only
    monkeypatch.setattr(memory, "measure_curve", lambda **kw: pytest.fail("the back-to-back curve is kept"))
    predictor.build_table([], Setting(), table)
    assert table.version == 5 and table.curve() == CURVE
    # the paused curves come from a build's rounds: the medians of memory.paused_reads' callables
    median_ms = {memory._read_label(p, s): (1e-3 if s is None else 1e-3 + 0.05 * s * 1e-6)
                 for p in memory.DEFAULT_PAUSES_MS for s in [None] + CURVE.sizes}
    paused = memory.paused_from_ms(CURVE, median_ms)
    assert paused.pauses_ms == list(memory.DEFAULT_PAUSES_MS)
    assert paused.paused_ns_per_byte[0] == pytest.approx([0.05, 0.05, 0.10, 0.10])   # never below back to back


@pytest.mark.parametrize("version", [1, 6])
def test_other_table_versions_are_one_line_errors(tmp_path, version):
    with pytest.raises(SKMobileError, match=f"format version {version}; .* reads versions 2 to 5") as err:
        predictor.LatencyTable.load(_old_table(tmp_path, version))
    assert "\n" not in str(err.value)


def test_a_malformed_curve_is_a_one_line_error(tmp_path):
    path = _old_table(tmp_path, version=3, memory={"sizes": [2, 1], "ns_per_byte": [0.1, 0.2]})
    with pytest.raises(SKMobileError, match="not a table written by --build-table: memory curve sizes must increase"):
        predictor.LatencyTable.load(path)


def test_cli_predict_on_an_old_table_says_it_has_no_term(tmp_path, monkeypatch, capsys):
    from skmobile.cli import main
    from skmobile.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "small_latency", _registry.ModelEntry(
        "small_latency", "test-cifar", lambda **kw: Small(), "small", False))
    units = predictor.units_of(Arch("small_latency", input_size=8))
    path = _old_table(tmp_path)
    data = json.loads(path.read_text())
    data["entries"] = {u.key: {"kind": u.kind, "ms": 0.1} for u in units}
    data["setting"]["runtime"] = "torch"
    path.write_text(json.dumps(data))
    monkeypatch.setattr(predictor, "units_of", lambda arch, batch=1: units)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", "--predict", "small_latency", "--runtime", "torch", "--table", str(path)])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "has no memory curve (format version 2)" in out
    assert "predicted     1.000 ms = layers alone 1.000 + cache term 0.000" in out
    old = _old_table(tmp_path, version=1)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", "--predict", "small_latency", "--runtime", "torch", "--table", str(old)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and "format version 1" in err and err.count("\n") == 1


def test_a_plan_times_by_its_named_clock(monkeypatch):
    from skmobile.measure import timing as timer

    class Fake:
        now = 0.0

        def __call__(self):
            return self.now

    fake = Fake()

    def work():
        fake.now += 0.004

    monkeypatch.setitem(timer.CLOCKS, "cpu", fake)
    plan = timer.TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=2, max_calls=2, min_rounds=2,
                            max_rounds=2, clock="cpu")
    out = timer.time_rounds({"a": work}, plan)
    assert out.spread("a").p50 == pytest.approx(0.004) and out.samples["a"] == [pytest.approx(0.004)] * 4
    with pytest.raises(SKMobileError, match="unknown clock 'sundial'; allowed: wall, cpu"):
        timer.time_rounds({"a": work}, timer.TimingPlan(clock="sundial"))


def test_cpu_clock_only_where_the_work_runs_on_this_thread_and_tables_keep_their_clock(tmp_path):
    from skmobile.latency.predictor import check_clock

    check_clock("cpu", Setting(threads=1))
    with pytest.raises(SKMobileError, match="allowed only with --device cpu --threads 1; got cpu, 2 thread"):
        check_clock("cpu", Setting(threads=2))
    table = predictor.LatencyTable(json.loads(json.dumps(Setting().__dict__)), {}, clock="cpu")
    loaded = predictor.LatencyTable.load(table.save(tmp_path / "t.json"))
    assert loaded.clock == "cpu"
    loaded.check_setting(Setting(), "cpu")
    with pytest.raises(SKMobileError, match="timed with the 'cpu' clock; asked for 'wall'"):
        loaded.check_setting(Setting(), "wall")
    assert predictor.LatencyTable.load(_old_table(tmp_path)).clock == "wall"   # version 2: timed by the wall clock


@pytest.mark.parametrize("args, message", [
    (["mobilenetv2_050", "--clock", "sundial"], "unknown clock 'sundial'"),
    (["mobilenetv2_050", "--clock", "cpu", "--threads", "2"], "allowed only with --device cpu --threads 1"),
])
def test_cli_bad_clock_is_one_line_exit_2(capsys, args, message):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.startswith("error: ") and err.count("\n") == 1


def test_predictor_runs_tool_bands_and_drift_on_synthetic_runs(tmp_path, load_tool):
    tool, _ = load_tool("predictor_runs")

    def run(measured, alone):
        t = predictor.LatencyTable({}, {})
        for i, (name, mib) in enumerate([("small", 5.0), ("big", 40.0)]):
            pred = alone[i] + 1.0
            t.models[name] = {"footprint_mib": mib, "measured_ms": measured[i], "measured_p10_ms": measured[i],
                              "measured_p90_ms": measured[i], "layers_alone_ms": alone[i], "cache_term_ms": 1.0,
                              "predicted_ms": pred, "error_pct": 100 * (pred - measured[i]) / measured[i],
                              "error_layers_alone_pct": 100 * (alone[i] - measured[i]) / measured[i]}
        return t

    a, b = run([10.0, 20.0], [9.0, 18.0]), run([12.0, 20.0], [9.0, 27.0])
    bands = tool.band_lines(a, "run 1")
    assert bands[0].startswith("- run 1, footprint 0-12 MiB (1 models): median error +0.0 % with the cache term, -10.0 %")
    assert bands[1].startswith("- run 1, footprint >= 30 MiB (1 models): median error -5.0 %")
    drift = tool.drift_lines(a, b, "1 -> 2")[0]
    assert "moved by a median 10.0 % (largest 20.0 %; 1 of 2 models by more than 10 %)" in drift
    assert "layer sums by a median 25.0 % (largest 50.0 %)" in drift
    table = tool.per_model_markdown([a, b])
    assert table[2].startswith("| big | 40.0 | 20.000 (20.00-20.00) | 18.000 | 1.000 | 19.000 | -5.0 (-10.0) | 20.000")
    assert table[3].startswith("| small | 5.0 | 10.000 (10.00-10.00) | 9.000 | 1.000 | 10.000 | +0.0 (-10.0) |")
