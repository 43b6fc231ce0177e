"""Report figures (matplotlib, Agg backend): paper and proxy error vs MFLOPs in separate panels (with
the proxy's Pareto front), paper vs measured complexity, and per-seed spread; error bars are 95% CIs. Each figure is saved as PNG and SVG, without dates in the files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, explicit
import matplotlib.pyplot as plt  # noqa: E402

from .pareto import pareto_front  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "skmobile", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.dpi": 110})

_LABEL = {"gflops": "GFLOPs (multiply-adds)", "mflops": "MFLOPs (multiply-adds)"}
_MEASURED, _PAPER, _SEARCH, _FRONT = "#1f6fb4", "#d1495b", "#9aa5b1", "#2a9d8f"


def _to_mflops(value: float | None, key: str) -> float | None:
    if value is None:
        return None
    return value * 1000 if key == "gflops" else value


def save(fig, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``stem``.png and .svg (no timestamps) and close the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"png": out_dir / f"{stem}.png", "svg": out_dir / f"{stem}.svg"}
    fig.savefig(paths["png"], format="png", metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(paths["svg"], format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return paths


def ci_bar(m: dict) -> list[list[float]]:
    """Asymmetric error bar [[below], [above]] of a row's 95% CI of the mean (zero when not computed)."""
    ci = m.get("top1_err_ci95")
    if not ci or m.get("top1_err") is None:
        return [[0.0], [0.0]]
    return [[m["top1_err"] - ci[0]], [ci[1] - m["top1_err"]]]


#: Label offsets (points) tried in order until a label overlaps no placed label or marker.
_OFFSETS = [(5, 4), (5, -11), (-12, 4), (-12, -11), (5, 15), (-12, 15), (5, -22), (-12, -22), (16, -4),
            (-23, -4), (5, 26), (-12, 26), (5, -33), (-12, -33), (27, 4), (-34, 4)]


#: labels are drawn above error bars and lines, on a white pad, so a bar crossing one does not hide it
_LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}


def place_labels(ax, points: list[tuple[float, float, str]], color: str) -> list:
    """Annotate each (x, y, text) at the first offset whose box overlaps no earlier label or marker."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    markers = [to_px((x, y)) for x, y, _ in points]
    taken = [(mx - 4, my - 4, mx + 4, my + 4) for mx, my in markers]
    made = []
    for (x, y, text), (mx, my) in zip(points, markers):
        chosen = None
        for dx, dy in _OFFSETS:
            ann = ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, color=color,
                              zorder=5, bbox=_LABEL_BOX)
            box = ann.get_window_extent(renderer)
            rect = (box.x0, box.y0, box.x1, box.y1)
            if not any(rect[0] < t[2] and t[0] < rect[2] and rect[1] < t[3] and t[1] < rect[3] for t in taken):
                chosen = ann
                taken.append(rect)
                break
            ann.remove()
        if chosen is None:  # crowded: the last offset, with a leader line
            chosen = ax.annotate(text, (x, y), textcoords="offset points", xytext=_OFFSETS[-1], fontsize=7,
                                 color=color, zorder=5, bbox=_LABEL_BOX,
                                 arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5})
        made.append(chosen)
    return made


def error_vs_flops(number: int, rows: list[dict], flops_key: str, search_points: list[tuple[float, float]],
                   protocol: dict):
    """Two panels on one MFLOPs axis each: the paper's ImageNet error at the paper's FLOPs (left) and
    the proxy's test error (mean, 95% CI over seeds) at the measured full-size FLOPs (right), with the
    search trials in range and their Pareto front (drawn only with two or more points on it)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 4.4))
    paper = [(_to_mflops(r["paper"].get(flops_key), flops_key), r["paper"].get("top1_err"), str(i))
             for i, r in enumerate(rows, 1)]
    paper = [p for p in paper if p[0] is not None and p[1] is not None]
    if paper:
        left.scatter([p[0] for p in paper], [p[1] for p in paper], marker="s", facecolors="none",
                     edgecolors=_PAPER, s=30, label="paper (ImageNet top-1 error)")
        left.legend(fontsize=7, frameon=False, loc="best")
    left.set_xlabel("paper MFLOPs (multiply-adds, full-size model)")
    left.set_ylabel("ImageNet top-1 error (%) — paper")
    left.set_title("paper", fontsize=9)

    grid = []
    for i, r in enumerate(rows, 1):
        m = r["measured"] or {}
        x, y = _to_mflops(m.get(flops_key), flops_key), m.get("top1_err")
        if x is None or y is None:
            continue
        grid.append((x, y, str(i)))
        right.errorbar([x], [y], yerr=ci_bar(m), fmt="o", color=_MEASURED, ms=5, capsize=3,
                       label="table rows (mean, 95% CI over seeds)" if len(grid) == 1 else None, zorder=3)
    if search_points:
        right.scatter(*zip(*search_points), s=12, color=_SEARCH, label="search trials", zorder=1)
    front = pareto_front(search_points + [(x, y) for x, y, _ in grid])
    if len(front) >= 2:
        right.step(*zip(*front), where="post", color=_FRONT, lw=1.5, label="Pareto front (proxy)", zorder=2)
    right.set_xlabel("measured MFLOPs (multiply-adds, full-size model)")
    right.set_ylabel(f"proxy test error (%) — {protocol.get('dataset')}, budget {protocol.get('budget')}")
    right.set_title("proxy", fontsize=9)
    right.legend(fontsize=7, frameon=False, loc="best")
    fig.suptitle(f"Table {number}: error vs complexity (numbers = rows of the table; separate y scales)")
    fig.tight_layout()
    place_labels(left, paper, _PAPER)  # after the layout: labels are placed in final pixel positions
    place_labels(right, grid, _MEASURED)
    return fig


