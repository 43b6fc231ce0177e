"""skmobile.latency: statistics on a fake clock, the cache's hit logic, the predictor's sums, CLI errors.

No timed assertions: timing logic runs on a fake clock; real runs use tiny models and only check
structure. Real measuring stays well under a few seconds.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from skmobile.errors import SKMobileError
from skmobile.latency import predictor
from skmobile.latency.cache import LatencyCache, cache_key
from skmobile.latency.measure import Arch, Setting
from skmobile.measure.stats import Spread, median_halfwidth, percentile
from skmobile.measure.timing import TimingPlan, spread_turns, time_rounds

TINY = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=2, max_calls=2, min_rounds=2,
                  max_rounds=2, max_s=5.0)


class FakeClock:
    """A clock that only moves when a fake workload says so."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def work(self, seconds):
        def fn():
            self.now += seconds
        return fn


def test_percentiles_interpolate_between_ranks():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    assert percentile(list(range(11)), 10) == pytest.approx(1.0)
    s = Spread.of([float(v) for v in range(1, 101)])
    assert (s.n, s.p10, s.p50, s.p90) == (100, pytest.approx(10.9), pytest.approx(50.5), pytest.approx(90.1))
    assert s.scaled(2).p50 == pytest.approx(101.0)


def test_median_halfwidth_shrinks_with_samples_and_is_unbounded_for_few():
    assert median_halfwidth([1.0] * 5) == float("inf")
    assert median_halfwidth([1.0] * 50) == 0.0
    wide = median_halfwidth([1.0, 2.0] * 10)
    narrow = median_halfwidth([1.0] * 95 + [2.0] * 5)
    assert wide > 0.1 and narrow == 0.0


def test_time_rounds_on_fake_clock_gives_exact_spreads_and_ratio():
    clock = FakeClock()
    fns = {"a": clock.work(0.003), "b": clock.work(0.001)}
    plan = TimingPlan(warmup_calls=2, warmup_s=0.0, round_s=0.01, min_calls=1, max_calls=50, min_rounds=3,
                      max_rounds=10, rel_ci=0.01)
    out = time_rounds(fns, plan, clock=clock)
    # constant times: stable at the first check (min_rounds); calls per round sized to round_s
    assert out.stable and out.rounds == 3
    assert out.calls_per_round == {"a": 3, "b": 10}
    assert out.spread("a").p50 == pytest.approx(0.003) and out.spread("b").p90 == pytest.approx(0.001)
    assert out.ratio("a", "b").p50 == pytest.approx(3.0) and out.ratio("a", "b").n == 3


def test_time_rounds_alternates_order_and_stops_at_max_rounds_when_noisy():
    clock = FakeClock()
    order = []
    state = {"i": 0}

    def noisy(name):
        def fn():
            state["i"] += 1
            order.append(name)
            clock.now += 0.001 * (1 + state["i"] % 7)   # never a tight median
        return fn

    plan = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=2, max_calls=2, min_rounds=2,
                      max_rounds=4, rel_ci=1e-6)
    out = time_rounds({"x": noisy("x"), "y": noisy("y")}, plan, clock=clock)
    assert out.rounds == 4 and not out.stable
    timed = order[2:]   # after one warm-up call each
    assert timed[:4] == ["x", "x", "y", "y"] and timed[4:8] == ["y", "y", "x", "x"]
    assert len(out.samples["x"]) == 8


def test_cache_hits_only_for_the_same_spec(tmp_path):
    cache = LatencyCache(tmp_path / "lat.sqlite")
    calls = []

    def fake_measure(arch, setting):
        calls.append((arch.model, dict(arch.kwargs), setting.threads))
        return {"latency_ms": 1.5 + len(calls)}

    a = Arch("mobilenetv2_050", {"width_mult": 0.5, "num_classes": 10})
    same = Arch("mobilenetv2_050", {"num_classes": 10, "width_mult": 0.5})   # kwargs order does not matter
    first = cache.latency(a, Setting(), measure=fake_measure)
    again = cache.latency(same, Setting(), measure=fake_measure)
    assert first["latency_cached"] is False and again["latency_cached"] is True
    assert again["latency_ms"] == first["latency_ms"] and len(calls) == 1
    cache.latency(a, Setting(threads=2), measure=fake_measure)            # other threads: measured
    cache.latency(Arch("mobilenetv2_050", {"width_mult": 0.75}), Setting(), measure=fake_measure)
    cache.latency(a, Setting(runtime="torch"), measure=fake_measure)
    assert len(calls) == 4 and (cache.hits, cache.misses) == (1, 4) and len(cache) == 4
    # a second process (a new cache object on the same file) hits
    other = LatencyCache(tmp_path / "lat.sqlite")
    assert other.latency(same, Setting(), measure=fake_measure)["latency_cached"] and len(calls) == 4
    assert cache_key(a, Setting()) == cache_key(same, Setting()) != cache_key(a, Setting(batch=2))


