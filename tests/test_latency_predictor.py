"""The latency table: layer capture, the sum, timing on a fake clock, the check's figures, one format.

No timed assertions: the timing logic runs on a fake clock; real timing uses a tiny model under torch
and checks structure only.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from skmobile.errors import SKMobileError
from skmobile.latency import timing
from skmobile.latency.capture import Unit, collect_units
from skmobile.latency.measure import Arch, Setting
from skmobile.latency.table import TABLE_VERSION, LatencyTable
from skmobile.measure.timing import TimingPlan, time_rounds
from skmobile.report import latency_check
from latency_support import FakeClock, Tiny

TINY = TimingPlan(warmup_calls=1, warmup_s=0.0, round_s=0.0, min_calls=2, max_calls=2, min_rounds=3,
                  max_rounds=3, max_s=5.0)


@pytest.fixture
def tiny_models(monkeypatch):
    from skmobile.models import _registry

    for name, make in (("tiny_latency", Tiny), ("tiny_latency2", lambda: nn.Sequential(Tiny().a, Tiny().b))):
        monkeypatch.setitem(_registry._REGISTRY, name, _registry.ModelEntry(name, "test-cifar", lambda make=make, **kw: make(),
                                                                             "tiny", False))


def _setting_dict(**kw) -> dict:
    return json.loads(json.dumps(Setting(**kw).__dict__))


def test_collect_units_records_layers_and_glue_in_order():
    units = collect_units(Tiny(), (1, 3, 16, 16))
    assert [u.kind for u in units] == ["ConvBnAct", "ConvBnAct", "glue:add", "ConvBnAct", "SqueezeExcite",
                                       "AdaptiveAvgPool2d", "glue:flatten", "Linear"]
    assert units[1].key == units[3].key and units[0].key != units[1].key
    assert "dilation=(2, 2)" in units[1].key and "groups=8" in units[1].key and "[(1, 8, 8, 8)]" in units[1].key
    assert units[2].shapes == [(1, 8, 8, 8), (1, 8, 8, 8)]
    out = units[2].make()(torch.ones(1, 8, 8, 8), torch.ones(1, 8, 8, 8))
    assert torch.equal(out, torch.full((1, 8, 8, 8), 2.0))


def test_prediction_is_the_overhead_once_plus_every_layer():
    units = collect_units(Tiny(), (1, 3, 16, 16))
    table = LatencyTable({}, {}, overhead_ms=0.5)
    for i, u in enumerate(units):
        table.entries.setdefault(u.key, {"kind": u.kind, "ms": float(i + 1)})
    # entry values by first occurrence: 1, 2, 3, (c repeats b: 2), 5, 6, 7, 8
    assert table.predict_units(units) == (pytest.approx(0.5 + 1 + 2 + 3 + 2 + 5 + 6 + 7 + 8), [])
    del table.entries[units[-1].key]
    ms, missing = table.predict_units(units)
    assert [u.kind for u in missing] == ["Linear"] and ms == pytest.approx(0.5 + 1 + 2 + 3 + 2 + 5 + 6 + 7)
    table.skipped[units[-1].key] = "cannot export alone"     # a skipped layer counts as 0 ms
    assert table.predict_units(units)[1] == []
    other = {u.key: {"ms": 1.0} for u in units}               # a run's own times replace the table's
    assert table.predict_units(units, other, 0.25)[0] == pytest.approx(0.25 + 8)



def test_layers_are_timed_together_net_of_the_noop_and_one_that_cannot_run_is_skipped(monkeypatch):
    clock, seen = FakeClock(), []
    cost_ms = {"conv": 5.0, "glue": 2.0}

    def fake_unit_runner(make, shapes, setting, workdir):
        name = make()
        return None if name == "bad" else clock.work(cost_ms[name] * 1e-3)

    def fake_time_rounds(fns, plan=None, on_round=None, turns=None):
        seen.append((sorted(str(k) for k in fns), turns))
        return time_rounds(fns, plan, clock=clock, turns=turns)

    monkeypatch.setattr(timing, "noop_runner", lambda setting, workdir: clock.work(1e-3))
    monkeypatch.setattr(timing, "unit_runner", fake_unit_runner)
    monkeypatch.setattr(timing, "time_rounds", fake_time_rounds)
    table = LatencyTable({}, {}, overhead_ms=0.5)
    units = [Unit(k, k, [], make=lambda k=k: k) for k in ("conv", "glue", "bad", "conv")]
    assert timing.add_units(table, units, Setting(), TINY) == 3
    assert len(seen) == 1 and len(seen[0][0]) == 3              # conv, glue and the no-op in one timing
    assert seen[0][1] == {timing.Label(timing.NOOP): timing.NOOP_TURNS}
    assert table.entries == {"conv": {"kind": "conv", "ms": pytest.approx(4.0)},
                             "glue": {"kind": "glue", "ms": pytest.approx(1.0)}}
    assert table.skipped == {"bad": "cannot export alone"}
    assert timing.add_units(table, units, Setting(), TINY) == 0 and len(seen) == 1   # nothing new: nothing timed


def test_runs_are_consecutive_blocks_of_the_rounds():
    assert timing.blocks(9) == [(0, 3), (3, 6), (6, 9)]
    assert timing.blocks(10) == [(0, 3), (3, 7), (7, 10)]
    assert timing.blocks(2) == [(0, 1), (1, 2)]


def test_check_figures_on_known_runs():
    measured = [{"a": 1.0, "b": 2.0, "c": 4.0}, {"a": 1.1, "b": 2.0, "c": 4.4}, {"a": 1.0, "b": 2.2, "c": 4.0}]
    predicted = [{"a": 1.2, "b": 2.0, "c": 3.0}, {"a": 2.2, "b": 1.0, "c": 4.4}, {"a": 1.0, "b": 2.2, "c": 4.0}]
    fig = latency_check.figures({"runs": [{"predicted": p, "measured": m} for p, m in zip(predicted, measured)]})
    assert fig["models"] == 3
    assert [r["kendall_tau"] for r in fig["runs"]] == [pytest.approx(1.0), pytest.approx(1 / 3, abs=1e-3), pytest.approx(1.0)]
    assert [r["median_abs_error_pct"] for r in fig["runs"]] == [pytest.approx(20.0), pytest.approx(50.0), 0.0]
    # run 2 vs 1: a +10 %, b 0, c +10 % -> 10; run 3 vs 1: 0, +10 %, 0 -> 0; run 3 vs 2: 1/1.1, 1.1, 1/1.1 -> 9.09
    assert [p["median_abs_diff_pct"] for p in fig["noise_pairs"]] == [pytest.approx(10.0), 0.0, pytest.approx(9.09)]
    assert fig["noise_floor_pct"] == pytest.approx(9.09) and [p["runs"] for p in fig["noise_pairs"]] == [[1, 2], [1, 3], [2, 3]]
    lines = latency_check.summary_lines({"runs": [{"predicted": p, "measured": m} for p, m in zip(predicted, measured)]})
    assert "1.000, 0.333, 1.000" in lines[0] and "20.0 %, 50.0 %, 0.0 %" in lines[1] and "runs 2-3 9.1 %" in lines[2]


def test_build_table_with_check_on_tiny_models(tiny_models, monkeypatch, tmp_path):
    monkeypatch.setattr(timing, "UNIT_PLAN", TINY)
    setting = Setting(runtime="torch")
    table = timing.build_table(["tiny_latency", "tiny_latency2"], setting, check=True,
                               check_plan=replace(TINY, min_rounds=6, max_rounds=6))
    row = table.models["tiny_latency"]
    assert row["layers"] == 8 and len(table.entries) == 7 and table.overhead_ms > 0
    assert row["measured_p10_ms"] <= row["measured_ms"] <= row["measured_p90_ms"]
    assert row["error_pct"] == pytest.approx(100 * (row["predicted_ms"] / row["measured_ms"] - 1), abs=0.05)
    check = table.check
    assert check["rounds"] == 6 and [r["rounds"] for r in check["runs"]] == [[0, 2], [2, 4], [4, 6]]
    assert all(set(r["predicted"]) == set(r["measured"]) == {"tiny_latency", "tiny_latency2"} for r in check["runs"])
    loaded = LatencyTable.load(table.save(tmp_path / "t.json"))
    assert loaded.entries == table.entries and loaded.version == TABLE_VERSION
    again = timing.predict(loaded, Arch("tiny_latency"), setting)
    assert again == {"predicted_ms": pytest.approx(row["predicted_ms"], abs=1e-3), "layers": 8,
                     "layers_timed_now": 0, "layers_missing": 0}
    with pytest.raises(SKMobileError, match="built for"):
        timing.predict(loaded, Arch("tiny_latency"), Setting(runtime="torch", threads=2))
    text = latency_check.check_markdown(table, "skmobile bench latency --build-table")
    assert "| tiny_latency |" in text and "Kendall's tau" in text and "Noise floor" in text


def test_cli_build_table_check_prints_tau_error_and_noise_floor(tiny_models, monkeypatch, cli, tmp_path):
    monkeypatch.setattr(timing, "UNIT_PLAN", TINY)
    monkeypatch.setattr(timing, "CHECK_PLAN", replace(TINY, min_rounds=3, max_rounds=3))
    path = tmp_path / "t.json"
    code, out, err = cli(["bench", "latency", "--build-table", "tiny_latency", "tiny_latency2", "--runtime", "torch",
                          "--table", str(path), "--report", str(tmp_path / "r.md")])
    assert code == 0, err
    assert "Kendall's tau, predicted vs measured, over 2 models, per run (3 runs)" in out
    assert "Median absolute error per run" in out and "Noise floor" in out and "runs 2-3" in out
    assert (tmp_path / "r.md").read_text().startswith("# Latency table check (torch, cpu, 1 thread(s), batch 1)")
    code, out, err = cli(["bench", "latency", "--predict", "tiny_latency", "--runtime", "torch", "--table", str(path),
                          "--format", "json"])
    assert code == 0, err and json.loads(out)["tiny_latency"]["layers_missing"] == 0


@pytest.mark.parametrize("version", [None, 1, 5, 7])
def test_a_table_of_another_format_asks_for_a_rebuild_exit_2(tmp_path, capsys, version):
    from skmobile.cli import main

    path = tmp_path / "old.json"
    data = {"setting": _setting_dict(), "machine": {}, "entries": {}}
    path.write_text(json.dumps(data if version is None else {**data, "version": version}))
    with pytest.raises(SystemExit) as exc:
        main(["bench", "latency", "--predict", "mobilenetv2_050", "--table", str(path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and f"format version {version}" in err
    assert "rebuild the table with `skmobile bench latency --build-table" in err
    assert json.loads(path.read_text()) == (data if version is None else {**data, "version": version})   # kept


def test_a_file_that_is_not_a_table_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SKMobileError, match="is not a table written by --build-table"):
        LatencyTable.load(bad)
    bad.write_text(json.dumps({"version": TABLE_VERSION, "setting": {}, "machine": {}, "curve": 1}))
    with pytest.raises(SKMobileError, match="is not a table written by --build-table"):
        LatencyTable.load(bad)


def test_cpu_clock_only_where_the_work_runs_on_this_thread_and_tables_keep_their_clock(tmp_path):
    timing.check_clock("cpu", Setting(threads=1))
    with pytest.raises(SKMobileError, match="allowed only with --device cpu --threads 1; got cpu, 2 thread"):
        timing.check_clock("cpu", Setting(threads=2))
    loaded = LatencyTable.load(LatencyTable(_setting_dict(), {}, clock="cpu").save(tmp_path / "t.json"))
    assert loaded.clock == "cpu"
    loaded.check_setting(Setting(), "cpu")
    with pytest.raises(SKMobileError, match="timed with the 'cpu' clock; asked for 'wall'"):
        loaded.check_setting(Setting(), "wall")


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


def test_latency_check_script_pins_to_an_allowed_cpu_and_leaves_the_tree_clean(tmp_path):
    """tools/latency_check.sh picks its CPU from those this process may use (a 2-core machine too),
    refuses another in one line (exit 2), and leaves no folder or symlink in the working tree."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    before = sorted(p.name for p in root.iterdir()), sorted(p.name for p in (root / "skmobile").iterdir())
    allowed = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "PYTHON": sys.executable, "RUNS": "0", "OUT": str(tmp_path / "out")}
    prefix = ["taskset", "-c", str(allowed[0])] if shutil.which("taskset") else []
    done = subprocess.run(prefix + ["bash", str(root / "tools" / "latency_check.sh"), "ratio", "check"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"pinned to {allowed[0] if prefix else allowed[-1]}" in done.stdout and (tmp_path / "out" / "machine.txt").is_file()
    for extra, message in (({"CPU": "99999"}, "error: CPU=99999 is not one this process may use; allowed: "),
                           ({}, "error: unknown step 'bogus'; allowed: ratio, check, cuda")):
        bad = subprocess.run(["bash", str(root / "tools" / "latency_check.sh"), "bogus" if not extra else "ratio"],
                             env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and bad.stderr.startswith(message) and bad.stderr.count("\n") == 1
    assert (sorted(p.name for p in root.iterdir()), sorted(p.name for p in (root / "skmobile").iterdir())) == before
