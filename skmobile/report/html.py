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

_CLASS = {"holds": "holds", "does not hold": "fails", "inconclusive": "inconclusive"}


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{escape(path.stem)}" src="data:image/png;base64,{data}">'


def _f(v, nd: int) -> str:
    return "—" if v is None else f"{v:.{nd}f}"


def table_html(rows: list[dict], flops_key: str, flops_label: str) -> str:
    head = ["#", "Row", "Model", "#P (M) paper", "measured", "diff", f"{flops_label} paper", "measured", "diff",
            "paper ImageNet top-1 err (%)", "proxy err (%) mean [95% CI]", "SD", "n"]
    out = ["<table><thead><tr>" + "".join(
        f'<th class="l">{escape(h)}</th>' if h in ("Row", "Model") else f"<th>{escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"]
    for i, r in enumerate(rows, 1):
        m, d, match = r["measured"] or {}, r["diff"] or {}, r["match"] or {}
        cells = [str(i), f'<td class="l">{escape(r["label"])}</td>',
                 f'<td class="l"><code>{escape(r["model"] or "reference only")}</code></td>']
        for key in ("params_m", flops_key):
            pct = d.get(key + "_pct")
            cls = ' class="bad"' if match.get(key) is False else ""
            cells += [_f(r["paper"].get(key), 2), _f(m.get(key), 3),
                      f"<td{cls}>{'—' if pct is None else f'{pct:+.2f}%'}</td>"]
        err = m.get("top1_err")
        std, ci = m.get("top1_err_std"), m.get("top1_err_ci95")
        ci_txt = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else ""
        cells += [_f(r["paper"].get("top1_err"), 2), "—" if err is None else f"{err:.2f}{ci_txt}", _f(std, 2),
                  str(m.get("top1_err_n") or "—")]
        out.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def conclusions_html(conclusions: list[dict], sentence) -> str:
    if not conclusions:
        return "<p>No claims tested.</p>"
    parts = []
    for c in conclusions:
        cls = _CLASS[c["verdict"]]
        items = "".join(f'<li><span class="{_CLASS[x["verdict"]]}">{escape(x["verdict"])}</span>: '
                        f"{escape(sentence(x))} Paper: {_f(x['paper_diff_pp'], 2)} pp.</li>"
                        for x in c["comparisons"])
        parts.append(f'<h3>{escape(c["claim"])}: <span class="{cls}">{escape(c["verdict"])}</span></h3><ul>{items}</ul>')
    parts.append(f'<p class="note">Test: {escape(conclusions[0]["test"])}.</p>')
    return "\n".join(parts)


def page(title: str, intro: list[str], table: str, conclusions: str, figures: list[tuple[Path, str]],
         notes: list[str]) -> str:
    figs = "\n".join(f"<figure>{_img(p)}<figcaption>{escape(cap)}</figcaption></figure>" for p, cap in figures)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
            f"<h1>{escape(title)}</h1>\n" + "\n".join(f"<p>{escape(p)}</p>" for p in intro)
            + f"\n<h2>Table</h2>\n{table}\n<h2>Does the paper's conclusion hold on the proxy?</h2>\n{conclusions}\n"
            f"<h2>Figures</h2>\n{figs}\n"
            + ("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>" if notes else "")
            + "\n</body></html>\n")
