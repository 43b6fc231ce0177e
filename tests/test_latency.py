"""skmobile.latency: statistics on a fake clock, the cache's hit logic, measuring, CLI errors, search trials.

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
from skmobile.latency.cache import LatencyCache, cache_key
from skmobile.latency.measure import Arch, Setting
from skmobile.measure.stats import Spread, median_halfwidth, percentile
from skmobile.measure.timing import TimingPlan, spread_turns, time_rounds
from latency_support import FakeClock, Tiny

TINY = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=2, max_calls=2, min_rounds=2,
                  max_rounds=2, max_s=5.0)


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


def _latency_cases(tmp_path, study):
    from optuna.trial import TrialState

    trials = _study_trials(tmp_path, study)
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(done) + len(pruned) == len(trials)
    return done, pruned


def test_search_max_latency_is_a_constraint_and_multi_keeps_mflops(fake_search, tmp_path):
    search, _ = fake_search
    out = search(space="mobile", trials=2, study="c", max_latency_ms=1.1)
    done, pruned = _latency_cases(tmp_path, "c")
    for t in done + pruned:
        cons = t.constraints   # {name: value}, value <= 0 when satisfied
        assert cons["latency_ms"] == pytest.approx(t.user_attrs["latency_ms"] - 1.1)
    for t in done:
        assert t.user_attrs["latency_ms"] <= 1.1 and t.values[1] == pytest.approx(t.user_attrs["mflops"])
    for t in pruned:   # over the limit: never trained
        assert t.user_attrs["latency_ms"] > 1.1 and "val_error" not in t.user_attrs
        assert t.user_attrs["rejected"].endswith("above --max-latency-ms 1.1: not trained")
    assert out["latency"]["trials"] == 2


def test_search_predict_with_max_latency_on_a_small_table(fake_search, tmp_path, monkeypatch, cli):
    """`search --latency predict --max-latency-ms`: every trial's latency is the table's sum (layers it
    lacks timed and saved), and a trial predicted above the limit never trains."""
    from skmobile.latency import timing
    from skmobile.latency.capture import units_of
    from skmobile.latency.table import LatencyTable

    search, measured = fake_search
    path = tmp_path / "table.json"
    LatencyTable(json.loads(json.dumps(Setting().__dict__)), {}, overhead_ms=0.25).save(path)
    timed = []

    def fake_add(table, units, setting, plan=None):   # a layer's "time": 0.001 ms per character of its key
        new = {u.key: u for u in units if u.key not in table.entries}
        table.entries.update({k: {"kind": u.kind, "ms": 1e-3 * len(k)} for k, u in new.items()})
        timed.extend(new)
        return len(new)

    monkeypatch.setattr(timing, "add_units", fake_add)
    free = search(space="mobile", trials=3, study="free", seed=3, latency="predict", latency_table=str(path))
    assert measured == [] and free["latency"]["predicted"] == 3
    latencies = sorted(t.user_attrs["latency_ms"] for t in _study_trials(tmp_path, "free"))
    limit = round((latencies[0] + latencies[-1]) / 2, 3)
    code, _, err = cli(["search", "--space", "mobile", "--trials", "3", "--study", "capped", "--seed", "3",
                        "--latency", "predict", "--latency-table", str(path), "--max-latency-ms", str(limit),
                        "--storage", f"sqlite:///{tmp_path}/s.db", "--no-live"])
    assert code == 0, err
    done, pruned = _latency_cases(tmp_path, "capped")
    assert done and pruned
    table = LatencyTable.load(path)
    for t in done + pruned:
        a = t.user_attrs
        units = units_of(Arch(a["model"], {k: v for k, v in a["spec"].items() if k != "num_classes"}))
        assert a["latency_source"] == "predicted"
        assert a["latency_ms"] == pytest.approx(0.25 + sum(table.entries[u.key]["ms"] for u in units), abs=1e-3)
    assert all(t.user_attrs["latency_ms"] <= limit and "val_error" in t.user_attrs for t in done)
    assert all(t.user_attrs["latency_ms"] > limit and "val_error" not in t.user_attrs for t in pruned)
    assert len(table.entries) == len(set(timed)) and measured == []


def test_search_bad_latency_options_are_one_line(fake_search, tmp_path):
    search, measured = fake_search
    with pytest.raises(SKMobileError, match="unknown latency mode 'guess'"):
        search(space="mobile", trials=1, latency="guess")
    with pytest.raises(SKMobileError, match="--max-latency-ms must be > 0"):
        search(space="mobile", trials=1, max_latency_ms=0)
    with pytest.raises(SKMobileError, match="does not exist"):
        search(space="mobile", trials=1, latency="predict", latency_table=str(tmp_path / "none.json"))
    assert measured == [] and not (tmp_path / "s.db").exists()


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


