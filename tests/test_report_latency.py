"""Latency columns in the reports (issue 17 point 4): Table 4's report with given latencies (cells,
ratios over the base row, the FLOPs-vs-latency findings, the error-vs-latency figure, metadata, HTML),
the measuring path through the latency cache with a fake timer, re-renders that keep latency without
measuring, the search-study report's latency columns, and one-line errors. No timed assertions: every
latency here is given."""

from __future__ import annotations

import json
import math
import shutil
from functools import partial
from pathlib import Path

import pytest
from scipy import stats
from typer.testing import CliRunner

from skmobile.report import disagreement
from skmobile.report import latency_columns as lc

REPORTS = Path(__file__).resolve().parent.parent / "reports"
T4 = ["ShuffleNetV2 0.5x", "ShuffleNetV2 0.5x + SE", "ShuffleNetV2 0.5x + SK",
      "ShuffleNetV2 1.0x", "ShuffleNetV2 1.0x + SE", "ShuffleNetV2 1.0x + SK"]
#: onnxruntime: SE at 0.5x (+0.4 % MFLOPs) costs +25 %, SK at 0.5x (more MFLOPs than SE) runs faster
#: than SE, SK at 1.0x (+2.6 % MFLOPs) costs +50 %; torch: proportional to MFLOPs (no disagreement)
ORT_MS = dict(zip(T4, [10.0, 12.5, 10.5, 30.0, 31.0, 45.0]))
ORT_PAIRS = {("ShuffleNetV2 0.5x + SE", "ShuffleNetV2 0.5x", "flops_equal"),
             ("ShuffleNetV2 0.5x + SK", "ShuffleNetV2 0.5x + SE", "opposite_order"),
             ("ShuffleNetV2 1.0x + SK", "ShuffleNetV2 1.0x", "flops_equal"),
             ("ShuffleNetV2 1.0x + SK", "ShuffleNetV2 1.0x + SE", "flops_equal")}


def _entry(ms: float, runtime: str) -> dict:
    return {"ms": ms, "p10_ms": round(ms * 0.9, 4), "p90_ms": round(ms * 1.2, 4), "calls": 50,
            "runtime": f"{runtime} 9.9", "threads": 1, "device": "cpu", "batch": 1, "machine": "Test CPU x2",
            "measured": "2026-01-02T03:04:05+00:00", "load_avg": [3.5, 3.0, 2.5], "cpus": [1], "stable": False}


def _given_latency(mflops: dict[str, float]) -> lc.RowLatency:
    return lc.RowLatency({label: {"onnxruntime": _entry(ORT_MS[label], "onnxruntime"),
                                  "torch": _entry(round(mflops[label] / 4, 4), "torch")} for label in T4},
                         "skmobile test --latency")


@pytest.fixture(scope="module")
def table4(tmp_path_factory):
    """Table 4 rendered from the committed per-seed records with the latencies above."""
    from skmobile.report import write_table_report
    from skmobile.report.rerender import records_from_report
    from skmobile.tables import get_table
    from skmobile.tables.measure import build_rows

    out = tmp_path_factory.mktemp("t4")
    mflops = {r["label"]: r["measured"]["mflops"] for r in build_rows(get_table(4)) if r["measured"]}
    records, _, command = records_from_report(REPORTS, 4)
    res = write_table_report(4, records, out, command, latency=_given_latency(mflops))
    return out, res, mflops


# --- the disagreement rule on synthetic rows -------------------------------------------------------------

def test_disagreement_names_exactly_the_pairs_the_rule_picks():
    items = [("a", 100.0, 10.0), ("b", 101.0, 15.0),   # MFLOPs +1 %, latency +50 %: FLOPs call them equal
             ("c", 150.0, 12.0),                       # vs b: +48.5 % MFLOPs, -20 % latency: opposite order
             ("d", 102.0, 10.5),                       # vs a: +2 %, +5 %: latency within 10 %
             ("e", 300.0, 40.0)]                       # more of both: agrees with everything
    res = disagreement.compare(items)
    found = {(p["more_flops"], p["fewer_flops"], p["kind"]) for p in res["pairs"]}
    # d vs b: MFLOPs +1 %, latency -30 % (equal MFLOPs); c vs d: +47 % MFLOPs, +14 % latency (agree)
    assert found == {("b", "a", "flops_equal"), ("c", "b", "opposite_order"), ("d", "b", "flops_equal")}
    ab = next(p for p in res["pairs"] if p["more_flops"] == "b" and p["fewer_flops"] == "a")
    assert ab["mflops_pct"] == pytest.approx(1.0) and ab["latency_pct"] == pytest.approx(50.0)
    tau = stats.kendalltau([i[1] for i in items], [i[2] for i in items]).statistic
    assert res["kendall_tau"] == pytest.approx(tau, abs=1e-4)
    text = disagreement.sentence(res, "ort (1 thread)")
    assert text.startswith("ort (1 thread): over the 5 rows") and f"they disagree on {len(res['pairs'])} pair(s)" in text
    assert "b vs a: MFLOPs +1.0 %, latency +50.0 % (101.0 vs 100.0 MFLOPs, 15.00 vs 10.00 ms; FLOPs call them equal)" in text
    assert "c vs b: MFLOPs +48.5 %, latency -20.0 %" in text and "FLOPs order them the other way" in text
    assert "e vs" not in text


