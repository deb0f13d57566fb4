"""Time as vmfleet stores it and as users write it.

Stored: UTC, 'YYYY-MM-DDTHH:MM:SSZ', so stamps sort as text. Written by users (every date
option, docs/reference.md "Values"): ``2024-01`` (the month's first moment), ``2024-01-15``,
``2024-01-15T12:00`` or ``2024-01-15 12:00:30``, with an optional ``Z`` or ``+HH:MM`` (none: UTC).
Durations: a positive decimal number of seconds, or with a unit ``s``, ``m`` or ``h``.
"""

from __future__ import annotations

import datetime as dt
import math
import re

from vmfleet.errors import UsageError

UTC = dt.UTC

DATE_HINT = "write a month, a day or a moment (UTC unless a zone is given): 2024-01, 2024-01-15, 2024-01-15T12:00"
DURATION_HINT = "write a positive number of seconds, or with a unit: 90s, 1.5m, 5m, 3h"

_DATE = re.compile(r"\d{4}-\d{2}(-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?)?)?",
                   re.ASCII)  # ASCII digits only: '\d' alone also takes other scripts' digits
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smh]?)", re.ASCII)
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def to_stamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: int | float) -> str:
    return to_stamp(dt.datetime.fromtimestamp(seconds, UTC))


def now() -> str:
    return to_stamp(dt.datetime.now(UTC))


def show(stamp: str | None) -> str:
    """A stored stamp as every table shows it: 'YYYY-MM-DD HH:MM' (UTC, as the headers say);
    JSON keeps the stored form."""
    if not stamp:
        return "-"
    return stamp.replace("T", " ")[:16]


def show_duration(seconds: float | None) -> str:
    """Seconds as every table and summary shows them: '0.4s', '9.9s' (tenths under ten
    seconds), '42s', '5m03s', '2h07m', '3d04h'."""
    if seconds is None:
        return "-"
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_user_time(text: str) -> dt.datetime:
    """A date as users write it (see the module docstring); ValueError when it is not one."""
    text = text.strip()
    if not _DATE.fullmatch(text):
        raise ValueError(f"not a date: {text!r}")
    if len(text) == 7:  # a month: its first day
        text += "-01"
    value = dt.datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def parse_date(text: str, option: str | None = None) -> str:
    """A user's date as a stored stamp; UsageError (naming ``option``) when it is not one."""
    try:
        return to_stamp(parse_user_time(text))
    except ValueError:
        raise UsageError(f"invalid date {text!r}{_for(option)}", DATE_HINT) from None


def parse_duration(text: str, option: str | None = None) -> float:
    """Seconds, from ``90``, ``90s``, ``1.5m``, ``5m``, ``3h``. Zero is refused (it would read as
    "no limit" in one place and "fail at once" in another), and so are signs and exponents."""
    m = _DURATION.fullmatch(text or "")
    seconds = float(m.group(1)) * _SECONDS[m.group(2)] if m else math.nan
    if not seconds > 0:
        raise UsageError(f"invalid duration {text!r}{_for(option)}", DURATION_HINT)
    return seconds


def _for(option: str | None) -> str:
    return f" for {option}" if option else ""
