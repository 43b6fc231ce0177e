"""Nothing overwritten by surprise: reproduce/report default to a fresh runs/ folder and refuse to
replace files that record measurements the new ones would drop (unless --force); train refuses a
non-empty --out (unless --resume or --force)."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skmobile.errors import SKMobileError
from skmobile.outputs import check_train_out, dropped, fresh_dir, staged

REPORTS = Path(__file__).resolve().parent.parent / "reports"


@pytest.fixture
def cli():
    from skmobile.cli import _load_commands, app

    _load_commands()
    return lambda args: CliRunner().invoke(app, args)


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_fresh_dir_is_new_under_runs(tmp_path):
    a = fresh_dir("reports", tmp_path / "runs")
    a.mkdir(parents=True)
    b = fresh_dir("reports", tmp_path / "runs")
    assert a != b and not b.exists() and a.parent == b.parent == tmp_path / "runs"
    assert a.name.startswith("reports-")


def test_what_counts_as_dropping_a_measurement(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    (old / "t.json").write_text(json.dumps([{"label": "a", "measured": {"params_m": 1.0, "top1_err": 9.5}}]))
    (new / "t.json").write_text(json.dumps([{"label": "a", "measured": {"params_m": 1.1, "top1_err": None}}]))
    assert dropped(old / "t.json", new / "t.json") == ["[a].measured.top1_err"]
    (new / "t.json").write_text(json.dumps([{"label": "a", "measured": {"params_m": 2.0, "top1_err": 3.0},
                                             "extra": 1}]))
    assert dropped(old / "t.json", new / "t.json") == []  # other values, more keys: nothing lost
    (new / "t.json").write_text(json.dumps([{"label": "b", "measured": {"params_m": 2.0, "top1_err": 3.0}}]))
    assert dropped(old / "t.json", new / "t.json") == ["[a].measured.params_m", "[a].measured.top1_err"]
    (old / "n.json").write_text(json.dumps({"xs": [[1.0, 2.0]], "ok": True, "s": "text"}))
    (new / "n.json").write_text(json.dumps({"xs": [], "ok": False}))
    assert dropped(old / "n.json", new / "n.json") == ["xs[][]"]  # only numbers count
    (old / "t.csv").write_text("label,err,note\na,9.5,\n")
    (new / "t.csv").write_text("label,err,note\na,,x\n")
    assert dropped(old / "t.csv", new / "t.csv") == ["err"]
    (old / "t.md").write_text("# T\n\n| Row | proxy err |\n|---|---|\n| a | 1 |\n\n## Conclusions\n")
    (new / "t.md").write_text("# T\n\n| Row |\n|---|\n| a |\n")
    assert dropped(old / "t.md", new / "t.md") == ["## Conclusions", "column: proxy err"]
    (old / "t.html").write_text('<h2>Figures</h2><table><tr><th>err</th></tr></table><img alt="t_pareto" src="x">')
    (new / "t.html").write_text("<h2>Figures</h2><table><tr><th>err</th></tr></table>")
    assert dropped(old / "t.html", new / "t.html") == ["figure: t_pareto"]
    (old / "f.png").write_bytes(b"png")
    assert dropped(old / "f.png", new / "t.md") == []  # figures are replaced with their report


def test_staged_refuses_then_force_replaces(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "r.json").write_text(json.dumps({"err": 1.5}))
    (out / "keep.txt").write_text("mine")
    before = _snapshot(out)
    with pytest.raises(SKMobileError, match=r"r\.json records what the new file would drop \(err\)"):
        with staged(out) as stage:
            (stage / "r.json").write_text(json.dumps({"other": 2}))
            (stage / "new.md").write_text("# new\n")
    assert _snapshot(out) == before  # nothing written, nothing lost
    with pytest.raises(RuntimeError):  # a writer that fails leaves --out alone too
        with staged(out) as stage:
            (stage / "new.md").write_text("# new\n")
            raise RuntimeError("writer failed")
    assert _snapshot(out) == before
    with staged(out, force=True) as stage:
        (stage / "r.json").write_text(json.dumps({"other": 2}))
        (stage / "sub").mkdir()
        (stage / "sub" / "x.md").write_text("# x\n")
    assert json.loads((out / "r.json").read_text()) == {"other": 2}
    assert (out / "keep.txt").read_text() == "mine" and (out / "sub" / "x.md").exists()


def test_reproduce_no_train_writes_a_fresh_folder_not_reports(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = cli(["reproduce", "--table", "7", "--no-train"])
    assert res.exit_code == 0, res.output
    made = list((tmp_path / "runs").glob("reports-*/table7.md"))
    assert len(made) == 1 and not (tmp_path / "reports").exists()
    assert str(made[0].parent.relative_to(tmp_path)) in res.output


def test_reproduce_refuses_to_drop_accuracy_columns_unless_forced(tmp_path, cli):
    committed = REPORTS / "table7.json"
    if not any(r["measured"] and r["measured"].get("top1_err") is not None
               for r in json.loads(committed.read_text())):
        pytest.skip("the committed Table 7 report has no accuracy column")
    out = tmp_path / "reports"
    out.mkdir()
    for name in ("table7.md", "table7.csv", "table7.json", "table7.html"):
        shutil.copy(REPORTS / name, out / name)
    before = _snapshot(out)
    res = cli(["reproduce", "--table", "7", "--no-train", "--out", str(out)])
    assert isinstance(res.exception, SKMobileError), res.output
    assert "would drop" in str(res.exception) and "top1_err" in str(res.exception) and "--force" in str(res.exception)
    assert _snapshot(out) == before
    res = cli(["reproduce", "--table", "7", "--no-train", "--out", str(out), "--force"])
    assert res.exit_code == 0, res.output
    rows = json.loads((out / "table7.json").read_text())
    assert not any(r["measured"] and "top1_err" in r["measured"] for r in rows)


def test_report_refuses_to_drop_a_rows_accuracy(tmp_path, cli):
    from test_search_support import add_result
    from skmobile.tables import get_table

    rows = [r for r in get_table(7).rows if r.model]

    def study(url, which):
        for i, row in which:
            add_result(url, "grid", {"grid": "table7", "row": row.label, "seed": 0, "test_error": 10.0 + i,
                                     "test_accuracy": 90.0 - i, "dataset": "fake", "budget": "trial", "epochs": 1},
                       10.0 + i)

    full, partial = f"sqlite:///{tmp_path}/full.db", f"sqlite:///{tmp_path}/partial.db"
    study(full, list(enumerate(rows)))
    study(partial, list(enumerate(rows))[1:])  # measured nothing for the first row
    out = tmp_path / "out"
    res = cli(["report", "--storage", full, "--out", str(out)])
    assert res.exit_code == 0, res.output
    before = _snapshot(out)
    res = cli(["report", "--storage", partial, "--out", str(out)])
    assert isinstance(res.exception, SKMobileError), res.output
    assert f"[{rows[0].label}].measured.top1_err" in str(res.exception)
    assert _snapshot(out) == before


def test_train_refuses_a_non_empty_out(tmp_path, cli):
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"not yours to overwrite")
    res = cli(["train", "sknet50", "--out", str(out), "--data-dir", str(tmp_path / "nodata")])
    assert isinstance(res.exception, SKMobileError)
    assert "not empty (model.safetensors)" in str(res.exception) and "--resume" in str(res.exception)
    assert (out / "model.safetensors").read_bytes() == b"not yours to overwrite"
    for flag in ("--force", "--resume"):  # past the check: now the (missing) data set is the error
        res = cli(["train", "sknet50", "--out", str(out), "--data-dir", str(tmp_path / "nodata"), flag])
        assert isinstance(res.exception, SKMobileError) and "not empty" not in str(res.exception), flag
    check_train_out(tmp_path / "new", resume=False, force=False)  # a new or empty folder is fine
    (tmp_path / "empty").mkdir()
    check_train_out(tmp_path / "empty", resume=False, force=False)
    with pytest.raises(SKMobileError, match="is a file"):
        check_train_out(out / "model.safetensors", resume=False, force=False)
