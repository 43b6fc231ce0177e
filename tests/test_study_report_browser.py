"""A search-study report renders in headless Chromium with its Pareto figures, importances and
paper-row markers (skipped where no Chromium is installed; .ci/run installs Debian's `chromium`)."""

import json
import re
import subprocess

import pytest
from test_report_browser import BROWSER, FLAGS
from test_study_report import _made_study
from typer.testing import CliRunner

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed (apt-get install chromium)")

PROBE = ("<script>window.addEventListener('load',()=>{const p=document.createElement('pre');p.id='probe';"
         "const imgs=s=>[...document.querySelectorAll(s)].map(i=>[i.complete,i.naturalWidth,i.naturalHeight]);"
         "p.textContent=JSON.stringify({pareto:imgs('figure.pareto img'),importances:imgs('#importances-figure img'),"
         "factors:imgs('#factors-figure img'),"
         "importanceRows:[...document.querySelectorAll('#importances tbody tr')].map(r=>r.innerText),"
         "paperCells:[...document.querySelectorAll('#best td.paper-row')].map(c=>[c.innerText,"
         "c.closest('tr').querySelector('code').innerText]),"
         "paperTable:document.querySelectorAll('#paper-rows tbody tr').length});"
         "document.body.appendChild(p);});</script>")


def _render(page, tmp_path) -> dict:
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    res = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", probe.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, f"the page did not finish loading: rc={res.returncode} {res.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_study_report_renders_fronts_importances_and_paper_rows(tmp_path):
    from skmobile.cli import _load_commands, app

    _load_commands()
    url = _made_study(tmp_path, latency=True)
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["report", "--storage", url, "--study", "ablation", "--out", str(out)])
    assert res.exit_code == 0, res.output
    seen = _render(out / "ablation.html", tmp_path)
    assert len(seen["pareto"]) == 3, seen  # MFLOPs, params, latency
    for complete, width, height in seen["pareto"] + seen["importances"] + seen["factors"]:
        assert complete and width > 300 and height > 200, seen
    assert len(seen["importances"]) == 1 and len(seen["factors"]) == 1
    factors = set(json.loads((out / "ablation.json").read_text())["factors"])
    assert len(seen["importanceRows"]) >= 2
    for row in seen["importanceRows"]:
        objective, factor, share = row.split("\t")
        assert objective in ("error", "mflops") and factor in factors and 0 <= float(share) <= 1
    marked = {code: text for text, code in seen["paperCells"]}
    assert set(marked) == {"sknet50[K3+K5 SK G=32]", "sknet50[K3+K5+K7 sum G=32]"}
    from skmobile.tables import get_table

    paper = {r.label: r.paper["top1_err"] for r in get_table(7).rows}
    assert f"Table 7 “K3+K5 with SK”: {paper['K3+K5 with SK']:.2f} %" in marked["sknet50[K3+K5 SK G=32]"]
    assert f"Table 7 “K3+K5+K7 (sum)”: {paper['K3+K5+K7 (sum)']:.2f} %" in marked["sknet50[K3+K5+K7 sum G=32]"]
    assert seen["paperTable"] == 16
