"""Generation specs: how users name a generation.

``web`` / ``web@latest`` (newest), ``web@7`` (number), ``web@2023-10`` (current at the end of
October 2023), ``web@2023-10-15``, ``web@2023-10-15T12:00``, ``web@<git-commit-prefix>``.
Date specs are UTC. "Current at the end of a period" means the generation with the latest
``current_from`` before the period's end.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from vmfleet import timeutil
from vmfleet.errors import NotFound, UsageError
from vmfleet.names import NAME_RE
from vmfleet.registry import generations
from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation


class Kind(StrEnum):
    LATEST = "latest"
    NUMBER = "number"
    MONTH = "month"
    DAY = "day"
    MOMENT = "moment"
    COMMIT = "commit"


@dataclass(frozen=True)
class Spec:
    system: str
    kind: Kind
    value: str = ""

    def __str__(self) -> str:
        return self.system if self.kind is Kind.LATEST else f"{self.system}@{self.value}"

    def period_end(self) -> str:
        """For date kinds: the exclusive end of the period, as a stored timestamp."""
        if self.kind is Kind.MONTH:
            year, month = map(int, self.value.split("-"))
            end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timeutil.UTC)
        elif self.kind is Kind.DAY:
            end = dt.datetime.fromisoformat(self.value).replace(tzinfo=timeutil.UTC) + dt.timedelta(days=1)
        elif self.kind is Kind.MOMENT:
            start = timeutil.parse_user_time(self.value)
            end = start + dt.timedelta(seconds=1 if start.second or len(self.value) > 16 else 60)
        else:
            raise ValueError(f"{self.kind} has no period")
        return timeutil.to_stamp(end)


# ASCII digits only (re.ASCII: '\d' alone also takes '٣', which int() reads as 3), and \Z,
# not $, which would let a trailing newline through.
_MONTH = re.compile(r"\A\d{4}-\d{2}\Z", re.ASCII)
_DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_MOMENT = re.compile(r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?\Z", re.ASCII)
_NUMBER = re.compile(r"\A\d{1,6}\Z", re.ASCII)
_COMMIT = re.compile(r"\A[0-9a-f]{4,40}\Z")


def parse(text: str) -> Spec:
    system, at, rest = text.partition("@")
    if not NAME_RE.match(system) or (at and not rest):
        raise UsageError(f"invalid generation spec {text!r}",
                         "write SYSTEM, SYSTEM@N, SYSTEM@2023-10, SYSTEM@2023-10-15 or SYSTEM@COMMIT")
    if not rest or rest == "latest":
        return Spec(system, Kind.LATEST, "latest" if rest else "")
    if _NUMBER.match(rest):
        return Spec(system, Kind.NUMBER, str(int(rest)))
    try:
        if _MONTH.match(rest):
            dt.date.fromisoformat(rest + "-01")
            return Spec(system, Kind.MONTH, rest)
        if _DAY.match(rest):
            dt.date.fromisoformat(rest)
            return Spec(system, Kind.DAY, rest)
        if _MOMENT.match(rest):
            timeutil.parse_user_time(rest)
            return Spec(system, Kind.MOMENT, rest.replace(" ", "T"))
    except ValueError:
        raise UsageError(f"{text!r}: {rest!r} is not a valid date",
                         "dates are YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)") from None
    if _COMMIT.match(rest.lower()):
        return Spec(system, Kind.COMMIT, rest.lower())
    raise UsageError(f"invalid generation spec {text!r}",
                     "after '@' write a number, latest, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDTHH:MM "
                     "or a git commit prefix (4+ hex digits)")


def _period_start(spec: Spec) -> str:
    if spec.kind is Kind.MONTH:
        start = dt.datetime.fromisoformat(spec.value + "-01")
    elif spec.kind is Kind.DAY:
        start = dt.datetime.fromisoformat(spec.value)
    else:
        start = timeutil.parse_user_time(spec.value)
    return timeutil.to_stamp(start.replace(tzinfo=timeutil.UTC))


def resolve(reg: Registry, text: str | Spec) -> Generation:
    spec = text if isinstance(text, Spec) else parse(text)
    row = None
    if spec.kind is Kind.LATEST:
        row = reg.query_one("SELECT * FROM generations WHERE system = ? "
                            "ORDER BY current_from DESC, number DESC LIMIT 1", (spec.system,))
    elif spec.kind is Kind.NUMBER:
        row = reg.query_one("SELECT * FROM generations WHERE system = ? AND number = ?",
                            (spec.system, int(spec.value)))
    elif spec.kind is Kind.COMMIT:
        rows = reg.query("SELECT * FROM generations WHERE system = ? AND git_commit LIKE ? "
                         "ORDER BY number", (spec.system, spec.value + "%"))
        if len(rows) > 1:
            listing = ", ".join(f"{r['system']}@{r['number']} ({r['git_commit'][:12]})" for r in rows[:10])
            raise UsageError(f"{spec} is ambiguous: {len(rows)} generations match",
                             f"give more digits of the commit; candidates: {listing}")
        row = rows[0] if rows else None
    else:
        if _period_start(spec) > timeutil.now():
            raise UsageError(f"{spec}: {spec.value} is in the future",
                             f"name a date up to today, or the newest generation: "
                             f"{spec.system}@latest")
        row = reg.query_one("SELECT * FROM generations WHERE system = ? AND current_from < ? "
                            "ORDER BY current_from DESC, number DESC LIMIT 1",
                            (spec.system, spec.period_end()))
    if row is None:
        raise _no_match(reg, spec)
    return generations.from_row(row)


def _no_match(reg: Registry, spec: Spec) -> NotFound:
    gens = reg.query("SELECT number, current_from, git_commit FROM generations WHERE system = ? "
                     "ORDER BY current_from, number", (spec.system,))
    if not gens:
        return generations.unknown_system(reg, spec.system) if not reg.query_one(
            "SELECT 1 FROM systems WHERE name = ?", (spec.system,)) else NotFound(
            f"system {spec.system!r} has no generations", "record one with 'vmfleet add'")

    def show(g):
        return f"{spec.system}@{g['number']} (from {g['current_from'][:10]})"

    if spec.kind is Kind.NUMBER:
        numbers = [g["number"] for g in gens]
        return NotFound(f"{spec} does not exist",
                        f"{spec.system} has generations {min(numbers)} to {max(numbers)}")
    if spec.kind is Kind.COMMIT:
        return NotFound(f"no generation of {spec.system} was imported from a commit {spec.value}…",
                        f"the newest is {show(gens[-1])}; list them with 'vmfleet generations {spec.system}'")
    return NotFound(f"no generation of {spec.system} was current at {spec.value}",
                    f"the first one is {show(gens[0])}")