def test_cache_rejects_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "lat.sqlite"
    bad.write_text("not a database" * 100)
    with pytest.raises(SKMobileError, match="not a readable SQLite"):
        LatencyCache(bad)
    assert bad.read_text().startswith("not a database")   # nothing overwritten


class Tiny(nn.Module):
    """conv-bn-relu, a residual add, pool, linear: layers and glue of known kinds."""

    def __init__(self):
        super().__init__()
        from skmobile.layers import ConvBnAct, SqueezeExcite

        self.a = ConvBnAct(3, 8, 3, stride=2)
        self.b = ConvBnAct(8, 8, 3, groups=8, dilation=2)
        self.c = ConvBnAct(8, 8, 3, groups=8, dilation=2)   # same config and shape as b: one table entry
        self.se = SqueezeExcite(8, 4, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.a(x)
        x = x + self.b(x)
        x = self.se(self.c(x))
        return self.fc(self.pool(x).flatten(1))


def test_collect_units_records_layers_and_glue_in_order():
    units = predictor.collect_units(Tiny(), (1, 3, 16, 16))
    kinds = [u.kind for u in units]
    assert kinds == ["ConvBnAct", "ConvBnAct", "glue:add", "ConvBnAct", "SqueezeExcite",
                     "AdaptiveAvgPool2d", "glue:flatten", "Linear"]
    assert units[1].key == units[3].key and units[0].key != units[1].key
    assert "dilation=(2, 2)" in units[1].key and "groups=8" in units[1].key and "[(1, 8, 8, 8)]" in units[1].key
    assert units[2].shapes == [(1, 8, 8, 8), (1, 8, 8, 8)]
    glue = units[2].make()
    out = glue(torch.ones(1, 8, 8, 8), torch.ones(1, 8, 8, 8))
    assert torch.equal(out, torch.full((1, 8, 8, 8), 2.0))


def test_predictor_sums_a_known_table_with_overhead_once():
    units = predictor.collect_units(Tiny(), (1, 3, 16, 16))
    table = predictor.LatencyTable({}, {}, overhead_ms=0.5)
    for i, u in enumerate(units):
        table.entries.setdefault(u.key, {"kind": u.kind, "ms": float(i + 1)})
    ms, missing = table.predict_units(units)
    # entry values by first occurrence: 1, 2, 3, (c repeats b: 2), 5, 6, 7, 8
    assert ms == pytest.approx(0.5 + 1 + 2 + 3 + 2 + 5 + 6 + 7 + 8) and missing == []
    del table.entries[units[-1].key]
    ms, missing = table.predict_units(units)
    assert [u.kind for u in missing] == ["Linear"] and ms == pytest.approx(0.5 + 1 + 2 + 3 + 2 + 5 + 6 + 7)
    table.skipped[units[-1].key] = "cannot export alone"
    assert table.predict_units(units)[1] == []
    table.node_ms = 0.25                  # one node's dispatch, per layer found (7 of the 8 here)
    assert table.predict_units(units)[0] == pytest.approx(0.5 + 1 + 2 + 3 + 2 + 5 + 6 + 7 + 7 * 0.25)


def test_predictor_adds_a_reorder_only_where_the_layout_changes():
    u = [predictor.Unit(k, f"{k}{i}", []) for i, k in enumerate(["ConvBnAct", "ConvBnAct", "glue:add", "ConvBnAct",
                                                                     "glue:reshape", "ConvBnAct"])]
    e = lambda kind: {"kind": kind, "ms": 1.0, "reorder_in_ms": 0.1, "reorder_out_ms": 0.2}  # noqa: E731
    table = predictor.LatencyTable({}, {}, overhead_ms=0.0, entries={
        "ConvBnAct0": e("ConvBnAct"), "ConvBnAct1": e("ConvBnAct"), "glue:add2": {"kind": "glue:add", "ms": 1.0},
        "ConvBnAct3": e("ConvBnAct"), "glue:reshape4": {"kind": "glue:reshape", "ms": 1.0},
        "ConvBnAct5": {"kind": "ConvBnAct", "ms": 1.0, "reorder_in_ms": 0.1}})
    ms, _ = table.predict_units(u)
    # in (0.1) at the first conv; blocked through conv, add, conv; out (0.2) before the reshape;
    # in (0.1) at the last conv, whose output stays plain
    assert ms == pytest.approx(6.0 + 0.1 + 0.2 + 0.1)


def test_time_rounds_leaves_a_prepare_step_out_of_the_samples_but_sizes_turns_with_it():
    clock = FakeClock()
    plan = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.05, min_calls=1, max_calls=100, min_rounds=2,
                      max_rounds=2)
    out = time_rounds({"read": clock.work(0.001), "plain": clock.work(0.001)}, plan, clock=clock,
                      prepare={"read": clock.work(0.024)})
    assert out.samples["read"] == [pytest.approx(0.001)] * 4          # the pause is not timed ...
    assert out.calls_per_round["read"] == 2                            # ... but a turn's budget pays for it
    assert out.calls_per_round["plain"] in (49, 50)                    # 0.05 s / 0.001 s, float rounding


