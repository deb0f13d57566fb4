"""Sizes as people write and read them.

Reading follows Guix's ``size->number`` (guix/ui.scm; docs/guix-facts.md, "Sizes"), so that
``--image-size`` means here what it means to ``guix system image``: the text is cut after its
last digit or dot; the part before is a number as Guile's ``string->number`` reads it
(``4``, ``1.5``, ``.5``, ``1.``, ``1e3``, ``1/2``), the rest a unit: ``K``/``k``/``KiB``,
``M``/``MiB`` … ``Y``/``YiB`` are powers of 2, ``kB``, ``MB`` … ``YB`` powers of 10, nothing
means bytes. vmfleet refuses what Guix would refuse (``4Gi``, ``4 G``, ``4KB``) and sizes that
are not more than zero. Printing uses binary units, as ``ls -h`` and Guix do.
"""

from __future__ import annotations

import re
from fractions import Fraction

from vmfleet.errors import UsageError

_UNITS = {"": 1, "k": 2**10, "kB": 10**3}
for _i, _p in enumerate("KMGTPEZY", start=1):
    _UNITS |= {_p: 2**(10 * _i), f"{_p}iB": 2**(10 * _i)}
    if _p != "K":
        _UNITS[f"{_p}B"] = 10**(3 * _i)
# Guile's decimal numbers (string->number): a sign, ASCII digits with at most one dot (".5",
# "1."), an exponent; or a fraction "1/2".
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+/\d+)", re.ASCII)

SIZE_HINT = "write a number and a unit: 512M, 4G, 4GiB (powers of 2) or 5GB (powers of 10)"


def parse_size(text: str, *, bare_unit: str = "", option: str | None = None,
               unit_after_dot: bool = True) -> int:
    """Bytes, from ``4G``, ``4096M``, ``5GB``, ``1.5GiB``; a bare number counts in ``bare_unit``
    (bytes for an image size, as Guix reads it; MiB for memory, as libvirt and QEMU's ``-m``).
    ``unit_after_dot``: the unit starts after the last digit or dot, as Guix reads it from
    fa99c4bbc7a (2020-02-23); before, after the last digit, so ``1.G`` was refused
    (docs/guix-facts.md S1)."""
    where = f" for {option}" if option else ""
    text = text or ""
    cut = max(text.rfind(c) for c in ("0123456789." if unit_after_dot else "0123456789")) + 1
    number, unit = text[:cut], text[cut:]
    if not _NUMBER.fullmatch(number) or unit not in _UNITS or number.count("/") and \
            int(number.split("/")[1]) == 0:
        raise UsageError(f"invalid size {text!r}{where}", SIZE_HINT)
    size = round(Fraction(number) * _UNITS[unit or bare_unit])
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
