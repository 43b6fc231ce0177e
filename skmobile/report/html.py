"""One self-contained HTML page per table: the table, the conclusions and the figures (base64 PNG)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f5f7}td.l,th.l{text-align:left}tr:nth-child(even){background:#fafbfc}
.bad{color:#b3261e;font-weight:600}.holds{color:#1b7f3b;font-weight:600}.fails{color:#b3261e;font-weight:600}
.inconclusive{color:#8a6d00;font-weight:600}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{font-size:.85em;color:#555}code{background:#f3f5f7;padding:0 3px}
"""

_CLASS = {"holds": "holds", "does not hold": "fails", "inconclusive": "inconclusive",
          "not testable on this proxy": "inconclusive", "secondary (not in the verdict)": "inconclusive"}


def _details(x: dict) -> str:
    from .sentences import detail_sentences

    lines = detail_sentences(x)
    return "<ul>" + "".join(f"<li>{escape(d)}</li>" for d in lines) + "</ul>" if lines else ""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


def _f(v, nd: int) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def _cell(c) -> str:
    cls = ' class="l"' if c.style == "code" or c.style == "left" else ""
    if c.style == "bad":
        return f'<td class="bad">{escape(c.text)}</td>'
    text = f"<code>{escape(c.text)}</code>" if c.style == "code" else escape(c.text)
    return f"<td{cls}>{text}</td>"


def cells_html(head: list[str], body: list[list], left: tuple[int, ...] = (0, 1)) -> str:
    """A table from a header and rows of :class:`skmobile.report.paper_table.Cell` (or plain strings)."""
    from .paper_table import Cell

    out = ["<table><thead><tr>" + "".join(
        f'<th class="l">{escape(h)}</th>' if i in left else f"<th>{escape(h)}</th>" for i, h in enumerate(head))
        + "</tr></thead><tbody>"]
    for cells in body:
        cells = [c if isinstance(c, Cell) else Cell(str(c)) for c in cells]
        out.append("<tr>" + "".join(_cell(Cell(c.text, c.style or ("left" if i in left else None)))
                                    for i, c in enumerate(cells)) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def table_html(table, rows: list[dict]) -> str:
    """The report's table, its "Cost over the base row" table and the table budget's proxies: the same
    cells as the markdown."""
    from .paper_table import delta_cells, table_cells

    head, body = table_cells(table, rows)
    html = cells_html(head, body, left=(0, 1, len(head) - 2, len(head) - 1))
    dhead, dbody = delta_cells(table, rows)
    if dbody:
        html += "\n<h2>Cost over the base row (paper vs measured)</h2>\n" + cells_html(dhead, dbody)
    from . import table_proxy

    intro, phead, pbody = table_proxy.cells(table, rows)
    if pbody:
        html += (f"\n<h2>{escape(table_proxy.TITLE)}</h2>\n<p>{_md_inline(intro)}</p>\n"
                 + cells_html(phead, pbody, left=(0, 1, 4)))
    return html


def conclusions_html(conclusions: list[dict], sentence) -> str:
    if not conclusions:
        return "<p>No claims tested.</p>"
    parts = []
    for c in conclusions:
        cls = _CLASS[c["verdict"]]
        items = "".join(f'<li><span class="{_CLASS[x["verdict"]]}">{escape(x["verdict"])}</span>: '
                        f"{escape(sentence(x))}{_details(x)}</li>" for x in c["comparisons"])
        parts.append(f'<h3>{escape(c["claim"])}: <span class="{cls}">{escape(c["verdict"])}</span></h3><ul>{items}</ul>')
    parts.append(f'<p class="note">Test: {escape(conclusions[0]["test"])}.</p>')
    return "\n".join(parts)


def _md_inline(text: str) -> str:
    """Escape ``text`` and turn markdown's **bold**, *italic* and `code` into HTML."""
    import re

    out = escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![*\w])\*(?!\s)(.+?)\*", r"<em>\1</em>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def page(title: str, intro: list[str], table: str, conclusions: str, figures: list[tuple[Path, str]],
         notes: list[str], caveats: list[str] = (), conventions: str = "", metadata: list[str] = (),
         flops_latency: list[str] = ()) -> str:
    """The whole page: everything the markdown report holds, in the same order. ``flops_latency``:
    [the rule, findings...] of the "FLOPs vs latency" section (none without latency columns)."""
    figs = "\n".join(f"<figure>{_img(p)}<figcaption>{escape(cap)}</figcaption></figure>" for p, cap in figures)

    def section(name: str, items) -> str:
        return f"<h2>{name}</h2><ul>" + "".join(f"<li>{_md_inline(n)}</li>" for n in items) + "</ul>\n" if items else ""

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{escape(title)}</h1>\n" + "\n".join(f"<p>{_md_inline(p)}</p>" for p in intro)
            + f"\n<h2>Table</h2>\n{table}\n"
            + (f'<h2>FLOPs vs latency</h2>\n<p>{_md_inline(flops_latency[0])}</p><ul id="flops-vs-latency">'
               + "".join(f"<li>{_md_inline(x)}</li>" for x in flops_latency[1:]) + "</ul>\n" if flops_latency else "")
            + f"<h2>Does the paper's conclusion hold on the proxy?</h2>\n{conclusions}\n"
            f"<h2>Figures</h2>\n{figs}\n" + section("Caveats", caveats) + section("Notes", notes)
            + (f'<p class="note">{_md_inline(conventions)}</p>\n' if conventions else "")
            + (section("Run metadata", metadata))
            + "\n</body></html>\n")
