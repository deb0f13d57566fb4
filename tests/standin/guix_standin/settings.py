"""Where the stand-in keeps things and the knobs that change how it behaves (environment).

All documented in tests/standin/README.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


def cache_dir() -> Path:
    env = os.environ.get("VMFLEET_STANDIN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vmfleet-standin"


def store_dir() -> Path:
    env = os.environ.get("VMFLEET_STANDIN_STORE")
    return Path(env) if env else cache_dir() / "store"


def log_dir() -> Path:
    """Build logs (Guix keeps them in /var/log/guix): beside the store they belong to."""
    env = os.environ.get("VMFLEET_STANDIN_LOG_DIR")
    return Path(env) if env else store_dir() / ".log"


def checkouts_dir() -> Path:
    """Which channel commits time-machine has "fetched" (a fresh store has fetched none)."""
    return store_dir() / ".checkouts"


def _names(var: str) -> frozenset[str]:
    return frozenset(x for x in re.split(r"[,\s]+", os.environ.get(var, "")) if x)


# guix/ui.scm, size->number: exactly these units (case matters: "k" and "kB" but not "KB").
_UNITS = {"": 1}
for _i, (_bin, _dec) in enumerate((("K", "kB"), ("M", "MB"), ("G", "GB"), ("T", "TB"),
                                   ("P", "PB"), ("E", "EB"), ("Z", "ZB"), ("Y", "YB")), 1):
    _UNITS[_bin] = _UNITS[_bin + "iB"] = 1 << (10 * _i)
    _UNITS[_dec] = 10 ** (3 * _i)
_UNITS["k"] = 1 << 10


class SizeError(ValueError):
    """What size->number says: ``invalid number: N`` or ``unknown unit: U``."""


def parse_size(text: str) -> int | None:
    """``--image-size`` as guix/ui.scm's size->number reads it: the number is what precedes
    the last digit or dot, the unit what follows it; None when Guix would refuse it."""
    try:
        return size_to_number(text)
    except SizeError:
        return None


def size_to_number(text: str) -> int:
    pos = max((i for i, c in enumerate(text) if c.isdigit() or c == "."), default=-1)
    numstr, unit = (text[:pos + 1], text[pos + 1:]) if pos >= 0 else (text, "")
    try:
        # Guile's string->number for decimals: sign, digits with one dot, exponent; or a/b
        num = Fraction(numstr) if re.fullmatch(
            r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[0-9]+/[1-9][0-9]*)",
            numstr) else None
    except (ValueError, ZeroDivisionError):
        num = None
    if num is None:
        raise SizeError(f"invalid number: {numstr}")
    if unit not in _UNITS:
        raise SizeError(f"unknown unit: {unit}")
    return round(num * _UNITS[unit])


def _nondeterministic(value: str) -> frozenset[str]:
    """Which derivations write random bytes: ``partition``, ``image``, or both (``1``)."""
    value = value.strip().lower()
    if value in ("", "0", "no", "false"):
        return frozenset()
    if value in ("partition", "image"):
        return frozenset({value})
    return frozenset({"partition", "image"})


@dataclass(frozen=True)
class Knobs:
    nondeterministic: frozenset[str]   # VMFLEET_STANDIN_NONDETERMINISTIC=partition|image|1
    slow: float                   # VMFLEET_STANDIN_SLOW=SECONDS
    drift: frozenset[str]         # VMFLEET_STANDIN_DRIFT=pkg,pkg
    vanish: frozenset[str]        # VMFLEET_STANDIN_VANISH=pkg,pkg
    big_items: int                # VMFLEET_STANDIN_BIG=N:SIZE
    big_bytes: int

    @classmethod
    def from_env(cls) -> Knobs:
        slow = float(os.environ.get("VMFLEET_STANDIN_SLOW") or 0)
        big = os.environ.get("VMFLEET_STANDIN_BIG", "").strip()
        items = size = 0
        if big:
            m = re.fullmatch(r"(\d+):(.+)", big)
            size_v = parse_size(m.group(2)) if m else None
            if not m or size_v is None:
                raise ValueError("VMFLEET_STANDIN_BIG must be ITEMS:SIZE, e.g. 2000:1G")
            items, size = int(m.group(1)), size_v
        return cls(
            nondeterministic=_nondeterministic(os.environ.get("VMFLEET_STANDIN_NONDETERMINISTIC",
                                                              "")),
            slow=slow, drift=_names("VMFLEET_STANDIN_DRIFT"),
            vanish=_names("VMFLEET_STANDIN_VANISH"), big_items=items, big_bytes=size)