def test_spread_turns_repeats_a_shared_callable_at_even_intervals():
    names = [f"l{i}" for i in range(8)] + ["noop"]
    order = spread_turns(names, {"noop": 4})
    assert sorted(order) == sorted([f"l{i}" for i in range(8)] + ["noop"] * 4)
    assert [n for n in order if n != "noop"] == names[:-1]            # the others keep their order
    at = [i for i, n in enumerate(order) if n == "noop"]
    assert all(2 <= b - a <= 4 for a, b in zip(at, at[1:]))           # 12 turns: about one in three
    assert spread_turns(names, {}) == names


def test_time_rounds_pools_the_samples_of_a_callable_with_several_turns():
    clock, seen = FakeClock(), []

    def tracked(name, seconds):
        work = clock.work(seconds)

        def fn():
            seen.append(name)
            work()
        return fn

    plan = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0021, min_calls=1, max_calls=100, min_rounds=3,
                      max_rounds=3)
    fns = {f"l{i}": tracked(f"l{i}", 0.001) for i in range(6)}
    fns["noop"] = tracked("noop", 0.0005)
    out = time_rounds(fns, plan, clock=clock, turns={"noop": 3})
    assert out.calls_per_round["l0"] == 2 and out.calls_per_round["noop"] == 4   # calls per turn
    assert len(out.samples["noop"]) == 3 * 3 * 4 and len(out.samples["l0"]) == 3 * 2
    assert len(out.round_medians["noop"]) == 3                        # one median per round, pooled
    first_round = seen[len(fns):len(fns) + 6 * 2 + 3 * 4]             # after one warm-up call each
    turns_seen = [n for i, n in enumerate(first_round) if i == 0 or first_round[i - 1] != n]
    assert turns_seen.count("noop") == 3 and len(turns_seen) == 9     # three separate turns


def test_new_layers_are_timed_together_with_the_noop_and_their_reorders(monkeypatch):
    """One interleaved timing for all new layers (a burst of load hits them alike); each entry is net
    of the no-op and its reorders timed in the same rounds; a layer that cannot export is skipped."""
    clock, calls, shared = FakeClock(), [], {}
    cost_ms = {"conv": 5.0, "glue": 2.0}

    def fake_unit_runner(make, shapes, setting, workdir):
        name = make()
        if name == "noop":
            return clock.work(1e-3), {}
        if name == "bad":
            return None, {}
        return clock.work(cost_ms[name] * 1e-3), ({"in": [1, 8, 4, 4], "out": [1, 8, 4, 4]} if name == "conv" else {})

    def fake_time_rounds(fns, plan=None, clock_=None, on_round=None, prepare=None, turns=None):
        calls.append(sorted(fns))
        shared.update(turns)
        return time_rounds(fns, plan, clock=clock, turns=turns)

    monkeypatch.setattr(predictor, "_noop_module", lambda: "noop")
    monkeypatch.setattr(predictor, "unit_runner", fake_unit_runner)
    monkeypatch.setattr(predictor, "reorder_pair_runner", lambda shape, setting: clock.work(1.6e-3))
    monkeypatch.setattr(predictor, "node_chain_runner",
                        lambda nodes, setting: clock.work((1.0 + 0.05 * (nodes - 1)) * 1e-3))
    monkeypatch.setattr(predictor, "time_rounds", fake_time_rounds)
    table = predictor.LatencyTable({}, {}, overhead_ms=0.5)
    units = [predictor.Unit(k, k, [], make=lambda k=k: k) for k in ("conv", "glue", "bad", "conv")]
    assert table.add_units(units, Setting(), TINY) == 3
    assert len(calls) == 1 and len(calls[0]) == 5   # conv, glue, the no-op, the node chain, a reorder pair
    assert shared == {predictor._NOOP: predictor.SHARED_TURNS,       # what layers are netted against:
                      predictor._CHAIN: predictor.SHARED_TURNS,      # several turns a round
                      predictor._REORDER + "[1, 8, 4, 4]": predictor.SHARED_TURNS}
    assert table.node_ms == pytest.approx(0.05)                                # one more node's dispatch
    assert table.reorders == {"[1, 8, 4, 4]": pytest.approx(0.3)}              # (1.6 - 1.0) / 2
    assert table.entries["conv"]["ms"] == pytest.approx(5.0 - 1.0 - 0.3 - 0.3)
    assert table.entries["glue"] == {"kind": "glue", "ms": pytest.approx(1.0)}
    assert table.skipped == {"bad": "cannot export alone"}
    assert table.add_units(units, Setting(), TINY) == 0 and len(calls) == 1   # nothing new: nothing timed


