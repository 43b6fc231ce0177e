"""Report figures (matplotlib, Agg backend): error vs MFLOPs with a Pareto front, paper vs measured
complexity, and per-seed spread. Each figure is saved as PNG and SVG, without dates in the files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless, explicit
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "skmobile", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.dpi": 110})

_MEASURED, _PAPER, _SEARCH, _FRONT = "#1f6fb4", "#d1495b", "#9aa5b1", "#2a9d8f"


def _to_mflops(value: float | None, key: str) -> float | None:
    if value is None:
        return None
    return value * 1000 if key == "gflops" else value


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated points (both coordinates minimised), sorted by the first."""
    front, best = [], float("inf")
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front


def save(fig, out_dir: Path, stem: str) -> dict[str, Path]:
    """Write ``stem``.png and .svg (no timestamps) and close the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"png": out_dir / f"{stem}.png", "svg": out_dir / f"{stem}.svg"}
    fig.savefig(paths["png"], format="png", metadata={"Software": None}, bbox_inches="tight")
    fig.savefig(paths["svg"], format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    return paths


def ci_bar(m: dict) -> list[list[float]]:
    """Asymmetric error bar [[below], [above]] of a row's 95% CI of the mean (zero when not computable)."""
    ci = m.get("top1_err_ci95")
    if not ci:
        return [[0.0], [0.0]]
    return [[m["top1_err"] - ci[0]], [ci[1] - m["top1_err"]]]


def error_vs_flops(number: int, rows: list[dict], flops_key: str, search_points: list[tuple[float, float]],
                   protocol: dict):
    """Proxy error vs full-size MFLOPs: search trials, their Pareto front, table rows; paper on a twin axis."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    grid = []
    for i, r in enumerate(rows, 1):
        m = r["measured"] or {}
        x, y = _to_mflops(m.get(flops_key), flops_key), m.get("top1_err")
        if x is None or y is None:
            continue
        grid.append((x, y))
        ax.errorbar([x], [y], yerr=ci_bar(m), fmt="o", color=_MEASURED, ms=5, capsize=3,
                    label="table rows (proxy, mean, 95% CI)" if len(grid) == 1 else None, zorder=3)
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, color=_MEASURED)
    if search_points:
        ax.scatter(*zip(*search_points), s=12, color=_SEARCH, label="search trials", zorder=1)
    front = pareto_front(search_points + grid)
    if front:
        ax.step(*zip(*front), where="post", color=_FRONT, lw=1.5, label="Pareto front (proxy)", zorder=2)
    ax.set_xlabel(f"full-size model MFLOPs (multiply-adds, {flops_key} measured)")
    ax.set_ylabel(f"proxy test error (%) — {protocol.get('dataset')}, budget {protocol.get('budget')}")
    twin = ax.twinx()
    twin.spines["right"].set_visible(True)
    paper = [(_to_mflops(r["paper"].get(flops_key), flops_key), r["paper"].get("top1_err"), i)
             for i, r in enumerate(rows, 1)]
    paper = [p for p in paper if p[0] is not None and p[1] is not None]
    if paper:
        twin.scatter([p[0] for p in paper], [p[1] for p in paper], marker="s", facecolors="none",
                     edgecolors=_PAPER, s=30, label="paper (ImageNet top-1 err)")
        for x, y, i in paper:
            twin.annotate(str(i), (x, y), textcoords="offset points", xytext=(-9, -9), fontsize=7, color=_PAPER)
    twin.set_ylabel("paper ImageNet top-1 error (%)", color=_PAPER)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="best", frameon=False)
    ax.set_title(f"Table {number}: error vs complexity (numbers = row order in the table)")
    return fig


def complexity(number: int, rows: list[dict], flops_key: str):
    """Paper vs measured #P and FLOPs, one panel each, with the identity line."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 3.6))
    for ax, key, unit in ((axes[0], "params_m", "#P (M)"), (axes[1], flops_key, flops_key.replace("gflops", "GFLOPs").replace("mflops", "MFLOPs"))):
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
        for x, y, i in pts:
            ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(4, -9), fontsize=7)
        ax.set_xlabel(f"paper {unit}")
        ax.set_ylabel(f"measured {unit}")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle(f"Table {number}: paper vs measured complexity (full-size model)")
    fig.tight_layout()
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
