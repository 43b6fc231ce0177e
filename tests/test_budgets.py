"""Resolving power per budget: row SDs against the table budget's target, rank agreement between
budgets, the accuracy column from the longest-trained budget, and the unknown-budget error."""

import pytest

from skmobile.report import Record
from skmobile.report.budgets import budget_resolution, budgets_present, report_lines, resolution_lines
from skmobile.tables import get_table


def _records(budget: str, errs: dict[str, list[float]], study: str) -> list[Record]:
    out = []
    for label, vals in errs.items():
        for seed, e in enumerate(vals):
            out.append(Record(study, len(out), label, 6, seed, e, None, "fashion-mnist", budget, 1, None, None,
                              "sknet50", None))
    return out


def test_row_sd_target_and_kendall_between_budgets():
    labels = [r.label for r in get_table(6).rows]
    trial = _records("trial", {lab: [20 + i, 20.6 + i, 21.2 + i] for i, lab in enumerate(labels)}, "grid-table6")
    # the table budget: tight seeds, the reverse ranking of the trial budget's means
    table = _records("table", {lab: [10 - i, 10.1 - i, 10.2 - i] for i, lab in enumerate(labels)}, "grid-table6-table")
    res = budget_resolution(get_table(6), trial + table)
    assert budgets_present(trial + table) == ["table", "trial"]
    assert all(r["meets_target"] is False and r["sd_pp"] == pytest.approx(0.6) for r in res["budgets"]["trial"]["rows"])
    assert all(r["meets_target"] is True and r["sd_pp"] == pytest.approx(0.1) for r in res["budgets"]["table"]["rows"])
    (pair,) = res["between"]
    assert pair["kendall_tau"] == pytest.approx(-1.0) and pair["n"] == len(labels)
    text = "\n".join(resolution_lines(res))
    assert "ABOVE TARGET" in text and "Kendall tau -1.00" in text and "smallest detectable difference" in text
    short = report_lines(res, "table")
    assert short[0].startswith("Seed SD against the table budget's target (<= 0.25 pp): 0 of 5 rows above it")


def test_report_shows_the_longest_trained_budget(tmp_path):
    from skmobile.report import write_table_report

    labels = [r.label for r in get_table(6).rows]
    trial = _records("trial", {lab: [30.0, 31.0] for lab in labels}, "grid-table6")
    table = _records("table", {lab: [9.0 + 0.1 * i, 9.1 + 0.1 * i] for i, lab in enumerate(labels)}, "grid-table6-table")
    res = write_table_report(6, trial + table, tmp_path, "test")
    assert res["protocol"]["budget"] == "table"
    assert all(r["measured"]["top1_err"] < 10 for r in res["rows"])
    md = (tmp_path / "table6.md").read_text()
    assert "Rank agreement between budgets table and trial" in md


def test_unknown_budget_is_one_line_exit_2(capsys):
    from skmobile.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--table", "7", "--train", "--budget", "huge", "--storage", "sqlite:///:memory:"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err == "error: unknown budget 'huge'; allowed: default, trial, table, paper"