def test_weight_heavy_layers_are_also_timed_cold_in_the_same_rounds(monkeypatch):
    """A CPU table with a cache term times each layer holding >= COLD_MIN_BYTES of weights a second
    time after a flush and a read of its activations (untimed), net of a no-op timed the same way."""
    clock, state, warmed = FakeClock(), {"cold": False}, []

    def work(hot_ms, cold_ms):
        def fn():
            clock.now += (cold_ms if state["cold"] else hot_ms) * 1e-3
            state["cold"] = False
        fn.inputs, fn.outputs = [_Array("in", warmed)], [_Array("out", warmed)]
        return fn

    def fake_unit_runner(make, shapes, setting, workdir):
        return {"noop": work(1.0, 1.5), "big": work(5.0, 9.5), "small": work(2.0, 8.0), "wide": work(3.0, 9.0)}[make()], {}

    def fake_time_rounds(fns, plan=None, clock_=None, on_round=None, prepare=None, turns=None):
        fake_time_rounds.turns = turns
        return time_rounds(fns, plan, clock=clock, prepare=prepare, turns=turns)

    monkeypatch.setattr(predictor, "_noop_module", lambda: "noop")
    monkeypatch.setattr(predictor, "unit_runner", fake_unit_runner)
    monkeypatch.setattr(predictor, "time_rounds", fake_time_rounds)
    monkeypatch.setattr(predictor, "_flush_reader", lambda: lambda: state.update(cold=True))
    big, small = predictor.COLD_MIN_BYTES, predictor.COLD_MIN_BYTES - 4
    units = [predictor.Unit("conv", k, [], make=lambda k=k: k, weight_bytes=w) for k, w in (("big", big), ("small", small))]
    side = int((big / 16) ** 0.5)   # input and output of big / 4 bytes each: weights are only 2x them
    units.append(predictor.Unit("conv", "wide", [(1, 1, side, side)], make=lambda: "wide", weight_bytes=big,
                                out_bytes=4 * side * side))
    table = predictor.LatencyTable({"device": "cpu"}, {}, memory=predictor.memory.MemoryCurve([4096], [0.02]).as_json())
    assert table.add_units(units, Setting(), TINY) == 3
    assert table.entries["big"] == {"kind": "conv", "ms": pytest.approx(4.0), "cold_ms": pytest.approx(8.0)}
    assert table.entries["small"] == {"kind": "conv", "ms": pytest.approx(1.0)}   # too light: hot only
    assert "cold_ms" in table.entries["wide"] and predictor.times_cold(units[2])     # weights = 2x activations
    units[2].out_bytes += 4                                                         # now just under 2x
    assert not predictor.times_cold(units[2]) and table.cold_extra_ms(units[2]) is None
    assert fake_time_rounds.turns[predictor._COLD + predictor._NOOP] == predictor.SHARED_TURNS
    assert {"in", "out"} <= set(warmed)                   # activations read after the flush
    no_curve = predictor.LatencyTable({"device": "cpu"}, {})   # no cache term: nothing timed cold
    no_curve.add_units(units, Setting(), TINY)
    assert "cold_ms" not in no_curve.entries["big"]


