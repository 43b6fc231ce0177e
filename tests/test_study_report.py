"""``skmobile report --study NAME`` for a search study: fronts, best configurations with CIs over
seeds, fANOVA importances, factor effects and paper rows, on hand-made studies with known answers
and on a real (fake-trainer) search."""

import json
import math
import os

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial
from scipy import stats
from typer.testing import CliRunner

from skmobile.errors import SKMobileError
from skmobile.report.paper_match import config_key, paper_rows_for
from skmobile.search.runner import SearchConfig, open_study
from skmobile.tables import get_table

TESTS = os.path.dirname(os.path.abspath(__file__))


def _sk(paths, attention=True, G=32, r=16, L=32):
    sk = {"paths": paths, "groups": G, "attention": attention}
    if attention:
        sk.update(reduction=r, min_attn=L)
    return {"sk": sk}


def _label(spec):
    sk = spec["sk"]
    return f"sknet50[{sk['paths']} {'SK' if sk['attention'] else 'sum'} G={sk['groups']}]"


def _add(study, spec, err, mflops, params, seed=0, state=TrialState.COMPLETE, **attrs):
    user = {"model": "sknet50", "spec": spec, "label": _label(spec), "seed": seed, "space": "ablation",
            "val_error": err, "test_error": None if err is None else err + 1.0, "error_unit": "percent",
            "mflops": mflops, "params": params, "dataset": "fake", "budget": "trial", "epochs": 1, **attrs}
    dist = {"M": CategoricalDistribution([1, 2, 3])}
    values = None if state != TrialState.COMPLETE else [err, mflops]
    study.add_trial(create_trial(state=state, values=values, params={"M": len(spec["sk"]["paths"].split("+"))},
                                 distributions=dist, user_attrs=user))


@pytest.fixture
def cli():
    from skmobile.cli import _load_commands, app

    _load_commands()
    return lambda args: CliRunner().invoke(app, args)


def _made_study(tmp_path, latency=False, name="ablation"):
    url = f"sqlite:///{tmp_path}/s.db"
    study = open_study(SearchConfig(storage=url, study=name, space="ablation"))
    lat = (lambda v: {"latency_ms": v}) if latency else (lambda v: {})
    k3k5 = _sk("K3+K5")  # = Table 7 "K3+K5 with SK" = Table 6 "3x3, D=2, G=32"
    for seed, err in enumerate([10.0, 12.0, 14.0]):
        _add(study, k3k5, err, 4470.0, 27.5e6, seed=seed, **lat(30.0))
    _add(study, k3k5, 10.0, 4470.0, 27.5e6, seed=0, reused_from=0, **lat(30.0))  # same seed: counted once
    _add(study, _sk("K3", attention=False, G=16), 20.0, 4000.0, 25.0e6, **lat(20.0))   # cheap: on the front
    _add(study, _sk("K3+K7", G=64, r=8, L=16), 30.0, 4300.0, 26.0e6, **lat(25.0))      # dominated
    _add(study, _sk("K3+K5+K7", attention=False), 8.0, 4690.0, 28.0e6, **lat(40.0))    # T7 "K3+K5+K7 (sum)"
    _add(study, _sk("K5+K7"), None, None, None, state=TrialState.FAIL, fail_reason="RuntimeError: boom")
    return url


def test_config_key_matches_paper_rows_across_spellings():
    t6 = paper_rows_for("sknet50", {"sk": {"paths": "K3+3x3d2"}})
    assert {(r["table"], r["label"]) for r in t6} == {(6, "3x3, D=2, G=32 (resulted 5x5)"), (7, "K3+K5 with SK")}
    assert config_key("sknet50", _sk("K3+K5")) == config_key("sknet50", {"sk": {"paths": "K3+K5"}})
    assert config_key("sknet50", _sk("K3+K5", r=8)) != config_key("sknet50", _sk("K3+K5"))
    # r and L mean nothing without attention; G nothing in a depthwise unit
    assert config_key("sknet50", _sk("K3+K5", attention=False)) == \
        config_key("sknet50", {"sk": {"paths": "K3+K5", "attention": False, "reduction": 4}})
    assert config_key("shufflenetv2_x0_5_sk", {"sk": {"paths": "K3+K5", "groups": 7}}) == \
        config_key("shufflenetv2_x0_5_sk", {})
    assert [r["label"] for r in paper_rows_for("shufflenetv2_x0_5_sk", {"sk": {"paths": "K3+K5"}})] == \
        ["ShuffleNetV2 0.5x + SK"]
    assert paper_rows_for("sknet50", _sk("K3+K5", G=64)) == []


