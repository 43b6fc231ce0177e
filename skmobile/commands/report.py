"""``skmobile report``: Tables 4, 6 and 7 with proxy accuracy, conclusions, figures and HTML from a study."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ..errors import SKMobileError
from ._args import LATENCY_CACHE, LATENCY_RUNTIMES, LATENCY_THREADS, check_out_dir
from ._text import counted

console = Console()


def latency_request(latency: bool, runtimes: str | None, threads: int | None, cache: str | None):
    """The latency columns asked for (any --latency-* option implies --latency), checked before any
    work; None when none is asked for."""
    if not (latency or runtimes is not None or threads is not None or cache is not None):
        return None
    from ..report.latency_columns import RUNTIMES, LatencyRequest, parse_runtimes

    return LatencyRequest(parse_runtimes(runtimes) if runtimes is not None else RUNTIMES,
                          1 if threads is None else threads, cache)


def table_latency(number: int, request, command: str):
    """Table ``number``'s rows measured (or read from the latency cache) under ``request``."""
    from ..report.latency_columns import measure_table
    from ..tables import get_table

    with console.status(f"Table {number}: latency...") as status:
        found = measure_table(get_table(number), request, command,
                              progress=lambda text: status.update(f"Table {number} latency, {text}"))
    console.print(f"Table {number} latency: {found.counts['measured']} timed now, {found.counts['cache_hits']} "
                  "from the latency cache", highlight=False, soft_wrap=True)
    return found


def report_tables(records, tables, out: Path, command: str, shown: Path, latency=None) -> list[str]:
    """Write every table's report into ``out`` (a staging folder); return one line each naming the file
    in ``shown``, where the files end up (printed once they are there). Shared with ``reproduce --train``.
    ``latency``: a LatencyRequest for the latency columns (measured through the cache), or None."""
    from ..report import write_table_report

    lines = []
    for number in tables:
        rows_latency = table_latency(number, latency, command) if latency is not None else None
        with console.status(f"Table {number}: measuring and rendering..."):
            res = write_table_report(number, records, out, command, latency=rows_latency)
        n = sum(1 for r in res["rows"] if (r["measured"] or {}).get("top1_err") is not None)
        verdicts = ", ".join(f"{c['id']}={c['verdict']}" for c in res["conclusions"]) or "no claims"
        lines.append(f"Table {number}: {counted(n, 'row')} with proxy accuracy; {verdicts} -> "
                     f"{shown / f'table{number}.html'}")
    return lines


def report_cmd(
    storage: str = typer.Option(None, "--storage", help="Optuna storage URL (default sqlite:///runs/skmobile.db)"),
    study: str = typer.Option(None, "--study", help="study name (default: every study in the storage); a search "
                                                   "study (skmobile search --space) gets a search-study report"),
    table: list[int] = typer.Option(None, "--table", help="only these tables (4, 6, 7); repeatable"),
    out: Path = typer.Option(None, "--out", help="output directory (default: a new folder under runs/: "
                                                 "runs/report-STUDY for a search study, else runs/reports-DATE-TIME)"),
    force: bool = typer.Option(False, "--force", help="replace files in --out even when they record measurements "
                                                      "the new ones would drop"),
    rerender: Path = typer.Option(None, "--rerender", help="re-render the --table reports in this directory from "
                                  "their own tableN.json, into --out (default: the same directory); no study needed"),
    attention: bool = typer.Option(False, "--attention", help="with --rerender: re-render DIR/attention.json (the "
                                   "attention report, from its stored per-model values) instead of the tables"),
    latency: bool = typer.Option(False, "--latency", help="paper tables: add each row's full-size batch-1 CPU "
                                 "latency (measured, or from the latency cache); without it a --rerender keeps "
                                 "the latency the report holds"),
    latency_runtimes: str = LATENCY_RUNTIMES,
    latency_threads: int = LATENCY_THREADS,
    latency_cache: str = LATENCY_CACHE,
) -> None:
    """Render paper-table reports (tableN.{md,csv,json,html}) or a search-study report from a study.

    Without --study: the tables of every grid study, plus a report per search study in OUT/STUDY/."""
    if rerender is None:
        from ..search.storage import vet_storage

        if out is not None:
            check_out_dir(out)  # the defaults are new folders under runs/
        vet_storage(storage, create=False)  # a device, FIFO or missing file: one line, before the heavy imports
    from ..report import DEFAULT_STORAGE, REPORT_TABLES
    from ..report.search_study import is_search_study, open_study

    request = latency_request(latency, latency_runtimes, latency_threads, latency_cache)
    if rerender is not None:
        if attention:
            _rerender_attention(rerender, out or rerender)
        else:
            _rerender(rerender, list(table or REPORT_TABLES), out or rerender, request, force)
        return
    url = storage or DEFAULT_STORAGE
    _check_tables(table or [], REPORT_TABLES)
    searches = _search_studies(url, study, is_search_study, open_study)
    if study and searches:
        _search_report(storage, study, table, request, out, force)
    else:
        _all_reports(url, storage, study, table, request, out, force, searches)


