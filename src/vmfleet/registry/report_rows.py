"""What ``vmfleet report`` reads from the registry, as named queries (the report's only SQL).

The check history can be large (a weekly ``check --all`` of 100 systems with 200 generations
each is a million rows a year), so ``check_cells`` yields plain tuples in the order the
report writes them, and the detail JSON only of checks that did not reproduce.
"""

from __future__ import annotations

from collections.abc import Iterator

from vmfleet.registry.db import Registry
from vmfleet.registry.generations import Generation, from_row


def system_names(reg: Registry) -> list[str]:
    return [r["name"] for r in reg.query("SELECT name FROM systems ORDER BY name")]


def all_generations(reg: Registry) -> list[Generation]:
    """Every generation, by system, then in the order they were current."""
    return [from_row(r) for r in reg.query(
        "SELECT * FROM generations ORDER BY system, current_from, number")]


def check_cells(reg: Registry) -> Iterator[tuple[int, str, int, str, str, str | None]]:
    """Every check as (id, system, generation number, started, result, detail JSON or None),
    by system, generation and time; the detail only where the result is not reproducible."""
    cur = reg.execute(
        "SELECT c.id, g.system, g.number, c.started, c.result,"
        " CASE WHEN c.result = 'reproducible' THEN NULL ELSE c.detail END"
        " FROM checks c JOIN generations g ON g.id = c.generation_id"
        " ORDER BY g.system, g.number, c.started, c.id")
    yield from cur


def check_dates(reg: Registry) -> list[str]:
    """The days (UTC) on which any check ran: the heat-maps' columns, alike for every system,
    so that a system a run left out shows "not checked" that day."""
    return [r[0] for r in reg.execute(
        "SELECT DISTINCT substr(started, 1, 10) FROM checks ORDER BY 1").fetchall()]


def fleet_applies(reg: Registry) -> list[dict]:
    return reg.query("SELECT id, started, finished, status, user, fleet, plan, summary"
                     " FROM fleet_applies ORDER BY started")