def test_study_report_contents(tmp_path, cli):
    url = _made_study(tmp_path, latency=True)
    out = tmp_path / "rep"
    res = cli(["report", "--storage", url, "--study", "ablation", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "runs/report" not in res.output and str(out / "ablation.html") in res.output.replace("\n", "")
    names = {p.name for p in out.iterdir()}
    assert {"ablation.md", "ablation.csv", "ablation.json", "ablation.html", "ablation_pareto_mflops.png",
            "ablation_pareto_params_m.png", "ablation_pareto_latency_ms.png", "ablation_importances.png",
            "ablation_factors.png"} <= names
    data = json.loads((out / "ablation.json").read_text())
    assert data["counts"]["complete"] == 7 and data["counts"]["fail"] == 1 and data["reused"] == 1
    by_label = {c["label"]: c for c in data["configs"]}
    rep = by_label[_label(_sk("K3+K5"))]
    half = stats.t.ppf(0.975, 2) * 2.0 / math.sqrt(3)  # errors 10, 12, 14: sd 2
    assert rep["n"] == 3 and rep["seeds"] == [0, 1, 2] and len(rep["trials"]) == 4
    assert rep["error_mean"] == pytest.approx(12.0) and rep["error_ci95"] == pytest.approx(half, abs=1e-4)
    assert rep["test_error_mean"] == pytest.approx(13.0)
    assert {(r["table"], r["label"]) for r in rep["paper_rows"]} == {(7, "K3+K5 with SK"),
                                                                     (6, "3x3, D=2, G=32 (resulted 5x5)")}
    paper_err = next(r.paper["top1_err"] for r in get_table(7).rows if r.label == "K3+K5 with SK")
    assert [r["paper"]["top1_err"] for r in rep["paper_rows"] if r["table"] == 7] == [paper_err]
    front = {c["label"] for c in data["configs"] if c["front_mflops"]}
    assert front == {_label(_sk("K3", attention=False, G=16)), _label(_sk("K3+K5")),
                     _label(_sk("K3+K5+K7", attention=False))}
    assert data["costs"] == ["mflops", "params_m", "latency_ms"]  # trials carry latency_ms: a third front
    assert {c["label"] for c in data["configs"] if c["front_latency_ms"]} == front
    assert [c["label"] for c in data["configs"]][0] == _label(_sk("K3+K5+K7", attention=False))  # best first
    m = {r["level"]: r for r in data["effects"]["M"]}
    assert m[1]["trials"] == 1 and m[2]["trials"] == 5 and m[2]["configs"] == 2
    assert m[2]["mean_error"] == pytest.approx((10 + 12 + 14 + 10 + 30) / 5)
    assert m[3]["mean_mflops"] == pytest.approx(4690.0)
    imp = data["importances"]
    for obj in ("error", "mflops"):
        assert set(imp[obj]["importances"]) <= set(data["factors"]) and imp[obj]["trials"] == 7
        assert sum(imp[obj]["importances"].values()) == pytest.approx(1.0, abs=1e-3)
    searched = {r["label"] for r in data["paper_rows"] if r["searched"]}
    assert {"K3+K5 with SK", "K3+K5+K7 (sum)", "3x3, D=2, G=32 (resulted 5x5)"} == searched
    assert len(data["paper_rows"]) == 16  # every Table 6/7 row is in the ablation space

    md = (out / "ablation.md").read_text()
    assert "12.00 ± " in md and f"Table 7 \"K3+K5 with SK\": {paper_err:.2f} %" in md and "| **paper** Table 6" in md
    assert "No trial records a latency" not in md and "trial 7 fail: RuntimeError: boom" in md
    assert "![" in md and "ablation_pareto_mflops.png" in md
    lines = (out / "ablation.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and lines[0].startswith("rank,label,model,spec,front_mflops")
    html = (out / "ablation.html").read_text()
    assert html.count('class="pareto"') == 3 and 'id="importances"' in html and 'class="paper-row"' in html


def test_small_study_default_outputs_and_errors(tmp_path, cli, monkeypatch):
    """Too few trials for fANOVA (the reason is stated), no latency (said), the default --out folders
    of `report --study` and of plain `report` (which covers search studies too), one-line errors."""
    url = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.chdir(tmp_path)
    study = open_study(SearchConfig(storage=url, study="small", space="ablation"))
    res = cli(["report", "--storage", url, "--study", "small"])
    assert isinstance(res.exception, SKMobileError) and "no complete trial" in str(res.exception)
    assert not (tmp_path / "runs").exists()
    _add(study, _sk("K3+K5"), 10.0, 4470.0, 27.5e6)
    _add(study, _sk("K3+K7"), 11.0, 4470.0, 27.5e6)
    res = cli(["report", "--storage", url, "--study", "small"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "runs" / "report-small"
    data = json.loads((out / "small.json").read_text())
    assert "needs at least 4" in data["importances"]["error"]["reason"]
    md = (out / "small.md").read_text()
    assert "not computed: 2 complete trial(s)" in md and "No trial records a latency" in md
    assert not (out / "small_importances.png").exists()
    res = cli(["report", "--storage", url])
    assert res.exit_code == 0, res.output
    made = list((tmp_path / "runs").glob("reports-*/small/small.html"))
    assert len(made) == 1 and str(made[0].relative_to(tmp_path)) in res.output.replace("\n", "")
    res = cli(["report", "--storage", url, "--study", "small", "--table", "7", "--out", str(tmp_path / "c")])
    assert isinstance(res.exception, SKMobileError) and "search study" in str(res.exception)


def test_after_a_real_search_the_study_report_works(tmp_path, cli, monkeypatch):
    """`make demo`'s path: `skmobile search --space ablation` then `skmobile report --study ablation`."""
    monkeypatch.setenv("SKMOBILE_SEARCH_TRAINER", "test_search_support:FakeTrainer")
    monkeypatch.setenv("SKMOBILE_FAKE_SLEEP", "0")
    monkeypatch.delenv("SKMOBILE_FAKE_FAIL", raising=False)
    url = f"sqlite:///{tmp_path}/d.db"
    res = cli(["search", "--space", "ablation", "--trials", "4", "--storage", url, "--no-live"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "rep"
    res = cli(["report", "--storage", url, "--study", "ablation", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads((out / "ablation.json").read_text())
    trials = optuna.load_study(study_name="ablation", storage=url).get_trials(states=(TrialState.COMPLETE,))
    assert data["complete"] == len(trials) == 4
    assert sorted(t["number"] for t in data["trials"]) == [t.number for t in trials]
    for t in data["trials"]:
        src = next(x for x in trials if x.number == t["number"])
        assert t["error"] == pytest.approx(src.user_attrs["val_error"]) and t["mflops"] == src.user_attrs["mflops"]