def _search_report(storage, study: str, table, request, out: Path | None, force: bool) -> None:
    """The report of one search study (``--study NAME``)."""
    from ..outputs import staged
    from ..report.search_study import write_study_report

    if table:
        raise SKMobileError(f"--table applies to paper-grid studies; {study!r} is a search study (drop --table)")
    if request is not None:
        raise SKMobileError(f"--latency applies to paper-table reports; search study {study!r} shows the latency "
                            "its trials recorded (skmobile search --latency measure|predict)")
    out = out or Path("runs") / f"report-{_safe(study)}"
    with staged(out, force) as stage:
        res = write_study_report(storage, study, stage, _command(storage, study, table, out))
    _print_study(res, out / res["html"].name)


def _all_reports(url, storage, study, table, request, out: Path | None, force: bool, searches: list[str]) -> None:
    """The paper-table reports of the grid studies, and a report per search study (``OUT/NAME/``)."""
    from ..outputs import fresh_dir, staged
    from ..report import REPORT_TABLES, load_records
    from ..report.search_study import write_study_report

    records = [r for r in load_records(url, study) if r.study not in searches]
    wanted = list(table) if table else sorted({r.table for r in records if r.table in REPORT_TABLES})
    if not wanted and not searches:
        raise SKMobileError(f"no grid trials for Tables 4, 6 or 7 and no search study in {url}"
                            + (f" (study {study!r})" if study else "")
                            + "; run `skmobile search`, `skmobile reproduce --table N --train` or "
                              "`skmobile search --grid tableN`")
    out = out or fresh_dir("reports")
    lines, done = [], []
    with staged(out, force) as stage:
        if wanted:
            lines = report_tables(records, wanted, stage,
                                  _command(storage, study, table, out) + (request.flags() if request else ""),
                                  shown=out, latency=request)
        for name in ([] if table else searches):
            try:
                res = write_study_report(storage, name, stage / _safe(name),
                                         _command(storage, name, None, out / _safe(name)))
            except SKMobileError as exc:  # a search study without complete trials: say so, go on
                lines.append(f"study {name}: no report ({exc})")
                continue
            done.append(res)
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    for res in done:
        _print_study(res, out / res["html"].parent.name / res["html"].name)


def _safe(name: str) -> str:
    from ..report.search_study import stem_for

    return stem_for(name)


def _command(storage, study, table, out) -> str:
    return ("skmobile report" + (f" --storage {storage}" if storage else "") + (f" --study {study}" if study else "")
            + "".join(f" --table {t}" for t in (table or [])) + f" --out {out}")


def _search_studies(url: str, study: str | None, is_search_study, open_study) -> list[str]:
    """The search studies (``skmobile search --space``) among ``study`` or every study in ``url``."""
    import warnings

    import optuna

    from ..search.storage import open_storage, study_names

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    names = [study] if study else study_names(open_storage(url, create=False))  # missing file: one line
    return [n for n in names if is_search_study(open_study(url, n))]


def _print_study(res: dict, html: Path) -> None:
    d = res["data"]
    front = sum(1 for c in d["configs"] if c.get("front_mflops"))
    paper = sum(1 for c in d["configs"] if c["paper_rows"])
    console.print(f"study {d['study']}: {counted(d['complete'], 'complete trial')}, "
                  f"{counted(d['configurations'], 'configuration')}, {front} on the error/MFLOPs front, "
                  f"{counted(paper, 'paper row')} -> {html}", highlight=False, soft_wrap=True)


def _check_tables(tables: list[int], allowed) -> None:
    for t in tables:
        if t not in allowed:
            raise SKMobileError(f"no report for table {t}; allowed: {', '.join(map(str, allowed))}")


def _rerender_attention(src: Path, out: Path) -> None:
    from ..report.attention import rerender

    rerender(src, out, f"skmobile report --rerender {src} --attention --out {out}")
    console.print(f"attention: re-rendered from {src / 'attention.json'} -> {out / 'attention.md'}")


def _rerender(src: Path, tables: list[int], out: Path, request=None, force: bool = False) -> None:
    from ..report import REPORT_TABLES, write_table_report
    from ..report.rerender import latency_from_report, records_from_report

    _check_tables(tables, REPORT_TABLES)
    check_out_dir(out)
    for number in tables:  # before any timing: measured latencies are not replaced by surprise
        if request is not None and not force and (out / f"table{number}.json").is_file() \
                and latency_from_report(out, number) is not None:
            raise SKMobileError(f"{out / f'table{number}.json'} holds latencies measured on its own machine and load; "
                                "--latency would replace them with ones measured here and now: pass --force, or "
                                "write elsewhere with --out DIR")
    for number in tables:
        records, metadata, command = records_from_report(src, number)
        rendered_by = (f"skmobile report --rerender {src} --table {number}" + (request.flags() if request else "")
                       + f" --out {out}")
        latency = (table_latency(number, request, rendered_by) if request is not None
                   else latency_from_report(src, number))
        with console.status(f"Table {number}: re-rendering..."):
            res = write_table_report(number, records, out, command, metadata=metadata, rendered_by=rendered_by,
                                     latency=latency)
        files = ", ".join(p.name for p in res["paths"])
        console.print(f"Table {number}: re-rendered from {src / f'table{number}.json'} -> {len(res['paths'])} files "
                      f"in {out}: {files}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
