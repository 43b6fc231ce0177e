"""The HTML reports render in a real headless browser (Chromium), with every figure decoded.

A probe script is appended to a copy of the page; after the load event it writes what the browser
actually laid out (each <img>'s decoded size, the first table's rows, the number of tables) into the DOM, which --dump-dom prints.
Skipped, with the reason, where no Chromium is installed (.ci/run installs Debian's `chromium`).
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from skmobile.tables import get_table

REPORTS = Path(__file__).resolve().parent.parent / "reports"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=10000", "--dump-dom"]
PROBE = ("<script>window.addEventListener('load',()=>{const p=document.createElement('pre');p.id='probe';"
         "p.textContent=JSON.stringify({imgs:[...document.images].map(i=>[i.complete,i.naturalWidth,i.naturalHeight]),"
         "rows:document.querySelector('tbody').rows.length,tables:document.querySelectorAll('table').length,"
         "verdicts:document.querySelectorAll('h3 span').length});document.body.appendChild(p);});</script>")

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed (apt-get install chromium)")


def render(html_path: Path, tmp_path: Path) -> dict:
    """Load a copy of ``html_path`` with the probe in Chromium; return what the probe saw."""
    page = tmp_path / html_path.name
    page.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    res = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, f"the page did not finish loading: rc={res.returncode} {res.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.parametrize("number", [4, 6, 7])
def test_committed_report_renders_with_every_figure(number, tmp_path):
    page = REPORTS / f"table{number}.html"
    assert page.exists(), f"{page} missing: run skmobile reproduce --table {number} --train"
    seen = render(page, tmp_path)
    figures = (REPORTS / f"table{number}.md").read_text().count("![")  # 3, or 4 with the latency figure
    assert figures >= 3 and len(seen["imgs"]) == figures, seen
    for complete, width, height in seen["imgs"]:
        assert complete and width > 200 and height > 200, seen
    assert seen["rows"] >= len([r for r in get_table(number).rows if r.model])
    assert seen["verdicts"] >= 1


def test_fresh_report_renders(tmp_path):
    """A page rendered now from a study (not only the committed ones) loads with its figures."""
    from test_search_support import add_result

    url = f"sqlite:///{tmp_path}/runs.db"
    for i, row in enumerate(get_table(7).rows):
        for seed in range(2):
            err = 0.1 + 0.01 * i + 0.002 * seed
            add_result(url, "grid", {"grid": "table7", "row": row.label, "label": "sknet50[x]", "seed": seed,
                                     "test_error": err, "test_accuracy": 1 - err, "dataset": "fashion-mnist",
                                     "budget": "trial", "epochs": 1}, err)
    from typer.testing import CliRunner

    from skmobile.cli import _load_commands, app

    _load_commands()
    out = tmp_path / "r"
    res = CliRunner().invoke(app, ["report", "--storage", url, "--out", str(out)])
    assert res.exit_code == 0, res.output
    seen = render(out / "table7.html", tmp_path)
    assert len(seen["imgs"]) == 3 and all(c and w > 200 for c, w, _ in seen["imgs"]), seen
    assert seen["rows"] == len(get_table(7).rows)
    assert seen["tables"] == 2, seen  # the table and what the table budget trains per row (Table 7 has no base rows)


TEXT_PROBE = ("<script>window.addEventListener('load',()=>{const p=document.createElement('pre');p.id='probe';"
              "p.textContent=JSON.stringify({rows:[...document.querySelectorAll('tr')].map(r=>[...r.cells].map("
              "c=>c.innerText.trim())),text:document.body.innerText});document.body.appendChild(p);});</script>")


def _plain(md: str) -> str:
    """Markdown inline text as a browser shows it: no backticks, bold or italic marks; spaces collapsed."""
    md = re.sub(r"\*\*(.+?)\*\*", r"\1", md)
    md = re.sub(r"(?<![*\w])\*(?!\s)(.+?)\*", r"\1", md)
    return " ".join(md.replace("`", "").split())


def md_parts(md: str) -> tuple[list[list[str]], list[str]]:
    """(every table row's cells, every bullet and paragraph) of a report's markdown."""
    rows, texts = [], []
    for line in md.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([_plain(c) for c in line.strip().strip("|").split(" | ")])
        elif line.startswith(("- ", "  - ")):
            texts.append(_plain(line.strip()[2:]))
        elif line.startswith(("Conventions:", "Test:", "Rank agreement", "Resolving power", "Seed SD", "Latency:",
                              "A pair of rows")):
            texts.append(_plain(line))
    return rows, texts


def laid_out(html_text: str, tmp_path: Path) -> tuple[list[list[str]], str]:
    """The table rows (cells, whitespace folded) and the whole text of a page as Chromium lays it out."""
    import html as html_lib

    page = tmp_path / "probed.html"
    page.write_text(html_text.replace("</body>", TEXT_PROBE + "</body>"))
    res = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stderr[-500:]
    seen = json.loads(html_lib.unescape(found.group(1)))
    return [[" ".join(c.split()) for c in r] for r in seen["rows"]], " ".join(seen["text"].split())


@pytest.mark.parametrize("number", [4, 6, 7])
def test_committed_html_carries_everything_the_markdown_has(number, tmp_path):
    """Every md table row (header included, cell by cell), conclusion, caveat, note, metadata line
    and the conventions paragraph appear in the page Chromium lays out."""
    html_rows, text = laid_out((REPORTS / f"table{number}.html").read_text(), tmp_path)
    md_rows, md_texts = md_parts((REPORTS / f"table{number}.md").read_text())
    assert md_rows and md_texts
    for row in md_rows:
        assert row in html_rows, f"md row missing from the HTML: {row}"
    for t in md_texts:
        assert t in text, f"md text missing from the HTML: {t}"
    assert "Caveats" in text and "Run metadata" in text
