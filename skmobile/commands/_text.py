"""Wording shared by the commands' printed summaries."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``"1 paper row"``, ``"2 paper rows"``: ``n`` and ``noun`` in the number ``n`` takes (``plural``
    where adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
