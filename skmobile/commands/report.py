"""``skmobile report``: Tables 4, 6 and 7 with proxy accuracy, conclusions, figures and HTML from a study."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import SKMobileError

console = Console()


def report_tables(records, tables, out: Path, command: str) -> None:
    """Write every table's report and print one line each (shared with ``reproduce --train``)."""
    from ..report import write_table_report

    for number in tables:
        with console.status(f"Table {number}: measuring and rendering..."):
            res = write_table_report(number, records, out, command)
        n = sum(1 for r in res["rows"] if (r["measured"] or {}).get("top1_err") is not None)
        verdicts = ", ".join(f"{c['id']}={c['verdict']}" for c in res["conclusions"]) or "no claims"
        console.print(f"Table {number}: {n} rows with proxy accuracy; {verdicts} -> {out / f'table{number}.html'}")


def report_cmd(
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///runs/skmobile.db)"),
    study: str = typer.Option(None, "--study", help="study name (default: every study in the storage)"),
    table: list[int] = typer.Option(None, "--table", help="only these tables (4, 6, 7); repeatable"),
    out: Path = typer.Option(Path("reports"), "--out", help="output directory"),
) -> None:
    """Render reports/tableN.{md,csv,json,html} and figures from the trials of a study."""
    from ..report import DEFAULT_STORAGE, REPORT_TABLES, load_records

    url = storage or DEFAULT_STORAGE
    records = load_records(url, study)  # a missing storage file is a one-line error
    for t in table or []:
        if t not in REPORT_TABLES:
            raise SKMobileError(f"no report for table {t}; allowed: {', '.join(map(str, REPORT_TABLES))}")
    wanted = list(table) if table else sorted({r.table for r in records if r.table in REPORT_TABLES})
    if not wanted:
        raise SKMobileError(f"no grid trials for Tables 4, 6 or 7 in {url}"
                            + (f" (study {study!r})" if study else "")
                            + "; run `skmobile reproduce --table N --train` or `skmobile search --grid tableN`")
    command = "skmobile report" + (f" --storage {storage}" if storage else "") + (f" --study {study}" if study else "") \
        + "".join(f" --table {t}" for t in (table or [])) + f" --out {out}"
    report_tables(records, wanted, out, command)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
