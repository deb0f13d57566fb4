"""Timestamps as vmfleet stores them: UTC, 'YYYY-MM-DDTHH:MM:SSZ', so they sort as text."""

from __future__ import annotations

import datetime as dt

UTC = dt.UTC


def to_stamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_epoch(seconds: int | float) -> str:
    return to_stamp(dt.datetime.fromtimestamp(seconds, UTC))


def now() -> str:
    return to_stamp(dt.datetime.now(UTC))


def parse_stamp(stamp: str) -> dt.datetime:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def parse_user_time(text: str) -> dt.datetime:
    """'2024-01-15', '2024-01-15T12:00', '2024-01-15 12:00:30', with or without a zone (UTC)."""
    value = dt.datetime.fromisoformat(text.strip().replace(" ", "T").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
