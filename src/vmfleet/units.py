"""Sizes as people write and read them.

Reading follows Guix's ``size->number`` (guix/ui.scm), so that ``--image-size`` means here what
it means to ``guix system image``: a decimal number and an optional unit, where ``K``/``KiB``,
``M``/``MiB``, ``G``/``GiB``, ``T``/``TiB`` are powers of 2 and ``kB``, ``MB``, ``GB``, ``TB``
powers of 10. vmfleet refuses what Guix would refuse (``4Gi``, ``4 G``) and also exponents
(``1e3``), which Guix's ``string->number`` reads but no size in a config is written as.
Printing uses binary units, as ``ls -h`` and Guix do.
"""

from __future__ import annotations

import re

from vmfleet.errors import UsageError

_UNITS = {
    "": 1,
    "K": 2**10, "k": 2**10, "KiB": 2**10, "M": 2**20, "MiB": 2**20,
    "G": 2**30, "GiB": 2**30, "T": 2**40, "TiB": 2**40,
    "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]*)", re.ASCII)  # ASCII digits only

SIZE_HINT = "write a number and a unit: 512M, 4G, 4GiB (powers of 2) or 5GB (powers of 10)"


def parse_size(text: str, *, bare_unit: str = "", option: str | None = None) -> int:
    """Bytes, from ``4G``, ``4096M``, ``5GB``, ``1.5GiB``; a bare number counts in ``bare_unit``
    (bytes for an image size, as Guix reads it; MiB for memory, as libvirt and QEMU's ``-m``)."""
    where = f" for {option}" if option else ""
    m = _SIZE.fullmatch(text or "")
    unit = m.group(2) if m else None
    if m is None or unit not in _UNITS:
        raise UsageError(f"invalid size {text!r}{where}", SIZE_HINT)
    size = round(float(m.group(1)) * _UNITS[unit or bare_unit])
    if size <= 0:
        raise UsageError(f"invalid size {text!r}{where}: it must be more than zero", SIZE_HINT)
    return size


def human_size(n: int | None, signed: bool = False) -> str:
    """``1.5 MiB``; with ``signed``, a change (``+12.0 KiB``, ``±0 B``); ``?`` when unknown."""
    if n is None:
        return "?"
    sign = ("+" if n > 0 else "-" if n < 0 else "±") if signed else ("-" if n < 0 else "")
    v = float(abs(n))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024 or unit == "GiB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")
