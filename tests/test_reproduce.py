"""`skmobile reproduce`: every paper row within tolerance, files written, stable JSON, CLI errors."""

import json
import subprocess
import sys

import pytest

from skmobile.reproduce import build_rows, reproduce
from skmobile.tables import get_table


@pytest.mark.parametrize("number", [2, 3, 6, 7])
def test_measured_complexity_is_within_tolerance_of_the_paper(number):
    """Issue 2: params within 0.6% and GFLOPs within 0.5% for Tables 2, 3 (bar 'wider'), 6, 7."""
    rows = build_rows(get_table(number))
    measured = [r for r in rows if r["measured"]]
    assert len(measured) == len(rows) - (1 if number == 3 else 0)
    for r in measured:
        assert abs(r["diff"]["params_m_pct"]) < 0.6, r["label"]
        assert abs(r["diff"]["gflops_pct"]) < 0.5, r["label"]


def test_reproduce_writes_md_csv_json_with_the_stable_schema(tmp_path):
    rows, paths = reproduce(7, tmp_path)
    assert sorted(p.name for p in paths) == ["table7.csv", "table7.json", "table7.md"]
    data = json.loads((tmp_path / "table7.json").read_text())
    assert len(data) == 11
    for row in data:
        assert {"label", "model", "paper", "measured"} <= set(row)
        assert {"params_m", "gflops", "top1_err"} <= set(row["paper"])
        assert {"params_m", "gflops", "convention"} <= set(row["measured"])
    md = (tmp_path / "table7.md").read_text()
    assert md.count("\n| K") == 11 and "20.76" in md
    assert (tmp_path / "table7.csv").read_text().count("\n") == 12


def test_cli_reproduce_and_one_line_errors(tmp_path):
    exe = [sys.executable, "-m", "skmobile"]
    ok = subprocess.run(exe + ["reproduce", "--table", "6", "--no-train", "--out", str(tmp_path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "table6.json").exists()
    for args, fragment in ((["reproduce", "--table", "9"], "unknown table 9"),
                           (["profile", "sknet_50"], "unknown model 'sknet_50'"),
                           (["profile", "sknet50", "--convention", "macs"], "unknown convention 'macs'"),
                           (["profile", "sknet50", "--sk", '{"paths": "K3+K5", "groups": 7}'], "G=7")):
        bad = subprocess.run(exe + args, capture_output=True, text=True)
        assert bad.returncode == 2, args
        assert fragment in bad.stderr and "Traceback" not in bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1


def test_cli_profile_json_has_the_stable_keys():
    out = subprocess.run([sys.executable, "-m", "skmobile", "profile", "sknet50", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    data = json.loads(out)
    assert {"model", "params", "macs", "convention"} <= set(data)
    assert data["params"] == 27_479_784 and data["convention"] == "paper"