def error_vs_latency(number: int, rows: list[dict], flops_key: str, protocol: dict):
    """The proxy's test error (mean, 95% CI over seeds) against each cost of the full-size model, one
    panel per cost on one shared y scale: measured MFLOPs, then the batch-1 CPU latency of each runtime
    (median, p10-p90 bars). Each panel draws its Pareto front over the rows (two or more points)."""
    from .latency_columns import runtimes_in

    runtimes = runtimes_in(rows)
    costs = [("MFLOPs", "measured MFLOPs (multiply-adds, full-size model)")] + \
            [(rt, f"batch-1 CPU latency, {rt} (ms, median)") for rt in runtimes]
    fig, axes = plt.subplots(1, len(costs), figsize=(4.0 * len(costs) + 0.6, 4.4), sharey=True, squeeze=False)
    labelled = []
    for ax, (cost, xlabel) in zip(axes[0], costs):
        pts = []
        for i, r in enumerate(rows, 1):
            m = r["measured"] or {}
            y = m.get("top1_err")
            if y is None:
                continue
            if cost == "MFLOPs":
                x, xerr = _to_mflops(m.get(flops_key), flops_key), None
            else:
                e = (m.get("latency") or {}).get(cost) or {}
                x = e.get("ms")
                xerr = ([[x - e["p10_ms"]], [e["p90_ms"] - x]] if x is not None and e.get("p10_ms") is not None
                        and e.get("p90_ms") is not None else None)
            if x is None:
                continue
            pts.append((x, y, str(i)))
            ax.errorbar([x], [y], yerr=ci_bar(m), xerr=xerr, fmt="o", color=_MEASURED, ms=5, capsize=3, zorder=3,
                        label="table rows" if len(pts) == 1 else None)
        front = pareto_front([(x, y) for x, y, _ in pts])
        if len(front) >= 2:
            ax.step(*zip(*front), where="post", color=_FRONT, lw=1.5, label="Pareto front (rows)", zorder=2)
        ax.set_xlabel(xlabel)
        ax.set_title(cost if cost == "MFLOPs" else f"latency, {cost}", fontsize=9)
        if pts:
            ax.legend(fontsize=7, frameon=False, loc="best")
        labelled.append((ax, pts))
    axes[0][0].set_ylabel(f"proxy test error (%) — {protocol.get('dataset')}, budget {protocol.get('budget')}")
    fig.suptitle(f"Table {number}: proxy error vs FLOPs and vs measured latency (numbers = rows of the table)")
    fig.tight_layout()
    for ax, pts in labelled:
        place_labels(ax, pts, _MEASURED)
    return fig


def complexity(number: int, rows: list[dict], flops_key: str):
    """Paper vs measured #P and FLOPs, one panel each, with the identity line."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6))
    labelled = []
    for ax, key, unit in ((axes[0], "params_m", "#P (M)"), (axes[1], flops_key, _LABEL[flops_key])):
        pts = [(r["paper"].get(key), (r["measured"] or {}).get(key), i) for i, r in enumerate(rows, 1)]
        pts = [p for p in pts if p[0] is not None and p[1] is not None]
        if not pts:
            ax.set_visible(False)
            continue
        lo = min(min(p[0], p[1]) for p in pts)
        hi = max(max(p[0], p[1]) for p in pts)
        pad = (hi - lo) * 0.08 or hi * 0.02
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="#bbb", lw=1, label="measured = paper")
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], color=_MEASURED, s=18, zorder=3)
        labelled.append((ax, pts))
        ax.set_xlabel(f"paper {unit}")
        ax.set_ylabel(f"measured {unit}")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"Table {number}: paper vs measured complexity (full-size model)")
    fig.tight_layout()
    for ax, pts in labelled:
        place_labels(ax, [(x, y, str(i)) for x, y, i in pts], "#333")
    return fig


def seed_spread(number: int, rows: list[dict], protocol: dict):
    """Per-seed proxy errors per row, with the mean and its 95% CI."""
    shown = [(i, r) for i, r in enumerate(rows, 1) if (r["measured"] or {}).get("top1_err_seeds")]
    fig, ax = plt.subplots(figsize=(7.2, 0.42 * max(len(shown), 2) + 1.2))
    for y, (i, r) in enumerate(shown):
        m = r["measured"]
        vals = [s["top1_err"] for s in m["top1_err_seeds"]]
        ax.scatter(vals, [y] * len(vals), color=_SEARCH, s=16, zorder=2,
                   label="one seed" if y == 0 else None)
        ax.errorbar([m["top1_err"]], [y], xerr=ci_bar(m), fmt="D", color=_MEASURED,
                    ms=5, capsize=3, zorder=3, label="mean, 95% CI" if y == 0 else None)
    ax.set_yticks(range(len(shown)), [f"{i}. {r['label']}" for i, r in shown], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(f"proxy test error (%) — {protocol.get('dataset')}, budget {protocol.get('budget')}")
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.set_title(f"Table {number}: spread over seeds")
    fig.tight_layout()
    return fig
