"""The Pareto front of (cost, error) points: the maths behind every front a report draws or names."""

from __future__ import annotations


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Non-dominated points (both coordinates minimised), sorted by the first."""
    front, best = [], float("inf")
    for x, y in sorted(points):
        if y < best:
            front.append((x, y))
            best = y
    return front
