"""Figures of a search-study report: error vs each cost (every trial, the Pareto front, paper rows),
factor importances, and mean error per factor level."""

from __future__ import annotations

from .figures import plt  # plt: matplotlib on the Agg backend, the reports' style
from .pareto import pareto_front

_TRIAL, _FRONT, _PAPER, _REUSED = "#9aa5b1", "#2a9d8f", "#d1495b", "#6c757d"
COST_LABELS = {"mflops": "full-size MFLOPs (multiply-adds, 224 px)", "params_m": "full-size parameters (M)"}


def cost_label(cost: str) -> str:
    return COST_LABELS.get(cost, f"{cost.replace('_', ' ')} (trial attribute)")


def error_vs_cost(trials: list[dict], configs: list[dict], cost: str, error_name: str, title: str):
    """Every complete trial (error vs ``cost``), the front over configuration means, paper rows starred."""
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    fresh = [(t[cost], t["error"]) for t in trials if t.get(cost) is not None and t.get("reused_from") is None]
    reused = [(t[cost], t["error"]) for t in trials if t.get(cost) is not None and t.get("reused_from") is not None]
    if fresh:
        ax.scatter(*zip(*fresh), s=14, color=_TRIAL, label=f"trials ({len(fresh)})", zorder=1)
    if reused:
        ax.scatter(*zip(*reused), s=30, facecolors="none", edgecolors=_REUSED,
                   label=f"reused results ({len(reused)})", zorder=1)
    means = [(c[cost], c["error_mean"]) for c in configs if c.get(cost) is not None]
    front = pareto_front(means)
    if front:
        ax.step(*zip(*front), where="post", color=_FRONT, lw=1.5, zorder=2,
                label=f"Pareto front of configuration means ({len(front)})")
        ax.scatter(*zip(*front), s=26, color=_FRONT, zorder=3)
    paper = [c for c in configs if c["paper_rows"] and c.get(cost) is not None]
    for i, c in enumerate(paper):
        ax.scatter([c[cost]], [c["error_mean"]], marker="*", s=140, color=_PAPER, zorder=4,
                   label="paper row (Tables 4/6/7)" if i == 0 else None)
        ax.annotate(c["paper_tag"], (c[cost], c["error_mean"]), textcoords="offset points", xytext=(6, 5),
                    fontsize=7, color=_PAPER)
    ax.set_xlabel(cost_label(cost))
    ax.set_ylabel(error_name)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def importance_bars(result: dict, title: str):
    """One horizontal bar panel per objective with importances."""
    shown = [(obj, r["importances"]) for obj, r in result.items() if r.get("importances")]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.8 * len(shown) + 0.6, 0.35 * max(
        len(imp) for _, imp in shown) + 1.4), squeeze=False)
    for ax, (obj, imp) in zip(axes[0], shown):
        names = list(imp)[::-1]
        ax.barh(names, [imp[n] for n in names], color=_FRONT)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"fANOVA importance for {obj}")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def factor_effects(effects: dict[str, list[dict]], error_name: str, title: str):
    """Mean error (bars) and min error (dots) per level, one small panel per factor."""
    names = list(effects)
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        levels = effects[name]
        labels = [str(r["level"]) for r in levels]
        ax.bar(labels, [r["mean_error"] for r in levels], color=_TRIAL, label="mean")
        ax.scatter(labels, [r["min_error"] for r in levels], color=_FRONT, s=14, zorder=3, label="best")
        ax.set_title(name, fontsize=8)
        ax.tick_params(axis="x", labelsize=6, rotation=30)
        ax.tick_params(axis="y", labelsize=7)
    axes.flat[0].set_ylabel(error_name, fontsize=7)
    axes.flat[0].legend(fontsize=6, frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
