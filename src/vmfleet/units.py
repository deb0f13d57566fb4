"""Sizes as people read them: binary units (KiB, MiB, GiB), as ``ls -h`` and Guix print them."""

from __future__ import annotations


def human_size(n: int | None, signed: bool = False) -> str:
    """``1.5 MiB``; with ``signed``, a change (``+12.0 KiB``, ``±0 B``); ``?`` when unknown."""
    if n is None:
        return "?"
    sign = ("+" if n > 0 else "-" if n < 0 else "±") if signed else ("-" if n < 0 else "")
    v = abs(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")