class _Array:
    """Stands for a bound input or output array: records that it was read."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def max(self):
        self.log.append(self.name)


def test_build_table_and_predict_on_a_tiny_model(monkeypatch, tmp_path):
    from skmobile.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "tiny_latency", _registry.ModelEntry(
        "tiny_latency", "test-cifar", lambda **kw: Tiny(), "tiny", False))
    monkeypatch.setattr(predictor, "UNIT_PLAN", TINY)
    monkeypatch.setattr(predictor.memory, "measure_curve", lambda **kw: predictor.memory.MemoryCurve([4096], [0.02]))
    setting = Setting(runtime="torch")
    table = predictor.new_table(setting, plan=TINY)
    table = predictor.build_table(["tiny_latency"], setting, table, check=True, check_plan=TINY,
                                  save_to=tmp_path / "t.json")
    row = table.models["tiny_latency"]
    assert row["layers"] == 8 and len(table.entries) == 7
    assert row["measured_p10_ms"] <= row["measured_ms"] <= row["measured_p90_ms"]
    assert row["error_pct"] == pytest.approx(100 * (row["predicted_ms"] - row["measured_ms"]) / row["measured_ms"],
                                             abs=0.05)
    loaded = predictor.LatencyTable.load(tmp_path / "t.json")
    assert loaded.entries == table.entries
    again = predictor.predict(loaded, Arch("tiny_latency"), setting)
    assert again["layers_timed_now"] == 0 and again["layers_missing"] == 0
    assert again["predicted_ms"] == pytest.approx(row["predicted_ms"], abs=1e-3)
    with pytest.raises(SKMobileError, match="built for"):
        predictor.predict(loaded, Arch("tiny_latency"), Setting(runtime="torch", threads=2))
    summary = predictor.error_summary(table)
    assert summary["models"] == 1 and summary["within"] + len(summary["misses"]) == 1
    assert "| tiny_latency |" in predictor.error_markdown(table, "skmobile bench latency --build-table")


def test_measure_one_on_a_tiny_model_records_the_setting(monkeypatch):
    from skmobile.latency import measure as measure_mod
    from skmobile.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "tiny_latency", _registry.ModelEntry(
        "tiny_latency", "test-cifar", lambda **kw: Tiny(), "tiny", False))
    rec = measure_mod.measure_one(Arch("tiny_latency"), Setting(runtime="torch", threads=1), plan=TINY)
    assert rec["latency_calls"] == 4 and rec["latency_p10_ms"] <= rec["latency_ms"] <= rec["latency_p90_ms"]
    assert rec["latency_threads"] == 1 and rec["latency_runtime"].startswith("torch ")
    assert rec["latency_machine"]


def test_onnxruntime_runner_on_a_tiny_model(monkeypatch, tmp_path):
    pytest.importorskip("onnxruntime")
    from skmobile.latency import measure as measure_mod
    from skmobile.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "tiny_latency", _registry.ModelEntry(
        "tiny_latency", "test-cifar", lambda **kw: Tiny(), "tiny", False))
    fn = measure_mod.runner(Arch("tiny_latency", input_size=16), Setting(), tmp_path)
    fn()
    assert list(tmp_path.glob("tiny_latency-*.onnx"))


def test_a_model_that_cannot_export_is_one_line(tmp_path):
    from skmobile.latency.runtimes import export

    class Bad(nn.Module):
        def forward(self, x):
            return torch.linalg.eigvals(x[0, 0]).real.unsqueeze(0)

    with pytest.raises(SKMobileError, match="'bad' cannot be exported to ONNX") as err:
        export(Bad(), tmp_path / "bad.onnx", (1, 3, 4, 4), name="bad")
    assert "\n" not in str(err.value) and not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["mobilenetv2_050", "--runtime", "tflite"], "unknown runtime 'tflite'; allowed: torch, onnxruntime"),
    (["mobilenetv2_050", "--threads", "0"], "threads must be >= 1; got 0"),
    (["mobilenetv2_050", "--threads", "-3"], "threads must be >= 1; got -3"),
    (["mobilenetv2_050", "--batch", "0"], "batch must be >= 1"),
    (["mobilenetv2_05"], "unknown model 'mobilenetv2_05'"),
    (["mobilenetv2_050", "--vs", "nosuchnet"], "unknown model 'nosuchnet'"),
    (["mobilenetv2_050", "--format", "yaml"], "unknown format 'yaml'"),
    ([], "no model given"),
    (["--predict", "mobilenetv2_050", "--table", "/nonexistent/t.json"], "does not exist"),
])
def test_cli_bad_input_is_one_line_exit_2(capsys, args, message):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", *args])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.startswith("error: ") and err.count("\n") == 1


def test_cli_errors_print_one_line(capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "latency", "mobilenetv2_050", "--runtime", "tflite"])
    err = capsys.readouterr().err
    assert err == "error: unknown runtime 'tflite'; allowed: torch, onnxruntime\n"


def test_cli_cuda_without_cuda_is_one_line(capsys, monkeypatch):
    from skmobile.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", "mobilenetv2_050", "--device", "cuda"])
    assert exc.value.code == 2 and "--device 'cuda': CUDA is not available" in capsys.readouterr().err


def test_cli_measures_a_tiny_model_as_json(monkeypatch, capsys):
    from skmobile.cli import main
    from skmobile.measure import timing as timer
    from skmobile.models import _registry

    monkeypatch.setitem(_registry._REGISTRY, "tiny_latency", _registry.ModelEntry(
        "tiny_latency", "test-cifar", lambda **kw: Tiny(), "tiny", False))
    monkeypatch.setitem(_registry._REGISTRY, "tiny_latency2", _registry.ModelEntry(
        "tiny_latency2", "test-cifar", lambda **kw: Tiny(), "tiny", False))
    monkeypatch.setattr(timer, "TimingPlan", lambda **kw: TINY)
    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", "tiny_latency", "--vs", "tiny_latency2", "--runtime", "torch",
              "--input-size", "16", "--format", "json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    first = out["models"][0]
    assert first["model"] == "tiny_latency" and first["vs"]["base"] == "tiny_latency2"
    assert first["vs"]["ratio"]["n"] == 2 and first["ms"]["n"] == 4 and first["input_size"] == 16
    assert out["setting"]["runtime"] == "torch" and out["machine"]["cpu"]


def test_cli_build_table_times_all_layers_and_models_in_one_timing(monkeypatch, cli, tmp_path):
    from skmobile.models import _registry

    for name in ("tiny_latency", "tiny_latency2"):
        monkeypatch.setitem(_registry._REGISTRY, name, _registry.ModelEntry(name, "test-cifar", lambda **kw: Tiny(),
                                                                             "tiny", False))
    monkeypatch.setattr(predictor, "UNIT_PLAN", TINY)
    monkeypatch.setattr(predictor, "CHECK_PLAN", replace(TINY, max_rounds=3, min_rounds=3))
    monkeypatch.setattr(predictor.memory, "measure_curve", lambda **kw: predictor.memory.MemoryCurve([4096], [0.02]))
    timings, real, rounds_turns, real_rounds = [], predictor.LatencyTable.time_units, [], predictor.time_rounds

    def spy(self, units, setting, plan=None, alongside=None, **kwargs):
        timings.append((len(units), sorted(alongside or {}), plan.max_rounds))
        return real(self, units, setting, plan, alongside, **kwargs)

    def spy_rounds(fns, plan=None, clock=None, on_round=None, prepare=None, turns=None):
        rounds_turns.append({k.replace(predictor._ALONGSIDE, ""): n for k, n in (turns or {}).items()})
        return real_rounds(fns, plan, clock=clock, on_round=on_round, prepare=prepare, turns=turns)

    monkeypatch.setattr(predictor.LatencyTable, "time_units", spy)
    monkeypatch.setattr(predictor, "time_rounds", spy_rounds)
    code, out, err = cli(["bench", "latency", "--build-table", "tiny_latency", "tiny_latency2", "--runtime", "torch",
                          "--max-rounds", "2", "--table", str(tmp_path / "t.json"), "--format", "json"])
    assert code == 0, err
    # both models' 8 layers, both whole models and the curve's paused reads (overhead and one size,
    # after 1, 4 and 16 ms), one timing; --max-rounds lowers the check's rounds
    reads = [f"read {s} B after {p} ms" for p in (1, 16, 4) for s in (4096, "overhead")]
    assert timings == [(16, sorted(reads + ["tiny_latency", "tiny_latency2"]), 2)]
    models_turns = {k: n for k, n in rounds_turns[-1].items() if k.startswith("tiny")}
    assert models_turns == {"tiny_latency": predictor.MODEL_TURNS, "tiny_latency2": predictor.MODEL_TURNS} \
        and predictor.MODEL_TURNS > 1                                 # each model: several turns a round
    curve = predictor.LatencyTable.load(tmp_path / "t.json").curve()
    assert curve.pauses_ms == [1.0, 4.0, 16.0] and len(curve.paused_ns_per_byte) == 3
    rows = json.loads(out)["models"]
    assert set(rows) == {"tiny_latency", "tiny_latency2"} and all("error_pct" in r for r in rows.values())
    assert all(r["measured_ms"] > 0 for r in rows.values())


# --- search integration (fake trainer, fake timing: no training, no measuring) ----------------------

@pytest.fixture
def fake_search(monkeypatch, tmp_path):
    import os

    from skmobile.latency import cache as cache_mod

    tests = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_search_support:FakeTrainer")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)
    measured = []

    def fake_measure(arch, setting):
        measured.append(arch.canonical())
        return {"latency_ms": 1.0 + len(json.dumps(arch.canonical())) / 1000, "latency_p10_ms": 1.0,
                "latency_p90_ms": 2.0, "latency_calls": 3,
                **__import__("skmobile.latency.measure", fromlist=["x"]).record_setting(setting)}

    monkeypatch.setattr(cache_mod, "measure_one", fake_measure)
    from skmobile.search.runner import SearchConfig, run_search

    def search(**kw):
        kw.setdefault("storage", f"sqlite:///{tmp_path}/s.db")
        kw.setdefault("live", False)
        kw.setdefault("latency_cache", str(tmp_path / "lat.sqlite"))
        return run_search(SearchConfig(**kw))

    return search, measured


def _study_trials(tmp_path, study):
    import optuna

    from skmobile.search.storage import open_storage

    return optuna.load_study(study_name=study, storage=open_storage(f"sqlite:///{tmp_path}/s.db")).get_trials()


def test_search_error_latency_stores_latency_and_a_rerun_hits_the_cache(fake_search, tmp_path):
    from optuna.trial import TrialState

    search, measured = fake_search
    first = search(space="mobile", objective="error,latency", trials=3, study="a", seed=5)
    trials = _study_trials(tmp_path, "a")
    assert first["study"] == "a" and len(trials) == 3
    for t in trials:
        assert t.state == TrialState.COMPLETE
        a = t.user_attrs
        assert t.values[1] == pytest.approx(a["latency_ms"])
        assert a["latency_runtime"].startswith("onnxruntime") and a["latency_threads"] == 1 and a["latency_machine"]
    distinct = len({json.dumps(t.user_attrs["spec"], sort_keys=True) + t.user_attrs["model"] for t in trials})
    assert first["latency"]["measured"] == len(measured) == distinct
    assert first["latency"]["cache_hits"] == 3 - distinct
    # the same seed in a new study proposes the same configurations: nothing is measured again
    second = search(space="mobile", objective="error,latency", trials=3, study="b", seed=5)
    assert second["latency"]["measured"] == 0 and second["latency"]["cache_hits"] == 3
    assert len(measured) == distinct
    again = _study_trials(tmp_path, "b")
    assert [t.user_attrs["latency_ms"] for t in again] == [t.user_attrs["latency_ms"] for t in trials]
    assert all(t.user_attrs["latency_cached"] for t in again)


def test_search_max_latency_is_a_constraint_and_multi_keeps_mflops(fake_search, tmp_path):
    search, _ = fake_search
    out = search(space="mobile", trials=2, study="c", max_latency_ms=1.05)
    for t in _study_trials(tmp_path, "c"):
        cons = t.constraints   # {name: value}, value <= 0 when satisfied
        assert cons["latency_ms"] == pytest.approx(t.user_attrs["latency_ms"] - 1.05)
        assert t.values[1] == pytest.approx(t.user_attrs["mflops"])
    assert out["latency"]["trials"] == 2


def test_search_bad_latency_options_are_one_line(fake_search, tmp_path):
    search, measured = fake_search
    with pytest.raises(SKMobileError, match="unknown latency mode 'guess'"):
        search(space="mobile", trials=1, latency="guess")
    with pytest.raises(SKMobileError, match="--max-latency-ms must be > 0"):
        search(space="mobile", trials=1, max_latency_ms=0)
    with pytest.raises(SKMobileError, match="does not exist"):
        search(space="mobile", trials=1, latency="predict", latency_table=str(tmp_path / "none.json"))
    assert measured == [] and not (tmp_path / "s.db").exists()


def test_search_predict_sums_the_table(fake_search, tmp_path, monkeypatch):
    search, measured = fake_search
    table = predictor.LatencyTable({**json.loads(json.dumps(Setting().__dict__))}, {}, overhead_ms=0.25)
    table.save(tmp_path / "table.json")
    timed = []

    def fake_add(self, units, setting, plan=None, on_unit=None):
        new = [u for u in units if u.key not in self.entries]
        for u in new:
            self.entries[u.key] = {"kind": u.kind, "ms": 0.01}
        timed.extend(new)
        return len(new)

    monkeypatch.setattr(predictor.LatencyTable, "add_units", fake_add)
    out = search(space="mobile", trials=2, study="p", latency="predict", latency_table=str(tmp_path / "table.json"))
    assert measured == [] and out["latency"]["predicted"] == 2 and out["latency"]["measured"] == 0
    for t in _study_trials(tmp_path, "p"):
        a = t.user_attrs
        units = predictor.units_of(Arch(a["model"], {k: v for k, v in a["spec"].items() if k != "num_classes"}))
        assert a["latency_source"] == "predicted"
        assert a["latency_ms"] == pytest.approx(0.25 + 0.01 * len(units), abs=1e-3)
    assert len(predictor.LatencyTable.load(tmp_path / "table.json").entries) == len({u.key for u in timed})


def test_live_view_and_trial_line_show_latency():
    from types import SimpleNamespace

    from optuna.trial import TrialState
    from rich.console import Console

    from skmobile.search.live import LiveView, trial_line

    t = SimpleNamespace(number=0, state=TrialState.COMPLETE, values=[10.0, 3.5], value=None,
                        user_attrs={"label": "m", "val_error": 10.0, "latency_ms": 3.5, "latency_cached": True,
                                    "mflops": 300.0, "params": 3e6, "wall_s": 2},
                        datetime_start=None, datetime_complete=None)
    assert "3.50 ms (cached)" in trial_line(t)
    view = LiveView("s", "db", 1, second="latency_ms")
    view.update([t])
    console = Console(record=True, width=160)
    console.print(view)
    text = console.export_text()
    assert "latency ms" in text and "3.50" in text and "val error vs full-size latency (ms)" in text


def test_a_diagnostic_tool_turns_bad_input_into_one_line_and_exit_2(capsys):
    """tools/*.py run their main through run_or_exit: an unknown model is one line, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    from skmobile.errors import run_or_exit

    def main():
        raise SKMobileError("unknown model 'nosuch'; allowed: a, b")

    with pytest.raises(SystemExit) as exc:
        run_or_exit(main)
    assert exc.value.code == 2 and capsys.readouterr().err == "error: unknown model 'nosuch'; allowed: a, b\n"
    tool = Path(__file__).resolve().parents[1] / "tools" / "predictor_prefixes.py"
    done = subprocess.run([sys.executable, str(tool), "nosuchmodel"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown model 'nosuchmodel'")
    assert "Traceback" not in done.stderr


def test_predictor_rules_re_predicts_a_checked_table_under_each_rule(tmp_path):
    """tools/predictor_rules.py: every rule on the same measurements; a missing table is one line, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    from skmobile.latency import memory

    units = predictor.units_of(Arch("shufflenetv2_x0_5"))
    entries = {u.key: {"kind": u.kind, "ms": 0.01} for u in units}
    heavy = [u for u in units if predictor.times_cold(u)]
    assert heavy                                        # the classifier at least
    for u in heavy:
        entries[u.key]["cold_ms"] = 0.51                # cold extra 0.5 ms each
    curve = memory.MemoryCurve([2 ** 18, 2 ** 27], [0.02, 0.10])   # the 7 MiB footprint: share ~0.7
    table = predictor.LatencyTable({"runtime": "onnxruntime", "device": "cpu", "threads": 1, "batch": 1}, {},
                                   entries=entries, memory=curve.as_json(), node_ms=0.001,
                                   models={"shufflenetv2_x0_5": {"measured_ms": 1.0}})
    path = table.save(tmp_path / "t.json")
    tool = Path(__file__).resolve().parents[1] / "tools" / "predictor_rules.py"
    done = subprocess.run([sys.executable, str(tool), str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if "within" in line}
    assert set(rows) == {r + n for r in ("none", "stream", "cold", "cold-scaled") for n in ("", "+nodes")}
    errors = dict(zip(["none", "none+nodes", "stream", "stream+nodes", "cold", "cold+nodes", "cold-scaled",
                       "cold-scaled+nodes"], map(float, done.stdout.splitlines()[-1].replace("%", "").split()[1:])))
    hot = 0.01 * len(units)                             # every layer 0.01 ms; no overhead, no reorders
    assert errors["none"] == pytest.approx(100 * (hot - 1.0), abs=0.1)       # % of the measured 1 ms
    assert errors["none+nodes"] - errors["none"] == pytest.approx(100 * 0.001 * len(units), abs=0.2)
    assert errors["cold"] - errors["stream"] > 0        # 0.5 ms a heavy layer in full, more than streaming
    assert errors["stream"] < errors["cold-scaled"] < errors["cold"]    # the cold extra scaled by the share
    missing = subprocess.run([sys.executable, str(tool), str(tmp_path / "none.json")], capture_output=True,
                             text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.startswith("error: latency table") and "Traceback" not in missing.stderr


def test_predictor_residuals_fits_a_per_node_charge_to_the_other_models(tmp_path, load_tool):
    """tools/predictor_residuals.py: a residual that is exactly 2 us per graph node is recovered, left
    one model out at a time; a per-layer charge does not fit it; a torch table is one line, exit 2."""
    import subprocess
    import sys

    tool, path = load_tool("predictor_residuals")
    assert tool.loo_charges({"a": 2.0, "b": 6.0, "c": 3.0}, {"a": 1, "b": 3, "c": 1}) == pytest.approx(
        {"a": 2.1, "b": 2.5, "c": 2.0})                  # (6*3 + 3)/10, (2 + 3)/2, (2 + 18)/10
    names = ["mobilenetv1_050", "mobilenetv1_050_se"]
    nodes = {n: sum(tool.graph_ops(n, str(tmp_path)).values()) for n in names}
    layers = {n: len(predictor.units_of(Arch(n))) for n in names}
    assert nodes["mobilenetv1_050_se"] > nodes["mobilenetv1_050"] >= layers["mobilenetv1_050"] - 5
    assert nodes["mobilenetv1_050_se"] / layers["mobilenetv1_050_se"] > nodes["mobilenetv1_050"] / layers["mobilenetv1_050"]
    models = {n: {"measured_ms": 2.0 + 0.002 * nodes[n], "predicted_ms": 2.0,
                  "error_pct": 100 * (-0.002 * nodes[n]) / (2.0 + 0.002 * nodes[n])} for n in names}
    table = predictor.LatencyTable({"runtime": "onnxruntime", "device": "cpu", "threads": 1, "batch": 1}, {},
                                   models=models)
    done = subprocess.run([sys.executable, str(path), str(table.save(tmp_path / "t.json")), "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)   # reuses the graphs exported above
    assert done.returncode == 0, done.stderr
    fits = {line.split()[3]: line for line in done.stdout.splitlines() if line.startswith("a charge per")}
    assert "2 of 2 within" in fits["node"] and "mean abs error 0.0 %" in fits["node"] and "+2.00 us per node" in fits["node"]
    assert "mean abs error 0.0 %" not in fits["layer"]
    table.setting["runtime"] = "torch"
    done = subprocess.run([sys.executable, str(path), str(table.save(tmp_path / "torch.json"))], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and "graph nodes are counted for: onnxruntime" in done.stderr
    assert "Traceback" not in done.stderr