def test_disagreement_without_disagreeing_pairs_says_so():
    res = disagreement.compare([("a", 100.0, 10.0), ("b", 200.0, 21.0), ("c", 102.0, 10.9)])
    assert res["pairs"] == [] and res["kendall_tau"] == pytest.approx(1.0)
    assert "no pair disagrees" in disagreement.sentence(res, "torch")
    assert "nothing to compare" in disagreement.sentence(disagreement.compare([("a", 1.0, 1.0)]), "torch")
    assert disagreement.kendall_tau_b([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


# --- Table 4's report with given latencies ---------------------------------------------------------------

def test_table4_latency_columns_ratios_and_findings(table4):
    out, res, mflops = table4
    rows = {r["label"]: r for r in json.loads((out / "table4.json").read_text())}
    assert rows["ShuffleNetV2 0.5x + SE"]["measured"]["latency"]["onnxruntime"]["ms"] == 12.5
    ratio = rows["ShuffleNetV2 1.0x + SK"]["delta_vs"]["ratio"]
    assert ratio["onnxruntime"] == pytest.approx(1.5) and ratio["torch"] == pytest.approx(
        round(mflops["ShuffleNetV2 1.0x + SK"] / 4, 4) / round(mflops["ShuffleNetV2 1.0x"] / 4, 4), abs=1e-4)
    assert ratio["flops"] == pytest.approx(mflops["ShuffleNetV2 1.0x + SK"] / mflops["ShuffleNetV2 1.0x"], abs=1e-4)
    assert rows["ShuffleNetV2 0.5x (original paper)"]["measured"] is None

    md = (out / "table4.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| Row | Model"))
    assert "latency onnxruntime (ms) median [p10-p90] | latency torch (ms) median [p10-p90]" in head
    assert "| 12.50 [11.25-15.00] |" in next(line for line in md.splitlines() if "`shufflenetv2_x0_5_se`" in line)
    dhead = next(line for line in md.splitlines() if line.startswith("| Row | vs"))
    assert dhead.endswith("| MFLOPs ratio measured | latency ratio onnxruntime | latency ratio torch |")
    se = next(line for line in md.splitlines() if line.startswith("| ShuffleNetV2 0.5x + SE | ShuffleNetV2 0.5x |"))
    f = mflops["ShuffleNetV2 0.5x + SE"] / mflops["ShuffleNetV2 0.5x"]
    torch_ratio = round(mflops["ShuffleNetV2 0.5x + SE"] / 4, 4) / round(mflops["ShuffleNetV2 0.5x"] / 4, 4)
    assert se.endswith(f"| {f:.3f}x | 1.250x | {torch_ratio:.3f}x |")

    found = json.loads((out / "table4_conclusions.json").read_text())["flops_vs_latency"]
    assert {(p["more_flops"], p["fewer_flops"], p["kind"]) for p in found["onnxruntime"]["pairs"]} == ORT_PAIRS
    assert found["torch"]["pairs"] == []
    # over the base row: 1.250x latency for 1.004x MFLOPs, 1.500x for 1.026x (0.5x + SK: 1.050x for 1.039x)
    assert {g["label"] for g in found["onnxruntime"]["base_row_gaps"]} == {"ShuffleNetV2 0.5x + SE",
                                                                         "ShuffleNetV2 1.0x + SK"}
    section = md.split("## FLOPs vs latency", 1)[1].split("\n## ", 1)[0]
    for p in found["onnxruntime"]["pairs"]:
        assert disagreement.pair_text(p) in section
    assert "- torch (1 thread, batch 1, CPU): over the 6 rows" in section and "no pair disagrees" in section
    assert "ShuffleNetV2 0.5x + SE over ShuffleNetV2 0.5x: MFLOPs 1.004x, latency 1.250x" in section

    csv_head, *csv_rows = (out / "table4.csv").read_text().splitlines()
    assert "latency_onnxruntime_ms,latency_onnxruntime_p10_ms,latency_onnxruntime_p90_ms,latency_torch_ms" in csv_head
    assert sum(",12.5,11.25,15.0," in r for r in csv_rows) == 1
    meta = md.split("## Run metadata", 1)[1]
    for line in ("- latency measured by: skmobile test --latency", "- latency machine: Test CPU, 2 logical CPUs",
                 "- latency CPUs allowed: CPU 1", "- latency runtimes: onnxruntime 9.9; torch 9.9",
                 "other processes shared the machine (1-minute load up to 3.50 on 2 logical CPUs"):
        assert line in meta, line
    assert "Latency: batch-1 inference of the full-size model (224 px" in md


def test_table4_error_vs_latency_figure_is_written_and_embedded(table4):
    out, res, _ = table4
    png = out / "table4_pareto_latency.png"
    assert png.read_bytes()[:4] == b"\x89PNG" and (out / "table4_pareto_latency.svg").exists()
    from PIL import Image

    width, height = Image.open(png).size
    assert width > 2.5 * height  # three panels side by side: MFLOPs, onnxruntime, torch
    md = (out / "table4.md").read_text()
    assert md.index("(table4_pareto.png)") < md.index("(table4_pareto_latency.png)") < md.index("(table4_seeds.png)")
    html = (out / "table4.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and 'alt="table4_pareto_latency"' in html
    assert png in res["paths"]


def test_table4_html_carries_the_latency_rows_and_findings(table4, tmp_path):
    """The Chromium check of test_report_browser on a fresh report with latency columns."""
    from test_report_browser import BROWSER, laid_out, md_parts

    if BROWSER is None:
        pytest.skip("no headless Chromium installed (apt-get install chromium)")
    out, _, _ = table4
    html_rows, text = laid_out((out / "table4.html").read_text(), tmp_path)
    md_rows, md_texts = md_parts((out / "table4.md").read_text())
    assert any("latency ratio onnxruntime" in r for r in md_rows)
    assert any(t.startswith("Latency:") for t in md_texts) and any(t.startswith("A pair of rows") for t in md_texts)
    for row in md_rows:
        assert row in html_rows, f"md row missing from the HTML: {row}"
    for t in md_texts:
        assert t in text, f"md text missing from the HTML: {t}"
    assert "FLOPs vs latency" in text


# --- measuring through the cache, re-rendering without measuring -----------------------------------------

def _fake_measure_many(calls: list, archs, setting, plan=None, on_round=None):
    """measure_many's records, with latencies made up from the model's name (no timing)."""
    from skmobile.latency.measure import record_setting

    calls.append((setting.runtime, setting.threads, list(archs)))
    base = {"torch": 20.0, "onnxruntime": 10.0}[setting.runtime]
    return {label: {"latency_ms": base + len(a.model), "latency_p10_ms": base, "latency_p90_ms": base + 40,
                    "latency_calls": 9, **record_setting(setting), "measured": "2026-01-02T00:00:00+00:00",
                    "latency_load_avg": [0.5, 0.5, 0.5], "latency_cpus": [0], "latency_stable": True}
            for label, a in archs.items()}


def test_measure_table_times_each_group_once_then_hits_the_cache(tmp_path, monkeypatch):
    from skmobile.latency import measure as measure_mod
    from skmobile.tables import get_table

    calls = []
    monkeypatch.setattr(measure_mod, "measure_many", partial(_fake_measure_many, calls))
    request = lc.LatencyRequest(cache=str(tmp_path / "c.sqlite"))
    first = lc.measure_table(get_table(4), request, "cmd")
    assert first.counts == {"cache_hits": 0, "measured": 12}
    assert [(rt, labels) for rt, _, labels in calls] == [("onnxruntime", T4), ("torch", T4)]  # interleaved
    assert first.by_label["ShuffleNetV2 0.5x + SK"]["torch"]["ms"] == 20.0 + len("shufflenetv2_x0_5_sk")
    assert first.by_label["ShuffleNetV2 0.5x + SK"]["onnxruntime"]["cpus"] == [0]
    again = lc.measure_table(get_table(4), request, "cmd")
    assert again.counts == {"cache_hits": 12, "measured": 0} and len(calls) == 2
    assert again.by_label == first.by_label
    lc.measure_table(get_table(4), lc.LatencyRequest(("torch",), threads=2, cache=request.cache), "cmd")
    assert [c[:2] for c in calls[2:]] == [("torch", 2)]  # another setting: measured afresh


def test_cache_measures_one_architecture_once_under_two_labels(tmp_path):
    from skmobile.latency.cache import LatencyCache
    from skmobile.latency.measure import Arch, Setting

    calls = []
    cache = LatencyCache(tmp_path / "c.sqlite")
    got = cache.latencies({"x": Arch("mobilenetv2_050"), "y": Arch("mobilenetv2_050", input_size=224),
                           "z": Arch("mobilenetv2_100")}, Setting("torch"), measure=partial(_fake_measure_many, calls))
    assert [c[2] for c in calls] == [["x", "z"]] and got["x"]["latency_ms"] == got["y"]["latency_ms"]
    assert list(got) == ["x", "y", "z"] and not got["x"]["latency_cached"] and len(cache) == 2


@pytest.fixture
def cli():
    from skmobile.cli import _load_commands, app

    _load_commands()
    return lambda args: CliRunner().invoke(app, args)


def _quick_figures(monkeypatch):
    """Figures drawn by the table4 fixture already; here only their files are needed (speed)."""
    from skmobile.report import figures

    def save(fig, out_dir, stem):
        figures.plt.close(fig)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {"png": out_dir / f"{stem}.png", "svg": out_dir / f"{stem}.svg"}
        for p in paths.values():
            p.write_bytes(b"\x89PNG stand-in")
        return paths

    monkeypatch.setattr(figures, "save", save)
    monkeypatch.setattr(figures, "place_labels", lambda *a, **k: [])


def test_rerender_keeps_latency_unmeasured_and_latency_option_uses_the_cache(table4, tmp_path, monkeypatch, cli):
    from skmobile.latency import measure as measure_mod

    _quick_figures(monkeypatch)
    src, _, _ = table4
    monkeypatch.setenv("SKMOBILE_LATENCY_CACHE", str(tmp_path / "default.sqlite"))
    monkeypatch.setattr(measure_mod, "measure_many", lambda *a, **k: pytest.fail("a re-render measured"))
    res = cli(["report", "--rerender", str(src), "--table", "4", "--out", str(tmp_path / "kept")])
    assert res.exit_code == 0, res.output
    kept = {r["label"]: (r["measured"] or {}).get("latency") for r in json.loads((tmp_path / "kept/table4.json").read_text())}
    given = {r["label"]: (r["measured"] or {}).get("latency") for r in json.loads((src / "table4.json").read_text())}
    assert kept == given and kept["ShuffleNetV2 1.0x + SK"]["onnxruntime"]["ms"] == 45.0
    md = (tmp_path / "kept/table4.md").read_text()
    assert "- latency measured by: skmobile test --latency" in md and "| 45.00 [40.50-54.00] |" in md
    assert not (tmp_path / "default.sqlite").exists()

    calls = []
    monkeypatch.setattr(measure_mod, "measure_many", partial(_fake_measure_many, calls))
    args = ["report", "--rerender", str(src), "--table", "4", "--latency", "--latency-runtimes", "torch",
            "--latency-cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "new")]
    res = cli(args)
    assert res.exit_code == 0, res.output
    assert "6 timed now, 0 from the latency cache" in " ".join(res.output.split()) and len(calls) == 1
    rows = json.loads((tmp_path / "new/table4.json").read_text())
    assert all(set(r["measured"]["latency"]) == {"torch"} for r in rows if r["measured"])
    md = (tmp_path / "new/table4.md").read_text()
    assert "latency onnxruntime" not in md and "latency torch (ms)" in md
    assert f"- latency measured by: skmobile report --rerender {src} --table 4 --latency --latency-runtimes torch" in md
    assert f"| {20.0 + len('shufflenetv2_x1_0_sk'):.2f} [20.00-60.00] |" in md

    # the same again: every row from the cache, and the report does not claim this command timed them
    res = cli(args[:-1] + [str(tmp_path / "again")])
    assert res.exit_code == 0 and len(calls) == 1, res.output
    assert "0 timed now, 6 from the latency cache" in " ".join(res.output.split())
    md = (tmp_path / "again/table4.md").read_text()
    assert "- latency measured by: the latency cache (every row timed before, on this machine; this run was " \
           f"`skmobile report --rerender {src} --table 4 --latency" in md


@pytest.mark.parametrize("args, message", [
    (["report", "--rerender", "REPORTS", "--table", "4", "--latency-runtimes", "tflite"],
     "--latency-runtimes: unknown runtime 'tflite'; allowed: onnxruntime, torch"),
    (["report", "--rerender", "REPORTS", "--table", "4", "--latency-runtimes", ","], "names no runtime"),
    (["report", "--rerender", "REPORTS", "--table", "4", "--latency", "--latency-threads", "0"],
     "--latency-threads 0 is not allowed; allowed: >= 1"),
    (["reproduce", "--table", "4", "--latency"], "use it with --train"),
])
def test_bad_latency_options_are_one_line_exit_2(args, message, capsys, tmp_path):
    from skmobile.cli import main

    src = tmp_path / "src"
    src.mkdir()
    for p in REPORTS.glob("table4*"):
        shutil.copy(p, src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    with pytest.raises(SystemExit) as exc:
        main([str(src) if a == "REPORTS" else a for a in args] + ["--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and {p.name: p.read_bytes() for p in src.iterdir()} == before


# --- the search-study report -----------------------------------------------------------------------------

def _study(tmp_path, latency: bool):
    from optuna.trial import TrialState  # noqa: F401 - create_trial's states, via _add
    from test_study_report import _add, _sk

    from skmobile.search.runner import SearchConfig, open_study

    url = f"sqlite:///{tmp_path}/s.db"
    study = open_study(SearchConfig(storage=url, study="lat", space="ablation"))
    how = {"latency_runtime": "onnxruntime 9.9", "latency_threads": 1, "latency_batch": 1, "latency_device": "cpu",
           "latency_source": "measured"}
    lat = (lambda ms: {"latency_ms": ms, **how}) if latency else (lambda ms: {})
    _add(study, _sk("K3+K7", G=64, r=8, L=16), 15.0, 4460.0, 26.0e6, **lat(36.0))  # MFLOPs ~ K3+K5's, 20 % slower
    _add(study, _sk("K3+K5"), 12.0, 4470.0, 27.5e6, **lat(30.0))
    _add(study, _sk("K3+K5+K7", attention=False), 8.0, 4690.0, 28.0e6, **lat(40.0))
    return url


def test_study_report_latency_columns_and_findings(tmp_path):
    from skmobile.report.search_study import collect, open_study, to_csv, to_markdown
    from skmobile.report.study_html import to_html

    url = _study(tmp_path, latency=True)
    data = collect(open_study(url, "lat"), url)
    md = to_markdown(data, [], "cmd")
    best = md.split("## Best configurations", 1)[1].split("\n## ", 1)[0]
    head = next(line for line in best.splitlines() if line.startswith("| #"))
    assert "| latency (ms, full size, batch 1) | latency runtime | latency threads |" in head
    k3k7 = next(line for line in best.splitlines() if "K3+K7" in line)
    assert "| 36.000 | onnxruntime 9.9 | 1 |" in k3k7
    (group,) = data["flops_vs_latency"]
    assert group["setting"] == "onnxruntime 9.9 (1 thread, batch 1, cpu, measured)"
    assert [(p["more_flops"], p["fewer_flops"], p["kind"]) for p in group["pairs"]] == [
        ("sknet50[K3+K5 SK G=32]", "sknet50[K3+K7 SK G=64]", "flops_equal")]
    section = md.split("## FLOPs vs latency", 1)[1].split("\n## ", 1)[0]
    assert disagreement.pair_text(group["pairs"][0]) in section and "over the 3 configurations" in section
    html = to_html(data, [], "cmd")
    assert 'id="flops-vs-latency"' in html and "<th>latency runtime</th>" in html
    assert "<td>onnxruntime 9.9</td><td>1</td>" in html and disagreement.pair_text(group["pairs"][0]) in html
    head, *rows = to_csv(data).splitlines()
    assert head.endswith("latency_ms,latency_runtime,latency_threads,paper_rows")
    assert sum(",36.0,onnxruntime 9.9,1," in r for r in rows) == 1


def test_study_report_without_latency_says_so_in_one_line(tmp_path, cli):
    from skmobile.report.search_study import NO_LATENCY, collect, open_study, to_markdown
    from skmobile.report.study_html import to_html

    url = _study(tmp_path, latency=False)
    data = collect(open_study(url, "lat"), url)
    assert data["flops_vs_latency"] == [] and "latency_ms" not in data["costs"]
    assert math.isfinite(data["configs"][0]["error_mean"])
    md = to_markdown(data, [], "cmd")
    assert md.count(NO_LATENCY) == 1 and "latency runtime" not in md and "## FLOPs vs latency" not in md
    html = to_html(data, [], "cmd")
    assert 'id="no-latency"' in html and "latency runtime" not in html and "flops-vs-latency" not in html
    res = cli(["report", "--storage", url, "--study", "lat", "--latency", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "--latency applies to paper-table reports" in str(res.exception)
    assert not (tmp_path / "x").exists()
